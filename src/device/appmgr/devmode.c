/* Development mode: applying and removing the appDevelopment capability, sideloading, and the
 * device-local views a developer needs (storage quota, log tail). The capability itself is checked
 * by rampart-app-loader (signature, device ID, expiry), so this long-lived daemon maps no crypto;
 * the socket these requests arrive on accepts root peers only (appmgr_ctl.c, SO_PEERCRED). */
#include "device/appmgr/devmode.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/capability.h"
#include "common/fileio.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/appmgr/app_loader.h"
#include "device/appmgr/appmgr.h"
#include "device/appmgr/appmgr_ctl.h"

static json_t *reply_error(const rp_error *e)
{
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "code", rp_error_code_name(e->code), "error", e->message);
}

static json_t *reply_ok(json_t *status)
{
	return json_pack("{s:b, s:o}", "ok", 1, "status", status ? status : json_null());
}

static struct app_loader loader_for(const struct appmgr_config *cfg)
{
	struct app_loader l = {
		.path = cfg->loader_path,
		.capability_key = cfg->capability_key_path,
		.device_id = cfg->device_id,
	};
	return l;
}

/* Verify CAP_TEXT through the loader, then install it atomically: a capability that does not
 * verify for this device never lands in place. */
static json_t *enable_development(struct appmgr *m, const char *cap_text, rp_error *err)
{
	const struct appmgr_config *cfg = appmgr_get_config(m);
	size_t len = strlen(cap_text);
	if (len == 0 || len > CAPABILITY_FILE_MAX) {
		rp_error_set(err, RP_E_INVALID, "the capability must be 1..%d bytes", CAPABILITY_FILE_MAX);
		return NULL;
	}
	_cleanup_free_ char *dir = xasprintf("%s/devmode", cfg->state_dir);
	_cleanup_free_ char *staged = xasprintf("%s/capability.new", dir);
	_cleanup_free_ char *final = devmode_capability_path(cfg->state_dir);
	if (rp_mkdir_p(dir, 0700, err) < 0 || rp_write_file_atomic(staged, cap_text, len, 0600, err) < 0)
		return NULL;
	struct app_loader l = loader_for(cfg);
	json_t *payload = app_loader_capability(&l, staged, err);
	if (!payload) {
		unlink(staged);
		rp_log_event(RP_LOG_WARNING, "devmode.capability.refused", "capability refused: %s", err->message);
		return NULL;
	}
	if (rename(staged, final) < 0 || rp_fsync_dir(dir, err) < 0) {
		if (!rp_error_is_set(err))
			rp_error_set_errno(err, errno, "installing the capability");
		unlink(staged);
		json_decref(payload);
		return NULL;
	}
	rp_log_event(RP_LOG_NOTICE, "devmode.enabled", "appDevelopment capability %s installed: sideloading allowed, "
	             "cloud app updates paused", json_string_value(json_object_get(payload, "serial")));
	return payload;
}

/* Remove the apps recorded as sideloaded that the manager could not load (for instance because the
 * capability had already gone): their directories would otherwise outlive development mode. */
static void remove_unloaded_sideloads(const char *state_dir, json_t *removed)
{
	_cleanup_free_ char *apps = xasprintf("%s/apps", state_dir);
	DIR *d = opendir(apps);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!rp_guid_is_valid(de->d_name))
			continue;
		_cleanup_free_ char *rec = xasprintf("%s/%s/app.json", apps, de->d_name);
		rp_error e = RP_ERROR_INIT;
		_cleanup_json_ json_t *j = rp_json_load_file(rec, 4096, &e);
		json_t *src = j ? json_object_get(j, "source") : NULL;
		if (!json_is_string(src) || strcmp(json_string_value(src), "sideload") != 0)
			continue;
		_cleanup_free_ char *dir = xasprintf("%s/%s", apps, de->d_name);
		if (rp_remove_tree(dir, &e) == 0)
			json_array_append_new(removed, json_string(de->d_name));
	}
	closedir(d);
}

/* The capability goes first (fail closed: sideloaded apps cannot load without it), then every
 * sideloaded app with its storage. Cloud-installed apps stay. */
static json_t *enable_cloud_test(struct appmgr *m, rp_error *err)
{
	const struct appmgr_config *cfg = appmgr_get_config(m);
	_cleanup_free_ char *cap = devmode_capability_path(cfg->state_dir);
	bool had = unlink(cap) == 0;
	if (!had && errno != ENOENT) {
		rp_error_set_errno(err, errno, "removing the capability %s", cap);
		return NULL;
	}
	_cleanup_free_ char *dir = xasprintf("%s/devmode", cfg->state_dir);
	if (had && rp_fsync_dir(dir, err) < 0)
		return NULL;
	json_t *removed = json_array();
	_cleanup_json_ json_t *all = appmgr_status(m, NULL, err);
	size_t i;
	json_t *app;
	json_array_foreach(all, i, app)
	{
		const char *src = json_string_value(json_object_get(app, "source"));
		const char *cid = json_string_value(json_object_get(app, "component_id"));
		if (!src || !cid || strcmp(src, "sideload") != 0)
			continue;
		if (appmgr_remove(m, cid, err) < 0) {
			json_decref(removed);
			return NULL;
		}
		json_array_append_new(removed, json_string(cid));
	}
	remove_unloaded_sideloads(cfg->state_dir, removed);
	rp_log_event(RP_LOG_NOTICE, "devmode.disabled", "capability %s; %zu sideloaded app(s) removed; cloud app "
	             "updates resume", had ? "removed" : "was not present", json_array_size(removed));
	return json_pack("{s:b, s:o}", "capability_removed", had, "removed_apps", removed);
}

static json_t *show_development(struct appmgr *m)
{
	const struct appmgr_config *cfg = appmgr_get_config(m);
	_cleanup_free_ char *cap = devmode_capability_path(cfg->state_dir);
	if (!devmode_capability_present(cfg->state_dir))
		return json_pack("{s:b}", "development", 0);
	/* An installed capability that no longer verifies (expired, key rotated) is shown, not an
	 * error: the developer needs to see why sideloaded apps stopped loading. */
	struct app_loader l = loader_for(cfg);
	rp_error verr = RP_ERROR_INIT;
	json_t *payload = app_loader_capability(&l, cap, &verr);
	if (!payload)
		return json_pack("{s:b, s:b, s:s}", "development", 1, "valid", 0, "error", verr.message);
	return json_pack("{s:b, s:b, s:o}", "development", 1, "valid", 1, "capability", payload);
}

static json_t *sideload(struct appmgr *m, const char *path, rp_error *err)
{
	if (!devmode_capability_present(appmgr_get_config(m)->state_dir)) {
		rp_error_set(err, RP_E_PERMISSION, "this device is not in development mode: apply an appDevelopment "
		             "capability with 'rampart device enable-development' first");
		return NULL;
	}
	char cid[37];
	if (appmgr_sideload_package(m, path, cid, err) < 0)
		return NULL;
	return appmgr_status(m, cid, err);
}

static json_t *sideload_delete(struct appmgr *m, const char *cid, rp_error *err)
{
	_cleanup_json_ json_t *st = appmgr_status(m, cid, err);
	if (!st)
		return NULL;
	const char *src = json_string_value(json_object_get(st, "source"));
	if (!src || strcmp(src, "sideload") != 0) {
		rp_error_set(err, RP_E_PERMISSION, "app %s was not sideloaded (source: %s); only sideloaded apps can be "
		             "deleted here", cid, src ? src : "unknown");
		return NULL;
	}
	if (appmgr_remove(m, cid, err) < 0)
		return NULL;
	return json_pack("{s:s, s:b}", "component_id", cid, "removed", 1);
}

static json_t *quota(struct appmgr *m, const char *cid, rp_error *err)
{
	uint32_t limit_kb = 0;
	_cleanup_free_ char *mp = NULL;
	if (appmgr_storage_info(m, cid, &limit_kb, &mp, err) < 0)
		return NULL;
	json_t *o = json_pack("{s:s, s:I}", "component_id", cid, "limit_kb", (json_int_t)limit_kb);
	struct statvfs sv;
	if (mp && statvfs(mp, &sv) == 0) {
		/* Includes the filesystem's own small overhead (storage.h). */
		uint64_t used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize / 1024;
		json_object_set_new(o, "used_kb", json_integer((json_int_t)used));
	} else {
		json_object_set_new(o, "used_kb", json_null()); /* not mounted: the app has not been prepared */
	}
	return o;
}

/* The last LINES lines (at most DEVMODE_LOG_TAIL_MAX bytes) of the app's log kept by the manager. */
static json_t *logs(struct appmgr *m, const char *cid, int64_t lines, rp_error *err)
{
	_cleanup_json_ json_t *st = appmgr_status(m, cid, err);
	if (!st)
		return NULL;
	const char *canon = json_string_value(json_object_get(st, "component_id"));
	_cleanup_free_ char *path = xasprintf("%s/apps/%s/log", appmgr_get_config(m)->state_dir, canon);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return json_pack("{s:s, s:s}", "component_id", canon, "log", "");
		rp_error_set_errno(err, errno, "opening %s", path);
		return NULL;
	}
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > DEVMODE_LOG_TAIL_MAX ? end - DEVMODE_LOG_TAIL_MAX : 0;
	if (end < 0 || lseek(fd, start, SEEK_SET) < 0) {
		rp_error_set_errno(err, errno, "seeking in %s", path);
		return NULL;
	}
	_cleanup_free_ char *buf = xmalloc(DEVMODE_LOG_TAIL_MAX + 1);
	ssize_t n = rp_read_full(fd, buf, DEVMODE_LOG_TAIL_MAX);
	if (n < 0) {
		rp_error_set_errno(err, errno, "reading %s", path);
		return NULL;
	}
	buf[n] = '\0';
	/* Keep the last LINES lines. The app writes what it likes: NULs are replaced here, and
	 * invalid UTF-8 is caught by jansson's checked constructor below. */
	size_t len = (size_t)n;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = '?';
	const char *p = buf + len;
	int64_t seen = 0;
	if (len > 0 && buf[len - 1] == '\n')
		p--;
	while (p > buf) {
		if (p[-1] == '\n' && ++seen == lines)
			break;
		p--;
	}
	json_t *text = json_stringn(p, (size_t)(buf + len - p));
	if (!text)
		text = json_string("(log is not valid UTF-8)");
	return json_pack("{s:s, s:o}", "component_id", canon, "log", text);
}

json_t *devmode_ctl_handle(struct appmgr *m, const char *req, size_t len)
{
	static const char *const ops[] = {"enable-development", "enable-cloud-test", "development", "sideload",
	                                  "sideload-delete",    "quota",             "logs",        NULL};
	static const char *const keys[] = {"version", "op", "app", "path", "capability", "lines", NULL};
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *j = rp_json_parse(req, len, APPMGR_CTL_MAX_MSG, "control request", &err);
	const char *op = j ? json_string_value(json_object_get(j, "op")) : NULL;
	size_t k = 0;
	while (op && ops[k] && strcmp(ops[k], op) != 0)
		k++;
	if (!op || !ops[k])
		return NULL; /* not ours: the general control protocol answers (and reports errors) */
	int64_t version = 0, lines = 100;
	const char *app = NULL, *path = NULL, *cap = NULL;
	if (rp_json_check_keys(j, keys, "control request", &err) < 0 ||
	    rp_json_get_int(j, "version", true, 1, 1000, &version, &err) < 0 ||
	    rp_json_get_string(j, "app", false, &app, &err) < 0 || rp_json_get_string(j, "path", false, &path, &err) < 0 ||
	    rp_json_get_string(j, "capability", false, &cap, &err) < 0 ||
	    rp_json_get_int(j, "lines", false, 1, 10000, &lines, &err) < 0)
		return reply_error(&err);
	if (version != APPMGR_CTL_VERSION) {
		rp_error_set(&err, RP_E_UNSUPPORTED, "control protocol version %lld is not supported (this is %d)",
		             (long long)version, APPMGR_CTL_VERSION);
		return reply_error(&err);
	}
	bool needs_app = strcmp(op, "sideload-delete") == 0 || strcmp(op, "quota") == 0 || strcmp(op, "logs") == 0;
	if (needs_app && (!app || !rp_guid_is_valid(app))) {
		rp_error_set(&err, RP_E_INVALID, "control request \"%s\" needs \"app\" (a component ID)", op);
		return reply_error(&err);
	}
	json_t *st = NULL;
	if (strcmp(op, "enable-development") == 0) {
		if (!cap)
			rp_error_set(&err, RP_E_INVALID, "enable-development needs \"capability\" (the file's contents)");
		else
			st = enable_development(m, cap, &err);
	} else if (strcmp(op, "enable-cloud-test") == 0) {
		st = enable_cloud_test(m, &err);
	} else if (strcmp(op, "development") == 0) {
		st = show_development(m);
	} else if (strcmp(op, "sideload") == 0) {
		if (!path || path[0] != '/' || strlen(path) >= 4096)
			rp_error_set(&err, RP_E_INVALID, "sideload needs an absolute \"path\" of a package file");
		else
			st = sideload(m, path, &err);
	} else if (strcmp(op, "sideload-delete") == 0) {
		st = sideload_delete(m, app, &err);
	} else if (strcmp(op, "quota") == 0) {
		st = quota(m, app, &err);
	} else {
		st = logs(m, app, lines, &err);
	}
	if (!st)
		return reply_error(&err);
	return reply_ok(st);
}
