/* Strict parsing and signature verification of TUF metadata (see meta.h). Everything parsed here
 * comes from the network: each field is checked before use, and a refusal names the field. */
#include "tuf/meta.h"

#include <inttypes.h>
#include <string.h>

#include "common/encoding.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "tuf/canonical_json.h"

/* Largest metadata document parsed at all; the client applies tighter per-role limits. */
#define META_PARSE_MAX (16u * 1024 * 1024)

static bool is_hex(const char *s, size_t want_len)
{
	size_t n = strlen(s);
	if (n == 0 || n % 2 || (want_len && n != want_len))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int parse_hashes(json_t *hashes, const char *what, bool require_sha256, rp_error *err)
{
	if (!json_is_object(hashes) || json_object_size(hashes) == 0 || json_object_size(hashes) > 8)
		return rp_error_set(err, RP_E_INVALID, "%s: \"hashes\" must be an object of 1 to 8 hashes", what);
	const char *alg;
	json_t *v;
	json_object_foreach(hashes, alg, v) {
		if (!json_is_string(v) || !is_hex(json_string_value(v), strcmp(alg, "sha256") == 0 ? 64 : 0) ||
		    json_string_length(v) > 256)
			return rp_error_set(err, RP_E_INVALID, "%s: hash \"%.32s\" must be lowercase hex", what, alg);
	}
	if (require_sha256 && !json_object_get(hashes, "sha256"))
		return rp_error_set(err, RP_E_UNSUPPORTED, "%s: no sha256 hash (the only algorithm Rampart checks)", what);
	return 0;
}

static int parse_meta_entries(json_t *sgn, const char *required_name, bool only_that, rp_error *err)
{
	json_t *meta = NULL;
	if (rp_json_get_object(sgn, "meta", true, &meta, err) < 0)
		return -1;
	if (!json_object_get(meta, required_name))
		return rp_error_set(err, RP_E_INVALID, "\"meta\" does not list %s", required_name);
	if (only_that && json_object_size(meta) != 1)
		return rp_error_set(err, RP_E_INVALID, "\"meta\" must list only %s", required_name);
	if (json_object_size(meta) > TUF_MAX_TARGETS)
		return rp_error_set(err, RP_E_LIMIT, "\"meta\" lists more than %d files", TUF_MAX_TARGETS);
	static const char *const allowed[] = {"version", "length", "hashes", NULL};
	const char *name;
	json_t *e;
	json_object_foreach(meta, name, e) {
		int64_t v;
		json_t *hashes = NULL;
		if (rp_json_check_keys(e, allowed, name, err) < 0 ||
		    rp_json_get_int(e, "version", true, 1, TUF_INT_MAX, &v, err) < 0 ||
		    rp_json_get_int(e, "length", false, 0, TUF_INT_MAX, &v, err) < 0 ||
		    rp_json_get_object(e, "hashes", false, &hashes, err) < 0)
			return rp_error_prefix(err, "\"meta\" entry %.80s", name);
		if (hashes && parse_hashes(hashes, name, false, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_role_entry(json_t *roles, const char *name, rp_error *err)
{
	static const char *const allowed[] = {"keyids", "threshold", NULL};
	json_t *r = NULL, *keyids = NULL;
	int64_t threshold;
	if (rp_json_get_object(roles, name, true, &r, err) < 0 || rp_json_check_keys(r, allowed, name, err) < 0 ||
	    rp_json_get_array(r, "keyids", true, &keyids, err) < 0 ||
	    rp_json_get_int(r, "threshold", true, 1, TUF_MAX_THRESHOLD, &threshold, err) < 0)
		return rp_error_prefix(err, "role %s", name);
	if (json_array_size(keyids) > TUF_MAX_KEYS)
		return rp_error_set(err, RP_E_LIMIT, "role %s lists more than %d keys", name, TUF_MAX_KEYS);
	for (size_t i = 0; i < json_array_size(keyids); i++) {
		json_t *k = json_array_get(keyids, i);
		if (!json_is_string(k) || !is_hex(json_string_value(k), TUF_KEYID_HEX_LEN))
			return rp_error_set(err, RP_E_INVALID, "role %s: key IDs must be 64 lowercase hex digits", name);
		for (size_t j = 0; j < i; j++)
			if (json_equal(k, json_array_get(keyids, j)))
				return rp_error_set(err, RP_E_INVALID, "role %s lists key %.16s twice", name,
				                    json_string_value(k));
	}
	return 0;
}

/* The one spelling of a key Rampart accepts: a P-256 SubjectPublicKeyInfo with the named curve and
 * an uncompressed point, as PEM with 64-column lines and a final newline (what OpenSSL, mbedTLS and
 * python-cryptography write). TUF key IDs hash the key's JSON, so every other spelling of the same
 * key (text around the PEM, other line breaks, a certificate, a compressed point) would give it a
 * second key ID. */
static const uint8_t P256_SPKI_PREFIX[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce,
                                           0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
                                           0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
#define P256_SPKI_LEN (sizeof(P256_SPKI_PREFIX) + 64)
#define PEM_HEADER "-----BEGIN PUBLIC KEY-----\n"
#define PEM_FOOTER "-----END PUBLIC KEY-----\n"

static bool pem_is_canonical(const char *pem, const uint8_t *der, size_t der_len)
{
	_cleanup_free_ char *b64 = rp_base64_encode(der, der_len);
	size_t b64_len = strlen(b64);
	size_t cap = sizeof(PEM_HEADER) + b64_len + b64_len / 64 + 1 + sizeof(PEM_FOOTER);
	_cleanup_free_ char *want = xmalloc(cap);
	size_t off = 0;
	memcpy(want, PEM_HEADER, sizeof(PEM_HEADER) - 1);
	off += sizeof(PEM_HEADER) - 1;
	for (size_t i = 0; i < b64_len; i += 64) {
		size_t n = b64_len - i < 64 ? b64_len - i : 64;
		memcpy(want + off, b64 + i, n);
		off += n;
		want[off++] = '\n';
	}
	memcpy(want + off, PEM_FOOTER, sizeof(PEM_FOOTER));
	return strcmp(pem, want) == 0;
}

/* The identity of a public key, whatever key ID it is listed under: rp_key_id (SHA-256 of the DER
 * SubjectPublicKeyInfo), which both crypto backends compute alike for a canonical key. */
static int key_identity(const char *keyid, const char *pem, rp_key *pkey, uint8_t id[RP_KEY_ID_LEN], rp_error *err)
{
	_cleanup_free_ uint8_t *der = NULL;
	size_t der_len = 0;
	if (rp_key_public_der(pkey, &der, &der_len, err) < 0)
		return rp_error_prefix(err, "key %.16s...", keyid);
	if (der_len != P256_SPKI_LEN || memcmp(der, P256_SPKI_PREFIX, sizeof(P256_SPKI_PREFIX)) != 0 ||
	    !pem_is_canonical(pem, der, der_len))
		return rp_error_set(err, RP_E_INVALID,
		                    "key %.16s...: \"public\" is not the canonical PEM of a P-256 public key (one "
		                    "\"PUBLIC KEY\" block, 64-column lines, uncompressed point, nothing around it)",
		                    keyid);
	if (rp_key_id(pkey, id, err) < 0)
		return rp_error_prefix(err, "key %.16s...", keyid);
	return 0;
}

static int parse_root(json_t *sgn, rp_error *err)
{
	static const char *const allowed[] = {"_type", "spec_version", "version", "expires", "consistent_snapshot",
	                                      "keys", "roles", NULL};
	static const char *const key_allowed[] = {"keytype", "scheme", "keyval", NULL};
	bool cs;
	json_t *keys = NULL, *roles = NULL;
	if (rp_json_check_keys(sgn, allowed, "root", err) < 0 ||
	    rp_json_get_bool(sgn, "consistent_snapshot", true, &cs, err) < 0 ||
	    rp_json_get_object(sgn, "keys", true, &keys, err) < 0 || rp_json_get_object(sgn, "roles", true, &roles, err) < 0)
		return -1;
	if (json_object_size(keys) > TUF_MAX_KEYS * TUF_ROLE_COUNT)
		return rp_error_set(err, RP_E_LIMIT, "root lists more than %d keys", TUF_MAX_KEYS * TUF_ROLE_COUNT);
	struct {
		const char *keyid;
		uint8_t id[RP_KEY_ID_LEN];
	} seen[TUF_MAX_KEYS * TUF_ROLE_COUNT];
	size_t n_seen = 0;
	const char *keyid;
	json_t *k;
	json_object_foreach(keys, keyid, k) {
		const char *keytype, *scheme, *pub;
		json_t *keyval = NULL;
		if (!is_hex(keyid, TUF_KEYID_HEX_LEN))
			return rp_error_set(err, RP_E_INVALID, "key ID \"%.80s\" is not 64 lowercase hex digits", keyid);
		if (rp_json_check_keys(k, key_allowed, "key", err) < 0 ||
		    rp_json_get_string(k, "keytype", true, &keytype, err) < 0 ||
		    rp_json_get_string(k, "scheme", true, &scheme, err) < 0 ||
		    rp_json_get_object(k, "keyval", true, &keyval, err) < 0 ||
		    rp_json_get_string(keyval, "public", true, &pub, err) < 0)
			return rp_error_prefix(err, "key %.16s", keyid);
		if (strcmp(keytype, TUF_KEYTYPE_ECDSA) != 0 || strcmp(scheme, TUF_SCHEME_ECDSA_P256) != 0)
			continue; /* a key type we cannot use never counts towards a threshold */
		_cleanup_key_ rp_key *pkey = rp_key_from_public_pem(pub, strlen(pub), err);
		if (!pkey)
			return rp_error_prefix(err, "key %.16s", keyid);
		/* The spec asks clients to recompute key IDs: otherwise one key listed under two IDs
		 * would count twice towards a threshold. */
		char computed[TUF_KEYID_HEX_LEN + 1];
		if (tuf_key_id_of_json(k, computed, err) < 0)
			return -1;
		if (strcmp(computed, keyid) != 0)
			return rp_error_set(err, RP_E_INVALID, "key ID %.16s... does not match its key (expected %.16s...)",
			                    keyid, computed);
		/* Key IDs are unique now, but one key must not hide behind two of them either. */
		if (key_identity(keyid, pub, pkey, seen[n_seen].id, err) < 0)
			return -1;
		for (size_t j = 0; j < n_seen; j++)
			if (memcmp(seen[j].id, seen[n_seen].id, RP_KEY_ID_LEN) == 0)
				return rp_error_set(err, RP_E_INVALID,
				                    "keys %.16s... and %.16s... are the same public key (it would count twice "
				                    "towards a threshold)",
				                    seen[j].keyid, keyid);
		seen[n_seen++].keyid = keyid;
	}
	if (json_object_size(roles) != TUF_ROLE_COUNT)
		return rp_error_set(err, RP_E_INVALID, "roles must be exactly root, targets, snapshot and timestamp");
	for (int r = 0; r < TUF_ROLE_COUNT; r++)
		if (parse_role_entry(roles, tuf_role_name((enum tuf_role)r), err) < 0)
			return -1;
	return 0;
}

static int parse_target_entry(const char *name, json_t *e, rp_error *err)
{
	static const char *const allowed[] = {"length", "hashes", "custom", NULL};
	int64_t length;
	json_t *hashes = NULL, *custom = NULL;
	if (!tuf_target_name_valid(name))
		return rp_error_set(err, RP_E_INVALID, "target name \"%.80s\" is not allowed", name);
	if (rp_json_check_keys(e, allowed, name, err) < 0 ||
	    rp_json_get_int(e, "length", true, 0, TUF_INT_MAX, &length, err) < 0 ||
	    rp_json_get_object(e, "hashes", true, &hashes, err) < 0 ||
	    rp_json_get_object(e, "custom", false, &custom, err) < 0)
		return rp_error_prefix(err, "target %.80s", name);
	return parse_hashes(hashes, name, true, err);
}

static int parse_targets(json_t *sgn, rp_error *err)
{
	static const char *const allowed[] = {"_type", "spec_version", "version", "expires", "targets", "delegations",
	                                      NULL};
	json_t *targets = NULL;
	if (rp_json_check_keys(sgn, allowed, "targets", err) < 0)
		return -1;
	if (json_object_get(sgn, "delegations"))
		return rp_error_set(err, RP_E_UNSUPPORTED, "delegated targets roles are not supported");
	if (rp_json_get_object(sgn, "targets", true, &targets, err) < 0)
		return -1;
	if (json_object_size(targets) > TUF_MAX_TARGETS)
		return rp_error_set(err, RP_E_LIMIT, "more than %d targets", TUF_MAX_TARGETS);
	const char *name;
	json_t *e;
	json_object_foreach(targets, name, e) if (parse_target_entry(name, e, err) < 0) return -1;
	return 0;
}

static int parse_signed(json_t *sgn, enum tuf_role role, tuf_meta *m, rp_error *err)
{
	const char *type, *spec, *expires;
	if (rp_json_get_string(sgn, "_type", true, &type, err) < 0 ||
	    rp_json_get_string(sgn, "spec_version", true, &spec, err) < 0 ||
	    rp_json_get_int(sgn, "version", true, 1, TUF_INT_MAX, &m->version, err) < 0 ||
	    rp_json_get_string(sgn, "expires", true, &expires, err) < 0)
		return -1;
	if (strcmp(type, tuf_role_name(role)) != 0)
		return rp_error_set(err, RP_E_INVALID, "expected %s metadata, got \"%.32s\"", tuf_role_name(role), type);
	/* Same major version (1.x) as TUF_SPEC_VERSION; later minor versions stay compatible. */
	if (strncmp(spec, "1.", 2) != 0 || strlen(spec) > 16)
		return rp_error_set(err, RP_E_UNSUPPORTED, "spec_version \"%.16s\" is not 1.x", spec);
	if (tuf_time_parse(expires, &m->expires, err) < 0)
		return rp_error_prefix(err, "expires");
	switch (role) {
	case TUF_ROLE_ROOT: return parse_root(sgn, err);
	case TUF_ROLE_TARGETS: return parse_targets(sgn, err);
	case TUF_ROLE_SNAPSHOT: {
		static const char *const allowed[] = {"_type", "spec_version", "version", "expires", "meta", NULL};
		if (rp_json_check_keys(sgn, allowed, "snapshot", err) < 0)
			return -1;
		return parse_meta_entries(sgn, "targets.json", false, err);
	}
	case TUF_ROLE_TIMESTAMP: {
		static const char *const allowed[] = {"_type", "spec_version", "version", "expires", "meta", NULL};
		if (rp_json_check_keys(sgn, allowed, "timestamp", err) < 0)
			return -1;
		return parse_meta_entries(sgn, "snapshot.json", true, err);
	}
	}
	return rp_error_set(err, RP_E_INTERNAL, "unknown role");
}

int tuf_meta_parse(const uint8_t *data, size_t len, enum tuf_role role, tuf_meta *out, rp_error *err)
{
	static const char *const allowed[] = {"signatures", "signed", NULL};
	static const char *const sig_allowed[] = {"keyid", "sig", NULL};
	memset(out, 0, sizeof(*out));
	out->role = role;
	json_t *sigs = NULL;
	out->doc = rp_json_parse((const char *)data, len, META_PARSE_MAX, "metadata", err);
	if (!out->doc || rp_json_check_keys(out->doc, allowed, "metadata", err) < 0 ||
	    rp_json_get_array(out->doc, "signatures", true, &sigs, err) < 0 ||
	    rp_json_get_object(out->doc, "signed", true, &out->signed_obj, err) < 0)
		goto fail;
	if (json_array_size(sigs) > TUF_MAX_SIGNATURES) {
		rp_error_set(err, RP_E_LIMIT, "more than %d signatures", TUF_MAX_SIGNATURES);
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(sigs); i++) {
		const char *keyid, *sig;
		json_t *s = json_array_get(sigs, i);
		if (rp_json_check_keys(s, sig_allowed, "signature", err) < 0 ||
		    rp_json_get_string(s, "keyid", true, &keyid, err) < 0 ||
		    rp_json_get_string(s, "sig", true, &sig, err) < 0) {
			rp_error_prefix(err, "signature %zu", i + 1);
			goto fail;
		}
		if (!is_hex(keyid, TUF_KEYID_HEX_LEN) || !is_hex(sig, 0) || strlen(sig) > 2 * 256) {
			rp_error_set(err, RP_E_INVALID, "signature %zu: keyid and sig must be lowercase hex", i + 1);
			goto fail;
		}
	}
	if (parse_signed(out->signed_obj, role, out, err) < 0)
		goto fail;
	if (canonical_json_encode(out->signed_obj, &out->canonical, &out->canonical_len, err) < 0)
		goto fail;
	out->file_len = len;
	rp_sha256_buf(data, len, out->file_sha256);
	return 0;
fail:
	rp_error_prefix(err, "%s metadata", tuf_role_name(role));
	tuf_meta_free(out);
	return -1;
}

void tuf_meta_free(tuf_meta *m)
{
	json_decref(m->doc);
	free(m->canonical);
	memset(m, 0, sizeof(*m));
}

void tuf_meta_move(tuf_meta *dst, tuf_meta *src)
{
	tuf_meta_free(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

static json_t *role_of(const tuf_meta *root, enum tuf_role role)
{
	return json_object_get(json_object_get(root->signed_obj, "roles"), tuf_role_name(role));
}

/* True if KEY signed MD; ID receives the key's identity (see key_identity). */
static bool key_signed(const char *keyid, json_t *key, const tuf_meta *md, uint8_t id[RP_KEY_ID_LEN])
{
	const char *keytype = json_string_value(json_object_get(key, "keytype"));
	const char *scheme = json_string_value(json_object_get(key, "scheme"));
	if (strcmp(keytype, TUF_KEYTYPE_ECDSA) != 0 || strcmp(scheme, TUF_SCHEME_ECDSA_P256) != 0)
		return false;
	const char *pem = json_string_value(json_object_get(json_object_get(key, "keyval"), "public"));
	_cleanup_key_ rp_key *pkey = rp_key_from_public_pem(pem, strlen(pem), NULL);
	if (!pkey || rp_key_id(pkey, id, NULL) < 0)
		return false;
	json_t *sigs = json_object_get(md->doc, "signatures");
	size_t i;
	json_t *s;
	json_array_foreach(sigs, i, s) {
		if (strcmp(json_string_value(json_object_get(s, "keyid")), keyid) != 0)
			continue;
		_cleanup_free_ uint8_t *sig = NULL;
		size_t sig_len = 0;
		if (rp_hex_decode_alloc(json_string_value(json_object_get(s, "sig")), &sig, &sig_len, NULL) < 0)
			continue;
		rp_error ignored = RP_ERROR_INIT;
		if (rp_ecdsa_verify(pkey, md->canonical, md->canonical_len, sig, sig_len, &ignored) == 0)
			return true;
	}
	return false;
}

int tuf_meta_verify(const tuf_meta *root, enum tuf_role role, const tuf_meta *md, rp_error *err)
{
	json_t *r = role_of(root, role);
	json_t *keys = json_object_get(root->signed_obj, "keys");
	int64_t threshold = json_integer_value(json_object_get(r, "threshold"));
	int64_t good = 0;
	uint8_t signers[TUF_MAX_KEYS][RP_KEY_ID_LEN];
	size_t i;
	json_t *id;
	/* Count distinct public keys, not key IDs: parse_root already refuses one key under two IDs,
	 * and this keeps the threshold honest whatever root it is given. */
	json_array_foreach(json_object_get(r, "keyids"), i, id) {
		json_t *key = json_object_get(keys, json_string_value(id));
		if (!key || good >= TUF_MAX_KEYS || !key_signed(json_string_value(id), key, md, signers[good]))
			continue;
		bool repeat = false;
		for (int64_t j = 0; j < good && !repeat; j++)
			repeat = memcmp(signers[j], signers[good], RP_KEY_ID_LEN) == 0;
		if (!repeat)
			good++;
	}
	if (good < threshold)
		return rp_error_set(err, RP_E_VERIFY,
		                    "%s metadata version %" PRId64 " has valid signatures from %" PRId64
		                    " of the %" PRId64 " %s keys required by root version %" PRId64,
		                    tuf_role_name(md->role), md->version, good, threshold, tuf_role_name(role),
		                    root->version);
	return 0;
}

int tuf_meta_check_expiry(const tuf_meta *md, int64_t now, rp_error *err)
{
	if (now >= md->expires) {
		char when[TUF_TIME_LEN + 1] = "?";
		if (tuf_time_format(md->expires, when, NULL) < 0)
			when[0] = '?';
		return rp_error_set(err, RP_E_EXPIRED,
		                    "%s metadata version %" PRId64 " expired at %s (a freeze attack, or the "
		                    "repository has not been re-signed: check the service's signing job and the clock)",
		                    tuf_role_name(md->role), md->version, when);
	}
	return 0;
}

bool tuf_meta_consistent_snapshot(const tuf_meta *root)
{
	return json_is_true(json_object_get(root->signed_obj, "consistent_snapshot"));
}

bool tuf_meta_role_equal(const tuf_meta *a, const tuf_meta *b, enum tuf_role role)
{
	return json_equal(role_of(a, role), role_of(b, role));
}

int tuf_meta_file_get(const tuf_meta *md, const char *filename, tuf_meta_file *out, rp_error *err)
{
	json_t *e = json_object_get(json_object_get(md->signed_obj, "meta"), filename);
	if (!e)
		return rp_error_set(err, RP_E_NOT_FOUND, "%s metadata does not list %s", tuf_role_name(md->role), filename);
	memset(out, 0, sizeof(*out));
	out->version = json_integer_value(json_object_get(e, "version"));
	json_t *length = json_object_get(e, "length");
	out->length = length ? json_integer_value(length) : -1;
	const char *sha = json_string_value(json_object_get(json_object_get(e, "hashes"), "sha256"));
	if (sha) {
		if (rp_hex_decode(sha, out->sha256, RP_SHA256_LEN, err) < 0)
			return -1;
		out->has_sha256 = true;
	} else if (json_object_get(e, "hashes")) {
		return rp_error_set(err, RP_E_UNSUPPORTED, "%s lists %s hashes without sha256", tuf_role_name(md->role),
		                    filename);
	}
	return 0;
}

int tuf_meta_file_check(const tuf_meta_file *info, const uint8_t *data, size_t len, const char *what, rp_error *err)
{
	if (info->length >= 0 && (uint64_t)len != (uint64_t)info->length)
		return rp_error_set(err, RP_E_VERIFY, "%s is %zu bytes, but %" PRId64 " were signed for", what, len,
		                    info->length);
	if (info->has_sha256) {
		uint8_t digest[RP_SHA256_LEN];
		rp_sha256_buf(data, len, digest);
		if (memcmp(digest, info->sha256, RP_SHA256_LEN) != 0)
			return rp_error_set(err, RP_E_VERIFY, "%s does not match the SHA-256 signed for it (mix-and-match?)",
			                    what);
	}
	return 0;
}

json_t *tuf_meta_targets(const tuf_meta *targets)
{
	return json_object_get(targets->signed_obj, "targets");
}

int tuf_meta_target(const tuf_meta *targets, const char *name, tuf_target *out, rp_error *err)
{
	json_t *e = json_object_get(tuf_meta_targets(targets), name);
	if (!e)
		return rp_error_set(err, RP_E_NOT_FOUND, "no target named \"%.80s\" in targets version %" PRId64, name,
		                    targets->version);
	memset(out, 0, sizeof(*out));
	/* The key string lives as long as the object; jansson keeps it in the hashtable. */
	void *iter = json_object_iter_at(tuf_meta_targets(targets), name);
	out->name = json_object_iter_key(iter);
	out->length = (uint64_t)json_integer_value(json_object_get(e, "length"));
	out->hashes = json_object_get(e, "hashes");
	out->custom = json_object_get(e, "custom");
	return rp_hex_decode(json_string_value(json_object_get(out->hashes, "sha256")), out->sha256, RP_SHA256_LEN, err);
}
