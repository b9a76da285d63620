/* Capability files: a JSON envelope {format, payload (base64 of the signed JSON bytes), signature}.
 * The signature covers a domain-separation prefix plus the payload bytes exactly as issued, so no
 * canonical JSON is needed and a signature made for anything else (an X.509 certificate, an
 * image) can never pass as a capability. */
#include "common/capability.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/encoding.h"
#include "common/json.h"
#include "common/xalloc.h"

#define DOMAIN_PREFIX CAPABILITY_FORMAT "\0"

static bool is_lower_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void capability_free(struct capability *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->ndev_keys; i++)
		free(c->dev_keys[i]);
	free(c->payload);
	memset(c, 0, sizeof(*c));
}

/* The message that is signed: "rampart-capability-v1\0" || payload. */
static uint8_t *signed_message(const uint8_t *payload, size_t len, size_t *out_len)
{
	size_t plen = sizeof(DOMAIN_PREFIX) - 1;
	uint8_t *m = xmalloc(plen + len);
	memcpy(m, DOMAIN_PREFIX, plen);
	memcpy(m + plen, payload, len);
	*out_len = plen + len;
	return m;
}

static int parse_payload(struct capability *c, rp_error *err)
{
	static const char *const keys[] = {"type",      "device_id",  "tenant_id",        "serial",
	                                   "issued_at", "expires_at", "development_keys", NULL};
	_cleanup_json_ json_t *j = rp_json_parse((const char *)c->payload, c->payload_len, CAPABILITY_PAYLOAD_MAX,
	                                         "capability payload", err);
	const char *type = NULL, *dev = NULL, *tenant = NULL, *serial = NULL;
	json_t *keys_arr = NULL;
	if (!j || rp_json_check_keys(j, keys, "capability payload", err) < 0 ||
	    rp_json_get_string(j, "type", true, &type, err) < 0 ||
	    rp_json_get_string(j, "device_id", true, &dev, err) < 0 ||
	    rp_json_get_string(j, "tenant_id", true, &tenant, err) < 0 ||
	    rp_json_get_string(j, "serial", true, &serial, err) < 0 ||
	    rp_json_get_int(j, "issued_at", true, 1, INT64_C(253402300799), &c->issued_at, err) < 0 ||
	    rp_json_get_int(j, "expires_at", false, 1, INT64_C(253402300799), &c->expires_at, err) < 0 ||
	    rp_json_get_array(j, "development_keys", false, &keys_arr, err) < 0)
		return -1;
	if (strcmp(type, CAPABILITY_TYPE_APP_DEVELOPMENT) != 0)
		return rp_error_set(err, RP_E_UNSUPPORTED, "capability type \"%.31s\" is not supported (expected %s)", type,
		                    CAPABILITY_TYPE_APP_DEVELOPMENT);
	if (!is_lower_hex(dev, 64))
		return rp_error_set(err, RP_E_INVALID, "capability device_id must be 64 lowercase hex digits");
	if (!is_lower_hex(serial, 32))
		return rp_error_set(err, RP_E_INVALID, "capability serial must be 32 lowercase hex digits");
	if (strlen(tenant) != 36)
		return rp_error_set(err, RP_E_INVALID, "capability tenant_id must be a GUID");
	for (size_t i = 0; i < 36; i++) {
		char ch = tenant[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? ch != '-' : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return rp_error_set(err, RP_E_INVALID, "capability tenant_id must be a lowercase GUID");
	}
	if (c->expires_at != 0 && c->expires_at <= c->issued_at)
		return rp_error_set(err, RP_E_INVALID, "capability expires_at is not after issued_at");
	snprintf(c->type, sizeof(c->type), "%s", type);
	snprintf(c->device_id, sizeof(c->device_id), "%s", dev);
	snprintf(c->tenant_id, sizeof(c->tenant_id), "%s", tenant);
	snprintf(c->serial, sizeof(c->serial), "%s", serial);
	if (keys_arr) {
		if (json_array_size(keys_arr) > CAPABILITY_DEV_KEYS_MAX)
			return rp_error_set(err, RP_E_LIMIT, "capability lists more than %d development keys",
			                    CAPABILITY_DEV_KEYS_MAX);
		size_t i;
		json_t *v;
		json_array_foreach(keys_arr, i, v)
		{
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > CAPABILITY_DEV_KEY_PEM_MAX)
				return rp_error_set(err, RP_E_INVALID,
				                    "capability development_keys[%zu] must be a PEM public key string", i);
			rp_key *k = rp_key_from_public_pem(json_string_value(v), json_string_length(v), err);
			bool p256 = k && rp_key_is_p256(k);
			rp_key_free(k);
			if (!p256) {
				if (!rp_error_is_set(err))
					rp_error_set(err, RP_E_UNSUPPORTED, "not a P-256 key");
				return rp_error_prefix(err, "capability development_keys[%zu]", i);
			}
			c->dev_keys[c->ndev_keys++] = xstrdup(json_string_value(v));
		}
	}
	return 0;
}

int capability_parse(const uint8_t *buf, size_t len, struct capability *out, rp_error *err)
{
	static const char *const keys[] = {"format", "payload", "signature", NULL};
	memset(out, 0, sizeof(*out));
	if (len > CAPABILITY_FILE_MAX)
		return rp_error_set(err, RP_E_LIMIT, "capability file is larger than %d bytes", CAPABILITY_FILE_MAX);
	_cleanup_json_ json_t *j = rp_json_parse((const char *)buf, len, CAPABILITY_FILE_MAX, "capability file", err);
	const char *format = NULL, *payload = NULL, *sig = NULL;
	/* Declared before the first goto: a jump must not skip a cleanup variable's initialisation. */
	_cleanup_free_ uint8_t *sigbin = NULL;
	size_t siglen = 0;
	if (!j || rp_json_check_keys(j, keys, "capability file", err) < 0 ||
	    rp_json_get_string(j, "format", true, &format, err) < 0 ||
	    rp_json_get_string(j, "payload", true, &payload, err) < 0 ||
	    rp_json_get_string(j, "signature", true, &sig, err) < 0)
		goto fail;
	if (strcmp(format, CAPABILITY_FORMAT) != 0) {
		rp_error_set(err, RP_E_UNSUPPORTED, "capability format \"%.40s\" is not supported (expected %s)", format,
		             CAPABILITY_FORMAT);
		goto fail;
	}
	if (rp_base64_decode(sig, strlen(sig), &sigbin, &siglen, err) < 0) {
		rp_error_prefix(err, "capability signature");
		goto fail;
	}
	if (siglen == 0 || siglen > sizeof(out->sig)) {
		rp_error_set(err, RP_E_INVALID, "capability signature has %zu bytes (an ECDSA P-256 signature has 8..%d)",
		             siglen, RP_ECDSA_SIG_MAX);
		goto fail;
	}
	memcpy(out->sig, sigbin, siglen);
	out->sig_len = siglen;
	if (rp_base64_decode(payload, strlen(payload), &out->payload, &out->payload_len, err) < 0) {
		rp_error_prefix(err, "capability payload");
		goto fail;
	}
	if (out->payload_len > CAPABILITY_PAYLOAD_MAX) {
		rp_error_set(err, RP_E_LIMIT, "capability payload is larger than %d bytes", CAPABILITY_PAYLOAD_MAX);
		goto fail;
	}
	if (parse_payload(out, err) < 0)
		goto fail;
	return 0;
fail:
	capability_free(out);
	return -1;
}

static void fmt_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "%lld", (long long)t);
}

int capability_verify(const struct capability *c, rp_key *signer, const char *device_id, const char *type,
                      int64_t now, rp_error *err)
{
	/* Signature first: nothing else in the document means anything until it is authentic. */
	size_t mlen = 0;
	_cleanup_free_ uint8_t *msg = signed_message(c->payload, c->payload_len, &mlen);
	if (rp_ecdsa_verify(signer, msg, mlen, c->sig, c->sig_len, err) < 0) {
		rp_error_clear(err);
		return rp_error_set(err, RP_E_VERIFY,
		                    "capability signature does not verify against the trusted capability-signing key "
		                    "(tampered, or issued by another tenant)");
	}
	if (strcmp(c->device_id, device_id) != 0)
		return rp_error_set(err, RP_E_PERMISSION,
		                    "capability is for device %.64s, not this device (%.64s); download one for this device",
		                    c->device_id, device_id);
	if (strcmp(c->type, type) != 0)
		return rp_error_set(err, RP_E_PERMISSION, "capability is of type %s, not %s", c->type, type);
	char when[32];
	if (c->issued_at > now + CAPABILITY_CLOCK_SKEW) {
		fmt_time(c->issued_at, when);
		return rp_error_set(err, RP_E_EXPIRED, "capability is issued in the future (%s); check the device clock",
		                    when);
	}
	if (c->expires_at != 0 && now >= c->expires_at) {
		fmt_time(c->expires_at, when);
		return rp_error_set(err, RP_E_EXPIRED, "capability expired at %s; download a new one", when);
	}
	return 0;
}

char *capability_sign(const struct capability *c, rp_key *key, rp_error *err)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:I}", "type", c->type, "device_id", c->device_id, "tenant_id",
	                      c->tenant_id, "serial", c->serial, "issued_at", (json_int_t)c->issued_at);
	if (c->expires_at)
		json_object_set_new(p, "expires_at", json_integer(c->expires_at));
	if (c->ndev_keys) {
		json_t *arr = json_array();
		for (size_t i = 0; i < c->ndev_keys; i++)
			json_array_append_new(arr, json_string(c->dev_keys[i]));
		json_object_set_new(p, "development_keys", arr);
	}
	_cleanup_free_ char *payload = rp_json_dump(p);
	json_decref(p);
	size_t mlen = 0;
	_cleanup_free_ uint8_t *msg = signed_message((const uint8_t *)payload, strlen(payload), &mlen);
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t siglen = 0;
	if (rp_ecdsa_sign(key, msg, mlen, sig, &siglen, err) < 0) {
		rp_error_prefix(err, "signing the capability");
		return NULL;
	}
	_cleanup_free_ char *p64 = rp_base64_encode((const uint8_t *)payload, strlen(payload));
	_cleanup_free_ char *s64 = rp_base64_encode(sig, siglen);
	json_t *doc = json_pack("{s:s, s:s, s:s}", "format", CAPABILITY_FORMAT, "payload", p64, "signature", s64);
	char *out = rp_json_dump(doc);
	json_decref(doc);
	return out;
}
