/* Directory-backed TUF repository (see repo.h). */
#include "tuf/repo.h"

#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "tuf/metadata.h"

#define REPO_META_MAX (16u * 1024 * 1024)
#define REPO_TARGET_MAX (4ull * 1024 * 1024 * 1024)

static int64_t life(int64_t given, enum tuf_role role)
{
	return given ? given : tuf_role_default_lifetime(role);
}

static int sign_all(json_t *env, const tuf_key_list *keys, rp_error *err)
{
	for (size_t i = 0; i < keys->count; i++)
		if (tuf_envelope_sign(env, keys->keys[i], err) < 0)
			return -1;
	return 0;
}

/* Write metadata/ROLE.json (and the versioned name when VERSIONED), returning the bytes. */
static int write_meta(const char *dir, enum tuf_role role, json_t *env, bool versioned, char **bytes, size_t *len,
                      rp_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t n = 0;
	if (tuf_envelope_serialize(env, &data, &n, err) < 0)
		return -1;
	int64_t version = json_integer_value(json_object_get(json_object_get(env, "signed"), "version"));
	/* The versioned file first: a reader that sees the new plain name finds its versioned twin. */
	if (versioned) {
		_cleanup_free_ char *vpath = xasprintf("%s/metadata/%" PRId64 ".%s.json", dir, version, tuf_role_name(role));
		if (rp_write_file_atomic(vpath, data, n, 0644, err) < 0)
			return -1;
	}
	_cleanup_free_ char *path = xasprintf("%s/metadata/%s.json", dir, tuf_role_name(role));
	if (rp_write_file_atomic(path, data, n, 0644, err) < 0)
		return -1;
	if (bytes) {
		*bytes = steal_ptr(data);
		*len = n;
	}
	return 0;
}

static json_t *load_env(const char *dir, const char *role, rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/metadata/%s.json", dir, role);
	json_t *env = rp_json_load_file(path, REPO_META_MAX, err);
	if (env && !json_is_object(json_object_get(env, "signed"))) {
		json_decref(env);
		rp_error_set(err, RP_E_INVALID, "%s has no \"signed\" object", path);
		return NULL;
	}
	return env;
}

json_t *tuf_repo_load_signed(const char *dir, const char *role, rp_error *err)
{
	_cleanup_json_ json_t *env = load_env(dir, role, err);
	return env ? json_deep_copy(json_object_get(env, "signed")) : NULL;
}

static bool consistent(const char *dir)
{
	_cleanup_json_ json_t *root = tuf_repo_load_signed(dir, "root", NULL);
	return root && json_is_true(json_object_get(root, "consistent_snapshot"));
}

int tuf_repo_publish(const char *dir, EVP_PKEY *snapshot_key, EVP_PKEY *timestamp_key, int64_t now,
                     int64_t snapshot_lifetime, int64_t timestamp_lifetime, rp_error *err)
{
	bool cs = consistent(dir);
	_cleanup_free_ char *targets_path = xasprintf("%s/metadata/targets.json", dir);
	_cleanup_free_ uint8_t *targets = NULL;
	size_t targets_len = 0;
	_cleanup_json_ json_t *old_snap = tuf_repo_load_signed(dir, "snapshot", NULL);
	_cleanup_json_ json_t *old_ts = tuf_repo_load_signed(dir, "timestamp", NULL);
	if (rp_read_file(targets_path, REPO_META_MAX, &targets, &targets_len, err) < 0)
		return rp_error_prefix(err, "publishing");
	_cleanup_json_ json_t *tj = rp_json_parse((const char *)targets, targets_len, REPO_META_MAX, targets_path, err);
	if (!tj)
		return rp_error_prefix(err, "publishing");
	json_int_t tv = json_integer_value(json_object_get(json_object_get(tj, "signed"), "version"));
	json_int_t sv = old_snap ? json_integer_value(json_object_get(old_snap, "version")) + 1 : 1;
	json_int_t tsv = old_ts ? json_integer_value(json_object_get(old_ts, "version")) + 1 : 1;

	_cleanup_json_ json_t *snap =
	    tuf_snapshot_new(sv, now + life(snapshot_lifetime, TUF_ROLE_SNAPSHOT), tv, targets, targets_len, err);
	if (!snap)
		return rp_error_prefix(err, "publishing");
	_cleanup_json_ json_t *snap_env = tuf_envelope_new(snap);
	_cleanup_free_ char *snap_bytes = NULL;
	size_t snap_len = 0;
	if (tuf_envelope_sign(snap_env, snapshot_key, err) < 0 ||
	    write_meta(dir, TUF_ROLE_SNAPSHOT, snap_env, cs, &snap_bytes, &snap_len, err) < 0)
		return rp_error_prefix(err, "publishing snapshot");
	_cleanup_json_ json_t *ts = tuf_timestamp_new(tsv, now + life(timestamp_lifetime, TUF_ROLE_TIMESTAMP), sv,
	                                              (const uint8_t *)snap_bytes, snap_len, err);
	if (!ts)
		return rp_error_prefix(err, "publishing");
	_cleanup_json_ json_t *ts_env = tuf_envelope_new(ts);
	if (tuf_envelope_sign(ts_env, timestamp_key, err) < 0 ||
	    write_meta(dir, TUF_ROLE_TIMESTAMP, ts_env, false, NULL, NULL, err) < 0)
		return rp_error_prefix(err, "publishing timestamp");
	return 0;
}

int tuf_repo_init(const char *dir, const tuf_repo_init_opts *o, int64_t now, rp_error *err)
{
	if (o->root.count == 0 || o->targets.count == 0 || o->snapshot.count != 1 || o->timestamp.count != 1)
		return rp_error_set(err, RP_E_INVALID,
		                    "a repository needs root and targets keys and exactly one snapshot and one timestamp key");
	_cleanup_free_ char *meta_dir = xasprintf("%s/metadata", dir);
	_cleanup_free_ char *targets_dir = xasprintf("%s/targets", dir);
	_cleanup_free_ char *root_path = xasprintf("%s/root.json", meta_dir);
	struct stat st;
	if (stat(root_path, &st) == 0)
		return rp_error_set(err, RP_E_EXISTS, "%s already exists: this directory already holds a repository",
		                    root_path);
	if (rp_mkdir_p(meta_dir, 0755, err) < 0 || rp_mkdir_p(targets_dir, 0755, err) < 0)
		return -1;
	_cleanup_json_ json_t *root =
	    tuf_root_new(1, now + life(o->lifetime[TUF_ROLE_ROOT], TUF_ROLE_ROOT), o->consistent_snapshot, err);
	if (!root)
		return -1;
	const tuf_key_list *lists[TUF_ROLE_COUNT] = {&o->root, &o->targets, &o->snapshot, &o->timestamp};
	for (int r = 0; r < TUF_ROLE_COUNT; r++)
		for (size_t i = 0; i < lists[r]->count; i++)
			if (tuf_root_add_key(root, (enum tuf_role)r, lists[r]->keys[i], err) < 0)
				return -1;
	if (tuf_root_set_threshold(root, TUF_ROLE_ROOT, o->root_threshold ? o->root_threshold : 1, err) < 0 ||
	    tuf_root_set_threshold(root, TUF_ROLE_TARGETS, o->targets_threshold ? o->targets_threshold : 1, err) < 0)
		return -1;
	_cleanup_json_ json_t *root_env = tuf_envelope_new(root);
	if (sign_all(root_env, &o->root, err) < 0 || write_meta(dir, TUF_ROLE_ROOT, root_env, true, NULL, NULL, err) < 0)
		return rp_error_prefix(err, "writing root");
	_cleanup_json_ json_t *targets = tuf_targets_new(1, now + life(o->lifetime[TUF_ROLE_TARGETS], TUF_ROLE_TARGETS), err);
	if (!targets)
		return -1;
	_cleanup_json_ json_t *targets_env = tuf_envelope_new(targets);
	if (sign_all(targets_env, &o->targets, err) < 0 ||
	    write_meta(dir, TUF_ROLE_TARGETS, targets_env, o->consistent_snapshot, NULL, NULL, err) < 0)
		return rp_error_prefix(err, "writing targets");
	return tuf_repo_publish(dir, o->snapshot.keys[0], o->timestamp.keys[0], now, o->lifetime[TUF_ROLE_SNAPSHOT],
	                        o->lifetime[TUF_ROLE_TIMESTAMP], err);
}

static int write_target_file(const char *dir, const char *name, const uint8_t *data, size_t len, const uint8_t *sha,
                             rp_error *err)
{
	_cleanup_free_ char *hex = rp_hex_encode(sha, RP_SHA256_LEN);
	const char *slash = strrchr(name, '/');
	_cleanup_free_ char *plain = xasprintf("%s/targets/%s", dir, name);
	_cleanup_free_ char *hashed = slash ? xasprintf("%s/targets/%.*s/%s.%s", dir, (int)(slash - name), name, hex, slash + 1)
	                                    : xasprintf("%s/targets/%s.%s", dir, hex, name);
	if (slash) {
		_cleanup_free_ char *sub = xasprintf("%s/targets/%.*s", dir, (int)(slash - name), name);
		if (rp_mkdir_p(sub, 0755, err) < 0)
			return -1;
	}
	if (rp_write_file_atomic(hashed, data, len, 0644, err) < 0 || rp_write_file_atomic(plain, data, len, 0644, err) < 0)
		return -1;
	return 0;
}

int tuf_repo_add_target(const char *dir, const char *file, const char *name, const json_t *custom,
                        const tuf_key_list *targets_keys, int64_t now, int64_t lifetime, rp_error *err)
{
	if (targets_keys->count == 0)
		return rp_error_set(err, RP_E_INVALID, "adding a target needs the targets key");
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(file, REPO_TARGET_MAX, &data, &len, err) < 0)
		return rp_error_prefix(err, "adding target %s", name);
	uint8_t sha[RP_SHA256_LEN];
	rp_sha256_buf(data, len, sha);
	_cleanup_json_ json_t *targets = tuf_repo_load_signed(dir, "targets", err);
	if (!targets)
		return rp_error_prefix(err, "adding target %s", name);
	int64_t version = json_integer_value(json_object_get(targets, "version")) + 1;
	if (tuf_targets_add(targets, name, len, sha, custom, err) < 0 ||
	    tuf_signed_set_version(targets, version, now + life(lifetime, TUF_ROLE_TARGETS), err) < 0)
		return rp_error_prefix(err, "adding target %s", name);
	if (write_target_file(dir, name, data, len, sha, err) < 0)
		return rp_error_prefix(err, "storing target %s", name);
	_cleanup_json_ json_t *env = tuf_envelope_new(targets);
	if (sign_all(env, targets_keys, err) < 0 ||
	    write_meta(dir, TUF_ROLE_TARGETS, env, consistent(dir), NULL, NULL, err) < 0)
		return rp_error_prefix(err, "writing targets version %" PRId64, version);
	return 0;
}

int tuf_repo_rotate_root(const char *dir, json_t *new_root, const tuf_key_list *old_root_keys,
                         const tuf_key_list *new_root_keys, int64_t now, int64_t lifetime, rp_error *err)
{
	_cleanup_json_ json_t *old = tuf_repo_load_signed(dir, "root", err);
	if (!old)
		return rp_error_prefix(err, "rotating root");
	int64_t version = json_integer_value(json_object_get(old, "version")) + 1;
	if (tuf_signed_set_version(new_root, version, now + life(lifetime, TUF_ROLE_ROOT), err) < 0)
		return -1;
	_cleanup_json_ json_t *env = tuf_envelope_new(new_root);
	if (sign_all(env, old_root_keys, err) < 0 || sign_all(env, new_root_keys, err) < 0 ||
	    write_meta(dir, TUF_ROLE_ROOT, env, true, NULL, NULL, err) < 0)
		return rp_error_prefix(err, "writing root version %" PRId64, version);
	return 0;
}
