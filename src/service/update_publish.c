/* Publishing signed update metadata: per-tenant image repositories and per-device-group director
 * repositories in rampart-tuf's directory layout, kept fresh before they expire. One process-wide
 * lock serialises every change, so two requests never interleave a targets/snapshot/timestamp
 * sequence (a device would see a snapshot that does not match its targets). */
#include "service/update_publish.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "tuf/meta.h"
#include "tuf/metadata.h"
#include "tuf/repo.h"

#define META_MAX (16u * 1024 * 1024)

static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;

static void unlockp(pthread_mutex_t **m)
{
	if (*m)
		pthread_mutex_unlock(*m);
}
#define LOCKED _cleanup_(unlockp) pthread_mutex_t *_held = (pthread_mutex_lock(&publish_lock), &publish_lock)

static const char *const role_files[TUF_ROLE_COUNT] = {"root", "targets", "snapshot", "timestamp"};

static char *tenant_dir(const char *state_dir, const char *tenant_id)
{
	return xasprintf("%s/tuf/tenants/%s", state_dir, tenant_id);
}

static char *image_repo_dir(const char *state_dir, const char *tenant_id)
{
	return xasprintf("%s/tuf/tenants/%s/image", state_dir, tenant_id);
}

static char *director_repo_dir(const char *state_dir, const char *group_id)
{
	return xasprintf("%s/tuf/device-groups/%s", state_dir, group_id);
}

static char *key_path(const char *state_dir, const char *tenant_id, const char *set, enum tuf_role role)
{
	return xasprintf("%s/tuf/tenants/%s/keys/%s/%s.pem", state_dir, tenant_id, set, role_files[role]);
}

/* A key the service may not hold (offline setup): NULL without an error when the file is absent. */
static EVP_PKEY *load_key(const char *state_dir, const char *tenant_id, const char *set, enum tuf_role role,
                          bool required, rp_error *err)
{
	_cleanup_free_ char *path = key_path(state_dir, tenant_id, set, role);
	if (!required && access(path, F_OK) != 0)
		return NULL;
	EVP_PKEY *k = rp_key_load_private_pem(path, err);
	if (!k)
		rp_error_prefix(err, "loading the %s %s key", set, role_files[role]);
	return k;
}

static int make_keys(const char *state_dir, const char *tenant_id, const char *set, EVP_PKEY *keys[TUF_ROLE_COUNT],
                     rp_error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/tuf/tenants/%s/keys/%s", state_dir, tenant_id, set);
	if (rp_mkdir_p(dir, 0700, err) < 0)
		return -1;
	for (int r = 0; r < TUF_ROLE_COUNT; r++) {
		_cleanup_free_ char *path = key_path(state_dir, tenant_id, set, (enum tuf_role)r);
		keys[r] = access(path, F_OK) == 0 ? rp_key_load_private_pem(path, err) : rp_key_generate_p256(err);
		if (!keys[r] || rp_key_save_private_pem(keys[r], path, err) < 0)
			return rp_error_prefix(err, "%s %s key", set, role_files[r]);
	}
	return 0;
}

static void free_keys(EVP_PKEY *keys[TUF_ROLE_COUNT])
{
	for (int r = 0; r < TUF_ROLE_COUNT; r++) {
		EVP_PKEY_free(keys[r]);
		keys[r] = NULL;
	}
}

static int init_repo(const char *dir, EVP_PKEY *keys[TUF_ROLE_COUNT], int64_t now, rp_error *err)
{
	tuf_repo_init_opts o = {0};
	o.root = (tuf_key_list){&keys[TUF_ROLE_ROOT], 1};
	o.targets = (tuf_key_list){&keys[TUF_ROLE_TARGETS], 1};
	o.snapshot = (tuf_key_list){&keys[TUF_ROLE_SNAPSHOT], 1};
	o.timestamp = (tuf_key_list){&keys[TUF_ROLE_TIMESTAMP], 1};
	o.consistent_snapshot = true;
	return tuf_repo_init(dir, &o, now, err);
}

static bool repo_exists(const char *dir)
{
	_cleanup_free_ char *root = xasprintf("%s/metadata/root.json", dir);
	return access(root, F_OK) == 0;
}

static int tenant_ensure_locked(const char *state_dir, const char *tenant_id, int64_t now, rp_error *err)
{
	if (!rp_guid_is_valid(tenant_id))
		return rp_error_set(err, RP_E_INVALID, "tenant ID %s is not a GUID", tenant_id);
	_cleanup_free_ char *dir = image_repo_dir(state_dir, tenant_id);
	if (repo_exists(dir))
		return 0;
	_cleanup_free_ char *tdir = tenant_dir(state_dir, tenant_id);
	EVP_PKEY *img[TUF_ROLE_COUNT] = {0}, *dir_keys[TUF_ROLE_COUNT] = {0};
	int rc = rp_mkdir_p(tdir, 0700, err);
	if (rc == 0)
		rc = make_keys(state_dir, tenant_id, "image", img, err);
	if (rc == 0)
		rc = make_keys(state_dir, tenant_id, "director", dir_keys, err);
	if (rc == 0)
		rc = init_repo(dir, img, now, err);
	free_keys(img);
	free_keys(dir_keys);
	if (rc < 0)
		return rp_error_prefix(err, "creating the image repository of tenant %s", tenant_id);
	rp_log_event(RP_LOG_NOTICE, "tuf.repository.created", "image repository of tenant %s created", tenant_id);
	return 0;
}

int update_publish_tenant_ensure(const char *state_dir, const char *tenant_id, int64_t now, rp_error *err)
{
	LOCKED;
	return tenant_ensure_locked(state_dir, tenant_id, now, err);
}

/* Write a new targets version of DIR holding SIGNED (version and expiry set here). Same layout as
 * rampart-tuf: the versioned file first, then the plain name. */
static int write_targets(const char *dir, json_t *signed_obj, EVP_PKEY *targets_key, int64_t now, rp_error *err)
{
	_cleanup_json_ json_t *cur = tuf_repo_load_signed(dir, "targets", err);
	if (!cur)
		return -1;
	int64_t version = json_integer_value(json_object_get(cur, "version")) + 1;
	if (tuf_signed_set_version(signed_obj, version, now + tuf_role_default_lifetime(TUF_ROLE_TARGETS), err) < 0)
		return -1;
	_cleanup_json_ json_t *env = tuf_envelope_new(signed_obj);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (tuf_envelope_sign(env, targets_key, err) < 0 || tuf_envelope_serialize(env, &data, &len, err) < 0)
		return -1;
	_cleanup_free_ char *vpath = xasprintf("%s/metadata/%" PRId64 ".targets.json", dir, version);
	_cleanup_free_ char *path = xasprintf("%s/metadata/targets.json", dir);
	if (rp_write_file_atomic(vpath, data, len, 0644, err) < 0 || rp_write_file_atomic(path, data, len, 0644, err) < 0)
		return -1;
	return 0;
}

static int publish(const char *state_dir, const char *tenant_id, const char *set, const char *dir, int64_t now,
                   rp_error *err)
{
	_cleanup_pkey_ EVP_PKEY *snap = load_key(state_dir, tenant_id, set, TUF_ROLE_SNAPSHOT, true, err);
	_cleanup_pkey_ EVP_PKEY *ts = snap ? load_key(state_dir, tenant_id, set, TUF_ROLE_TIMESTAMP, true, err) : NULL;
	if (!ts)
		return -1;
	return tuf_repo_publish(dir, snap, ts, now, 0, 0, err);
}

static int add_target(json_t *targets, const struct update_publish_image *img, rp_error *err)
{
	uint8_t sha[RP_SHA256_LEN];
	if (rp_hex_decode(img->sha256, sha, sizeof(sha), err) < 0)
		return rp_error_prefix(err, "image %s: sha256", img->image_id);
	_cleanup_json_ json_t *custom = json_pack("{s:s, s:s, s:s, s:I}", "image_id", img->image_id, "component_id",
	                                          img->component_id, "type", img->image_type, "version",
	                                          (json_int_t)img->version);
	return tuf_targets_add(targets, img->image_id, img->size, sha, custom, err);
}

int update_publish_image_added(const char *state_dir, const char *tenant_id, const struct update_publish_image *img,
                               int64_t now, rp_error *err)
{
	LOCKED;
	if (tenant_ensure_locked(state_dir, tenant_id, now, err) < 0)
		return -1;
	_cleanup_free_ char *dir = image_repo_dir(state_dir, tenant_id);
	_cleanup_pkey_ EVP_PKEY *tk = load_key(state_dir, tenant_id, "image", TUF_ROLE_TARGETS, false, err);
	if (!tk) {
		if (rp_error_is_set(err))
			return -1;
		/* Offline setup: the tenant signs targets itself and uploads them. */
		rp_log_event(RP_LOG_INFO, "tuf.image.offline", "tenant %s signs its own targets; image %s awaits them",
		             tenant_id, img->image_id);
		return 0;
	}
	_cleanup_json_ json_t *targets = tuf_repo_load_signed(dir, "targets", err);
	if (!targets || add_target(targets, img, err) < 0 || write_targets(dir, targets, tk, now, err) < 0 ||
	    publish(state_dir, tenant_id, "image", dir, now, err) < 0)
		return rp_error_prefix(err, "releasing image %s in the image repository", img->image_id);
	return 0;
}

/* The group's director repository, created with signed empty targets when missing: a device of a
 * group with no deployment yet verifies "nothing to install" like any other answer. */
static int director_ensure_locked(const char *state_dir, const char *tenant_id, const char *group_id, int64_t now,
                                  rp_error *err)
{
	if (!rp_guid_is_valid(group_id))
		return rp_error_set(err, RP_E_INVALID, "device group ID %s is not a GUID", group_id);
	if (tenant_ensure_locked(state_dir, tenant_id, now, err) < 0)
		return -1;
	_cleanup_free_ char *dir = director_repo_dir(state_dir, group_id);
	_cleanup_free_ char *owner = xasprintf("%s/tenant", dir);
	if (repo_exists(dir))
		return 0;
	EVP_PKEY *keys[TUF_ROLE_COUNT] = {0};
	int rc = make_keys(state_dir, tenant_id, "director", keys, err);
	if (rc == 0)
		rc = init_repo(dir, keys, now, err);
	free_keys(keys);
	if (rc < 0 || rp_write_file_atomic(owner, tenant_id, strlen(tenant_id), 0600, err) < 0)
		return rp_error_prefix(err, "creating the director of device group %s", group_id);
	rp_log_event(RP_LOG_NOTICE, "tuf.director.created", "director of device group %s created (no targets yet)",
	             group_id);
	return 0;
}

int update_publish_director_ensure(const char *state_dir, const char *tenant_id, const char *group_id, int64_t now,
                                   rp_error *err)
{
	LOCKED;
	return director_ensure_locked(state_dir, tenant_id, group_id, now, err);
}

int update_publish_director(const char *state_dir, const char *tenant_id, const char *group_id,
                            const struct update_publish_image *images, size_t n, int64_t now, rp_error *err)
{
	LOCKED;
	if (director_ensure_locked(state_dir, tenant_id, group_id, now, err) < 0)
		return -1;
	_cleanup_free_ char *dir = director_repo_dir(state_dir, group_id);
	_cleanup_pkey_ EVP_PKEY *tk = load_key(state_dir, tenant_id, "director", TUF_ROLE_TARGETS, true, err);
	_cleanup_json_ json_t *targets = tk ? tuf_targets_new(1, now, err) : NULL;
	if (!targets)
		return rp_error_prefix(err, "director of device group %s", group_id);
	for (size_t i = 0; i < n; i++)
		if (add_target(targets, &images[i], err) < 0)
			return rp_error_prefix(err, "director of device group %s", group_id);
	if (write_targets(dir, targets, tk, now, err) < 0 || publish(state_dir, tenant_id, "director", dir, now, err) < 0)
		return rp_error_prefix(err, "director of device group %s", group_id);
	return 0;
}

int update_publish_upload_targets(const char *state_dir, const char *tenant_id, const uint8_t *data, size_t len,
                                  int64_t now, rp_error *err)
{
	LOCKED;
	if (tenant_ensure_locked(state_dir, tenant_id, now, err) < 0)
		return -1;
	_cleanup_free_ char *dir = image_repo_dir(state_dir, tenant_id);
	_cleanup_free_ char *root_path = xasprintf("%s/metadata/root.json", dir);
	_cleanup_free_ char *cur_path = xasprintf("%s/metadata/targets.json", dir);
	_cleanup_free_ uint8_t *root_bytes = NULL, *cur_bytes = NULL;
	size_t root_len, cur_len;
	tuf_meta root = {0}, cur = {0}, up = {0};
	int rc = rp_read_file(root_path, META_MAX, &root_bytes, &root_len, err);
	if (rc == 0)
		rc = rp_read_file(cur_path, META_MAX, &cur_bytes, &cur_len, err);
	if (rc == 0)
		rc = tuf_meta_parse(root_bytes, root_len, TUF_ROLE_ROOT, &root, err);
	if (rc == 0)
		rc = tuf_meta_parse(cur_bytes, cur_len, TUF_ROLE_TARGETS, &cur, err);
	if (rc == 0 && (rc = tuf_meta_parse(data, len, TUF_ROLE_TARGETS, &up, err)) < 0)
		err->code = RP_E_INVALID;
	/* The same checks a device makes, so a bad upload is refused here rather than by every device. */
	if (rc == 0)
		rc = tuf_meta_verify(&root, TUF_ROLE_TARGETS, &up, err);
	if (rc == 0)
		rc = tuf_meta_check_expiry(&up, now, err);
	if (rc == 0 && up.version <= cur.version)
		rc = rp_error_set(err, RP_E_CONFLICT, "targets version %" PRId64 " is not newer than the published %" PRId64,
		                  up.version, cur.version);
	int64_t version = up.version;
	tuf_meta_free(&root);
	tuf_meta_free(&cur);
	tuf_meta_free(&up);
	if (rc < 0)
		return rp_error_prefix(err, "uploaded targets metadata");
	_cleanup_free_ char *vpath = xasprintf("%s/metadata/%" PRId64 ".targets.json", dir, version);
	if (rp_write_file_atomic(vpath, data, len, 0644, err) < 0 || rp_write_file_atomic(cur_path, data, len, 0644, err) < 0 ||
	    publish(state_dir, tenant_id, "image", dir, now, err) < 0)
		return rp_error_prefix(err, "publishing uploaded targets");
	return 0;
}

/* Names a client may ask for: ROLE.json and N.ROLE.json, nothing that could leave the directory. */
static bool name_ok(const char *name)
{
	const char *p = name;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p != name) {
		if (*p != '.' || p - name > 15)
			return false;
		p++;
	}
	for (int r = 0; r < TUF_ROLE_COUNT; r++) {
		size_t n = strlen(role_files[r]);
		if (strncmp(p, role_files[r], n) == 0 && strcmp(p + n, ".json") == 0)
			return true;
	}
	return false;
}

static int64_t expires_of(const char *dir, const char *role)
{
	_cleanup_json_ json_t *s = tuf_repo_load_signed(dir, role, NULL);
	const char *e = s ? json_string_value(json_object_get(s, "expires")) : NULL;
	int64_t t = 0;
	if (!e || tuf_time_parse(e, &t, NULL) < 0)
		return 0;
	return t;
}

/* Re-sign what is within half its lifetime of expiring: devices must never be frozen by a
 * service that simply had no change to publish (the timestamp lives one day). */
static int refresh_locked(const char *state_dir, const char *tenant_id, const char *set, const char *dir, int64_t now,
                          rp_error *err)
{
	int64_t t_exp = expires_of(dir, "targets");
	if (t_exp - now < tuf_role_default_lifetime(TUF_ROLE_TARGETS) / 2) {
		_cleanup_pkey_ EVP_PKEY *tk = load_key(state_dir, tenant_id, set, TUF_ROLE_TARGETS, false, err);
		if (tk) {
			_cleanup_json_ json_t *targets = tuf_repo_load_signed(dir, "targets", err);
			if (!targets || write_targets(dir, targets, tk, now, err) < 0)
				return -1;
			return publish(state_dir, tenant_id, set, dir, now, err);
		}
		if (rp_error_is_set(err))
			return -1;
	}
	if (expires_of(dir, "timestamp") - now < tuf_role_default_lifetime(TUF_ROLE_TIMESTAMP) / 2 ||
	    expires_of(dir, "snapshot") - now < tuf_role_default_lifetime(TUF_ROLE_SNAPSHOT) / 2)
		return publish(state_dir, tenant_id, set, dir, now, err);
	return 0;
}

char *update_publish_file(const char *state_dir, enum update_repo_kind kind, const char *tenant_id, const char *id,
                          const char *name, int64_t now, rp_error *err)
{
	if (!rp_guid_is_valid(id) || !name_ok(name))
		return rp_error_set(err, RP_E_NOT_FOUND, "no update metadata %s", name), NULL;
	LOCKED;
	_cleanup_free_ char *dir = kind == UPDATE_REPO_IMAGE ? image_repo_dir(state_dir, id) : director_repo_dir(state_dir, id);
	if (!repo_exists(dir))
		return rp_error_set(err, RP_E_NOT_FOUND, "no %s repository for %s yet (nothing was %s)",
		                    kind == UPDATE_REPO_IMAGE ? "image" : "director", id,
		                    kind == UPDATE_REPO_IMAGE ? "uploaded" : "deployed"),
		       NULL;
	_cleanup_free_ char *owner = NULL;
	if (kind == UPDATE_REPO_IMAGE)
		tenant_id = id;
	if (kind == UPDATE_REPO_DIRECTOR) {
		_cleanup_free_ char *owner_path = xasprintf("%s/tenant", dir);
		uint8_t *buf = NULL;
		size_t len;
		if (rp_read_file(owner_path, 64, &buf, &len, err) < 0)
			return NULL;
		owner = (char *)buf;
		tenant_id = owner;
	}
	if (tenant_id && refresh_locked(state_dir, tenant_id, kind == UPDATE_REPO_IMAGE ? "image" : "director", dir, now,
	                                err) < 0)
		return rp_error_prefix(err, "refreshing update metadata"), NULL;
	char *path = xasprintf("%s/metadata/%s", dir, name);
	if (access(path, F_OK) != 0) {
		free(path);
		return rp_error_set(err, RP_E_NOT_FOUND, "no update metadata %s", name), NULL;
	}
	return path;
}
