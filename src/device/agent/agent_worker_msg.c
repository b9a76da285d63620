/* Agent worker result messages (see agent_worker_msg.h). */
#include "device/agent/agent_worker_msg.h"

#include <string.h>

/* Reasons travel as printable ASCII: the daemon puts them into JSON replies and log lines. */
static bool reason_byte_ok(uint8_t c)
{
	return c >= 0x20 && c < 0x7f;
}

void agent_worker_reason_sanitize(char *s)
{
	for (; *s; s++)
		if (!reason_byte_ok((uint8_t)*s))
			*s = '?';
}

void agent_worker_msg_encode(const struct agent_worker_result *res, rp_buf *out)
{
	rp_buf_u8(out, AGENT_WORKER_MSG_VERSION);
	rp_buf_u8(out, (uint8_t)res->kind);
	rp_buf_u8(out, res->ok ? 1 : 0);
	if (res->kind == AGENT_WORKER_ATTEST) {
		rp_buf_u64(out, (uint64_t)res->not_before);
		rp_buf_u64(out, (uint64_t)res->not_after);
		size_t n = strnlen(res->device_id, AGENT_WORKER_DEVICE_ID_MAX);
		rp_buf_u8(out, (uint8_t)n);
		rp_buf_append(out, res->device_id, n);
	} else {
		rp_buf_u32(out, res->targets);
		rp_buf_u32(out, res->installed);
		rp_buf_u32(out, res->skipped);
		rp_buf_u32(out, res->failed);
		rp_buf_u32(out, res->deferred);
		rp_buf_u8(out, res->os_installed ? 1 : 0);
	}
	size_t n = strnlen(res->reason, AGENT_WORKER_REASON_MAX);
	rp_buf_u16(out, (uint16_t)n);
	for (size_t i = 0; i < n; i++)
		rp_buf_u8(out, reason_byte_ok((uint8_t)res->reason[i]) ? (uint8_t)res->reason[i] : (uint8_t)'?');
}

static int read_flag(rp_reader *r, const char *field, bool *out, rp_error *err)
{
	uint8_t v = 0;
	if (rp_reader_u8(r, field, &v) && v > 1)
		return rp_error_set(err, RP_E_INVALID, "agent worker result: %s is %u, not 0 or 1", field, v);
	*out = v == 1;
	return 0;
}

int agent_worker_msg_parse(const uint8_t *data, size_t len, struct agent_worker_result *res, rp_error *err)
{
	memset(res, 0, sizeof(*res));
	if (len > AGENT_WORKER_MSG_MAX)
		return rp_error_set(err, RP_E_INVALID, "agent worker result: %zu bytes, at most %d", len, AGENT_WORKER_MSG_MAX);
	rp_reader r;
	rp_reader_init(&r, data, len);
	uint8_t version = 0, kind = 0;
	if (rp_reader_u8(&r, "version", &version) && version != AGENT_WORKER_MSG_VERSION)
		return rp_error_set(err, RP_E_INVALID, "agent worker result: version %u, expected %d", version,
		                    AGENT_WORKER_MSG_VERSION);
	if (rp_reader_u8(&r, "kind", &kind) && kind != AGENT_WORKER_ATTEST && kind != AGENT_WORKER_UPDATE)
		return rp_error_set(err, RP_E_INVALID, "agent worker result: unknown kind %u", kind);
	res->kind = (enum agent_worker_kind)kind;
	if (read_flag(&r, "ok", &res->ok, err) < 0)
		return -1;
	if (res->kind == AGENT_WORKER_ATTEST) {
		uint64_t nb = 0, na = 0;
		uint8_t n = 0;
		rp_reader_u64(&r, "not_before", &nb);
		rp_reader_u64(&r, "not_after", &na);
		res->not_before = (int64_t)nb;
		res->not_after = (int64_t)na;
		if (rp_reader_u8(&r, "device_id length", &n) && n > AGENT_WORKER_DEVICE_ID_MAX)
			return rp_error_set(err, RP_E_INVALID, "agent worker result: device ID of %u characters", n);
		if (rp_reader_bytes(&r, "device_id", res->device_id, n))
			for (size_t i = 0; i < n; i++)
				if (!strchr("0123456789abcdef", res->device_id[i]) || res->device_id[i] == 0)
					return rp_error_set(err, RP_E_INVALID, "agent worker result: device ID is not lowercase hex");
	} else {
		rp_reader_u32(&r, "targets", &res->targets);
		rp_reader_u32(&r, "installed", &res->installed);
		rp_reader_u32(&r, "skipped", &res->skipped);
		rp_reader_u32(&r, "failed", &res->failed);
		rp_reader_u32(&r, "deferred", &res->deferred);
		if (read_flag(&r, "os_installed", &res->os_installed, err) < 0)
			return -1;
	}
	uint16_t n = 0;
	if (rp_reader_u16(&r, "reason length", &n) && n > AGENT_WORKER_REASON_MAX)
		return rp_error_set(err, RP_E_INVALID, "agent worker result: reason of %u bytes", n);
	if (rp_reader_bytes(&r, "reason", res->reason, n))
		for (size_t i = 0; i < n; i++)
			if (!reason_byte_ok((uint8_t)res->reason[i]))
				return rp_error_set(err, RP_E_INVALID, "agent worker result: reason has a control or non-ASCII byte");
	return rp_reader_finish(&r, "agent worker result", err);
}
