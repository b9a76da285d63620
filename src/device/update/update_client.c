/* One update check on the device: TUF refresh of the image repository and the director, Uptane
 * agreement, resumable bounded downloads by hash, verification, ordered installation, status. */
#include "device/update/update_client.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/boot/boot_fault.h"
#include "device/boot/boot_slot.h"
#include "device/update/update_install.h"
#include "tuf/director.h"
#include "tuf/meta.h"
#include "tuf/tuf_dir.h"

#define CONFIG_MAX_LEN (64 * 1024)

void update_config_default(struct update_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	update_fetch_config_default(&cfg->fetch);
	cfg->rot_backend = "soft";
}

static const char *own(struct update_config_owned *o, char *s)
{
	if (o->n == RP_ARRAY_SIZE(o->strings))
		rp_abort("update_config_owned overflow");
	return o->strings[o->n++] = s;
}

void update_config_owned_free(struct update_config_owned *owned)
{
	for (size_t i = 0; i < owned->n; i++)
		free(owned->strings[i]);
	owned->n = 0;
}

/* A URL or ID from the configuration file must not smuggle anything into a URL we build. */
static int check_id(const char *what, const char *v, rp_error *err)
{
	for (const char *p = v; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-'))
			return rp_error_set(err, RP_E_INVALID, "%s \"%s\" may hold only letters, digits and '-'", what, v);
	return v[0] ? 0 : rp_error_set(err, RP_E_INVALID, "%s is empty", what);
}

int update_config_load(struct update_config *cfg, const char *service_url, struct update_config_owned *owned,
                       rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/update/config.json", cfg->state_dir);
	_cleanup_json_ json_t *j = rp_json_load_file(path, CONFIG_MAX_LEN, err);
	if (!j) {
		if (!err || err->code != RP_E_NOT_FOUND)
			return rp_error_prefix(err, "reading %s", path);
		rp_error_clear(err);
		j = json_object();
	}
	static const char *const keys[] = {"tenant_id", "device_group_id", "device_id", "image_repository", "director",
	                                   "blobs", "status", "bootstrap_root", NULL};
	const char *tenant = NULL, *group = NULL, *device = NULL, *image = NULL, *director = NULL, *blobs = NULL,
	           *status = NULL;
	bool bootstrap = false;
	if (!json_is_object(j) || rp_json_check_keys(j, keys, path, err) < 0 ||
	    rp_json_get_string(j, "tenant_id", false, &tenant, err) < 0 ||
	    rp_json_get_string(j, "device_group_id", false, &group, err) < 0 ||
	    rp_json_get_string(j, "device_id", false, &device, err) < 0 ||
	    rp_json_get_string(j, "image_repository", false, &image, err) < 0 ||
	    rp_json_get_string(j, "director", false, &director, err) < 0 ||
	    rp_json_get_string(j, "blobs", false, &blobs, err) < 0 ||
	    rp_json_get_string(j, "status", false, &status, err) < 0 ||
	    rp_json_get_bool(j, "bootstrap_root", false, &bootstrap, err) < 0)
		return json_is_object(j) ? rp_error_prefix(err, "%s", path)
		                         : rp_error_set(err, RP_E_INVALID, "%s: expected a JSON object", path);
	if ((tenant && check_id("tenant_id", tenant, err) < 0) || (group && check_id("device_group_id", group, err) < 0) ||
	    (device && check_id("device_id", device, err) < 0))
		return rp_error_prefix(err, "%s", path);
	cfg->bootstrap_root = cfg->bootstrap_root || bootstrap;
	if (!cfg->device_id && device)
		cfg->device_id = own(owned, xstrdup(device));
	if (!cfg->image_repo_url && image)
		cfg->image_repo_url = own(owned, xstrdup(image));
	if (!cfg->director_url && director)
		cfg->director_url = own(owned, xstrdup(director));
	if (!cfg->blob_url && blobs)
		cfg->blob_url = own(owned, xstrdup(blobs));
	if (!cfg->status_url && status)
		cfg->status_url = own(owned, xstrdup(status));
	if (service_url) {
		size_t n = strlen(service_url);
		while (n && service_url[n - 1] == '/')
			n--;
		if (!cfg->image_repo_url && tenant)
			cfg->image_repo_url = own(owned, xasprintf("%.*s/v1/tuf/tenants/%s/image", (int)n, service_url, tenant));
		if (!cfg->director_url && group)
			cfg->director_url =
			    own(owned, xasprintf("%.*s/v1/tuf/device-groups/%s/director", (int)n, service_url, group));
		/* With the device-API certificate (mutual TLS) and no token, the device API serves blobs and
		 * takes status reports for the authenticated device itself. */
		bool device_api = cfg->fetch.client_cert && !cfg->fetch.bearer_token;
		if (!cfg->blob_url)
			cfg->blob_url = own(owned, xasprintf(device_api ? "%.*s/v1/device/blobs/sha256" : "%.*s/v1/blobs/sha256",
			                                     (int)n, service_url));
		if (!cfg->status_url && device_api)
			cfg->status_url = own(owned, xasprintf("%.*s/v1/device/update-status", (int)n, service_url));
		else if (!cfg->status_url && cfg->device_id)
			cfg->status_url =
			    own(owned, xasprintf("%.*s/v1/devices/%s/update-status", (int)n, service_url, cfg->device_id));
	}
	/* The token is rampartd's: it goes to the service (or, without --service, the director's
	 * host), never to a blob mirror on another host. */
	if (!cfg->fetch.bearer_origin)
		cfg->fetch.bearer_origin = service_url ? service_url : cfg->director_url;
	if (!cfg->image_repo_url || !cfg->director_url || !cfg->blob_url)
		return rp_error_set(err, RP_E_INVALID,
		                    "the update source is not configured: give --service URL with tenant_id and "
		                    "device_group_id in %s, or the image_repository, director and blobs URLs", path);
	return 0;
}

int update_set_device_group(const char *state_dir, const char *tenant_id, const char *device_group_id,
                            const char *device_id, rp_error *err)
{
	if (check_id("tenant_id", tenant_id, err) < 0 || check_id("device_group_id", device_group_id, err) < 0 ||
	    (device_id && check_id("device_id", device_id, err) < 0))
		return -1;
	_cleanup_free_ char *dir = xasprintf("%s/update", state_dir);
	_cleanup_free_ char *path = xasprintf("%s/config.json", dir);
	_cleanup_json_ json_t *old = rp_json_load_file(path, CONFIG_MAX_LEN, NULL);
	const char *old_group = json_string_value(json_object_get(old, "device_group_id"));
	const char *old_tenant = json_string_value(json_object_get(old, "tenant_id"));
	bool same = old_group && old_tenant && strcmp(old_group, device_group_id) == 0 &&
	            strcmp(old_tenant, tenant_id) == 0;
	if (same)
		return 0;
	if (old_group) {
		_cleanup_free_ char *tuf = xasprintf("%s/tuf/director", dir);
		if (rp_remove_tree(tuf, err) < 0)
			return rp_error_prefix(err, "forgetting the previous director");
		rp_log_event(RP_LOG_NOTICE, "update.group.changed", "device group %s -> %s: director trust reset", old_group,
		             device_group_id);
	}
	_cleanup_json_ json_t *j = json_pack("{s:s, s:s, s:b}", "tenant_id", tenant_id, "device_group_id",
	                                     device_group_id, "bootstrap_root", 1);
	if (device_id)
		json_object_set_new(j, "device_id", json_string(device_id));
	_cleanup_free_ char *text = rp_json_dump(j);
	if (rp_mkdir_p(dir, 0700, err) < 0 || rp_write_file_atomic(path, text, strlen(text), 0600, err) < 0)
		return rp_error_prefix(err, "saving the update configuration");
	return 0;
}

/* ---- TUF plumbing ---- */

struct http_repo {
	struct update_fetch_config *fetch;
	const char *base;
};

static int http_repo_fetch(void *ctx, bool is_target, const char *name, size_t max_len, uint8_t **data, size_t *len,
                           rp_error *err)
{
	(void)is_target;
	struct http_repo *r = ctx;
	_cleanup_free_ char *url = xasprintf("%s/%s", r->base, name);
	return update_fetch_buffer(r->fetch, url, max_len, data, len, err);
}

/* Provisioning normally installs the first root.json; with bootstrap_root the device trusts
 * version 1 as served over the pinned TLS channel (trust on first use, docs/threat-model.md). */
static int bootstrap_root(struct update_config *cfg, const tuf_storage *storage, struct http_repo *repo,
                          const char *what, rp_error *err)
{
	uint8_t *probe = NULL;
	size_t probe_len;
	if (storage->load(storage->ctx, "root", 512 * 1024, &probe, &probe_len, err) == 0) {
		free(probe);
		return 0;
	}
	if (!err || err->code != RP_E_NOT_FOUND || !cfg->bootstrap_root)
		return rp_error_prefix(err, "%s: no trusted root.json (provision it or enable bootstrap_root)", what);
	rp_error_clear(err);
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	if (http_repo_fetch(repo, false, "1.root.json", 512 * 1024, &data, &len, err) < 0)
		return rp_error_prefix(err, "%s: fetching the first root", what);
	tuf_meta root = {0};
	int rc = tuf_meta_parse(data, len, TUF_ROLE_ROOT, &root, err);
	if (rc == 0)
		rc = tuf_meta_verify(&root, TUF_ROLE_ROOT, &root, err);
	if (rc == 0 && root.version != 1)
		rc = rp_error_set(err, RP_E_VERIFY, "the first root has version %" PRId64, root.version);
	tuf_meta_free(&root);
	if (rc == 0)
		rc = storage->store(storage->ctx, "root", data, len, err);
	if (rc < 0)
		return rp_error_prefix(err, "%s: first root", what);
	rp_log_event(RP_LOG_NOTICE, "update.root.bootstrapped", "%s: trusting root version 1 from %s", what, repo->base);
	return 0;
}

static int open_repo(struct update_config *cfg, tuf_client *c, const char *what, const char *sub, const char *base,
                     struct http_repo *repo, char **dir_out, int64_t now, rp_error *err)
{
	*dir_out = xasprintf("%s/update/tuf/%s", cfg->state_dir, sub);
	if (rp_mkdir_p(*dir_out, 0700, err) < 0)
		return -1;
	repo->fetch = &cfg->fetch;
	repo->base = base;
	tuf_fetcher f = {.fetch = http_repo_fetch, .ctx = repo};
	tuf_storage s;
	tuf_dir_storage(&s, *dir_out);
	if (bootstrap_root(cfg, &s, repo, what, err) < 0 || tuf_client_init(c, what, &f, &s, NULL, err) < 0)
		return -1;
	return tuf_client_refresh(c, now, err);
}

/* ---- targets ---- */

static int type_rank(const char *type)
{
	if (strcmp(type, UPDATE_TYPE_TRUST) == 0)
		return 0;
	if (strcmp(type, UPDATE_TYPE_OS) == 0)
		return 1;
	if (strcmp(type, UPDATE_TYPE_APP) == 0)
		return 2;
	return 3;
}

struct planned {
	const tuf_target *t;
	const char *type, *image_id;
	uint64_t version;
	int rank;
};

static int planned_cmp(const void *a, const void *b)
{
	const struct planned *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	/* Trust updates newest first: each carries the whole key set, so only the newest matters, and
	 * an older one still listed must not be tried (and fail) before it. */
	if (strcmp(x->type, UPDATE_TYPE_TRUST) == 0 && x->version != y->version)
		return x->version > y->version ? -1 : 1;
	return strcmp(x->t->name, y->t->name);
}

static int plan_target(const tuf_target *t, struct planned *p, rp_error *err)
{
	p->t = t;
	p->type = NULL;
	p->image_id = NULL;
	p->version = 0;
	json_t *custom = t->custom;
	int64_t v = 0;
	if (!custom || rp_json_get_string(custom, "type", true, &p->type, err) < 0 ||
	    rp_json_get_string(custom, "image_id", false, &p->image_id, err) < 0 ||
	    rp_json_get_int(custom, "version", false, 0, INT64_MAX, &v, err) < 0)
		return custom ? rp_error_prefix(err, "target %s: custom", t->name)
		              : rp_error_set(err, RP_E_INVALID, "target %s has no custom type", t->name);
	p->version = (uint64_t)v;
	p->rank = type_rank(p->type);
	if (t->length > UPDATE_BLOB_MAX_LEN)
		return rp_error_set(err, RP_E_LIMIT, "target %s is %" PRIu64 " bytes, more than this device accepts",
		                    t->name, t->length);
	return 0;
}

/* Partial downloads of blobs no longer targeted only waste flash. */
static void prune_downloads(const char *dir, const struct planned *plan, size_t n)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		bool keep = false;
		for (size_t i = 0; i < n && !keep; i++) {
			_cleanup_free_ char *hex = rp_hex_encode(plan[i].t->sha256, RP_SHA256_LEN);
			keep = strncmp(e->d_name, hex, 64) == 0;
		}
		if (!keep)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

static bool disk_full(const rp_error *err)
{
	return err->sys_errno == ENOSPC || err->sys_errno == EFBIG || err->sys_errno == EDQUOT;
}

/* Ask the deferral hook, within the 24 h total an app may hold one target back. Trust updates are
 * never deferred: they carry revocations. */
static bool should_defer(const struct update_config *cfg, const struct update_status *st, const struct planned *p,
                         int64_t now)
{
	if (!cfg->defer || p->rank == 0)
		return false;
	int64_t since = update_status_deferred_since(st, p->t->name, p->t->sha256);
	if (since && now - since >= UPDATE_DEFER_MAX_S) {
		rp_log_event(RP_LOG_NOTICE, "update.defer.expired", "%s deferred for 24 h: installing now", p->t->name);
		return false;
	}
	return cfg->defer(cfg->defer_ctx, p->t->name, p->type, p->version);
}

/* Before downloading an OS bundle, ask the boot state: the same version committed already (an
 * install whose status a power cut lost) is just recorded; an older one is a rollback, refused
 * for good; while another update waits for its health check nothing is downloaded. Returns 1 when
 * the target is settled (or must wait), 0 to go on, -1 on a refusal. */
static int os_precheck(const struct update_config *cfg, struct update_status *st, const struct planned *p,
                       int64_t now, struct update_report *rep, rp_error *err)
{
	_cleanup_free_ char *path = boot_state_path(cfg->state_dir);
	struct boot_state bs;
	if (boot_state_load(path, &bs, NULL) < 0)
		return 0; /* no boot state yet: boot_slot_install decides */
	const tuf_target *t = p->t;
	if (bs.pending) {
		rp_log_event(RP_LOG_NOTICE, "update.os.waiting",
		             "%s: an OS update waits for its health check; reboot first", t->name);
		rep->deferred++;
		return 1;
	}
	if (bs.committed_version == p->version) {
		update_status_set(st, t->name, p->image_id, p->type, p->version, t->sha256, UPDATE_STATE_COMMITTED, NULL,
		                  false, now);
		update_status_supersede(st, t->name, json_string_value(json_object_get(t->custom, "component_id")), now);
		_cleanup_free_ char *hex = rp_hex_encode(t->sha256, RP_SHA256_LEN);
		_cleanup_free_ char *part = xasprintf("%s/update/downloads/%s.part", cfg->state_dir, hex);
		unlink(part);
		rep->skipped++;
		return 1;
	}
	if (bs.committed_version > p->version) {
		rp_error_set(err, RP_E_VERIFY,
		             "OS bundle %s version %" PRIu64 " is older than the committed version %" PRIu64
		             " (rollback refused)", t->name, p->version, bs.committed_version);
		update_status_set(st, t->name, p->image_id, p->type, p->version, t->sha256, UPDATE_STATE_FAILED, err->message,
		                  true, now);
		rep->failed++;
		return -1;
	}
	return 0;
}

/* The download's SHA-256 (taken as the bytes arrived, not read back from the file) against the one
 * the signed targets metadata gives; its length is already exact: update_fetch_file never writes
 * past it and fails short of it. The install does not re-hash the file: it relies on the package
 * signature checked over the bytes it reads. */
static int verify_download(const tuf_target *t, const char *part, const uint8_t got[RP_SHA256_LEN], rp_error *err)
{
	if (memcmp(got, t->sha256, RP_SHA256_LEN) != 0)
		return rp_error_set(err, RP_E_VERIFY, "%s does not match the SHA-256 signed for target %s", part, t->name);
	return 0;
}

/* Download, verify and install one target; the status records each step. */
static int apply_target(struct update_config *cfg, struct update_status *st, const struct planned *p,
                        const char *dl_dir, int64_t now, struct update_report *rep, rp_error *err)
{
	const tuf_target *t = p->t;
	if (p->rank == 1) {
		int r = os_precheck(cfg, st, p, now, rep, err);
		if (r != 0)
			return r < 0 ? -1 : 0;
	}
	_cleanup_free_ char *hex = rp_hex_encode(t->sha256, RP_SHA256_LEN);
	_cleanup_free_ char *part = xasprintf("%s/%s.part", dl_dir, hex);
	_cleanup_free_ char *url = xasprintf("%s/%s", cfg->blob_url, hex);
	update_status_set(st, t->name, p->image_id, p->type, p->version, t->sha256, UPDATE_STATE_DOWNLOADING, NULL, false,
	                  now);
	rp_error e2 = RP_ERROR_INIT;
	if (update_status_save(st, cfg->state_dir, &e2) < 0)
		rp_warn("%s", e2.message);
	bool permanent = false, os_installed = false;
	/* The TUF hash is taken while the bytes arrive (update_fetch_file_hashed): no second pass. */
	uint8_t got[RP_SHA256_LEN];
	int rc = update_fetch_file_hashed(&cfg->fetch, url, part, t->length, got, err);
	if (rc < 0) {
		if (disk_full(err) || err->code == RP_E_LIMIT)
			unlink(part); /* free the space; an overflowing source gets no resume either */
		rp_error_prefix(err, "downloading %s", t->name);
	} else if (boot_fault_point("update.download.done"), (rc = verify_download(t, part, got, err)) < 0) {
		/* A partial file never counts: wrong bytes are thrown away, not resumed. */
		unlink(part);
		rp_error_prefix(err, "verifying %s", t->name);
	} else if (should_defer(cfg, st, p, now)) {
		/* The verified download stays (as .part, re-verified next time) until the app lets go. */
		update_status_set(st, t->name, p->image_id, p->type, p->version, t->sha256, UPDATE_STATE_DEFERRED,
		                  "deferred by an application", false, now);
		rep->deferred++;
		return 0;
	} else {
		struct update_install_expect ex = {.type = p->type, .image_id = p->image_id, .version = p->version};
		rc = update_install(cfg, part, &ex, &permanent, &os_installed, err);
		if (rc < 0)
			rp_error_prefix(err, "installing %s (%s)", t->name, p->type);
		if (rc == 0 || permanent || disk_full(err))
			unlink(part);
	}
	if (rc < 0) {
		update_status_set(st, t->name, p->image_id, p->type, p->version, t->sha256, UPDATE_STATE_FAILED, err->message,
		                  permanent, now);
		rp_log_event(RP_LOG_ERROR, "update.target.failed", "%s", err->message);
		rep->failed++;
		return -1;
	}
	boot_fault_point("update.installed"); /* installed, status not yet saved */
	update_status_set(st, t->name, p->image_id, p->type, p->version, t->sha256, UPDATE_STATE_INSTALLED, NULL, false,
	                  now);
	update_status_supersede(st, t->name, json_string_value(json_object_get(t->custom, "component_id")), now);
	rep->installed++;
	rep->os_installed |= os_installed;
	rp_log_event(RP_LOG_NOTICE, "update.target.installed", "%s (%s, version %" PRIu64 ") installed", t->name, p->type,
	             p->version);
	return 0;
}

/* OS bundles installed earlier: the boot stage has since committed them or rolled them back. */
static void refresh_os_status(const struct update_config *cfg, struct update_status *st, int64_t now)
{
	_cleanup_free_ char *path = boot_state_path(cfg->state_dir);
	struct boot_state bs;
	if (boot_state_load(path, &bs, NULL) < 0)
		return;
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(st->doc, "images"), k, v) {
		const char *type = json_string_value(json_object_get(v, "type"));
		const char *state = json_string_value(json_object_get(v, "state"));
		json_int_t ver = json_integer_value(json_object_get(v, "version"));
		if (!type || !state || strcmp(type, UPDATE_TYPE_OS) != 0 || strcmp(state, "installed") != 0)
			continue;
		if (bs.committed_version >= (uint64_t)ver && !(bs.pending)) {
			json_object_set_new(v, "state", json_string("committed"));
			update_status_supersede(st, k, json_string_value(json_object_get(v, "component_id")), now);
		} else if (!bs.pending && bs.committed_version < (uint64_t)ver) {
			json_object_set_new(v, "state", json_string("rolled-back"));
			json_object_set_new(v, "reason", json_string(bs.last_result[0] ? bs.last_result : "health check failed"));
		}
	}
}

int64_t update_next_check_delay(uint32_t random)
{
	return UPDATE_CHECK_INTERVAL_S - UPDATE_CHECK_JITTER_S + (int64_t)(random % (2 * UPDATE_CHECK_JITTER_S + 1));
}

static void report_status(struct update_config *cfg, const struct update_status *st)
{
	if (!cfg->status_url)
		return;
	_cleanup_free_ char *body = update_status_report_json(st, cfg->device_id);
	rp_error e = RP_ERROR_INIT;
	if (update_fetch_post_json(&cfg->fetch, cfg->status_url, body, &e) < 0)
		rp_log_event(RP_LOG_WARNING, "update.status.report_failed", "reporting status: %s", e.message);
}

static int check(struct update_config *cfg, struct update_status *st, int64_t now, struct update_report *rep,
                 rp_error *err)
{
	tuf_client image = {0}, director = {0};
	struct http_repo image_http, director_http;
	_cleanup_free_ char *image_dir = NULL, *director_dir = NULL;
	tuf_resolved resolved = {0};
	struct planned *plan = NULL;
	int rc = open_repo(cfg, &image, "image repository", "image", cfg->image_repo_url, &image_http, &image_dir, now, err);
	if (rc == 0)
		rc = open_repo(cfg, &director, "director", "director", cfg->director_url, &director_http, &director_dir, now,
		               err);
	if (rc == 0)
		rc = tuf_uptane_resolve(&image, &director, &resolved, err);
	if (rc == 0) {
		rep->targets = (unsigned)resolved.count;
		plan = xcalloc(resolved.count + 1, sizeof(*plan));
		for (size_t i = 0; rc == 0 && i < resolved.count; i++)
			rc = plan_target(&resolved.targets[i], &plan[i], err);
	}
	if (rc == 0) {
		qsort(plan, resolved.count, sizeof(*plan), planned_cmp);
		_cleanup_free_ char *dl = xasprintf("%s/update/downloads", cfg->state_dir);
		if ((rc = rp_mkdir_p(dl, 0700, err)) == 0) {
			prune_downloads(dl, plan, resolved.count);
			rp_error first = RP_ERROR_INIT;
			for (size_t i = 0; i < resolved.count; i++) {
				if (update_status_done(st, plan[i].t->name, plan[i].t->sha256)) {
					/* A power cut after the install but before the cleanup leaves the file. */
					_cleanup_free_ char *hex = rp_hex_encode(plan[i].t->sha256, RP_SHA256_LEN);
					_cleanup_free_ char *part = xasprintf("%s/%s.part", dl, hex);
					unlink(part);
					rep->skipped++;
					continue;
				}
				rp_error e = RP_ERROR_INIT;
				if (apply_target(cfg, st, &plan[i], dl, now, rep, &e) < 0) {
					if (!rp_error_is_set(&first))
						first = e;
					/* Packages after a trust update may be signed by the keys it brings: without
					 * them their signatures would fail and be recorded as permanent refusals.
					 * They wait for the next check, unless this trust update is refused for good
					 * (it will never bring its keys). */
					if (strcmp(plan[i].type, UPDATE_TYPE_TRUST) == 0 &&
					    !update_status_done(st, plan[i].t->name, plan[i].t->sha256))
						break;
				}
			}
			if (rp_error_is_set(&first)) {
				if (err)
					*err = first;
				rc = -1;
			}
		}
	}
	free(plan);
	tuf_resolved_free(&resolved);
	tuf_client_free(&image);
	tuf_client_free(&director);
	return rc;
}

int update_check_and_install(struct update_config *cfg, int64_t now, struct update_report *report, rp_error *err)
{
	memset(report, 0, sizeof(*report));
	uint64_t bytes0 = cfg->fetch.bytes_received, req0 = cfg->fetch.requests;
	if (update_fetch_global_init(err) < 0)
		return -1;
	struct update_status st;
	update_status_load(&st, cfg->state_dir);
	refresh_os_status(cfg, &st, now);
	int rc = check(cfg, &st, now, report, err);
	if (rc < 0)
		rp_error_prefix(err, "update check");
	update_status_set_check(&st, now, rc < 0 ? err->message : NULL);
	rp_error e2 = RP_ERROR_INIT;
	if (update_status_save(&st, cfg->state_dir, &e2) < 0)
		rp_warn("%s", e2.message);
	report_status(cfg, &st);
	update_status_free(&st);
	update_fetch_close(&cfg->fetch);
	report->bytes = cfg->fetch.bytes_received - bytes0;
	report->requests = cfg->fetch.requests - req0;
	return rc;
}
