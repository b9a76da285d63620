/* Attestation evidence: builders, canonical encoding, strict decoding and verification.
 * Decoding defends against hostile devices and the network: every count and length is bounded
 * before use, strings are restricted to a small character set, and order is enforced so each
 * evidence has exactly one encoding (what is signed is what is verified). One signature covers it
 * all: the quote's qualifying data is the SHA-256 of the claims, which hold the service's nonce. */
#include <string.h>

#include "attest/evidence.h"
#include "common/encoding.h"
#include "common/guid.h"
#include "common/xalloc.h"

void evidence_init(evidence *ev) { memset(ev, 0, sizeof(*ev)); }

void evidence_free(evidence *ev)
{
	free(ev->log);
	free(ev->images);
	evidence_init(ev);
}

static bool evidence_backend_ok(const char *s, size_t len)
{
	if (len < 1 || len > EVIDENCE_BACKEND_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

bool evidence_name_ok(const char *s, size_t len)
{
	if (len < 1 || len > EVIDENCE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* Versions: printable ASCII without spaces, so logs and audit records cannot be spoofed. */
bool evidence_version_ok(const char *s, size_t len)
{
	if (len > EVIDENCE_VERSION_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

bool evidence_guid_ok(const char *s, size_t len)
{
	if (len != EVIDENCE_GUID_LEN)
		return false;
	char tmp[EVIDENCE_GUID_LEN + 1];
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (tmp[i] >= 'A' && tmp[i] <= 'F')
			return false; /* canonical form is lowercase */
	return rp_guid_is_valid(tmp);
}

int evidence_set_backend(evidence *ev, const char *backend, bool insecure, rp_error *err)
{
	if (!evidence_backend_ok(backend, strlen(backend)))
		return rp_error_set(err, RP_E_INVALID, "backend name '%s' is not 1..%d of [a-z0-9]", backend,
		                    EVIDENCE_BACKEND_MAX);
	memcpy(ev->backend, backend, strlen(backend) + 1);
	ev->insecure = insecure;
	return 0;
}

int evidence_add_measurement(evidence *ev, unsigned pcr, const char *name, const char *version,
                             const uint8_t digest[RP_SHA256_LEN], rp_error *err)
{
	if (pcr < EVIDENCE_PCR_FIRST || pcr > EVIDENCE_PCR_LAST)
		return rp_error_set(err, RP_E_INVALID, "measurement PCR %u is outside %d..%d", pcr, EVIDENCE_PCR_FIRST,
		                    EVIDENCE_PCR_LAST);
	if (!evidence_name_ok(name, strlen(name)))
		return rp_error_set(err, RP_E_INVALID, "component name must be 1..%d of [A-Za-z0-9._-]", EVIDENCE_NAME_MAX);
	if (!evidence_version_ok(version, strlen(version)))
		return rp_error_set(err, RP_E_INVALID, "component version must be 0..%d printable characters without spaces",
		                    EVIDENCE_VERSION_MAX);
	if (ev->n_log >= EVIDENCE_MAX_LOG)
		return rp_error_set(err, RP_E_LIMIT, "measurement log is full (%d entries)", EVIDENCE_MAX_LOG);
	ev->log = xreallocarray(ev->log, ev->n_log + 1, sizeof(*ev->log));
	evidence_measurement *m = &ev->log[ev->n_log++];
	memset(m, 0, sizeof(*m));
	m->pcr = (uint8_t)pcr;
	memcpy(m->name, name, strlen(name));
	memcpy(m->version, version, strlen(version));
	memcpy(m->digest, digest, RP_SHA256_LEN);
	return 0;
}

int evidence_add_image(evidence *ev, const char *id, const char *version, rp_error *err)
{
	if (!evidence_guid_ok(id, strlen(id)))
		return rp_error_set(err, RP_E_INVALID, "image ID '%.40s' is not a lowercase GUID", id);
	if (!evidence_version_ok(version, strlen(version)))
		return rp_error_set(err, RP_E_INVALID, "image version must be 0..%d printable characters without spaces",
		                    EVIDENCE_VERSION_MAX);
	if (ev->n_images >= EVIDENCE_MAX_IMAGES)
		return rp_error_set(err, RP_E_LIMIT, "at most %d images per evidence", EVIDENCE_MAX_IMAGES);
	size_t pos = 0;
	while (pos < ev->n_images && strcmp(ev->images[pos].id, id) < 0)
		pos++;
	if (pos < ev->n_images && strcmp(ev->images[pos].id, id) == 0)
		return rp_error_set(err, RP_E_INVALID, "image %s is listed twice", id);
	ev->images = xreallocarray(ev->images, ev->n_images + 1, sizeof(*ev->images));
	memmove(&ev->images[pos + 1], &ev->images[pos], (ev->n_images - pos) * sizeof(*ev->images));
	evidence_image *im = &ev->images[pos];
	memset(im, 0, sizeof(*im));
	memcpy(im->id, id, EVIDENCE_GUID_LEN);
	memcpy(im->version, version, strlen(version));
	ev->n_images++;
	return 0;
}

int evidence_add_counter(evidence *ev, unsigned index, uint64_t value, rp_error *err)
{
	if (index >= EVIDENCE_MAX_COUNTERS)
		return rp_error_set(err, RP_E_INVALID, "counter index %u is out of range 0..%d", index,
		                    EVIDENCE_MAX_COUNTERS - 1);
	if (ev->n_counters > 0 && ev->counters[ev->n_counters - 1].index >= index)
		return rp_error_set(err, RP_E_INVALID, "counters must be in ascending index order (%u after %u)", index,
		                    ev->counters[ev->n_counters - 1].index);
	ev->counters[ev->n_counters].index = (uint8_t)index;
	ev->counters[ev->n_counters].value = value;
	ev->n_counters++;
	return 0;
}

static void evidence_put_str8(rp_buf *b, const char *s)
{
	size_t len = strlen(s);
	rp_buf_u8(b, (uint8_t)len);
	rp_buf_append(b, s, len);
}

int evidence_encode_claims(const evidence *ev, rp_buf *out, rp_error *err)
{
	if (!evidence_backend_ok(ev->backend, strlen(ev->backend)))
		return rp_error_set(err, RP_E_INVALID, "evidence has no backend name");
	rp_buf_u32(out, EVIDENCE_MAGIC);
	rp_buf_u16(out, EVIDENCE_VERSION);
	evidence_put_str8(out, ev->backend);
	rp_buf_u8(out, ev->insecure ? 1 : 0);
	rp_buf_append(out, ev->device_id, sizeof(ev->device_id));
	rp_buf_append(out, ev->nonce, sizeof(ev->nonce));
	rp_buf_u16(out, (uint16_t)ev->n_log);
	for (size_t i = 0; i < ev->n_log; i++) {
		rp_buf_u8(out, ev->log[i].pcr);
		evidence_put_str8(out, ev->log[i].name);
		evidence_put_str8(out, ev->log[i].version);
		rp_buf_append(out, ev->log[i].digest, RP_SHA256_LEN);
	}
	rp_buf_u16(out, (uint16_t)ev->n_images);
	for (size_t i = 0; i < ev->n_images; i++) {
		rp_buf_append(out, ev->images[i].id, EVIDENCE_GUID_LEN);
		evidence_put_str8(out, ev->images[i].version);
	}
	rp_buf_u8(out, (uint8_t)ev->n_counters);
	for (size_t i = 0; i < ev->n_counters; i++) {
		rp_buf_u8(out, ev->counters[i].index);
		rp_buf_u64(out, ev->counters[i].value);
	}
	return 0;
}

int evidence_claims_digest(const evidence *ev, uint8_t out[RP_SHA256_LEN], rp_error *err)
{
	rp_buf claims;
	rp_buf_init(&claims);
	int rc = evidence_encode_claims(ev, &claims, err);
	if (rc == 0)
		rp_sha256_buf(claims.data, claims.len, out);
	rp_buf_free(&claims);
	return rc;
}

int evidence_encode(const evidence *ev, rp_buf *out, rp_error *err)
{
	if (ev->quote_attest_len == 0 || ev->quote_attest_len > QUOTE_ATTEST_MAX || ev->quote_sig_len == 0 ||
	    ev->quote_sig_len > RP_ECDSA_SIG_MAX)
		return rp_error_set(err, RP_E_INVALID, "evidence has no signed quote");
	if (evidence_encode_claims(ev, out, err) < 0)
		return -1;
	rp_buf_u16(out, (uint16_t)ev->quote_attest_len);
	rp_buf_append(out, ev->quote_attest, ev->quote_attest_len);
	rp_buf_u8(out, (uint8_t)ev->quote_sig_len);
	rp_buf_append(out, ev->quote_sig, ev->quote_sig_len);
	return 0;
}

/* Read a u8-length string into OUT (capacity MAX + 1) and check it with OK. */
static bool evidence_get_str8(rp_reader *r, const char *field, char *out, size_t max,
                              bool (*ok)(const char *, size_t))
{
	uint8_t len = 0;
	const uint8_t *p = NULL;
	if (!rp_reader_u8(r, field, &len) || len > max || !rp_reader_view(r, field, &p, len))
		return false;
	if (!ok((const char *)p, len))
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

#define BAD(...) rp_error_set(err, RP_E_INVALID, "evidence: " __VA_ARGS__)

int evidence_decode(const uint8_t *data, size_t len, evidence *out, rp_error *err)
{
	evidence_init(out);
	if (len > EVIDENCE_MAX_LEN)
		return rp_error_set(err, RP_E_LIMIT, "evidence: %zu bytes is above the limit of %d", len, EVIDENCE_MAX_LEN);
	rp_reader r;
	rp_reader_init(&r, data, len);
	uint32_t magic = 0;
	uint16_t version = 0, n16 = 0;
	uint8_t flag = 0, n8 = 0;
	if (!rp_reader_u32(&r, "magic", &magic) || magic != EVIDENCE_MAGIC)
		return BAD("not Rampart evidence (bad magic)");
	if (!rp_reader_u16(&r, "version", &version))
		return BAD("truncated before the version");
	if (version == 1)
		return rp_error_set(err, RP_E_UNSUPPORTED,
		                    "evidence: format version 1 (a body signature beside the quote) is no longer accepted; "
		                    "update the device's OS to one whose security monitor writes version %d",
		                    EVIDENCE_VERSION);
	if (version != EVIDENCE_VERSION)
		return rp_error_set(err, RP_E_UNSUPPORTED, "evidence: format version %u is not supported (this build reads %d)",
		                    version, EVIDENCE_VERSION);
	if (!evidence_get_str8(&r, "backend", out->backend, EVIDENCE_BACKEND_MAX, evidence_backend_ok))
		return BAD("backend name is truncated or not 1..%d of [a-z0-9]", EVIDENCE_BACKEND_MAX);
	if (!rp_reader_u8(&r, "insecure", &flag) || flag > 1)
		return BAD("insecure flag is truncated or not 0/1");
	out->insecure = flag;
	rp_reader_bytes(&r, "device id", out->device_id, sizeof(out->device_id));
	rp_reader_bytes(&r, "nonce", out->nonce, sizeof(out->nonce));
	if (!rp_reader_u16(&r, "log count", &n16))
		return BAD("truncated at %s", r.failed_field);
	if (n16 > EVIDENCE_MAX_LOG)
		return rp_error_set(err, RP_E_LIMIT, "evidence: %u log entries is above the limit of %d", n16, EVIDENCE_MAX_LOG);
	out->log = n16 ? xcalloc(n16, sizeof(*out->log)) : NULL;
	for (size_t i = 0; i < n16; i++) {
		evidence_measurement *m = &out->log[i];
		if (!rp_reader_u8(&r, "pcr", &m->pcr))
			return BAD("log entry %zu is truncated", i);
		if (m->pcr < EVIDENCE_PCR_FIRST || m->pcr > EVIDENCE_PCR_LAST)
			return BAD("log entry %zu uses PCR %u, outside %d..%d", i, m->pcr, EVIDENCE_PCR_FIRST, EVIDENCE_PCR_LAST);
		if (!evidence_get_str8(&r, "name", m->name, EVIDENCE_NAME_MAX, evidence_name_ok))
			return BAD("log entry %zu: component name is truncated or not 1..%d of [A-Za-z0-9._-]", i,
			           EVIDENCE_NAME_MAX);
		if (!evidence_get_str8(&r, "version", m->version, EVIDENCE_VERSION_MAX, evidence_version_ok))
			return BAD("log entry %zu: version is truncated or has characters outside printable ASCII", i);
		if (!rp_reader_bytes(&r, "digest", m->digest, RP_SHA256_LEN))
			return BAD("log entry %zu: digest is truncated", i);
		out->n_log++;
	}
	if (!rp_reader_u16(&r, "image count", &n16))
		return BAD("truncated at %s", r.failed_field);
	if (n16 > EVIDENCE_MAX_IMAGES)
		return rp_error_set(err, RP_E_LIMIT, "evidence: %u images is above the limit of %d", n16, EVIDENCE_MAX_IMAGES);
	out->images = n16 ? xcalloc(n16, sizeof(*out->images)) : NULL;
	for (size_t i = 0; i < n16; i++) {
		evidence_image *im = &out->images[i];
		const uint8_t *p = NULL;
		if (!rp_reader_view(&r, "image id", &p, EVIDENCE_GUID_LEN) || !evidence_guid_ok((const char *)p, EVIDENCE_GUID_LEN))
			return BAD("image %zu: ID is truncated or not a lowercase GUID", i);
		memcpy(im->id, p, EVIDENCE_GUID_LEN);
		if (i > 0 && strcmp(out->images[i - 1].id, im->id) >= 0)
			return BAD("images are not sorted by ID or an ID repeats (%s)", im->id);
		if (!evidence_get_str8(&r, "image version", im->version, EVIDENCE_VERSION_MAX, evidence_version_ok))
			return BAD("image %s: version is truncated or has characters outside printable ASCII", im->id);
		out->n_images++;
	}
	if (!rp_reader_u8(&r, "counter count", &n8))
		return BAD("truncated at %s", r.failed_field);
	if (n8 > EVIDENCE_MAX_COUNTERS)
		return BAD("%u counters is above the limit of %d", n8, EVIDENCE_MAX_COUNTERS);
	for (size_t i = 0; i < n8; i++) {
		evidence_counter *c = &out->counters[i];
		if (!rp_reader_u8(&r, "counter index", &c->index) || !rp_reader_u64(&r, "counter value", &c->value))
			return BAD("counter %zu is truncated", i);
		if (c->index >= EVIDENCE_MAX_COUNTERS || (i > 0 && out->counters[i - 1].index >= c->index))
			return BAD("counter indices must be ascending and below %d", EVIDENCE_MAX_COUNTERS);
		out->n_counters++;
	}
	if (!rp_reader_u16(&r, "quote length", &n16))
		return BAD("truncated at %s", r.failed_field);
	if (n16 == 0 || n16 > QUOTE_ATTEST_MAX)
		return BAD("quote of %u bytes is outside 1..%d", n16, QUOTE_ATTEST_MAX);
	if (!rp_reader_bytes(&r, "quote", out->quote_attest, n16))
		return BAD("quote is truncated");
	out->quote_attest_len = n16;
	quote_info info;
	if (quote_attest_parse(out->quote_attest, out->quote_attest_len, &info, err) < 0)
		return rp_error_prefix(err, "evidence");
	if (!rp_reader_u8(&r, "quote signature length", &n8) || n8 == 0 || n8 > RP_ECDSA_SIG_MAX ||
	    !rp_reader_bytes(&r, "quote signature", out->quote_sig, n8))
		return BAD("quote signature is truncated or not 1..%d bytes", RP_ECDSA_SIG_MAX);
	out->quote_sig_len = n8;
	return rp_reader_finish(&r, "evidence", err);
}

void evidence_replay(const evidence *ev, uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN])
{
	memset(values, 0, QUOTE_PCR_COUNT * RP_SHA256_LEN);
	for (size_t i = 0; i < ev->n_log; i++) {
		uint8_t buf[2 * RP_SHA256_LEN];
		memcpy(buf, values[ev->log[i].pcr], RP_SHA256_LEN);
		memcpy(buf + RP_SHA256_LEN, ev->log[i].digest, RP_SHA256_LEN);
		rp_sha256_buf(buf, sizeof(buf), values[ev->log[i].pcr]);
	}
}

int evidence_verify(const evidence *ev, rp_key *key, const uint8_t nonce[EVIDENCE_NONCE_LEN], rp_error *err)
{
	uint8_t key_id[RP_KEY_ID_LEN];
	if (rp_key_id(key, key_id, err) < 0)
		return -1;
	if (memcmp(key_id, ev->device_id, RP_KEY_ID_LEN) != 0) {
		_cleanup_free_ char *claimed = rp_hex_encode(ev->device_id, RP_KEY_ID_LEN);
		_cleanup_free_ char *expected = rp_hex_encode(key_id, RP_KEY_ID_LEN);
		return rp_error_set(err, RP_E_VERIFY, "evidence names device %s, not the registered device %s", claimed,
		                    expected);
	}
	if (memcmp(ev->nonce, nonce, EVIDENCE_NONCE_LEN) != 0)
		return rp_error_set(err, RP_E_VERIFY, "evidence answers another nonce (stale or replayed evidence)");
	if (evidence_verify_signature(ev, key, err) < 0)
		return -1;
	return evidence_verify_quote(ev, nonce, err);
}

int evidence_verify_signature(const evidence *ev, rp_key *key, rp_error *err)
{
	if (rp_ecdsa_verify(key, ev->quote_attest, ev->quote_attest_len, ev->quote_sig, ev->quote_sig_len, err) < 0)
		return rp_error_prefix(err, "evidence: the quote is not signed by the device's registered identity key");
	quote_info info;
	if (quote_attest_parse(ev->quote_attest, ev->quote_attest_len, &info, err) < 0)
		return rp_error_prefix(err, "evidence");
	uint8_t digest[RP_SHA256_LEN];
	if (evidence_claims_digest(ev, digest, err) < 0)
		return -1;
	if (info.nonce_len != RP_SHA256_LEN || !rp_memeq_consttime(info.nonce, digest, RP_SHA256_LEN))
		return rp_error_set(err, RP_E_VERIFY,
		                    "evidence: the quote does not sign these claims (the measurement log, images, counters "
		                    "or nonce were changed after the device signed them)");
	return 0;
}

int evidence_verify_quote(const evidence *ev, const uint8_t nonce[EVIDENCE_NONCE_LEN], rp_error *err)
{
	if (memcmp(ev->nonce, nonce, EVIDENCE_NONCE_LEN) != 0)
		return rp_error_set(err, RP_E_VERIFY, "evidence answers another nonce (stale or replayed evidence)");
	bool soft = strcmp(ev->backend, "soft") == 0;
	if (!soft && strcmp(ev->backend, "tpm2") != 0)
		return rp_error_set(err, RP_E_UNSUPPORTED, "evidence from unknown root-of-trust backend '%s'", ev->backend);
	if (soft != ev->insecure)
		return rp_error_set(err, RP_E_VERIFY, "evidence: backend '%s' with insecure=%d is inconsistent", ev->backend,
		                    ev->insecure);
	quote_info info;
	if (quote_attest_parse(ev->quote_attest, ev->quote_attest_len, &info, err) < 0)
		return rp_error_prefix(err, "evidence");
	uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN];
	evidence_replay(ev, values);
	uint32_t used = 0;
	for (size_t i = 0; i < ev->n_log; i++)
		used |= 1u << ev->log[i].pcr;
	if (quote_check_pcrs(&info, used, values, err) < 0)
		return rp_error_prefix(err, "evidence");
	if (info.pcr_mask != EVIDENCE_PCR_MASK)
		return rp_error_set(err, RP_E_VERIFY, "evidence: quote covers PCRs 0x%06x, expected exactly 8..15",
		                    info.pcr_mask);
	return 0;
}

json_t *evidence_to_json(const evidence *ev)
{
	json_t *log = json_array(), *images = json_array(), *counters = json_array();
	for (size_t i = 0; i < ev->n_log; i++) {
		_cleanup_free_ char *d = rp_hex_encode(ev->log[i].digest, RP_SHA256_LEN);
		json_array_append_new(log, json_pack("{s:i,s:s,s:s,s:s}", "pcr", ev->log[i].pcr, "name", ev->log[i].name,
		                                     "version", ev->log[i].version, "sha256", d));
	}
	for (size_t i = 0; i < ev->n_images; i++)
		json_array_append_new(images, json_pack("{s:s,s:s}", "id", ev->images[i].id, "version", ev->images[i].version));
	for (size_t i = 0; i < ev->n_counters; i++)
		json_array_append_new(counters, json_pack("{s:i,s:I}", "index", ev->counters[i].index, "value",
		                                          (json_int_t)ev->counters[i].value));
	_cleanup_free_ char *id = rp_hex_encode(ev->device_id, RP_KEY_ID_LEN);
	_cleanup_free_ char *nonce = rp_hex_encode(ev->nonce, EVIDENCE_NONCE_LEN);
	return json_pack("{s:i,s:s,s:b,s:s,s:s,s:o,s:o,s:o,s:i}", "version", EVIDENCE_VERSION, "backend", ev->backend,
	                 "insecure", ev->insecure, "device_id", id, "nonce", nonce, "measurements", log, "images", images,
	                 "counters", counters, "quote_bytes", (int)ev->quote_attest_len);
}
