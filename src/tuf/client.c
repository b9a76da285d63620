/* TUF client workflow (see client.h). Section numbers refer to the TUF specification 1.0.x,
 * "Detailed client workflow". */
#include "tuf/client.h"

#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"

void tuf_client_config_default(tuf_client_config *cfg)
{
	cfg->root_max_len = 512u * 1024;
	cfg->timestamp_max_len = 16u * 1024;
	cfg->snapshot_max_len = 2u * 1024 * 1024;
	cfg->targets_max_len = 8u * 1024 * 1024;
	cfg->max_root_rotations = 32;
}

/* Fetch with the length bound enforced here too, whatever the fetcher does: a server that
 * sends more than it may (endless-data attack) gets the update aborted. */
static int fetch_bounded(tuf_client *c, bool is_target, const char *name, size_t max_len, uint8_t **data,
                         size_t *len, rp_error *err)
{
	*data = NULL;
	*len = 0;
	if (c->fetcher.fetch(c->fetcher.ctx, is_target, name, max_len, data, len, err) < 0)
		return -1;
	if (*len > max_len) {
		free(*data);
		*data = NULL;
		return rp_error_set(err, RP_E_LIMIT, "%s: the server sent more than the %zu bytes allowed (endless data?)",
		                    name, max_len);
	}
	return 0;
}

/* Previously trusted metadata from storage, checked against the current root; anything that
 * does not verify is ignored (it is then simply not used for rollback checks). */
static bool load_local(tuf_client *c, enum tuf_role role, size_t max_len, tuf_meta *out)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	rp_error ignored = RP_ERROR_INIT;
	if (c->storage.load(c->storage.ctx, tuf_role_name(role), max_len, &data, &len, &ignored) < 0)
		return false;
	if (tuf_meta_parse(data, len, role, out, &ignored) < 0)
		return false;
	if (tuf_meta_verify(&c->root, role, out, &ignored) < 0) {
		tuf_meta_free(out);
		return false;
	}
	return true;
}

static int persist(tuf_client *c, enum tuf_role role, const uint8_t *data, size_t len, rp_error *err)
{
	if (c->storage.store(c->storage.ctx, tuf_role_name(role), data, len, err) < 0)
		return rp_error_prefix(err, "saving trusted %s metadata", tuf_role_name(role));
	return 0;
}

int tuf_client_init(tuf_client *c, const char *name, const tuf_fetcher *fetcher, const tuf_storage *storage,
                    const tuf_client_config *cfg, rp_error *err)
{
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->fetcher = *fetcher;
	c->storage = *storage;
	if (cfg)
		c->cfg = *cfg;
	else
		tuf_client_config_default(&c->cfg);
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	/* 5.2: the trusted root comes from provisioning; it must at least be signed by itself. */
	if (c->storage.load(c->storage.ctx, "root", c->cfg.root_max_len, &data, &len, err) < 0 ||
	    tuf_meta_parse(data, len, TUF_ROLE_ROOT, &c->root, err) < 0 ||
	    tuf_meta_verify(&c->root, TUF_ROLE_ROOT, &c->root, err) < 0) {
		rp_error_prefix(err, "%s: loading the trusted root", name);
		tuf_client_free(c);
		return -1;
	}
	(void)load_local(c, TUF_ROLE_TIMESTAMP, c->cfg.timestamp_max_len, &c->timestamp);
	(void)load_local(c, TUF_ROLE_SNAPSHOT, c->cfg.snapshot_max_len, &c->snapshot);
	(void)load_local(c, TUF_ROLE_TARGETS, c->cfg.targets_max_len, &c->targets);
	return 0;
}

void tuf_client_free(tuf_client *c)
{
	free(c->name);
	tuf_meta_free(&c->root);
	tuf_meta_free(&c->timestamp);
	tuf_meta_free(&c->snapshot);
	tuf_meta_free(&c->targets);
	memset(c, 0, sizeof(*c));
}

/* 5.3: walk the root chain N+1, N+2, ... each signed by the old and the new root thresholds. */
static int update_root(tuf_client *c, int64_t now, rp_error *err)
{
	_cleanup_json_ json_t *start_roles = json_deep_copy(json_object_get(c->root.signed_obj, "roles"));
	unsigned i;
	for (i = 0; i < c->cfg.max_root_rotations; i++) {
		int64_t next = c->root.version + 1;
		_cleanup_free_ char *name = xasprintf("%" PRId64 ".root.json", next);
		_cleanup_free_ uint8_t *data = NULL;
		size_t len = 0;
		if (fetch_bounded(c, false, name, c->cfg.root_max_len, &data, &len, err) < 0) {
			if (err && err->code == RP_E_NOT_FOUND) {
				rp_error_clear(err);
				break; /* the trusted root is the newest */
			}
			return rp_error_prefix(err, "fetching %s", name);
		}
		tuf_meta fresh;
		if (tuf_meta_parse(data, len, TUF_ROLE_ROOT, &fresh, err) < 0)
			return rp_error_prefix(err, "%s", name);
		/* 5.3.4: signed by a threshold of the old root's root keys AND of its own. */
		if (tuf_meta_verify(&c->root, TUF_ROLE_ROOT, &fresh, err) < 0 ||
		    tuf_meta_verify(&fresh, TUF_ROLE_ROOT, &fresh, err) < 0) {
			tuf_meta_free(&fresh);
			return rp_error_prefix(err, "%s", name);
		}
		/* 5.3.5: exactly N+1 (rollback, or a file served under the wrong name). */
		if (fresh.version != next) {
			rp_error_set(err, RP_E_VERIFY, "%s holds root version %" PRId64 " (rollback attack?)", name,
			             fresh.version);
			tuf_meta_free(&fresh);
			return -1;
		}
		if (persist(c, TUF_ROLE_ROOT, data, len, err) < 0) {
			tuf_meta_free(&fresh);
			return -1;
		}
		tuf_meta_move(&c->root, &fresh);
	}
	/* 5.3.10: freeze attack on the root itself. */
	if (tuf_meta_check_expiry(&c->root, now, err) < 0)
		return -1;
	/* 5.3.11: new timestamp or snapshot keys: forget the old metadata, so versions inflated by
	 * an attacker who held the old keys (fast-forward attack) stop blocking recovery. */
	json_t *roles = json_object_get(c->root.signed_obj, "roles");
	if (!json_equal(json_object_get(roles, "timestamp"), json_object_get(start_roles, "timestamp")) ||
	    !json_equal(json_object_get(roles, "snapshot"), json_object_get(start_roles, "snapshot"))) {
		tuf_meta_free(&c->timestamp);
		tuf_meta_free(&c->snapshot);
		if (c->storage.remove(c->storage.ctx, "timestamp", err) < 0 ||
		    c->storage.remove(c->storage.ctx, "snapshot", err) < 0)
			return rp_error_prefix(err, "forgetting metadata signed by rotated keys");
	}
	return 0;
}

/* 5.4: timestamp. */
static int update_timestamp(tuf_client *c, int64_t now, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	tuf_meta fresh;
	if (fetch_bounded(c, false, "timestamp.json", c->cfg.timestamp_max_len, &data, &len, err) < 0)
		return rp_error_prefix(err, "fetching timestamp.json");
	if (tuf_meta_parse(data, len, TUF_ROLE_TIMESTAMP, &fresh, err) < 0)
		return -1;
	if (tuf_meta_verify(&c->root, TUF_ROLE_TIMESTAMP, &fresh, err) < 0)
		goto fail;
	if (c->timestamp.doc) {
		tuf_meta_file old_snap, new_snap;
		if (fresh.version < c->timestamp.version) {
			rp_error_set(err, RP_E_VERIFY,
			             "timestamp version %" PRId64 " is older than the trusted version %" PRId64
			             " (rollback attack)",
			             fresh.version, c->timestamp.version);
			goto fail;
		}
		if (tuf_meta_file_get(&c->timestamp, "snapshot.json", &old_snap, err) < 0 ||
		    tuf_meta_file_get(&fresh, "snapshot.json", &new_snap, err) < 0)
			goto fail;
		if (new_snap.version < old_snap.version) {
			rp_error_set(err, RP_E_VERIFY,
			             "timestamp names snapshot version %" PRId64 ", older than the trusted %" PRId64
			             " (rollback attack)",
			             new_snap.version, old_snap.version);
			goto fail;
		}
		if (fresh.version == c->timestamp.version) {
			/* Nothing changed: keep what we trust, but it must still be fresh. */
			tuf_meta_free(&fresh);
			return tuf_meta_check_expiry(&c->timestamp, now, err);
		}
	}
	if (tuf_meta_check_expiry(&fresh, now, err) < 0 || persist(c, TUF_ROLE_TIMESTAMP, data, len, err) < 0)
		goto fail;
	tuf_meta_move(&c->timestamp, &fresh);
	return 0;
fail:
	tuf_meta_free(&fresh);
	return -1;
}

static bool meta_matches(const tuf_meta_file *info, const tuf_meta *m)
{
	if (m->version != info->version)
		return false;
	if (info->length >= 0 && (uint64_t)info->length != m->file_len)
		return false;
	return !info->has_sha256 || memcmp(info->sha256, m->file_sha256, RP_SHA256_LEN) == 0;
}

/* Fetch and check metadata file NAME described by INFO (from the trusted timestamp or snapshot):
 * length and hash before parsing (5.5.2, 5.6.2), then signatures and version. */
static int fetch_described(tuf_client *c, enum tuf_role role, const tuf_meta_file *info, size_t default_max,
                           tuf_meta *out, uint8_t **raw, size_t *raw_len, rp_error *err)
{
	const char *base = role == TUF_ROLE_SNAPSHOT ? "snapshot.json" : "targets.json";
	_cleanup_free_ char *name = tuf_meta_consistent_snapshot(&c->root)
	                                ? xasprintf("%" PRId64 ".%s", info->version, base)
	                                : xstrdup(base);
	/* A signed length bounds the download, but never above the per-role maximum: a stolen
	 * timestamp or snapshot key must not be able to ask for gigabytes. */
	if (info->length >= 0 && (uint64_t)info->length > (uint64_t)default_max)
		return rp_error_set(err, RP_E_LIMIT, "%s is signed as %" PRId64 " bytes, over the limit of %zu", name,
		                    info->length, default_max);
	size_t max = info->length >= 0 ? (size_t)info->length : default_max;
	if (fetch_bounded(c, false, name, max, raw, raw_len, err) < 0)
		return rp_error_prefix(err, "fetching %s", name);
	if (tuf_meta_file_check(info, *raw, *raw_len, name, err) < 0 ||
	    tuf_meta_parse(*raw, *raw_len, role, out, err) < 0)
		goto fail;
	if (tuf_meta_verify(&c->root, role, out, err) < 0) {
		tuf_meta_free(out);
		goto fail;
	}
	if (out->version != info->version) {
		rp_error_set(err, RP_E_VERIFY, "%s holds version %" PRId64 " but version %" PRId64 " was expected (mix-and-match?)",
		             name, out->version, info->version);
		tuf_meta_free(out);
		goto fail;
	}
	return 0;
fail:
	free(*raw);
	*raw = NULL;
	return -1;
}

/* 5.5.5: no targets metadata may go back in version or disappear. */
static int check_snapshot_rollback(const tuf_meta *old, const tuf_meta *fresh, rp_error *err)
{
	json_t *new_meta = json_object_get(fresh->signed_obj, "meta");
	const char *name;
	json_t *e;
	json_object_foreach(json_object_get(old->signed_obj, "meta"), name, e) {
		json_t *n = json_object_get(new_meta, name);
		if (!n)
			return rp_error_set(err, RP_E_VERIFY, "snapshot version %" PRId64 " no longer lists %.80s (rollback attack?)",
			                    fresh->version, name);
		int64_t ov = json_integer_value(json_object_get(e, "version"));
		int64_t nv = json_integer_value(json_object_get(n, "version"));
		if (nv < ov)
			return rp_error_set(err, RP_E_VERIFY,
			                    "snapshot version %" PRId64 " lists %.80s version %" PRId64
			                    ", older than the trusted %" PRId64 " (rollback attack)",
			                    fresh->version, name, nv, ov);
	}
	return 0;
}

/* 5.5: snapshot. */
static int update_snapshot(tuf_client *c, int64_t now, rp_error *err)
{
	tuf_meta_file info;
	if (tuf_meta_file_get(&c->timestamp, "snapshot.json", &info, err) < 0)
		return -1;
	/* Unchanged: nothing to fetch, but re-check it against the current root (keys may rotate). */
	if (c->snapshot.doc && meta_matches(&info, &c->snapshot) &&
	    tuf_meta_verify(&c->root, TUF_ROLE_SNAPSHOT, &c->snapshot, NULL) == 0)
		return tuf_meta_check_expiry(&c->snapshot, now, err);
	tuf_meta fresh;
	_cleanup_free_ uint8_t *raw = NULL;
	size_t raw_len = 0;
	if (fetch_described(c, TUF_ROLE_SNAPSHOT, &info, c->cfg.snapshot_max_len, &fresh, &raw, &raw_len, err) < 0)
		return -1;
	if ((c->snapshot.doc && check_snapshot_rollback(&c->snapshot, &fresh, err) < 0) ||
	    tuf_meta_check_expiry(&fresh, now, err) < 0 || persist(c, TUF_ROLE_SNAPSHOT, raw, raw_len, err) < 0) {
		tuf_meta_free(&fresh);
		return -1;
	}
	tuf_meta_move(&c->snapshot, &fresh);
	return 0;
}

/* 5.6: top-level targets. */
static int update_targets(tuf_client *c, int64_t now, rp_error *err)
{
	tuf_meta_file info;
	if (tuf_meta_file_get(&c->snapshot, "targets.json", &info, err) < 0)
		return -1;
	if (c->targets.doc && meta_matches(&info, &c->targets) &&
	    tuf_meta_verify(&c->root, TUF_ROLE_TARGETS, &c->targets, NULL) == 0)
		return tuf_meta_check_expiry(&c->targets, now, err);
	tuf_meta fresh;
	_cleanup_free_ uint8_t *raw = NULL;
	size_t raw_len = 0;
	if (fetch_described(c, TUF_ROLE_TARGETS, &info, c->cfg.targets_max_len, &fresh, &raw, &raw_len, err) < 0)
		return -1;
	/* The snapshot's rollback check is gone once a root rotation made the client forget the old
	 * snapshot (5.3.11), so compare with the stored targets too, as long as the current root still
	 * vouches for it (a rotated targets key may start over). */
	if (c->targets.doc && fresh.version < c->targets.version &&
	    tuf_meta_verify(&c->root, TUF_ROLE_TARGETS, &c->targets, NULL) == 0) {
		rp_error_set(err, RP_E_VERIFY,
		             "targets version %" PRId64 " is older than the trusted %" PRId64 " (rollback attack)",
		             fresh.version, c->targets.version);
		tuf_meta_free(&fresh);
		return -1;
	}
	if (tuf_meta_check_expiry(&fresh, now, err) < 0 || persist(c, TUF_ROLE_TARGETS, raw, raw_len, err) < 0) {
		tuf_meta_free(&fresh);
		return -1;
	}
	tuf_meta_move(&c->targets, &fresh);
	return 0;
}

int tuf_client_refresh(tuf_client *c, int64_t now, rp_error *err)
{
	c->refreshed = false;
	if (update_root(c, now, err) < 0)
		return rp_error_prefix(err, "%s: updating root", c->name);
	if (update_timestamp(c, now, err) < 0)
		return rp_error_prefix(err, "%s: updating timestamp", c->name);
	if (update_snapshot(c, now, err) < 0)
		return rp_error_prefix(err, "%s: updating snapshot", c->name);
	if (update_targets(c, now, err) < 0)
		return rp_error_prefix(err, "%s: updating targets", c->name);
	c->refreshed = true;
	return 0;
}

const tuf_meta *tuf_client_targets(const tuf_client *c)
{
	return c->refreshed ? &c->targets : NULL;
}

int tuf_client_target(const tuf_client *c, const char *name, tuf_target *out, rp_error *err)
{
	if (!c->refreshed)
		return rp_error_set(err, RP_E_INVALID, "%s: targets are not trusted until a refresh succeeds", c->name);
	if (tuf_meta_target(&c->targets, name, out, err) < 0)
		return rp_error_prefix(err, "%s", c->name);
	return 0;
}

char *tuf_client_target_path(const tuf_client *c, const tuf_target *target)
{
	if (!tuf_meta_consistent_snapshot(&c->root))
		return xstrdup(target->name);
	/* Consistent snapshots: "dir/<sha256>.<base>", so a file never changes under its name. */
	_cleanup_free_ char *hex = rp_hex_encode(target->sha256, RP_SHA256_LEN);
	const char *slash = strrchr(target->name, '/');
	if (!slash)
		return xasprintf("%s.%s", hex, target->name);
	return xasprintf("%.*s/%s.%s", (int)(slash - target->name), target->name, hex, slash + 1);
}

int tuf_target_verify_buffer(const tuf_target *target, const uint8_t *data, size_t len, rp_error *err)
{
	if ((uint64_t)len != target->length)
		return rp_error_set(err, RP_E_VERIFY, "target %s is %zu bytes, but %" PRIu64 " were signed for",
		                    target->name, len, target->length);
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(data, len, digest);
	if (memcmp(digest, target->sha256, RP_SHA256_LEN) != 0)
		return rp_error_set(err, RP_E_VERIFY, "target %s does not match its signed SHA-256", target->name);
	return 0;
}

int tuf_target_verify_file(const tuf_target *target, const char *path, rp_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening %s", path);
	rp_sha256 h;
	if (rp_sha256_init(&h, err) < 0)
		return -1;
	uint64_t total = 0;
	uint8_t buf[65536];
	for (;;) {
		ssize_t n = rp_read_full(fd, buf, sizeof(buf));
		if (n < 0) {
			rp_sha256_free(&h);
			return rp_error_set_errno(err, errno, "reading %s", path);
		}
		total += (uint64_t)n;
		if (total > target->length) {
			rp_sha256_free(&h);
			return rp_error_set(err, RP_E_VERIFY, "%s is longer than the %" PRIu64 " bytes signed for target %s",
			                    path, target->length, target->name);
		}
		rp_sha256_update(&h, buf, (size_t)n);
		if ((size_t)n < sizeof(buf))
			break;
	}
	uint8_t digest[RP_SHA256_LEN];
	if (rp_sha256_final(&h, digest, err) < 0) {
		rp_sha256_free(&h);
		return -1;
	}
	rp_sha256_free(&h);
	if (total != target->length)
		return rp_error_set(err, RP_E_VERIFY, "%s is %" PRIu64 " bytes, but %" PRIu64 " were signed for target %s",
		                    path, total, target->length, target->name);
	if (memcmp(digest, target->sha256, RP_SHA256_LEN) != 0)
		return rp_error_set(err, RP_E_VERIFY, "%s does not match the SHA-256 signed for target %s", path,
		                    target->name);
	return 0;
}

int tuf_client_fetch_target(tuf_client *c, const tuf_target *target, uint8_t **data, size_t *len, rp_error *err)
{
	_cleanup_free_ char *path = tuf_client_target_path(c, target);
	if (target->length > SIZE_MAX)
		return rp_error_set(err, RP_E_LIMIT, "target %s is too large to hold in memory", target->name);
	if (fetch_bounded(c, true, path, (size_t)target->length, data, len, err) < 0)
		return rp_error_prefix(err, "%s: fetching target %s", c->name, target->name);
	if (tuf_target_verify_buffer(target, *data, *len, err) < 0) {
		free(*data);
		*data = NULL;
		return rp_error_prefix(err, "%s", c->name);
	}
	return 0;
}
