/* Publishing signed update metadata: per-tenant image repositories and per-device-group director
 * repositories in rampart-tuf's directory layout, kept fresh before they expire. Every change is
 * serialised twice: a process-wide mutex between this process's threads and an flock on the
 * tenant's lock file between rampartd instances sharing the state directory, so two requests never
 * interleave a targets/snapshot/timestamp sequence (a device would see a snapshot that does not
 * match its targets). Everything the service signs is checked against the repository's current
 * root before a byte is written: after a root rotation the service's old keys must not publish
 * metadata every device would refuse. */
#include "service/update_publish.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

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
#define KEY_MAX (64u * 1024)
/* Files one publication writes: N.targets, targets, N.snapshot, snapshot, timestamp. */
#define STAGED_MAX 5

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

/* The tenant's cross-process lock (held until the returned fd is closed). Without CREATE a
 * missing tenant directory is an error: unauthenticated reads must not create anything. */
static int tenant_lock(const char *state_dir, const char *tenant_id, bool create, rp_error *err)
{
	_cleanup_free_ char *dir = tenant_dir(state_dir, tenant_id);
	if (create && rp_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_free_ char *path = xasprintf("%s/lock", dir);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening the update metadata lock %s", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return rp_error_set_errno(err, errno, "locking %s", path);
	return steal_fd(fd);
}

/* The directory of one key set. Whoever else can write here could plant a key the service would
 * then sign with, so it must be ours and closed to group and others (like the CA directory). */
static int keys_dir_open(const char *state_dir, const char *tenant_id, const char *set, bool create, rp_error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/tuf/tenants/%s/keys/%s", state_dir, tenant_id, set);
	if (create && rp_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening key directory %s", dir);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rp_error_set_errno(err, errno, "examining %s", dir);
	if ((st.st_mode & 022) || st.st_uid != geteuid())
		return rp_error_set(err, RP_E_PERMISSION,
		                    "key directory %s must belong to this service's user (uid %u) and be closed to group "
		                    "and others, not uid %u mode %04o (chown, chmod 700)",
		                    dir, (unsigned)geteuid(), (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	return steal_fd(fd);
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* NAME in DIRFD through the secret-file reader: no symlink, ours, mode 0600, P-256. */
static EVP_PKEY *key_read_at(int dirfd, const char *name, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file_at(dirfd, name, KEY_MAX, true, &data, &len, err) < 0) {
		if (err->sys_errno == ELOOP)
			rp_error_set(err, RP_E_PERMISSION, "%s is a symbolic link; a key must be a regular file", name);
		return NULL;
	}
	EVP_PKEY *key = NULL;
	{
		_cleanup_bio_ BIO *bio = BIO_new_mem_buf(data, (int)len);
		key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	}
	OPENSSL_cleanse(data, len);
	if (!key)
		return rp_error_set_openssl(err, "%s does not hold an unencrypted PEM private key", name), NULL;
	if (!rp_key_is_p256(key)) {
		EVP_PKEY_free(key);
		return rp_error_set(err, RP_E_INVALID, "%s is not a P-256 key", name), NULL;
	}
	return key;
}

/* A key the service may not hold (offline setup): NULL without an error when the file is absent. */
static EVP_PKEY *load_key(const char *state_dir, const char *tenant_id, const char *set, enum tuf_role role,
                          bool required, rp_error *err)
{
	char name[32];
	snprintf(name, sizeof(name), "%s.pem", role_files[role]);
	_cleanup_close_ int dfd = keys_dir_open(state_dir, tenant_id, set, false, err);
	EVP_PKEY *k = NULL;
	struct stat st;
	if (dfd >= 0 && !required && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		return NULL;
	if (dfd >= 0)
		k = key_read_at(dfd, name, err);
	if (!k)
		rp_error_prefix(err, "loading the %s %s key", set, role_files[role]);
	return k;
}

/* The keys of SET. FRESH: generate every key, replacing whatever files are there (a repository
 * about to be created must not adopt keys someone placed beforehand). Otherwise keys present are
 * loaded through the secret-file checks and missing ones generated. */
static int make_keys(const char *state_dir, const char *tenant_id, const char *set, bool fresh,
                     EVP_PKEY *keys[TUF_ROLE_COUNT], rp_error *err)
{
	_cleanup_close_ int dfd = keys_dir_open(state_dir, tenant_id, set, true, err);
	if (dfd < 0)
		return rp_error_prefix(err, "%s keys", set);
	for (int r = 0; r < TUF_ROLE_COUNT; r++) {
		char name[32];
		snprintf(name, sizeof(name), "%s.pem", role_files[r]);
		struct stat st;
		bool present = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (present && !fresh) {
			if (!(keys[r] = key_read_at(dfd, name, err)))
				return rp_error_prefix(err, "%s %s key", set, role_files[r]);
			continue;
		}
		if (present)
			rp_log_event(RP_LOG_WARNING, "tuf.keys.replaced",
			             "tenant %s: %s %s key existed before its repository; a fresh key replaces it", tenant_id,
			             set, role_files[r]);
		_cleanup_free_ char *path = xasprintf("%s/tuf/tenants/%s/keys/%s/%s", state_dir, tenant_id, set, name);
		if (!(keys[r] = rp_key_generate_p256(err)) || rp_key_save_private_pem(keys[r], path, err) < 0)
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

/* Complete means the last file creation writes is there (and for a director its owner file):
 * repositories appear by rename, and only an older Rampart could leave one half made. */
static bool repo_exists(const char *dir, bool director)
{
	_cleanup_free_ char *ts = xasprintf("%s/metadata/timestamp.json", dir);
	_cleanup_free_ char *owner = xasprintf("%s/tenant", dir);
	return access(ts, F_OK) == 0 && (!director || access(owner, F_OK) == 0);
}

/* The whole repository in TMP, synced. */
static int repo_build(const char *tmp, EVP_PKEY *keys[TUF_ROLE_COUNT], const char *owner, int64_t now, rp_error *err)
{
	if (mkdir(tmp, 0755) < 0)
		return rp_error_set_errno(err, errno, "creating %s", tmp);
	tuf_repo_init_opts o = {0};
	o.root = (tuf_key_list){&keys[TUF_ROLE_ROOT], 1};
	o.targets = (tuf_key_list){&keys[TUF_ROLE_TARGETS], 1};
	o.snapshot = (tuf_key_list){&keys[TUF_ROLE_SNAPSHOT], 1};
	o.timestamp = (tuf_key_list){&keys[TUF_ROLE_TIMESTAMP], 1};
	o.consistent_snapshot = true;
	if (tuf_repo_init(tmp, &o, now, err) < 0)
		return -1;
	if (owner) {
		_cleanup_free_ char *owner_path = xasprintf("%s/tenant", tmp);
		if (rp_write_file_atomic(owner_path, owner, strlen(owner), 0600, err) < 0)
			return -1;
	}
	_cleanup_free_ char *meta = xasprintf("%s/metadata", tmp);
	if (rp_fsync_dir(meta, err) < 0 || rp_fsync_dir(tmp, err) < 0)
		return -1;
	return 0;
}

/* Remove the directory PATH (a leftover, logged as EVENT with WHY); nothing there is fine, and
 * anything but a directory is in the way. */
static int remove_stale_dir(const char *path, const char *event, const char *why, rp_error *err)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return rp_error_set(err, RP_E_EXISTS, "%s is in the way (not a directory); remove it", path);
	rp_log_event(RP_LOG_WARNING, event, "removing %s %s", path, why);
	return rp_remove_tree(path, err);
}

/* Create the repository DIR signed by KEYS (and, for a director, its OWNER file) so that it
 * appears whole or not at all: built in DIR.new, synced, renamed into place, parent synced. A
 * DIR.new left by a crash is removed and redone; so is a DIR an older Rampart left incomplete
 * (metadata only, never trusted by a device: it had no timestamp to verify). */
static int repo_create(const char *dir, EVP_PKEY *keys[TUF_ROLE_COUNT], const char *owner, int64_t now, rp_error *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.new", dir);
	_cleanup_free_ char *parent_buf = xstrdup(dir);
	const char *parent = dirname(parent_buf);
	if (rp_mkdir_p(parent, 0700, err) < 0 ||
	    remove_stale_dir(tmp, "tuf.repository.leftover", "left by an interrupted creation", err) < 0 ||
	    remove_stale_dir(dir, "tuf.repository.incomplete", "(an incomplete repository)", err) < 0)
		return -1;
	if (repo_build(tmp, keys, owner, now, err) < 0) {
		/* Best effort: a leftover is removed by the next attempt anyway. */
		if (rp_remove_tree(tmp, NULL) < 0)
			rp_log_event(RP_LOG_WARNING, "tuf.repository.leftover", "could not remove %s", tmp);
		return -1;
	}
	if (rename(tmp, dir) < 0)
		return rp_error_set_errno(err, errno, "moving %s into place", tmp);
	return rp_fsync_dir(parent, err);
}

static int tenant_ensure_locked(const char *state_dir, const char *tenant_id, int64_t now, rp_error *err)
{
	if (!rp_guid_is_valid(tenant_id))
		return rp_error_set(err, RP_E_INVALID, "tenant ID %s is not a GUID", tenant_id);
	_cleanup_free_ char *dir = image_repo_dir(state_dir, tenant_id);
	if (repo_exists(dir, false))
		return 0;
	/* The image repository's keys are always new; the director keys are kept when present
	 * (they may already sign directors of this tenant's groups) and must pass the secret checks. */
	EVP_PKEY *img[TUF_ROLE_COUNT] = {0}, *dir_keys[TUF_ROLE_COUNT] = {0};
	int rc = make_keys(state_dir, tenant_id, "image", true, img, err);
	if (rc == 0)
		rc = make_keys(state_dir, tenant_id, "director", false, dir_keys, err);
	if (rc == 0)
		rc = repo_create(dir, img, NULL, now, err);
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
	if (!rp_guid_is_valid(tenant_id))
		return rp_error_set(err, RP_E_INVALID, "tenant ID %s is not a GUID", tenant_id);
	_cleanup_close_ int lk = tenant_lock(state_dir, tenant_id, true, err);
	if (lk < 0)
		return -1;
	return tenant_ensure_locked(state_dir, tenant_id, now, err);
}

/* ---- signing checked against the current root ---- */

/* Metadata signed in memory, written only after every envelope in it verified. */
struct staged {
	size_t n;
	char *name[STAGED_MAX];
	char *data[STAGED_MAX];
	size_t len[STAGED_MAX];
};

static void staged_free(struct staged *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->name[i]);
		free(s->data[i]);
	}
	s->n = 0;
}

static void staged_add(struct staged *s, char *name, const char *data, size_t len)
{
	if (s->n >= STAGED_MAX)
		abort();
	s->name[s->n] = name;
	s->data[s->n] = xmalloc(len + 1);
	memcpy(s->data[s->n], data, len);
	s->data[s->n][len] = '\0';
	s->len[s->n] = len;
	s->n++;
}

/* In order: versioned files before their plain names, snapshot before timestamp, so a reader
 * that sees a new plain name finds what it points at. */
static int staged_write(const char *dir, const struct staged *s, rp_error *err)
{
	for (size_t i = 0; i < s->n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/metadata/%s", dir, s->name[i]);
		if (rp_write_file_atomic(path, s->data[i], s->len[i], 0644, err) < 0)
			return -1;
	}
	return 0;
}

static int load_root(const char *dir, tuf_meta *root, rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/metadata/root.json", dir);
	_cleanup_free_ uint8_t *bytes = NULL;
	size_t len = 0;
	if (rp_read_file(path, META_MAX, &bytes, &len, err) < 0 || tuf_meta_parse(bytes, len, TUF_ROLE_ROOT, root, err) < 0)
		return rp_error_prefix(err, "reading the current root");
	return 0;
}

/* Sign SIGNED as ROLE with KEY into *DATA, then verify the result as a device would against
 * ROOT. Returns 1 (ERR says why, nothing allocated) when ROOT does not accept the service's
 * signature: the role is offline for this service now. */
static int sign_checked(const tuf_meta *root, enum tuf_role role, json_t *signed_obj, EVP_PKEY *key, char **data,
                        size_t *len, rp_error *err)
{
	_cleanup_json_ json_t *env = tuf_envelope_new(signed_obj);
	_cleanup_free_ char *out = NULL;
	size_t n = 0;
	if (tuf_envelope_sign(env, key, err) < 0 || tuf_envelope_serialize(env, &out, &n, err) < 0)
		return -1;
	tuf_meta md = {0};
	if (tuf_meta_parse((const uint8_t *)out, n, role, &md, err) < 0)
		return rp_error_prefix(err, "checking the %s metadata just signed", role_files[role]);
	int rc = tuf_meta_verify(root, role, &md, err);
	tuf_meta_free(&md);
	if (rc < 0) {
		if (err->code != RP_E_VERIFY)
			return -1;
		rp_error_prefix(err, "the service's %s key is not a %s key of root version %" PRId64, role_files[role],
		                role_files[role], root->version);
		return 1;
	}
	*data = steal_ptr(out);
	*len = n;
	return 0;
}

static int64_t signed_version(const char *dir, const char *role)
{
	_cleanup_json_ json_t *s = tuf_repo_load_signed(dir, role, NULL);
	return s ? (int64_t)json_integer_value(json_object_get(s, "version")) : 0;
}

/* Snapshot over TARGETS (LEN bytes, version TV) and timestamp over that snapshot, staged. */
static int stage_snapshot_timestamp(const char *dir, const tuf_meta *root, const uint8_t *targets, size_t len,
                                    int64_t tv, EVP_PKEY *snap_key, EVP_PKEY *ts_key, int64_t now, struct staged *s,
                                    rp_error *err)
{
	int64_t sv = signed_version(dir, "snapshot") + 1, tsv = signed_version(dir, "timestamp") + 1;
	_cleanup_json_ json_t *snap =
	    tuf_snapshot_new(sv, now + tuf_role_default_lifetime(TUF_ROLE_SNAPSHOT), tv, targets, len, err);
	if (!snap)
		return -1;
	_cleanup_free_ char *snap_bytes = NULL;
	size_t snap_len = 0;
	int rc = sign_checked(root, TUF_ROLE_SNAPSHOT, snap, snap_key, &snap_bytes, &snap_len, err);
	if (rc != 0)
		return rc;
	if (tuf_meta_consistent_snapshot(root))
		staged_add(s, xasprintf("%" PRId64 ".snapshot.json", sv), snap_bytes, snap_len);
	staged_add(s, xstrdup("snapshot.json"), snap_bytes, snap_len);
	_cleanup_json_ json_t *ts = tuf_timestamp_new(tsv, now + tuf_role_default_lifetime(TUF_ROLE_TIMESTAMP), sv,
	                                              (const uint8_t *)snap_bytes, snap_len, err);
	if (!ts)
		return -1;
	_cleanup_free_ char *ts_bytes = NULL;
	size_t ts_len = 0;
	if ((rc = sign_checked(root, TUF_ROLE_TIMESTAMP, ts, ts_key, &ts_bytes, &ts_len, err)) != 0)
		return rc;
	staged_add(s, xstrdup("timestamp.json"), ts_bytes, ts_len);
	return 0;
}

/* What a publication changes in targets: nothing (re-sign snapshot and timestamp only), a new
 * version of SIGNED to sign with KEY, or bytes the tenant signed offline (already verified). */
struct targets_change {
	json_t *signed_obj;
	EVP_PKEY *key;
	const uint8_t *raw;
	size_t raw_len;
	int64_t raw_version;
};

/* Publish a change of DIR: targets per CH, then snapshot and timestamp signed with SET's keys.
 * Returns 1 and writes nothing when the current root no longer accepts one of the service's keys
 * (ERR says which); 0 when every file was written. */
static int publish(const char *state_dir, const char *tenant_id, const char *set, const char *dir,
                   const struct targets_change *ch, int64_t now, rp_error *err)
{
	_cleanup_pkey_ EVP_PKEY *snap = load_key(state_dir, tenant_id, set, TUF_ROLE_SNAPSHOT, true, err);
	_cleanup_pkey_ EVP_PKEY *ts = snap ? load_key(state_dir, tenant_id, set, TUF_ROLE_TIMESTAMP, true, err) : NULL;
	if (!ts)
		return -1;
	tuf_meta root = {0};
	struct staged s = {0};
	_cleanup_free_ uint8_t *cur = NULL;
	_cleanup_free_ char *signed_bytes = NULL;
	const uint8_t *tbytes = NULL;
	size_t tlen = 0;
	int64_t tv = 0;
	int rc = load_root(dir, &root, err);
	if (rc == 0 && ch && ch->signed_obj) {
		tv = signed_version(dir, "targets") + 1;
		rc = tuf_signed_set_version(ch->signed_obj, tv, now + tuf_role_default_lifetime(TUF_ROLE_TARGETS), err);
		if (rc == 0 &&
		    (rc = sign_checked(&root, TUF_ROLE_TARGETS, ch->signed_obj, ch->key, &signed_bytes, &tlen, err)) == 0)
			tbytes = (const uint8_t *)signed_bytes;
	} else if (rc == 0 && ch && ch->raw) {
		tbytes = ch->raw, tlen = ch->raw_len, tv = ch->raw_version;
	} else if (rc == 0) {
		_cleanup_free_ char *path = xasprintf("%s/metadata/targets.json", dir);
		tuf_meta t = {0};
		if ((rc = rp_read_file(path, META_MAX, &cur, &tlen, err)) == 0 &&
		    (rc = tuf_meta_parse(cur, tlen, TUF_ROLE_TARGETS, &t, err)) == 0) {
			tbytes = cur;
			tv = t.version;
		}
		tuf_meta_free(&t);
	}
	if (rc == 0 && ch && (ch->signed_obj || ch->raw)) {
		staged_add(&s, xasprintf("%" PRId64 ".targets.json", tv), (const char *)tbytes, tlen);
		staged_add(&s, xstrdup("targets.json"), (const char *)tbytes, tlen);
	}
	if (rc == 0)
		rc = stage_snapshot_timestamp(dir, &root, tbytes, tlen, tv, snap, ts, now, &s, err);
	if (rc == 0 && staged_write(dir, &s, err) < 0)
		rc = -1;
	tuf_meta_free(&root);
	staged_free(&s);
	return rc;
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
	if (!rp_guid_is_valid(tenant_id))
		return rp_error_set(err, RP_E_INVALID, "tenant ID %s is not a GUID", tenant_id);
	_cleanup_close_ int lk = tenant_lock(state_dir, tenant_id, true, err);
	if (lk < 0 || tenant_ensure_locked(state_dir, tenant_id, now, err) < 0)
		return -1;
	_cleanup_free_ char *dir = image_repo_dir(state_dir, tenant_id);
	_cleanup_pkey_ EVP_PKEY *tk = load_key(state_dir, tenant_id, "image", TUF_ROLE_TARGETS, false, err);
	if (!tk) {
		if (rp_error_is_set(err))
			return -1;
		/* Offline setup: the tenant signs targets itself and uploads them. */
		rp_log_event(RP_LOG_INFO, "tuf.image.offline", "tenant %s signs its own targets; image %s awaits them",
		             tenant_id, img->image_id);
		return 1;
	}
	_cleanup_json_ json_t *targets = tuf_repo_load_signed(dir, "targets", err);
	if (!targets || add_target(targets, img, err) < 0)
		return rp_error_prefix(err, "releasing image %s in the image repository", img->image_id);
	struct targets_change ch = {.signed_obj = targets, .key = tk};
	int rc = publish(state_dir, tenant_id, "image", dir, &ch, now, err);
	if (rc < 0)
		return rp_error_prefix(err, "releasing image %s in the image repository", img->image_id);
	if (rc > 0) {
		/* The root was rotated away from the service's keys: signing anyway would publish metadata
		 * every device refuses. The image stays recorded; its release must be signed offline. */
		rp_log_event(RP_LOG_WARNING, "tuf.image.offline",
		             "tenant %s: image %s not released: %s; sign the release offline and upload it with PUT "
		             "/v1/tenants/%s/tuf/image/targets",
		             tenant_id, img->image_id, err->message, tenant_id);
		rp_error_clear(err);
		return 1;
	}
	return 0;
}

/* The group's director repository, created with signed empty targets when missing: a device of a
 * group with no deployment yet verifies "nothing to install" like any other answer. */
static int director_ensure_locked(const char *state_dir, const char *tenant_id, const char *group_id, int64_t now,
                                  rp_error *err)
{
	if (tenant_ensure_locked(state_dir, tenant_id, now, err) < 0)
		return -1;
	_cleanup_free_ char *dir = director_repo_dir(state_dir, group_id);
	if (repo_exists(dir, true))
		return 0;
	EVP_PKEY *keys[TUF_ROLE_COUNT] = {0};
	int rc = make_keys(state_dir, tenant_id, "director", false, keys, err);
	if (rc == 0)
		rc = repo_create(dir, keys, tenant_id, now, err);
	free_keys(keys);
	if (rc < 0)
		return rp_error_prefix(err, "creating the director of device group %s", group_id);
	rp_log_event(RP_LOG_NOTICE, "tuf.director.created", "director of device group %s created (no targets yet)",
	             group_id);
	return 0;
}

static int director_lock(const char *state_dir, const char *tenant_id, const char *group_id, rp_error *err)
{
	if (!rp_guid_is_valid(tenant_id))
		return rp_error_set(err, RP_E_INVALID, "tenant ID %s is not a GUID", tenant_id);
	if (!rp_guid_is_valid(group_id))
		return rp_error_set(err, RP_E_INVALID, "device group ID %s is not a GUID", group_id);
	return tenant_lock(state_dir, tenant_id, true, err);
}

int update_publish_director_ensure(const char *state_dir, const char *tenant_id, const char *group_id, int64_t now,
                                   rp_error *err)
{
	LOCKED;
	_cleanup_close_ int lk = director_lock(state_dir, tenant_id, group_id, err);
	if (lk < 0)
		return -1;
	return director_ensure_locked(state_dir, tenant_id, group_id, now, err);
}

/* The director has no offline setup: a root that no longer lists the service's director keys
 * leaves it unable to publish, which the caller must hear about. */
static int director_offline(const char *group_id, rp_error *err)
{
	rp_log_event(RP_LOG_ERROR, "tuf.director.offline", "director of device group %s not updated: %s", group_id,
	             err->message);
	return rp_error_set(err, RP_E_CONFLICT,
	                    "the director of device group %s no longer accepts the service's keys (its root was rotated); "
	                    "nothing was published",
	                    group_id);
}

int update_publish_director(const char *state_dir, const char *tenant_id, const char *group_id,
                            const struct update_publish_image *images, size_t n, int64_t now, rp_error *err)
{
	LOCKED;
	_cleanup_close_ int lk = director_lock(state_dir, tenant_id, group_id, err);
	if (lk < 0 || director_ensure_locked(state_dir, tenant_id, group_id, now, err) < 0)
		return -1;
	_cleanup_free_ char *dir = director_repo_dir(state_dir, group_id);
	_cleanup_pkey_ EVP_PKEY *tk = load_key(state_dir, tenant_id, "director", TUF_ROLE_TARGETS, true, err);
	_cleanup_json_ json_t *targets = tk ? tuf_targets_new(1, now, err) : NULL;
	if (!targets)
		return rp_error_prefix(err, "director of device group %s", group_id);
	for (size_t i = 0; i < n; i++)
		if (add_target(targets, &images[i], err) < 0)
			return rp_error_prefix(err, "director of device group %s", group_id);
	struct targets_change ch = {.signed_obj = targets, .key = tk};
	int rc = publish(state_dir, tenant_id, "director", dir, &ch, now, err);
	if (rc > 0)
		return director_offline(group_id, err);
	if (rc < 0)
		return rp_error_prefix(err, "director of device group %s", group_id);
	return 0;
}

int update_publish_upload_targets(const char *state_dir, const char *tenant_id, const uint8_t *data, size_t len,
                                  int64_t now, rp_error *err)
{
	LOCKED;
	if (!rp_guid_is_valid(tenant_id))
		return rp_error_set(err, RP_E_INVALID, "tenant ID %s is not a GUID", tenant_id);
	_cleanup_close_ int lk = tenant_lock(state_dir, tenant_id, true, err);
	if (lk < 0 || tenant_ensure_locked(state_dir, tenant_id, now, err) < 0)
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
	struct targets_change ch = {.raw = data, .raw_len = len, .raw_version = version};
	rc = publish(state_dir, tenant_id, "image", dir, &ch, now, err);
	if (rc > 0) {
		rp_log_event(RP_LOG_ERROR, "tuf.image.offline", "tenant %s: uploaded targets not published: %s", tenant_id,
		             err->message);
		return rp_error_set(err, RP_E_CONFLICT,
		                    "the image repository's root no longer accepts the service's snapshot or timestamp key; "
		                    "nothing was published (rotate the root back to keys the service holds)");
	}
	if (rc < 0)
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

/* The service's keys no longer fit the current root (it was rotated): what it would sign now is
 * not written, and the files already there are served as they are. */
static void refresh_offline(const char *set, const char *id, const char *what, rp_error *err)
{
	rp_log_event(RP_LOG_WARNING, strcmp(set, "image") == 0 ? "tuf.image.offline" : "tuf.director.offline",
	             "%s repository %s: %s not re-signed: %s", set, id, what, err->message);
	rp_error_clear(err);
}

/* Re-sign what is within half its lifetime of expiring: devices must never be frozen by a
 * service that simply had no change to publish (the timestamp lives one day). */
static int refresh_locked(const char *state_dir, const char *tenant_id, const char *set, const char *id,
                          const char *dir, int64_t now, rp_error *err)
{
	int64_t t_exp = expires_of(dir, "targets");
	if (t_exp - now < tuf_role_default_lifetime(TUF_ROLE_TARGETS) / 2) {
		_cleanup_pkey_ EVP_PKEY *tk = load_key(state_dir, tenant_id, set, TUF_ROLE_TARGETS, false, err);
		if (tk) {
			_cleanup_json_ json_t *targets = tuf_repo_load_signed(dir, "targets", err);
			if (!targets)
				return -1;
			struct targets_change ch = {.signed_obj = targets, .key = tk};
			int rc = publish(state_dir, tenant_id, set, dir, &ch, now, err);
			if (rc <= 0)
				return rc;
			/* Targets must now be signed offline; snapshot and timestamp may still be ours. */
			refresh_offline(set, id, "targets", err);
		} else if (rp_error_is_set(err)) {
			return -1;
		}
	}
	if (expires_of(dir, "timestamp") - now < tuf_role_default_lifetime(TUF_ROLE_TIMESTAMP) / 2 ||
	    expires_of(dir, "snapshot") - now < tuf_role_default_lifetime(TUF_ROLE_SNAPSHOT) / 2) {
		int rc = publish(state_dir, tenant_id, set, dir, NULL, now, err);
		if (rc > 0)
			refresh_offline(set, id, "snapshot and timestamp", err);
		return rc < 0 ? -1 : 0;
	}
	return 0;
}

/* Unauthenticated callers learn only that metadata is unavailable: the error chain names paths
 * inside the state directory, so it goes to the log alone. */
static char *unavailable(const char *name, rp_error *err)
{
	rp_log_event(RP_LOG_ERROR, "tuf.serve.failed", "serving update metadata %s: %s", name, err->message);
	rp_error_clear(err);
	rp_error_set(err, RP_E_UNAVAILABLE, "update metadata is temporarily unavailable; try again later");
	return NULL;
}

char *update_publish_file(const char *state_dir, enum update_repo_kind kind, const char *tenant_id, const char *id,
                          const char *name, int64_t now, rp_error *err)
{
	if (!rp_guid_is_valid(id) || !name_ok(name))
		return rp_error_set(err, RP_E_NOT_FOUND, "no update metadata %s", name), NULL;
	LOCKED;
	bool director = kind == UPDATE_REPO_DIRECTOR;
	_cleanup_free_ char *dir = director ? director_repo_dir(state_dir, id) : image_repo_dir(state_dir, id);
	if (!repo_exists(dir, director))
		return rp_error_set(err, RP_E_NOT_FOUND, "no %s repository for %s yet (nothing was %s)",
		                    director ? "director" : "image", id, director ? "deployed" : "uploaded"),
		       NULL;
	_cleanup_free_ char *owner = NULL;
	if (!director)
		tenant_id = id;
	if (director) {
		_cleanup_free_ char *owner_path = xasprintf("%s/tenant", dir);
		uint8_t *buf = NULL;
		size_t len;
		if (rp_read_file(owner_path, 64, &buf, &len, err) < 0)
			return unavailable(name, err);
		owner = (char *)buf;
		tenant_id = owner;
		if (!rp_guid_is_valid(owner)) {
			rp_error_set(err, RP_E_INVALID, "%s does not name a tenant", owner_path);
			return unavailable(name, err);
		}
	}
	_cleanup_close_ int lk = tenant_lock(state_dir, tenant_id, false, err);
	if (lk < 0 || refresh_locked(state_dir, tenant_id, director ? "director" : "image", id, dir, now, err) < 0)
		return rp_error_prefix(err, "refreshing update metadata"), unavailable(name, err);
	char *path = xasprintf("%s/metadata/%s", dir, name);
	if (access(path, F_OK) != 0) {
		free(path);
		return rp_error_set(err, RP_E_NOT_FOUND, "no update metadata %s", name), NULL;
	}
	return path;
}
