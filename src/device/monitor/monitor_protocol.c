/* Security monitor protocol: message names, the per-type role policy, and strict encoding and
 * decoding of requests and responses. Everything a peer sends passes through here first. */
#include <stdio.h>
#include <string.h>

#include "device/monitor/monitor_protocol.h"

static const struct {
	const char *name;
	uint32_t roles;
} monitor_msgs[MONITOR_MSG_COUNT_] = {
	[MONITOR_MSG_NONE] = {"NONE", 0},
	[MONITOR_MSG_GET_DEVICE_ID] = {"GET_DEVICE_ID", MONITOR_ROLE_AGENT | MONITOR_ROLE_BOOT | MONITOR_ROLE_APPMGR},
	[MONITOR_MSG_GET_IDENTITY] = {"GET_IDENTITY", MONITOR_ROLE_AGENT | MONITOR_ROLE_BOOT},
	[MONITOR_MSG_EXTEND] = {"EXTEND", MONITOR_ROLE_BOOT},
	[MONITOR_MSG_READ_MEASUREMENTS] = {"READ_MEASUREMENTS", MONITOR_ROLE_AGENT | MONITOR_ROLE_BOOT},
	[MONITOR_MSG_ATTEST] = {"ATTEST", MONITOR_ROLE_AGENT},
	[MONITOR_MSG_READ_COUNTERS] = {"READ_COUNTERS", MONITOR_ROLE_AGENT | MONITOR_ROLE_BOOT},
	[MONITOR_MSG_ADVANCE_COUNTER] = {"ADVANCE_COUNTER", MONITOR_ROLE_AGENT | MONITOR_ROLE_BOOT},
	[MONITOR_MSG_GET_RANDOM] = {"GET_RANDOM", MONITOR_ROLE_AGENT | MONITOR_ROLE_BOOT},
};

static const struct {
	const char *name;
	uint32_t bit;
} monitor_roles[] = {
	{"agent", MONITOR_ROLE_AGENT},
	{"boot", MONITOR_ROLE_BOOT},
	{"appmgr", MONITOR_ROLE_APPMGR},
};

const char *monitor_msg_name(uint16_t type)
{
	if (type < MONITOR_MSG_COUNT_)
		return monitor_msgs[type].name;
	return "UNKNOWN";
}

uint32_t monitor_msg_allowed_roles(uint16_t type)
{
	return type < MONITOR_MSG_COUNT_ ? monitor_msgs[type].roles : 0;
}

uint32_t monitor_counter_allowed_roles(unsigned index)
{
	/* Counter 0 is the OS version floor that the boot stage enforces: raising it past the
	 * installed OS bricks the device (for good on a TPM), so only the boot stage moves it. */
	if (index == MONITOR_COUNTER_OS_FLOOR)
		return MONITOR_ROLE_BOOT;
	return MONITOR_ROLE_AGENT | MONITOR_ROLE_BOOT;
}

uint32_t monitor_role_parse(const char *name)
{
	for (size_t i = 0; i < RP_ARRAY_SIZE(monitor_roles); i++)
		if (strcmp(name, monitor_roles[i].name) == 0)
			return monitor_roles[i].bit;
	return 0;
}

const char *monitor_roles_string(uint32_t roles, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < RP_ARRAY_SIZE(monitor_roles); i++)
		if (roles & monitor_roles[i].bit) {
			int w = snprintf(buf + n, len - n, "%s%s", n ? "," : "", monitor_roles[i].name);
			if (w < 0 || (size_t)w >= len - n)
				break;
			n += (size_t)w;
		}
	if (n == 0)
		snprintf(buf, len, "none");
	return buf;
}

void monitor_header_encode(rp_buf *out, uint16_t type, uint32_t body_len)
{
	rp_buf_u32(out, MONITOR_MAGIC);
	rp_buf_u16(out, MONITOR_PROTOCOL_VERSION);
	rp_buf_u16(out, type);
	rp_buf_u32(out, body_len);
}

int monitor_header_decode(const uint8_t *msg, size_t len, monitor_header *h, rp_error *err)
{
	memset(h, 0, sizeof(*h));
	if (len > MONITOR_MSG_MAX)
		return rp_error_set(err, RP_E_LIMIT, "message of %zu bytes is above the limit of %d", len, MONITOR_MSG_MAX);
	if (len < MONITOR_HEADER_LEN)
		return rp_error_set(err, RP_E_INVALID, "message of %zu bytes is shorter than the %d-byte header", len,
		                    MONITOR_HEADER_LEN);
	rp_reader r;
	rp_reader_init(&r, msg, len);
	rp_reader_u32(&r, "magic", &h->magic);
	rp_reader_u16(&r, "version", &h->version);
	rp_reader_u16(&r, "type", &h->type);
	rp_reader_u32(&r, "length", &h->length);
	if (h->magic != MONITOR_MAGIC)
		return rp_error_set(err, RP_E_INVALID, "message does not start with the monitor magic \"RPMN\"");
	if (h->version != MONITOR_PROTOCOL_VERSION)
		return rp_error_set(err, RP_E_UNSUPPORTED, "protocol version %u is not supported (the monitor speaks %d)",
		                    h->version, MONITOR_PROTOCOL_VERSION);
	if (h->length != len - MONITOR_HEADER_LEN)
		return rp_error_set(err, RP_E_INVALID, "header says the body is %u bytes but %zu arrived", h->length,
		                    len - MONITOR_HEADER_LEN);
	return 0;
}

static void put_str8(rp_buf *b, const char *s)
{
	size_t len = strlen(s);
	rp_buf_u8(b, (uint8_t)len);
	rp_buf_append(b, s, len);
}

int monitor_request_encode(const monitor_request *req, rp_buf *out, rp_error *err)
{
	rp_buf body;
	rp_buf_init(&body);
	switch (req->type) {
	case MONITOR_MSG_GET_DEVICE_ID:
	case MONITOR_MSG_GET_IDENTITY:
	case MONITOR_MSG_READ_MEASUREMENTS:
	case MONITOR_MSG_READ_COUNTERS:
		break;
	case MONITOR_MSG_EXTEND:
		rp_buf_u8(&body, req->u.extend.pcr);
		put_str8(&body, req->u.extend.name);
		put_str8(&body, req->u.extend.version);
		rp_buf_append(&body, req->u.extend.digest, RP_SHA256_LEN);
		break;
	case MONITOR_MSG_ATTEST:
		if (req->u.attest.n_images > EVIDENCE_MAX_IMAGES) {
			rp_buf_free(&body);
			return rp_error_set(err, RP_E_LIMIT, "at most %d images", EVIDENCE_MAX_IMAGES);
		}
		rp_buf_append(&body, req->u.attest.nonce, EVIDENCE_NONCE_LEN);
		rp_buf_u16(&body, (uint16_t)req->u.attest.n_images);
		for (size_t i = 0; i < req->u.attest.n_images; i++) {
			rp_buf_append(&body, req->u.attest.images[i].id, EVIDENCE_GUID_LEN);
			put_str8(&body, req->u.attest.images[i].version);
		}
		break;
	case MONITOR_MSG_ADVANCE_COUNTER:
		rp_buf_u8(&body, req->u.advance.index);
		rp_buf_u64(&body, req->u.advance.value);
		break;
	case MONITOR_MSG_GET_RANDOM:
		rp_buf_u16(&body, req->u.random.len);
		break;
	default:
		rp_buf_free(&body);
		return rp_error_set(err, RP_E_INVALID, "unknown message type %u", req->type);
	}
	monitor_header_encode(out, req->type, (uint32_t)body.len);
	rp_buf_append(out, body.data, body.len);
	rp_buf_free(&body);
	return 0;
}

static bool get_str8(rp_reader *r, const char *field, char *out, size_t max, bool (*ok)(const char *, size_t))
{
	uint8_t len = 0;
	const uint8_t *p = NULL;
	if (!rp_reader_u8(r, field, &len) || len > max || !rp_reader_view(r, field, &p, len) || !ok((const char *)p, len))
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

int monitor_request_decode(const uint8_t *msg, size_t len, monitor_request *out, rp_error *err)
{
	memset(out, 0, sizeof(*out));
	monitor_header h;
	int hrc = monitor_header_decode(msg, len, &h, err);
	out->type = h.type;
	if (hrc < 0)
		return -1;
	const char *name = monitor_msg_name(h.type);
	if (h.type == MONITOR_MSG_NONE || h.type >= MONITOR_MSG_COUNT_)
		return rp_error_set(err, RP_E_UNSUPPORTED, "unknown message type %u", h.type);
	rp_reader r;
	rp_reader_init(&r, msg + MONITOR_HEADER_LEN, len - MONITOR_HEADER_LEN);
	switch (h.type) {
	case MONITOR_MSG_GET_DEVICE_ID:
	case MONITOR_MSG_GET_IDENTITY:
	case MONITOR_MSG_READ_MEASUREMENTS:
	case MONITOR_MSG_READ_COUNTERS:
		break;
	case MONITOR_MSG_EXTEND:
		if (!rp_reader_u8(&r, "pcr", &out->u.extend.pcr))
			break;
		if (out->u.extend.pcr < EVIDENCE_PCR_FIRST || out->u.extend.pcr > EVIDENCE_PCR_LAST)
			return rp_error_set(err, RP_E_INVALID, "EXTEND: PCR %u is outside %d..%d", out->u.extend.pcr,
			                    EVIDENCE_PCR_FIRST, EVIDENCE_PCR_LAST);
		if (!get_str8(&r, "component name", out->u.extend.name, EVIDENCE_NAME_MAX, evidence_name_ok)) {
			if (!rp_reader_ok(&r))
				break;
			return rp_error_set(err, RP_E_INVALID, "EXTEND: component name must be 1..%d of [A-Za-z0-9._-]",
			                    EVIDENCE_NAME_MAX);
		}
		if (!get_str8(&r, "version", out->u.extend.version, EVIDENCE_VERSION_MAX, evidence_version_ok)) {
			if (!rp_reader_ok(&r))
				break;
			return rp_error_set(err, RP_E_INVALID,
			                    "EXTEND: version must be 0..%d printable characters without spaces",
			                    EVIDENCE_VERSION_MAX);
		}
		rp_reader_bytes(&r, "digest", out->u.extend.digest, RP_SHA256_LEN);
		break;
	case MONITOR_MSG_ATTEST: {
		uint16_t n = 0;
		rp_reader_bytes(&r, "nonce", out->u.attest.nonce, EVIDENCE_NONCE_LEN);
		if (!rp_reader_u16(&r, "image count", &n))
			break;
		if (n > EVIDENCE_MAX_IMAGES)
			return rp_error_set(err, RP_E_LIMIT, "ATTEST: %u images is above the limit of %d", n, EVIDENCE_MAX_IMAGES);
		for (size_t i = 0; i < n; i++) {
			monitor_image_claim *im = &out->u.attest.images[i];
			const uint8_t *p = NULL;
			if (!rp_reader_view(&r, "image id", &p, EVIDENCE_GUID_LEN))
				break;
			if (!evidence_guid_ok((const char *)p, EVIDENCE_GUID_LEN))
				return rp_error_set(err, RP_E_INVALID, "ATTEST: image %zu: ID is not a lowercase GUID", i);
			memcpy(im->id, p, EVIDENCE_GUID_LEN);
			im->id[EVIDENCE_GUID_LEN] = '\0';
			if (!get_str8(&r, "image version", im->version, EVIDENCE_VERSION_MAX, evidence_version_ok)) {
				if (!rp_reader_ok(&r))
					break;
				return rp_error_set(err, RP_E_INVALID,
				                    "ATTEST: image %s: version must be 0..%d printable characters", im->id,
				                    EVIDENCE_VERSION_MAX);
			}
			out->u.attest.n_images++;
		}
		break;
	}
	case MONITOR_MSG_ADVANCE_COUNTER:
		rp_reader_u8(&r, "counter index", &out->u.advance.index);
		rp_reader_u64(&r, "counter value", &out->u.advance.value);
		break;
	case MONITOR_MSG_GET_RANDOM:
		if (rp_reader_u16(&r, "length", &out->u.random.len) &&
		    (out->u.random.len == 0 || out->u.random.len > MONITOR_RANDOM_MAX))
			return rp_error_set(err, RP_E_INVALID, "GET_RANDOM: length %u is outside 1..%d", out->u.random.len,
			                    MONITOR_RANDOM_MAX);
		break;
	default:
		break;
	}
	if (rp_reader_finish(&r, name, err) < 0)
		return -1;
	return 0;
}

void monitor_response_encode(rp_buf *out, uint16_t req_type, const rp_error *status, const void *payload,
                             size_t payload_len)
{
	bool failed = status && status->code != RP_OK;
	size_t text_len = failed ? strnlen(status->message, MONITOR_ERROR_TEXT_MAX) : 0;
	if (failed)
		payload_len = 0;
	monitor_header_encode(out, (uint16_t)(req_type | MONITOR_RESPONSE), (uint32_t)(4 + text_len + payload_len));
	rp_buf_u16(out, failed ? (uint16_t)status->code : 0);
	rp_buf_u16(out, (uint16_t)text_len);
	if (text_len)
		rp_buf_append(out, status->message, text_len);
	if (payload_len)
		rp_buf_append(out, payload, payload_len);
}

int monitor_response_decode(const uint8_t *msg, size_t len, uint16_t req_type, const uint8_t **payload,
                            size_t *payload_len, rp_error *err)
{
	monitor_header h;
	if (monitor_header_decode(msg, len, &h, err) < 0)
		return rp_error_prefix(err, "monitor response");
	if (h.type != (uint16_t)(req_type | MONITOR_RESPONSE) && h.type != MONITOR_RESPONSE)
		return rp_error_set(err, RP_E_INVALID, "monitor answered with type 0x%04x to %s", h.type,
		                    monitor_msg_name(req_type));
	rp_reader r;
	rp_reader_init(&r, msg + MONITOR_HEADER_LEN, len - MONITOR_HEADER_LEN);
	uint16_t status = 0, text_len = 0;
	const uint8_t *text = NULL;
	if (!rp_reader_u16(&r, "status", &status) || !rp_reader_u16(&r, "text length", &text_len) ||
	    text_len > MONITOR_ERROR_TEXT_MAX || !rp_reader_view(&r, "text", &text, text_len))
		return rp_error_set(err, RP_E_INVALID, "monitor response is truncated or its text is too long");
	if (status != 0) {
		enum rp_errc code = status <= RP_E_INTERNAL ? (enum rp_errc)status : RP_E_INTERNAL;
		return rp_error_set(err, code, "security monitor refused %s: %.*s", monitor_msg_name(req_type), (int)text_len,
		                    (const char *)text);
	}
	if (h.type == MONITOR_RESPONSE)
		return rp_error_set(err, RP_E_INVALID, "monitor answered a success without a message type");
	*payload = msg + MONITOR_HEADER_LEN + r.pos;
	*payload_len = rp_reader_remaining(&r);
	return 0;
}
