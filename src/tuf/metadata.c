/* TUF 1.0 metadata builders and signing (see metadata.h). */
#include "tuf/metadata.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/encoding.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "tuf/canonical_json.h"

static const char *const role_names[TUF_ROLE_COUNT] = {"root", "targets", "snapshot", "timestamp"};

const char *tuf_role_name(enum tuf_role role)
{
	return (unsigned)role < TUF_ROLE_COUNT ? role_names[role] : "unknown";
}

int tuf_role_from_name(const char *name)
{
	for (int i = 0; i < TUF_ROLE_COUNT; i++)
		if (strcmp(name, role_names[i]) == 0)
			return i;
	return -1;
}

int64_t tuf_role_default_lifetime(enum tuf_role role)
{
	switch (role) {
	case TUF_ROLE_ROOT: return 365 * TUF_DAY_SECONDS;
	case TUF_ROLE_TARGETS: return 30 * TUF_DAY_SECONDS;
	case TUF_ROLE_SNAPSHOT: return 7 * TUF_DAY_SECONDS;
	case TUF_ROLE_TIMESTAMP: return TUF_DAY_SECONDS;
	}
	return TUF_DAY_SECONDS;
}

/* --- times --- */

#define TIME_MIN ((int64_t)0)             /* 1970-01-01T00:00:00Z */
#define TIME_MAX ((int64_t)253402300799) /* 9999-12-31T23:59:59Z */

int tuf_time_format(int64_t t, char out[TUF_TIME_LEN + 1], rp_error *err)
{
	if (t < TIME_MIN || t > TIME_MAX)
		return rp_error_set(err, RP_E_INVALID, "time %" PRId64 " is outside years 1970-9999", t);
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, TUF_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != TUF_TIME_LEN)
		return rp_error_set(err, RP_E_INTERNAL, "cannot format time %" PRId64, t);
	return 0;
}

static bool digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

int tuf_time_parse(const char *s, int64_t *out, rp_error *err)
{
	struct tm tm = {0};
	int year, mon, day, hour, min, sec;
	if (strlen(s) != TUF_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
	    s[19] != 'Z' || !digits(s, 4, &year) || !digits(s + 5, 2, &mon) || !digits(s + 8, 2, &day) ||
	    !digits(s + 11, 2, &hour) || !digits(s + 14, 2, &min) || !digits(s + 17, 2, &sec) || year < 1970 ||
	    mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59)
		return rp_error_set(err, RP_E_INVALID, "time \"%.40s\" is not of the form YYYY-MM-DDTHH:MM:SSZ (UTC)", s);
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	int64_t t = (int64_t)timegm(&tm);
	char again[TUF_TIME_LEN + 1];
	/* Formatting back must give the same text: refuses dates such as February 30. */
	if (tuf_time_format(t, again, NULL) < 0 || strcmp(again, s) != 0)
		return rp_error_set(err, RP_E_INVALID, "time \"%.40s\" is not a valid calendar date", s);
	*out = t;
	return 0;
}

/* --- keys --- */

json_t *tuf_key_json(rp_key *key, rp_error *err)
{
	if (!rp_key_is_p256(key)) {
		rp_error_set(err, RP_E_UNSUPPORTED, "TUF keys must be ECDSA P-256 keys");
		return NULL;
	}
	_cleanup_free_ char *pem = rp_key_public_pem(key, err);
	if (!pem)
		return NULL;
	return json_pack("{s:s, s:s, s:{s:s}}", "keytype", TUF_KEYTYPE_ECDSA, "scheme", TUF_SCHEME_ECDSA_P256,
	                 "keyval", "public", pem);
}

int tuf_key_id_of_json(const json_t *key_obj, char out[TUF_KEYID_HEX_LEN + 1], rp_error *err)
{
	_cleanup_free_ char *cj = NULL;
	size_t len = 0;
	if (canonical_json_encode(key_obj, &cj, &len, err) < 0)
		return rp_error_prefix(err, "computing a key ID");
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(cj, len, digest);
	_cleanup_free_ char *hex = rp_hex_encode(digest, sizeof(digest));
	memcpy(out, hex, TUF_KEYID_HEX_LEN + 1);
	return 0;
}

int tuf_key_id(rp_key *key, char out[TUF_KEYID_HEX_LEN + 1], rp_error *err)
{
	_cleanup_json_ json_t *obj = tuf_key_json(key, err);
	if (!obj)
		return -1;
	return tuf_key_id_of_json(obj, out, err);
}

/* --- builders --- */

static json_t *signed_common(enum tuf_role role, int64_t version, int64_t expires, rp_error *err)
{
	char when[TUF_TIME_LEN + 1];
	if (version < 1 || version > TUF_INT_MAX) {
		rp_error_set(err, RP_E_INVALID, "%s version %" PRId64 " is out of range", tuf_role_name(role), version);
		return NULL;
	}
	if (tuf_time_format(expires, when, err) < 0)
		return NULL;
	return json_pack("{s:s, s:s, s:I, s:s}", "_type", tuf_role_name(role), "spec_version", TUF_SPEC_VERSION,
	                 "version", (json_int_t)version, "expires", when);
}

int tuf_signed_set_version(json_t *signed_obj, int64_t version, int64_t expires, rp_error *err)
{
	char when[TUF_TIME_LEN + 1];
	if (version < 1 || version > TUF_INT_MAX)
		return rp_error_set(err, RP_E_INVALID, "version %" PRId64 " is out of range", version);
	if (tuf_time_format(expires, when, err) < 0)
		return -1;
	json_object_set_new(signed_obj, "version", json_integer(version));
	json_object_set_new(signed_obj, "expires", json_string(when));
	return 0;
}

json_t *tuf_root_new(int64_t version, int64_t expires, bool consistent_snapshot, rp_error *err)
{
	json_t *root = signed_common(TUF_ROLE_ROOT, version, expires, err);
	if (!root)
		return NULL;
	json_object_set_new(root, "consistent_snapshot", json_boolean(consistent_snapshot));
	json_object_set_new(root, "keys", json_object());
	json_t *roles = json_object();
	for (int i = 0; i < TUF_ROLE_COUNT; i++)
		json_object_set_new(roles, role_names[i], json_pack("{s:[], s:i}", "keyids", "threshold", 1));
	json_object_set_new(root, "roles", roles);
	return root;
}

static json_t *root_role(json_t *root, enum tuf_role role)
{
	json_t *r = json_object_get(json_object_get(root, "roles"), tuf_role_name(role));
	if (!r)
		rp_abort("TUF root without a role entry");
	return r;
}

int tuf_root_add_key(json_t *root, enum tuf_role role, rp_key *key, rp_error *err)
{
	_cleanup_json_ json_t *obj = tuf_key_json(key, err);
	char keyid[TUF_KEYID_HEX_LEN + 1];
	if (!obj || tuf_key_id_of_json(obj, keyid, err) < 0)
		return rp_error_prefix(err, "adding a %s key", tuf_role_name(role));
	json_object_set(json_object_get(root, "keys"), keyid, obj);
	json_t *keyids = json_object_get(root_role(root, role), "keyids");
	size_t i;
	json_t *v;
	json_array_foreach(keyids, i, v) if (strcmp(json_string_value(v), keyid) == 0) return 0;
	json_array_append_new(keyids, json_string(keyid));
	return 0;
}

void tuf_root_clear_role(json_t *root, enum tuf_role role)
{
	json_array_clear(json_object_get(root_role(root, role), "keyids"));
	/* Keep the key list exactly the keys some role still uses. */
	json_t *keys = json_object_get(root, "keys");
	const char *keyid;
	json_t *k, *tmp;
	json_object_foreach_safe(keys, tmp, keyid, k) {
		bool used = false;
		for (int r = 0; r < TUF_ROLE_COUNT && !used; r++) {
			size_t i;
			json_t *v;
			json_array_foreach(json_object_get(root_role(root, (enum tuf_role)r), "keyids"), i, v)
				if (strcmp(json_string_value(v), keyid) == 0)
					used = true;
		}
		if (!used)
			json_object_del(keys, keyid);
	}
}

int tuf_root_set_threshold(json_t *root, enum tuf_role role, int64_t threshold, rp_error *err)
{
	if (threshold < 1 || threshold > 64)
		return rp_error_set(err, RP_E_INVALID, "%s threshold %" PRId64 " must be between 1 and 64",
		                    tuf_role_name(role), threshold);
	json_object_set_new(root_role(root, role), "threshold", json_integer(threshold));
	return 0;
}

json_t *tuf_targets_new(int64_t version, int64_t expires, rp_error *err)
{
	json_t *t = signed_common(TUF_ROLE_TARGETS, version, expires, err);
	if (t)
		json_object_set_new(t, "targets", json_object());
	return t;
}

bool tuf_target_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > 255 || name[0] == '/')
		return false;
	size_t seg_start = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];
		if (c == '/' || c == '\0') {
			size_t seg = i - seg_start;
			if (seg == 0 || (seg == 1 && name[seg_start] == '.') ||
			    (seg == 2 && name[seg_start] == '.' && name[seg_start + 1] == '.'))
				return false;
			seg_start = i + 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-' || c == '+'))
			return false;
	}
	return true;
}

int tuf_targets_add(json_t *targets, const char *name, uint64_t length, const uint8_t sha256[RP_SHA256_LEN],
                    const json_t *custom, rp_error *err)
{
	if (!tuf_target_name_valid(name))
		return rp_error_set(err, RP_E_INVALID,
		                    "target name \"%.80s\" is not valid: use letters, digits, '.', '_', '-', '+' and '/'",
		                    name);
	if (length > (uint64_t)TUF_INT_MAX)
		return rp_error_set(err, RP_E_INVALID, "target %s is too large", name);
	if (custom && !json_is_object(custom))
		return rp_error_set(err, RP_E_INVALID, "custom data of target %s must be a JSON object", name);
	_cleanup_free_ char *hex = rp_hex_encode(sha256, RP_SHA256_LEN);
	json_t *entry = json_pack("{s:I, s:{s:s}}", "length", (json_int_t)length, "hashes", "sha256", hex);
	if (custom) {
		/* Refuse floats now rather than when signing. */
		_cleanup_free_ char *cj = NULL;
		size_t cj_len = 0;
		if (canonical_json_encode(custom, &cj, &cj_len, err) < 0) {
			json_decref(entry);
			return rp_error_prefix(err, "custom data of target %s", name);
		}
		json_object_set_new(entry, "custom", json_deep_copy(custom));
	}
	json_object_set_new(json_object_get(targets, "targets"), name, entry);
	return 0;
}

int tuf_targets_remove(json_t *targets, const char *name, rp_error *err)
{
	if (json_object_del(json_object_get(targets, "targets"), name) < 0)
		return rp_error_set(err, RP_E_NOT_FOUND, "no target named \"%.80s\"", name);
	return 0;
}

static json_t *meta_entry(int64_t version, const uint8_t *file, size_t len)
{
	json_t *e = json_pack("{s:I}", "version", (json_int_t)version);
	if (file) {
		uint8_t digest[RP_SHA256_LEN];
		rp_sha256_buf(file, len, digest);
		_cleanup_free_ char *hex = rp_hex_encode(digest, sizeof(digest));
		json_object_set_new(e, "length", json_integer((json_int_t)len));
		json_object_set_new(e, "hashes", json_pack("{s:s}", "sha256", hex));
	}
	return e;
}

json_t *tuf_snapshot_new(int64_t version, int64_t expires, int64_t targets_version, const uint8_t *targets_file,
                         size_t targets_len, rp_error *err)
{
	json_t *s = signed_common(TUF_ROLE_SNAPSHOT, version, expires, err);
	if (s)
		json_object_set_new(s, "meta",
		                    json_pack("{s:o}", "targets.json", meta_entry(targets_version, targets_file, targets_len)));
	return s;
}

json_t *tuf_timestamp_new(int64_t version, int64_t expires, int64_t snapshot_version, const uint8_t *snapshot_file,
                          size_t snapshot_len, rp_error *err)
{
	json_t *t = signed_common(TUF_ROLE_TIMESTAMP, version, expires, err);
	if (t)
		json_object_set_new(
		    t, "meta", json_pack("{s:o}", "snapshot.json", meta_entry(snapshot_version, snapshot_file, snapshot_len)));
	return t;
}

/* --- envelope --- */

json_t *tuf_envelope_new(json_t *signed_obj)
{
	return json_pack("{s:[], s:O}", "signatures", "signed", signed_obj);
}

void tuf_envelope_clear_signatures(json_t *envelope)
{
	json_array_clear(json_object_get(envelope, "signatures"));
}

int tuf_envelope_sign(json_t *envelope, rp_key *key, rp_error *err)
{
	char keyid[TUF_KEYID_HEX_LEN + 1];
	_cleanup_free_ char *cj = NULL;
	size_t len = 0;
	if (tuf_key_id(key, keyid, err) < 0 || canonical_json_encode(json_object_get(envelope, "signed"), &cj, &len, err) < 0)
		return rp_error_prefix(err, "signing metadata");
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t sig_len = 0;
	if (rp_ecdsa_sign(key, cj, len, sig, &sig_len, err) < 0)
		return rp_error_prefix(err, "signing metadata");
	_cleanup_free_ char *hex = rp_hex_encode(sig, sig_len);
	json_t *sigs = json_object_get(envelope, "signatures");
	for (size_t i = json_array_size(sigs); i-- > 0;) {
		const char *k = json_string_value(json_object_get(json_array_get(sigs, i), "keyid"));
		if (!k || strcmp(k, keyid) == 0)
			json_array_remove(sigs, i);
	}
	json_array_append_new(sigs, json_pack("{s:s, s:s}", "keyid", keyid, "sig", hex));
	return 0;
}

int tuf_envelope_serialize(const json_t *envelope, char **out, size_t *len, rp_error *err)
{
	/* Canonical JSON leaves control characters (the newlines of PEM keys) unescaped, which
	 * ordinary JSON parsers refuse; files are therefore compact, sorted, standard JSON, and
	 * the canonical form is only what signatures cover. */
	_cleanup_free_ char *cj = NULL;
	size_t cj_len = 0;
	if (canonical_json_encode(envelope, &cj, &cj_len, err) < 0) /* refuses floats */
		return -1;
	*out = rp_json_dump(envelope);
	*len = strlen(*out);
	return 0;
}
