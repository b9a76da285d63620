/* Unit tests for src/tuf: canonical JSON, metadata building, and the TUF client workflow against
 * an in-memory repository, with one test per attack the update design must stop (issue 5):
 * arbitrary package, rollback, indefinite freeze, mix-and-match, endless data, signatures below
 * threshold, duplicate and unknown signatures, root rotation, and the Uptane split under a
 * compromised director key or a compromised image-repository online key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "tuf/canonical_json.h"
#include "tuf/client.h"
#include "tuf/director.h"
#include "tuf/meta.h"
#include "tuf/metadata.h"

#define NOW ((int64_t)1767225600) /* 2026-01-01T00:00:00Z */
#define MAX_FILES 128

/* --- an in-memory file map used both as a repository and as device storage --- */

typedef struct mem_file {
	char *name;
	uint8_t *data;
	size_t len;
} mem_file;

typedef struct mem {
	mem_file f[MAX_FILES];
	size_t n;
	size_t extra_bytes; /* endless data: serve this many bytes past the limit */
	int fetches;
} mem;

static mem_file *mem_find(mem *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->f[i].name, name) == 0)
			return &m->f[i];
	return NULL;
}

static void mem_put(mem *m, const char *name, const void *data, size_t len)
{
	mem_file *f = mem_find(m, name);
	if (!f) {
		assert_true(m->n < MAX_FILES);
		f = &m->f[m->n++];
		f->name = xstrdup(name);
	} else {
		free(f->data);
	}
	f->data = xcalloc(len + 1, 1); /* NUL-terminated, as rp_read_file's buffers are */
	memcpy(f->data, data, len);
	f->len = len;
}

static void mem_del(mem *m, const char *name)
{
	mem_file *f = mem_find(m, name);
	if (f) {
		free(f->name);
		free(f->data);
		*f = m->f[--m->n];
	}
}

static void mem_free(mem *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->f[i].name);
		free(m->f[i].data);
	}
	memset(m, 0, sizeof(*m));
}

static int mem_fetch(void *ctx, bool is_target, const char *name, size_t max_len, uint8_t **data, size_t *len,
                     rp_error *err)
{
	mem *m = ctx;
	m->fetches++;
	_cleanup_free_ char *key = xasprintf("%s%s", is_target ? "targets/" : "", name);
	mem_file *f = mem_find(m, key);
	if (!f)
		return rp_error_set(err, RP_E_NOT_FOUND, "%s: not found", key);
	/* A well-behaved fetcher stops at the limit; this one can be told to misbehave. */
	size_t n = f->len + m->extra_bytes;
	if (!m->extra_bytes && n > max_len)
		return rp_error_set(err, RP_E_LIMIT, "%s: over %zu bytes", key, max_len);
	*data = xcalloc(n + 1, 1);
	memcpy(*data, f->data, f->len);
	*len = n;
	return 0;
}

static int mem_load(void *ctx, const char *role, size_t max_len, uint8_t **data, size_t *len, rp_error *err)
{
	mem_file *f = mem_find(ctx, role);
	if (!f)
		return rp_error_set(err, RP_E_NOT_FOUND, "no stored %s", role);
	if (f->len > max_len)
		return rp_error_set(err, RP_E_LIMIT, "stored %s too large", role);
	*data = xmemdup(f->data, f->len + 1); /* mem_put keeps a NUL after the bytes */
	*len = f->len;
	return 0;
}

static int mem_store(void *ctx, const char *role, const uint8_t *data, size_t len, rp_error *err)
{
	(void)err;
	mem_put(ctx, role, data, len);
	return 0;
}

static int mem_remove(void *ctx, const char *role, rp_error *err)
{
	(void)err;
	mem_del(ctx, role);
	return 0;
}

/* --- a repository built with the metadata API --- */

typedef struct repo {
	mem files;
	EVP_PKEY *root_keys[3], *targets_keys[2], *snapshot_key, *timestamp_key;
	json_t *root, *targets; /* "signed" objects */
	int64_t snapshot_version, timestamp_version;
	bool hashes_in_snapshot;
} repo;

static EVP_PKEY *keygen(void)
{
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *k = rp_key_generate_p256(&err);
	assert_non_null(k);
	return k;
}

static char *sign_serialize(json_t *signed_obj, EVP_PKEY **keys, size_t n, size_t *len)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *env = tuf_envelope_new(signed_obj);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(tuf_envelope_sign(env, keys[i], &err), 0);
	char *out = NULL;
	assert_int_equal(tuf_envelope_serialize(env, &out, len, &err), 0);
	return out;
}

/* Publish SIGNED as ROLE under its plain and versioned names. */
static void put_role(repo *r, enum tuf_role role, json_t *signed_obj, EVP_PKEY **keys, size_t n)
{
	size_t len = 0;
	_cleanup_free_ char *data = sign_serialize(signed_obj, keys, n, &len);
	int64_t v = json_integer_value(json_object_get(signed_obj, "version"));
	_cleanup_free_ char *plain = xasprintf("%s.json", tuf_role_name(role));
	_cleanup_free_ char *versioned = xasprintf("%lld.%s.json", (long long)v, tuf_role_name(role));
	if (role != TUF_ROLE_TIMESTAMP)
		mem_put(&r->files, versioned, data, len);
	mem_put(&r->files, plain, data, len);
}

static void put_timestamp(repo *r, int64_t expires, EVP_PKEY *key)
{
	rp_error err = RP_ERROR_INIT;
	mem_file *snap = mem_find(&r->files, "snapshot.json");
	_cleanup_json_ json_t *ts = tuf_timestamp_new(++r->timestamp_version, expires, r->snapshot_version, snap->data,
	                                              snap->len, &err);
	assert_non_null(ts);
	put_role(r, TUF_ROLE_TIMESTAMP, ts, &key, 1);
}

static void put_snapshot(repo *r, int64_t expires, EVP_PKEY *key)
{
	rp_error err = RP_ERROR_INIT;
	mem_file *t = mem_find(&r->files, "targets.json");
	int64_t tv = json_integer_value(json_object_get(r->targets, "version"));
	_cleanup_json_ json_t *s = tuf_snapshot_new(++r->snapshot_version, expires, tv,
	                                            r->hashes_in_snapshot ? t->data : NULL, t->len, &err);
	assert_non_null(s);
	put_role(r, TUF_ROLE_SNAPSHOT, s, &key, 1);
}

static void put_targets(repo *r, int64_t expires, size_t nkeys)
{
	rp_error err = RP_ERROR_INIT;
	int64_t v = json_integer_value(json_object_get(r->targets, "version"));
	assert_int_equal(tuf_signed_set_version(r->targets, v + 1, expires, &err), 0);
	put_role(r, TUF_ROLE_TARGETS, r->targets, r->targets_keys, nkeys);
}

/* Online keys' job: new snapshot and timestamp. */
static void publish(repo *r)
{
	put_snapshot(r, NOW + 7 * TUF_DAY_SECONDS, r->snapshot_key);
	put_timestamp(r, NOW + TUF_DAY_SECONDS, r->timestamp_key);
}

static void add_target(repo *r, const char *name, const char *content, const char *custom_json)
{
	rp_error err = RP_ERROR_INIT;
	uint8_t sha[RP_SHA256_LEN];
	rp_sha256_buf(content, strlen(content), sha);
	_cleanup_json_ json_t *custom = custom_json ? json_loads(custom_json, 0, NULL) : NULL;
	assert_int_equal(tuf_targets_add(r->targets, name, strlen(content), sha, custom, &err), 0);
	_cleanup_free_ char *hex = rp_hex_encode(sha, sizeof(sha));
	_cleanup_free_ char *path = xasprintf("targets/%s.%s", hex, name);
	mem_put(&r->files, path, content, strlen(content));
}

static void repo_init(repo *r, int root_threshold, int targets_threshold)
{
	rp_error err = RP_ERROR_INIT;
	memset(r, 0, sizeof(*r));
	r->hashes_in_snapshot = true;
	for (int i = 0; i < 3; i++)
		r->root_keys[i] = keygen();
	for (int i = 0; i < 2; i++)
		r->targets_keys[i] = keygen();
	r->snapshot_key = keygen();
	r->timestamp_key = keygen();
	r->root = tuf_root_new(1, NOW + 365 * TUF_DAY_SECONDS, true, &err);
	assert_non_null(r->root);
	for (int i = 0; i < root_threshold; i++)
		assert_int_equal(tuf_root_add_key(r->root, TUF_ROLE_ROOT, r->root_keys[i], &err), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(tuf_root_add_key(r->root, TUF_ROLE_TARGETS, r->targets_keys[i], &err), 0);
	assert_int_equal(tuf_root_add_key(r->root, TUF_ROLE_SNAPSHOT, r->snapshot_key, &err), 0);
	assert_int_equal(tuf_root_add_key(r->root, TUF_ROLE_TIMESTAMP, r->timestamp_key, &err), 0);
	assert_int_equal(tuf_root_set_threshold(r->root, TUF_ROLE_ROOT, root_threshold, &err), 0);
	assert_int_equal(tuf_root_set_threshold(r->root, TUF_ROLE_TARGETS, targets_threshold, &err), 0);
	put_role(r, TUF_ROLE_ROOT, r->root, r->root_keys, (size_t)root_threshold);
	r->targets = tuf_targets_new(1, NOW + 30 * TUF_DAY_SECONDS, &err);
	add_target(r, "app.bin", "hello, device", "{\"image_id\":\"img-1\",\"version\":1}");
	put_role(r, TUF_ROLE_TARGETS, r->targets, r->targets_keys, (size_t)targets_threshold);
	publish(r);
}

static void repo_free(repo *r)
{
	for (int i = 0; i < 3; i++)
		EVP_PKEY_free(r->root_keys[i]);
	for (int i = 0; i < 2; i++)
		EVP_PKEY_free(r->targets_keys[i]);
	EVP_PKEY_free(r->snapshot_key);
	EVP_PKEY_free(r->timestamp_key);
	json_decref(r->root);
	json_decref(r->targets);
	mem_free(&r->files);
}

/* A device: storage seeded with 1.root.json, and a client over the repository. */
typedef struct device {
	mem storage;
	tuf_client client;
} device;

static void device_init(device *d, repo *r)
{
	rp_error err = RP_ERROR_INIT;
	memset(d, 0, sizeof(*d));
	mem_file *root = mem_find(&r->files, "1.root.json");
	mem_put(&d->storage, "root", root->data, root->len);
	tuf_fetcher f = {.fetch = mem_fetch, .ctx = &r->files};
	tuf_storage s = {.load = mem_load, .store = mem_store, .remove = mem_remove, .ctx = &d->storage};
	assert_int_equal(tuf_client_init(&d->client, "image repository", &f, &s, NULL, &err), 0);
}

/* Restart the client from what the device persisted (as after a reboot). */
static void device_restart(device *d, repo *r)
{
	rp_error err = RP_ERROR_INIT;
	tuf_client_free(&d->client);
	tuf_fetcher f = {.fetch = mem_fetch, .ctx = &r->files};
	tuf_storage s = {.load = mem_load, .store = mem_store, .remove = mem_remove, .ctx = &d->storage};
	assert_int_equal(tuf_client_init(&d->client, "image repository", &f, &s, NULL, &err), 0);
}

static void device_free(device *d)
{
	tuf_client_free(&d->client);
	mem_free(&d->storage);
}

static int refresh(device *d, int64_t now, rp_error *err)
{
	rp_error_clear(err);
	return tuf_client_refresh(&d->client, now, err);
}

#define ASSERT_REFUSED(d, now, want, needle)                                                                           \
	do {                                                                                                           \
		rp_error e_ = RP_ERROR_INIT;                                                                           \
		assert_int_equal(refresh((d), (now), &e_), -1);                                                        \
		if (e_.code != (want) || !strstr(e_.message, (needle)))                                                \
			fail_msg("unexpected error (%s): %s", rp_error_code_name(e_.code), e_.message);                \
	} while (0)

#define ASSERT_REFRESH_OK(d, now)                                                                                      \
	do {                                                                                                           \
		rp_error e_ = RP_ERROR_INIT;                                                                           \
		if (refresh((d), (now), &e_) != 0)                                                                     \
			fail_msg("refresh failed: %s", e_.message);                                                    \
	} while (0)

/* --- canonical JSON and metadata basics --- */

static void canonical(const char *json, const char *expected)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
	assert_non_null(v);
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	assert_int_equal(canonical_json_encode(v, &out, &len, &err), 0);
	assert_string_equal(out, expected);
	assert_int_equal(len, strlen(expected));
}

static void canonical_json_vectors(void **state)
{
	(void)state;
	canonical("{\"b\": 1, \"a\": [true, false, null, -5, \"x\"]}", "{\"a\":[true,false,null,-5,\"x\"],\"b\":1}");
	/* Only quote and backslash are escaped; a newline stays a raw byte. */
	canonical("{\"k\": \"say \\\"hi\\\" \\\\ now\\nline\"}", "{\"k\":\"say \\\"hi\\\" \\\\ now\nline\"}");
	/* Keys sort by bytes (code points): upper case, then lower case, then non-ASCII. */
	canonical("{\"\\u00e9\": 1, \"a\": 2, \"B\": 3, \"_type\": 4}", "{\"B\":3,\"_type\":4,\"a\":2,\"\xc3\xa9\":1}");
	canonical("{\"x\": {\"z\": {}, \"y\": []}}", "{\"x\":{\"y\":[],\"z\":{}}}");
	canonical("9007199254740991", "9007199254740991");

	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *f = json_loads("{\"a\": 1.5}", 0, NULL);
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	assert_int_equal(canonical_json_encode(f, &out, &len, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
	assert_non_null(strstr(err.message, "floating-point"));
}

static void time_format_and_parse(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char buf[TUF_TIME_LEN + 1];
	int64_t t = 0;
	assert_int_equal(tuf_time_format(NOW, buf, &err), 0);
	assert_string_equal(buf, "2026-01-01T00:00:00Z");
	assert_int_equal(tuf_time_parse("2026-01-01T00:00:00Z", &t, &err), 0);
	assert_int_equal(t, NOW);
	assert_int_equal(tuf_time_parse("2026-02-30T00:00:00Z", &t, &err), -1);
	assert_int_equal(tuf_time_parse("2026-01-01T00:00:00", &t, &err), -1);
	assert_int_equal(tuf_time_parse("2026-01-01 00:00:00Z", &t, &err), -1);
	assert_int_equal(tuf_time_parse("2026-01-01T00:00:00+01:00", &t, &err), -1);
}

static void key_id_is_hash_of_canonical_key(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_pkey_ EVP_PKEY *k = keygen();
	char id[TUF_KEYID_HEX_LEN + 1];
	assert_int_equal(tuf_key_id(k, id, &err), 0);
	_cleanup_free_ char *pem = rp_key_public_pem(k, &err);
	_cleanup_free_ char *cj = xasprintf("{\"keytype\":\"ecdsa\",\"keyval\":{\"public\":\"%s\"},"
	                                    "\"scheme\":\"ecdsa-sha2-nistp256\"}",
	                                    pem);
	uint8_t d[RP_SHA256_LEN];
	rp_sha256_buf(cj, strlen(cj), d);
	_cleanup_free_ char *hex = rp_hex_encode(d, sizeof(d));
	assert_string_equal(id, hex);
	/* Not the package key ID (SHA-256 of the SubjectPublicKeyInfo). */
	_cleanup_free_ char *pkg_id = rp_key_id_hex(k, &err);
	assert_string_not_equal(id, pkg_id);
}

static void parse_refuses_malformed(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	rp_error err = RP_ERROR_INIT;
	tuf_meta m;
	mem_file *root = mem_find(&r.files, "root.json");
	assert_int_equal(tuf_meta_parse(root->data, root->len, TUF_ROLE_ROOT, &m, &err), 0);
	tuf_meta_free(&m);
	/* Wrong role. */
	assert_int_equal(tuf_meta_parse(root->data, root->len, TUF_ROLE_TARGETS, &m, &err), -1);
	assert_non_null(strstr(err.message, "expected targets metadata"));

	const char *bad[] = {
	    "[]",
	    "{\"signatures\":[],\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"1.0.31\",\"version\":1,"
	    "\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{\"snapshot.json\":{\"version\":1.5}}}}",
	    "{\"signatures\":[],\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"2.0.0\",\"version\":1,"
	    "\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{\"snapshot.json\":{\"version\":1}}}}",
	    "{\"signatures\":[],\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"1.0.31\",\"version\":0,"
	    "\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{\"snapshot.json\":{\"version\":1}}}}",
	    "{\"signatures\":[],\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"1.0.31\",\"version\":1,"
	    "\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{\"snapshot.json\":{\"version\":1}},\"extra\":1}}",
	    "{\"signatures\":[{\"keyid\":\"zz\",\"sig\":\"00\"}],\"signed\":{\"_type\":\"timestamp\","
	    "\"spec_version\":\"1.0.31\",\"version\":1,\"expires\":\"2030-01-01T00:00:00Z\","
	    "\"meta\":{\"snapshot.json\":{\"version\":1}}}}",
	    "{\"signatures\":[],\"signed\":{\"_type\":\"timestamp\",\"spec_version\":\"1.0.31\",\"version\":1,"
	    "\"expires\":\"2030-01-01T00:00:00Z\",\"meta\":{\"snapshot.json\":{\"version\":1},"
	    "\"snapshot.json\":{\"version\":2}}}}",
	};
	for (size_t i = 0; i < RP_ARRAY_SIZE(bad); i++) {
		rp_error_clear(&err);
		assert_int_equal(tuf_meta_parse((const uint8_t *)bad[i], strlen(bad[i]), TUF_ROLE_TIMESTAMP, &m, &err), -1);
		assert_true(err.message[0] != 0);
	}
	/* Targets with delegations or an unsafe name. */
	const char *bad_targets[] = {
	    "{\"signatures\":[],\"signed\":{\"_type\":\"targets\",\"spec_version\":\"1.0.31\",\"version\":1,"
	    "\"expires\":\"2030-01-01T00:00:00Z\",\"targets\":{},\"delegations\":{}}}",
	    "{\"signatures\":[],\"signed\":{\"_type\":\"targets\",\"spec_version\":\"1.0.31\",\"version\":1,"
	    "\"expires\":\"2030-01-01T00:00:00Z\",\"targets\":{\"../etc/passwd\":{\"length\":1,\"hashes\":"
	    "{\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}}}}}",
	    "{\"signatures\":[],\"signed\":{\"_type\":\"targets\",\"spec_version\":\"1.0.31\",\"version\":1,"
	    "\"expires\":\"2030-01-01T00:00:00Z\",\"targets\":{\"a\":{\"length\":1,\"hashes\":{\"md5\":\"00\"}}}}}",
	};
	for (size_t i = 0; i < RP_ARRAY_SIZE(bad_targets); i++) {
		rp_error_clear(&err);
		assert_int_equal(
		    tuf_meta_parse((const uint8_t *)bad_targets[i], strlen(bad_targets[i]), TUF_ROLE_TARGETS, &m, &err), -1);
	}
	repo_free(&r);
}

static void root_with_wrong_key_id_refused(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	rp_error err = RP_ERROR_INIT;
	/* Re-list the timestamp key under a made-up key ID, so it could count twice. */
	json_t *keys = json_object_get(r.root, "keys");
	const char *id;
	json_t *k;
	json_t *copy = NULL;
	json_object_foreach(keys, id, k) copy = k;
	json_object_set(keys, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", copy);
	size_t len = 0;
	_cleanup_free_ char *data = sign_serialize(r.root, r.root_keys, 1, &len);
	tuf_meta m;
	assert_int_equal(tuf_meta_parse((const uint8_t *)data, len, TUF_ROLE_ROOT, &m, &err), -1);
	assert_non_null(strstr(err.message, "does not match its key"));
	repo_free(&r);
}

/* --- one key under two key IDs --- */

/* KEY's canonical key object with "public" replaced by PEM (NULL: kept) and, if EXTRA, one more
 * keyval field; ID receives the key ID it hashes to. */
static json_t *key_spelling(EVP_PKEY *key, const char *pem, bool extra, char id[TUF_KEYID_HEX_LEN + 1])
{
	rp_error err = RP_ERROR_INIT;
	json_t *k = tuf_key_json(key, &err);
	assert_non_null(k);
	json_t *keyval = json_object_get(k, "keyval");
	if (pem)
		json_object_set_new(keyval, "public", json_string(pem));
	if (extra)
		json_object_set_new(keyval, "note", json_string("same key"));
	assert_int_equal(tuf_key_id_of_json(k, id, &err), 0);
	return k;
}

/* The "signed" root object SIGNED_ROOT lists targets key 0 a second time, spelled as K under ID,
 * with a targets threshold of 2. */
static void list_targets_key_again(json_t *signed_root, json_t *k, const char *id)
{
	json_object_set_new(json_object_get(signed_root, "keys"), id, k);
	json_t *role = json_object_get(json_object_get(signed_root, "roles"), "targets");
	json_t *keyids = json_object_get(role, "keyids");
	json_array_remove(keyids, 1); /* keep only targets key 0 */
	json_array_append_new(keyids, json_string(id));
	json_object_set_new(role, "threshold", json_integer(2));
}

static char *junk_before(const char *pem) { return xasprintf("junk\n%s", pem); }
static char *junk_after(const char *pem) { return xasprintf("%sjunk\n", pem); }
static char *no_final_newline(const char *pem) { return xstrndup(pem, strlen(pem) - 1); }

static char *crlf_lines(const char *pem)
{
	char *out = xmalloc(2 * strlen(pem) + 1);
	size_t o = 0;
	for (const char *p = pem; *p; p++) {
		if (*p == '\n')
			out[o++] = '\r';
		out[o++] = *p;
	}
	out[o] = 0;
	return out;
}

static char *wrapped_at_76(const char *pem)
{
	const char *body = pem + strlen("-----BEGIN PUBLIC KEY-----\n");
	const char *end = strstr(body, "-----END");
	_cleanup_free_ char *flat = xstrndup(body, (size_t)(end - body));
	size_t w = 0;
	for (size_t i = 0; flat[i]; i++)
		if (flat[i] != '\n')
			flat[w++] = flat[i];
	flat[w] = 0;
	assert_true(w > 76);
	return xasprintf("-----BEGIN PUBLIC KEY-----\n%.76s\n%s\n-----END PUBLIC KEY-----\n", flat, flat + 76);
}

static void root_refuses_other_key_spellings(void **state)
{
	(void)state;
	char *(*const spell[])(const char *) = {junk_before, junk_after, no_final_newline, crlf_lines, wrapped_at_76};
	for (size_t i = 0; i < RP_ARRAY_SIZE(spell); i++) {
		repo r;
		repo_init(&r, 1, 1);
		rp_error err = RP_ERROR_INIT;
		_cleanup_free_ char *pem = rp_key_public_pem(r.targets_keys[0], &err);
		assert_non_null(pem);
		_cleanup_free_ char *other = spell[i](pem);
		/* The PEM reader takes each spelling as the very same key, so a root listing it under its
		 * own key ID must be refused, or one signature would meet a threshold of 2. */
		_cleanup_pkey_ EVP_PKEY *same = rp_key_from_public_pem(other, strlen(other), NULL);
		if (same)
			assert_int_equal(EVP_PKEY_eq(same, r.targets_keys[0]), 1);
		char id[TUF_KEYID_HEX_LEN + 1];
		list_targets_key_again(r.root, key_spelling(r.targets_keys[0], other, false, id), id);
		size_t len = 0;
		_cleanup_free_ char *data = sign_serialize(r.root, r.root_keys, 1, &len);
		tuf_meta m;
		assert_int_equal(tuf_meta_parse((const uint8_t *)data, len, TUF_ROLE_ROOT, &m, &err), -1);
		if (!strstr(err.message, "is not the canonical PEM of a P-256 public key"))
			fail_msg("spelling %zu: unexpected error: %s", i, err.message);
		repo_free(&r);
	}
}

static void root_refuses_same_key_twice(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	rp_error err = RP_ERROR_INIT;
	/* Canonical PEM, but an extra keyval field: another key ID for the same public key. */
	char canonical_id[TUF_KEYID_HEX_LEN + 1], id[TUF_KEYID_HEX_LEN + 1];
	assert_int_equal(tuf_key_id(r.targets_keys[0], canonical_id, &err), 0);
	list_targets_key_again(r.root, key_spelling(r.targets_keys[0], NULL, true, id), id);
	size_t len = 0;
	_cleanup_free_ char *data = sign_serialize(r.root, r.root_keys, 1, &len);
	tuf_meta m;
	assert_int_equal(tuf_meta_parse((const uint8_t *)data, len, TUF_ROLE_ROOT, &m, &err), -1);
	assert_non_null(strstr(err.message, "are the same public key"));
	/* Both key IDs are named. */
	char a[17], b[17];
	snprintf(a, sizeof(a), "%.16s", canonical_id);
	snprintf(b, sizeof(b), "%.16s", id);
	assert_non_null(strstr(err.message, a));
	assert_non_null(strstr(err.message, b));
	repo_free(&r);
}

static void threshold_counts_public_keys_not_key_ids(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 2);
	rp_error err = RP_ERROR_INIT;
	/* A root that got past parsing (see root_refuses_same_key_twice) with targets key 0 listed
	 * twice, once with "junk" before the PEM, and a targets threshold of 2. */
	mem_file *root_file = mem_find(&r.files, "root.json");
	tuf_meta root;
	assert_int_equal(tuf_meta_parse(root_file->data, root_file->len, TUF_ROLE_ROOT, &root, &err), 0);
	_cleanup_free_ char *pem = rp_key_public_pem(r.targets_keys[0], &err);
	_cleanup_free_ char *junk = junk_before(pem);
	char canonical_id[TUF_KEYID_HEX_LEN + 1], id[TUF_KEYID_HEX_LEN + 1];
	assert_int_equal(tuf_key_id(r.targets_keys[0], canonical_id, &err), 0);
	list_targets_key_again(root.signed_obj, key_spelling(r.targets_keys[0], junk, false, id), id);
	/* Targets signed once by key 0, the signature listed under both key IDs. */
	_cleanup_json_ json_t *env = tuf_envelope_new(r.targets);
	assert_int_equal(tuf_envelope_sign(env, r.targets_keys[0], &err), 0);
	json_t *sigs = json_object_get(env, "signatures");
	json_t *again = json_deep_copy(json_array_get(sigs, 0));
	assert_string_equal(json_string_value(json_object_get(again, "keyid")), canonical_id);
	json_object_set_new(again, "keyid", json_string(id));
	json_array_append_new(sigs, again);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	assert_int_equal(tuf_envelope_serialize(env, &data, &len, &err), 0);
	tuf_meta targets;
	assert_int_equal(tuf_meta_parse((const uint8_t *)data, len, TUF_ROLE_TARGETS, &targets, &err), 0);
	assert_int_equal(tuf_meta_verify(&root, TUF_ROLE_TARGETS, &targets, &err), -1);
	assert_non_null(strstr(err.message, "valid signatures from 1 of the 2 targets keys"));
	tuf_meta_free(&targets);
	tuf_meta_free(&root);
	repo_free(&r);
}

/* --- the client workflow --- */

static void refresh_and_fetch_target(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	device d;
	device_init(&d, &r);
	ASSERT_REFRESH_OK(&d, NOW);
	rp_error err = RP_ERROR_INIT;
	tuf_target t;
	assert_int_equal(tuf_client_target(&d.client, "app.bin", &t, &err), 0);
	assert_int_equal(t.length, strlen("hello, device"));
	assert_string_equal(json_string_value(json_object_get(t.custom, "image_id")), "img-1");
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	assert_int_equal(tuf_client_fetch_target(&d.client, &t, &data, &len, &err), 0);
	assert_memory_equal(data, "hello, device", len);
	assert_int_equal(tuf_client_target(&d.client, "other.bin", &t, &err), -1);
	assert_int_equal(err.code, RP_E_NOT_FOUND);
	/* Trusted metadata was persisted. */
	assert_non_null(mem_find(&d.storage, "timestamp"));
	assert_non_null(mem_find(&d.storage, "snapshot"));
	assert_non_null(mem_find(&d.storage, "targets"));
	/* Nothing changed: a second refresh fetches only 2.root.json (absent) and timestamp.json. */
	r.files.fetches = 0;
	ASSERT_REFRESH_OK(&d, NOW + 60);
	assert_int_equal(r.files.fetches, 2);
	/* The same after a restart from storage. */
	device_restart(&d, &r);
	r.files.fetches = 0;
	ASSERT_REFRESH_OK(&d, NOW + 120);
	assert_int_equal(r.files.fetches, 2);
	device_free(&d);
	repo_free(&r);
}

static void attack_arbitrary_package(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	device d;
	device_init(&d, &r);
	ASSERT_REFRESH_OK(&d, NOW);
	rp_error err = RP_ERROR_INIT;
	tuf_target t;
	assert_int_equal(tuf_client_target(&d.client, "app.bin", &t, &err), 0);
	_cleanup_free_ char *path = tuf_client_target_path(&d.client, &t);
	_cleanup_free_ char *key = xasprintf("targets/%s", path);
	uint8_t *data = NULL;
	size_t len = 0;
	/* Same length, other bytes. */
	mem_put(&r.files, key, "HELLO, DEVICE", 13);
	assert_int_equal(tuf_client_fetch_target(&d.client, &t, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_null(data);
	/* Shorter. */
	rp_error_clear(&err);
	mem_put(&r.files, key, "hello", 5);
	assert_int_equal(tuf_client_fetch_target(&d.client, &t, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	/* Longer: refused before hashing (endless data). */
	rp_error_clear(&err);
	mem_put(&r.files, key, "hello, device, and more", 23);
	assert_int_equal(tuf_client_fetch_target(&d.client, &t, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	/* Files (what the device agent downloads to disk). */
	char path_tmpl[] = "/tmp/rampart-test-tuf-XXXXXX";
	int fd = mkstemp(path_tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello, device", 13), 13);
	assert_int_equal(tuf_target_verify_file(&t, path_tmpl, &err), 0);
	assert_int_equal(write(fd, "!", 1), 1);
	assert_int_equal(tuf_target_verify_file(&t, path_tmpl, &err), -1);
	assert_non_null(strstr(err.message, "longer than"));
	assert_int_equal(ftruncate(fd, 12), 0);
	assert_int_equal(tuf_target_verify_file(&t, path_tmpl, &err), -1);
	close(fd);
	unlink(path_tmpl);
	/* Buffer check directly. */
	assert_int_equal(tuf_target_verify_buffer(&t, (const uint8_t *)"hello, devicE", 13, &err), -1);
	assert_int_equal(tuf_target_verify_buffer(&t, (const uint8_t *)"hello, device", 13, &err), 0);
	device_free(&d);
	repo_free(&r);
}

static void attack_endless_data(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	device d;
	device_init(&d, &r);
	/* A fetcher (or server) that hands over more than the limit: timestamp.json. */
	r.files.extra_bytes = 64 * 1024;
	ASSERT_REFUSED(&d, NOW, RP_E_LIMIT, "more than the 16384 bytes");
	/* And for a snapshot whose length the timestamp states. */
	r.files.extra_bytes = 0;
	ASSERT_REFRESH_OK(&d, NOW);
	put_targets(&r, NOW + 30 * TUF_DAY_SECONDS, 1);
	publish(&r);
	mem_file *snap = mem_find(&r.files, "snapshot.json");
	uint8_t *big = xcalloc(snap->len + 10, 1);
	memcpy(big, snap->data, snap->len);
	memset(big + snap->len, ' ', 10);
	_cleanup_free_ char *vname = xasprintf("%lld.snapshot.json", (long long)r.snapshot_version);
	mem_put(&r.files, vname, big, snap->len + 10);
	free(big);
	ASSERT_REFUSED(&d, NOW, RP_E_LIMIT, "snapshot.json");
	/* A timestamp (stolen key) that signs a gigantic snapshot length is refused up front. */
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *ts = tuf_timestamp_new(++r.timestamp_version, NOW + TUF_DAY_SECONDS, r.snapshot_version,
	                                              NULL, 0, &err);
	json_t *entry = json_object_get(json_object_get(ts, "meta"), "snapshot.json");
	json_object_set_new(entry, "length", json_integer((json_int_t)1 << 40));
	put_role(&r, TUF_ROLE_TIMESTAMP, ts, &r.timestamp_key, 1);
	ASSERT_REFUSED(&d, NOW, RP_E_LIMIT, "over the limit");
	device_free(&d);
	repo_free(&r);
}

static void attack_rollback_timestamp(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	mem_file *old = mem_find(&r.files, "timestamp.json");
	_cleanup_free_ uint8_t *old_ts = xmemdup(old->data, old->len);
	size_t old_len = old->len;
	put_timestamp(&r, NOW + TUF_DAY_SECONDS, r.timestamp_key);
	device d;
	device_init(&d, &r);
	ASSERT_REFRESH_OK(&d, NOW);
	mem_put(&r.files, "timestamp.json", old_ts, old_len);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "rollback");
	/* Also after a restart: the rollback check uses persisted state. */
	device_restart(&d, &r);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "rollback");
	device_free(&d);
	repo_free(&r);
}

static void attack_rollback_snapshot(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	publish(&r); /* snapshot 2 */
	device d;
	device_init(&d, &r);
	ASSERT_REFRESH_OK(&d, NOW);
	/* A newer timestamp that names the older snapshot 1. */
	r.snapshot_version = 1;
	mem_file *s1 = mem_find(&r.files, "1.snapshot.json");
	mem_put(&r.files, "snapshot.json", s1->data, s1->len);
	put_timestamp(&r, NOW + TUF_DAY_SECONDS, r.timestamp_key);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "rollback");
	device_free(&d);
	repo_free(&r);
}

static void attack_rollback_targets(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	mem_file *t1 = mem_find(&r.files, "targets.json");
	_cleanup_free_ uint8_t *old_targets = xmemdup(t1->data, t1->len);
	size_t old_len = t1->len;
	put_targets(&r, NOW + 30 * TUF_DAY_SECONDS, 1); /* targets 2 */
	publish(&r);
	device d;
	device_init(&d, &r);
	ASSERT_REFRESH_OK(&d, NOW);
	/* The online keys publish a fresh snapshot naming the old targets 1. */
	mem_put(&r.files, "targets.json", old_targets, old_len);
	assert_int_equal(tuf_signed_set_version(r.targets, 1, NOW + 30 * TUF_DAY_SECONDS, NULL), 0);
	publish(&r);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "rollback");
	device_free(&d);
	repo_free(&r);
}

static void attack_freeze_expired(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	device d;
	device_init(&d, &r);
	/* Timestamp expires after 1 day, snapshot after 7, targets after 30, root after 365. */
	ASSERT_REFUSED(&d, NOW + TUF_DAY_SECONDS, RP_E_EXPIRED, "timestamp metadata version 1 expired");
	put_timestamp(&r, NOW + 100 * TUF_DAY_SECONDS, r.timestamp_key);
	ASSERT_REFUSED(&d, NOW + 8 * TUF_DAY_SECONDS, RP_E_EXPIRED, "snapshot metadata");
	put_snapshot(&r, NOW + 100 * TUF_DAY_SECONDS, r.snapshot_key);
	put_timestamp(&r, NOW + 100 * TUF_DAY_SECONDS, r.timestamp_key);
	ASSERT_REFUSED(&d, NOW + 31 * TUF_DAY_SECONDS, RP_E_EXPIRED, "targets metadata");
	ASSERT_REFUSED(&d, NOW + 366 * TUF_DAY_SECONDS, RP_E_EXPIRED, "root metadata");
	/* A refused refresh leaves no trusted targets. */
	assert_null(tuf_client_targets(&d.client));
	device_free(&d);
	repo_free(&r);
}

static void attack_mix_and_match(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	device d;
	device_init(&d, &r);
	/* A validly signed snapshot other than the one the timestamp hashes. */
	put_targets(&r, NOW + 30 * TUF_DAY_SECONDS, 1);
	publish(&r); /* snapshot 2 + timestamp */
	mem_file *s2 = mem_find(&r.files, "2.snapshot.json");
	_cleanup_free_ uint8_t *good = xmemdup(s2->data, s2->len);
	size_t good_len = s2->len;
	/* Another snapshot 2 of the same length (ECDSA signatures vary by a byte or two), so the
	 * hash and not the length is what catches it. Bounded retries. */
	for (int tries = 0; tries < 50; tries++) {
		r.snapshot_version = 1;
		put_snapshot(&r, NOW + 6 * TUF_DAY_SECONDS, r.snapshot_key);
		if (mem_find(&r.files, "2.snapshot.json")->len == good_len)
			break;
	}
	assert_int_equal(mem_find(&r.files, "2.snapshot.json")->len, good_len);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "mix-and-match");
	mem_put(&r.files, "2.snapshot.json", good, good_len);
	ASSERT_REFRESH_OK(&d, NOW);

	/* Without hashes in the snapshot, the version check catches a targets file served under
	 * another version's name. */
	repo r2;
	repo_init(&r2, 1, 1);
	r2.hashes_in_snapshot = false;
	device d2;
	device_init(&d2, &r2);
	put_targets(&r2, NOW + 30 * TUF_DAY_SECONDS, 1); /* targets 2 */
	publish(&r2);
	mem_file *t1 = mem_find(&r2.files, "1.targets.json");
	mem_put(&r2.files, "2.targets.json", t1->data, t1->len);
	ASSERT_REFUSED(&d2, NOW, RP_E_VERIFY, "version 2 was expected");
	device_free(&d2);
	repo_free(&r2);
	device_free(&d);
	repo_free(&r);
}

static void signatures_below_threshold(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 2); /* targets threshold 2 of 2 */
	device d;
	device_init(&d, &r);
	ASSERT_REFRESH_OK(&d, NOW);
	put_targets(&r, NOW + 30 * TUF_DAY_SECONDS, 1); /* signed by one key only */
	publish(&r);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "1 of the 2 targets keys");
	device_free(&d);
	repo_free(&r);
}

static void duplicate_signatures_count_once(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 2);
	device d;
	device_init(&d, &r);
	rp_error err = RP_ERROR_INIT;
	/* One key's signature listed twice does not make two. */
	int64_t v = json_integer_value(json_object_get(r.targets, "version")) + 1;
	assert_int_equal(tuf_signed_set_version(r.targets, v, NOW + 30 * TUF_DAY_SECONDS, &err), 0);
	_cleanup_json_ json_t *env = tuf_envelope_new(r.targets);
	assert_int_equal(tuf_envelope_sign(env, r.targets_keys[0], &err), 0);
	json_t *sigs = json_object_get(env, "signatures");
	json_array_append_new(sigs, json_deep_copy(json_array_get(sigs, 0)));
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	assert_int_equal(tuf_envelope_serialize(env, &data, &len, &err), 0);
	mem_put(&r.files, "targets.json", data, len);
	mem_put(&r.files, "2.targets.json", data, len);
	publish(&r);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "1 of the 2 targets keys");
	device_free(&d);
	repo_free(&r);
}

static void unknown_keys_ignored(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	device d;
	device_init(&d, &r);
	rp_error err = RP_ERROR_INIT;
	_cleanup_pkey_ EVP_PKEY *stranger = keygen();
	int64_t v = json_integer_value(json_object_get(r.targets, "version")) + 1;
	assert_int_equal(tuf_signed_set_version(r.targets, v, NOW + 30 * TUF_DAY_SECONDS, &err), 0);
	/* A stranger's signature next to a valid one is ignored... */
	EVP_PKEY *both[2] = {stranger, r.targets_keys[0]};
	size_t len = 0;
	_cleanup_free_ char *ok = sign_serialize(r.targets, both, 2, &len);
	mem_put(&r.files, "targets.json", ok, len);
	mem_put(&r.files, "2.targets.json", ok, len);
	publish(&r);
	ASSERT_REFRESH_OK(&d, NOW);
	/* ...and never counts on its own, nor does a key of another role. */
	assert_int_equal(tuf_signed_set_version(r.targets, v + 1, NOW + 30 * TUF_DAY_SECONDS, &err), 0);
	EVP_PKEY *wrong[2] = {stranger, r.snapshot_key};
	_cleanup_free_ char *bad = sign_serialize(r.targets, wrong, 2, &len);
	mem_put(&r.files, "targets.json", bad, len);
	mem_put(&r.files, "3.targets.json", bad, len);
	publish(&r);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "0 of the 1 targets keys");
	device_free(&d);
	repo_free(&r);
}

/* Root N+1 from R's current root with the root role set to KEYS/THRESHOLD, signed by SIGNERS. */
static void put_root(repo *r, EVP_PKEY **keys, size_t nkeys, int threshold, EVP_PKEY **signers, size_t nsigners,
                     int64_t version_override)
{
	rp_error err = RP_ERROR_INIT;
	int64_t v = version_override ? version_override : json_integer_value(json_object_get(r->root, "version")) + 1;
	tuf_root_clear_role(r->root, TUF_ROLE_ROOT);
	for (size_t i = 0; i < nkeys; i++)
		assert_int_equal(tuf_root_add_key(r->root, TUF_ROLE_ROOT, keys[i], &err), 0);
	assert_int_equal(tuf_root_set_threshold(r->root, TUF_ROLE_ROOT, threshold, &err), 0);
	assert_int_equal(tuf_signed_set_version(r->root, v, NOW + 365 * TUF_DAY_SECONDS, &err), 0);
	put_role(r, TUF_ROLE_ROOT, r->root, signers, nsigners);
}

static void root_rotation_chain(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	device d;
	device_init(&d, &r);
	EVP_PKEY *k0 = r.root_keys[0], *k1 = r.root_keys[1], *k2 = r.root_keys[2];
	/* v2: root keys {k1, k2}, threshold 2, signed by the old k0 and both new keys. */
	EVP_PKEY *new_keys[2] = {k1, k2};
	EVP_PKEY *sign_v2[3] = {k0, k1, k2};
	put_root(&r, new_keys, 2, 2, sign_v2, 3, 0);
	/* v3: same keys, signed by k1 and k2. */
	EVP_PKEY *sign_v3[2] = {k1, k2};
	put_root(&r, new_keys, 2, 2, sign_v3, 2, 0);
	ASSERT_REFRESH_OK(&d, NOW);
	assert_int_equal(d.client.root.version, 3);
	mem_file *stored = mem_find(&d.storage, "root");
	tuf_meta m;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(tuf_meta_parse(stored->data, stored->len, TUF_ROLE_ROOT, &m, &err), 0);
	assert_int_equal(m.version, 3);
	tuf_meta_free(&m);

	/* v4 signed by only one of the two required new keys: refused, v3 stays trusted. */
	EVP_PKEY *sign_v4[1] = {k1};
	put_root(&r, new_keys, 2, 2, sign_v4, 1, 0);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "1 of the 2 root keys");
	assert_int_equal(d.client.root.version, 3);
	device_free(&d);
	repo_free(&r);
}

static void root_rotation_needs_old_keys_and_exact_version(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	device d;
	device_init(&d, &r);
	_cleanup_pkey_ EVP_PKEY *attacker = keygen();
	/* A new root signed only by keys the trusted root does not list. */
	EVP_PKEY *ak[1] = {attacker};
	put_root(&r, ak, 1, 1, ak, 1, 0);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "0 of the 1 root keys");
	/* A correctly signed root 3 served as 2.root.json. */
	repo_free(&r);
	repo_init(&r, 1, 1);
	device_free(&d);
	device_init(&d, &r);
	EVP_PKEY *k0[1] = {r.root_keys[0]};
	put_root(&r, k0, 1, 1, k0, 1, 3);
	mem_file *v3 = mem_find(&r.files, "3.root.json");
	mem_put(&r.files, "2.root.json", v3->data, v3->len);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "holds root version 3");
	device_free(&d);
	repo_free(&r);
}

static void timestamp_key_rotation_recovers_from_fast_forward(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	device d;
	device_init(&d, &r);
	/* An attacker with the timestamp key pushes the version to 1000 (fast-forward). */
	r.timestamp_version = 999;
	put_timestamp(&r, NOW + TUF_DAY_SECONDS, r.timestamp_key);
	ASSERT_REFRESH_OK(&d, NOW);
	assert_int_equal(d.client.timestamp.version, 1000);
	/* Recovery: root 2 with a new timestamp key; the repository starts again at version 1. */
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY_free(r.timestamp_key);
	r.timestamp_key = keygen();
	tuf_root_clear_role(r.root, TUF_ROLE_TIMESTAMP);
	assert_int_equal(tuf_root_add_key(r.root, TUF_ROLE_TIMESTAMP, r.timestamp_key, &err), 0);
	EVP_PKEY *k0[1] = {r.root_keys[0]};
	put_root(&r, k0, 1, 1, k0, 1, 0);
	r.timestamp_version = 0;
	put_timestamp(&r, NOW + TUF_DAY_SECONDS, r.timestamp_key);
	ASSERT_REFRESH_OK(&d, NOW);
	assert_int_equal(d.client.timestamp.version, 1);
	device_free(&d);
	repo_free(&r);
}

static void targets_rollback_after_online_key_rotation(void **state)
{
	(void)state;
	repo r;
	repo_init(&r, 1, 1);
	put_targets(&r, NOW + 30 * TUF_DAY_SECONDS, 1); /* targets 2 */
	mem_file *t2 = mem_find(&r.files, "targets.json");
	_cleanup_free_ uint8_t *old_targets = xmemdup(t2->data, t2->len);
	size_t old_len = t2->len;
	put_targets(&r, NOW + 30 * TUF_DAY_SECONDS, 1); /* targets 3 */
	publish(&r);
	device d;
	device_init(&d, &r);
	ASSERT_REFRESH_OK(&d, NOW);
	assert_int_equal(d.client.targets.version, 3);
	/* Root 2 rotates the snapshot and timestamp keys: the client forgets the old snapshot. The
	 * repository then serves the still validly signed targets 2. */
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY_free(r.snapshot_key);
	EVP_PKEY_free(r.timestamp_key);
	r.snapshot_key = keygen();
	r.timestamp_key = keygen();
	tuf_root_clear_role(r.root, TUF_ROLE_SNAPSHOT);
	tuf_root_clear_role(r.root, TUF_ROLE_TIMESTAMP);
	assert_int_equal(tuf_root_add_key(r.root, TUF_ROLE_SNAPSHOT, r.snapshot_key, &err), 0);
	assert_int_equal(tuf_root_add_key(r.root, TUF_ROLE_TIMESTAMP, r.timestamp_key, &err), 0);
	EVP_PKEY *k0[1] = {r.root_keys[0]};
	put_root(&r, k0, 1, 1, k0, 1, 0);
	mem_put(&r.files, "targets.json", old_targets, old_len);
	assert_int_equal(tuf_signed_set_version(r.targets, 2, NOW + 30 * TUF_DAY_SECONDS, &err), 0);
	r.snapshot_version = 0;
	r.timestamp_version = 0;
	publish(&r);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "targets version 2 is older than the trusted 3");
	assert_int_equal(d.client.root.version, 2);
	assert_int_equal(d.client.targets.version, 3);
	/* After a reboot too: the stored targets 3 still holds the line. */
	device_restart(&d, &r);
	ASSERT_REFUSED(&d, NOW, RP_E_VERIFY, "targets version 2 is older than the trusted 3");
	/* The repository moving forward to targets 4 is accepted. */
	put_targets(&r, NOW + 30 * TUF_DAY_SECONDS, 1);
	assert_int_equal(json_integer_value(json_object_get(r.targets, "version")), 3);
	put_targets(&r, NOW + 30 * TUF_DAY_SECONDS, 1);
	publish(&r);
	ASSERT_REFRESH_OK(&d, NOW);
	assert_int_equal(d.client.targets.version, 4);
	device_free(&d);
	repo_free(&r);
}

/* --- Uptane: image repository + director --- */

typedef struct uptane {
	repo image, director;
	device image_dev, director_dev;
} uptane;

static void uptane_init(uptane *u)
{
	repo_init(&u->image, 1, 1);
	add_target(&u->image, "os-2.bundle", "os bundle two", "{\"image_id\":\"os-2\",\"version\":2,\"type\":\"os\"}");
	put_targets(&u->image, NOW + 30 * TUF_DAY_SECONDS, 1);
	publish(&u->image);
	/* The director starts with app.bin for this device group. */
	repo_init(&u->director, 1, 1);
	device_init(&u->image_dev, &u->image);
	device_init(&u->director_dev, &u->director);
	free(u->director_dev.client.name);
	u->director_dev.client.name = xstrdup("director");
}

static void uptane_free(uptane *u)
{
	device_free(&u->image_dev);
	device_free(&u->director_dev);
	repo_free(&u->image);
	repo_free(&u->director);
}

static int uptane_resolve(uptane *u, tuf_resolved *out, rp_error *err)
{
	rp_error_clear(err);
	if (refresh(&u->image_dev, NOW, err) < 0 || refresh(&u->director_dev, NOW, err) < 0)
		return -1;
	return tuf_uptane_resolve(&u->image_dev.client, &u->director_dev.client, out, err);
}

static void uptane_agreement(void **state)
{
	(void)state;
	uptane u;
	uptane_init(&u);
	rp_error err = RP_ERROR_INIT;
	tuf_resolved res;
	assert_int_equal(uptane_resolve(&u, &res, &err), 0);
	assert_int_equal(res.count, 1);
	assert_string_equal(res.targets[0].name, "app.bin");
	tuf_resolved_free(&res);
	/* The director moves the group to the released OS bundle too. */
	add_target(&u.director, "os-2.bundle", "os bundle two", "{\"image_id\":\"os-2\"}");
	put_targets(&u.director, NOW + 30 * TUF_DAY_SECONDS, 1);
	publish(&u.director);
	assert_int_equal(uptane_resolve(&u, &res, &err), 0);
	assert_int_equal(res.count, 2);
	tuf_resolved_free(&res);
	uptane_free(&u);
}

static void attack_compromised_director_key(void **state)
{
	(void)state;
	uptane u;
	uptane_init(&u);
	rp_error err = RP_ERROR_INIT;
	tuf_resolved res;
	/* With all director keys, an attacker lists an image that was never released... */
	add_target(&u.director, "evil.bin", "malware", NULL);
	put_targets(&u.director, NOW + 30 * TUF_DAY_SECONDS, 1);
	publish(&u.director);
	assert_int_equal(uptane_resolve(&u, &res, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_non_null(strstr(err.message, "never released"));
	/* ...or swaps the bytes behind a released name... */
	assert_int_equal(tuf_targets_remove(u.director.targets, "evil.bin", &err), 0);
	add_target(&u.director, "app.bin", "malware", NULL);
	put_targets(&u.director, NOW + 30 * TUF_DAY_SECONDS, 1);
	publish(&u.director);
	assert_int_equal(uptane_resolve(&u, &res, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	/* ...or claims another version for released bytes. */
	add_target(&u.director, "app.bin", "hello, device", "{\"image_id\":\"img-1\",\"version\":9}");
	put_targets(&u.director, NOW + 30 * TUF_DAY_SECONDS, 1);
	publish(&u.director);
	assert_int_equal(uptane_resolve(&u, &res, &err), -1);
	assert_non_null(strstr(err.message, "version"));
	/* All it can do is pick among released images. */
	add_target(&u.director, "app.bin", "hello, device", "{\"image_id\":\"img-1\",\"version\":1}");
	put_targets(&u.director, NOW + 30 * TUF_DAY_SECONDS, 1);
	publish(&u.director);
	assert_int_equal(uptane_resolve(&u, &res, &err), 0);
	tuf_resolved_free(&res);
	uptane_free(&u);
}

static void attack_compromised_image_online_keys(void **state)
{
	(void)state;
	uptane u;
	uptane_init(&u);
	rp_error err = RP_ERROR_INIT;
	tuf_resolved res;
	assert_int_equal(uptane_resolve(&u, &res, &err), 0);
	tuf_resolved_free(&res);
	/* The attacker holds the image repository's snapshot and timestamp keys (the online ones)
	 * and the director's keys, and wants evil.bin installed. They cannot sign targets: signing
	 * targets.json with the snapshot key is not enough. */
	add_target(&u.image, "evil.bin", "malware", NULL);
	int64_t v = json_integer_value(json_object_get(u.image.targets, "version")) + 1;
	assert_int_equal(tuf_signed_set_version(u.image.targets, v, NOW + 30 * TUF_DAY_SECONDS, &err), 0);
	put_role(&u.image, TUF_ROLE_TARGETS, u.image.targets, &u.image.snapshot_key, 1);
	publish(&u.image);
	add_target(&u.director, "evil.bin", "malware", NULL);
	put_targets(&u.director, NOW + 30 * TUF_DAY_SECONDS, 1);
	publish(&u.director);
	assert_int_equal(uptane_resolve(&u, &res, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_non_null(strstr(err.message, "image repository: updating targets"));
	/* The device still trusts the last good targets, which lack evil.bin. */
	tuf_target t;
	assert_int_equal(tuf_meta_target(&u.image_dev.client.targets, "evil.bin", &t, &err), -1);
	uptane_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(canonical_json_vectors),
	    cmocka_unit_test(time_format_and_parse),
	    cmocka_unit_test(key_id_is_hash_of_canonical_key),
	    cmocka_unit_test(parse_refuses_malformed),
	    cmocka_unit_test(root_with_wrong_key_id_refused),
	    cmocka_unit_test(root_refuses_other_key_spellings),
	    cmocka_unit_test(root_refuses_same_key_twice),
	    cmocka_unit_test(threshold_counts_public_keys_not_key_ids),
	    cmocka_unit_test(refresh_and_fetch_target),
	    cmocka_unit_test(attack_arbitrary_package),
	    cmocka_unit_test(attack_endless_data),
	    cmocka_unit_test(attack_rollback_timestamp),
	    cmocka_unit_test(attack_rollback_snapshot),
	    cmocka_unit_test(attack_rollback_targets),
	    cmocka_unit_test(attack_freeze_expired),
	    cmocka_unit_test(attack_mix_and_match),
	    cmocka_unit_test(signatures_below_threshold),
	    cmocka_unit_test(duplicate_signatures_count_once),
	    cmocka_unit_test(unknown_keys_ignored),
	    cmocka_unit_test(root_rotation_chain),
	    cmocka_unit_test(root_rotation_needs_old_keys_and_exact_version),
	    cmocka_unit_test(timestamp_key_rotation_recovers_from_fast_forward),
	    cmocka_unit_test(targets_rollback_after_online_key_rotation),
	    cmocka_unit_test(uptane_agreement),
	    cmocka_unit_test(attack_compromised_director_key),
	    cmocka_unit_test(attack_compromised_image_online_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
