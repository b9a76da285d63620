/* The application manager. Single-threaded: apps are tracked through pidfds in one epoll set;
 * stop deadlines and restart backoffs are the epoll timeout. Every start re-reads the installed
 * package: a signed package is verified again into a sealed copy and extracted from that copy,
 * so what runs is what was verified at that moment. */
#include "device/appmgr/appmgr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/appmgr/app_loader.h"
#include "device/appmgr/appmgr_broker.h"
#include "device/appmgr/appmgr_firewall.h"
#include "device/appmgr/appmgr_power.h"
#include "device/appmgr/cgroup.h"
#include "device/appmgr/devmode.h"
#include "device/appmgr/sandbox_landlock.h"
#include "device/appmgr/sandbox_tree.h"
#include "device/appmgr/deviceauth.h"
#include "device/appmgr/storage.h"
#include "device/appmgr/uidalloc.h"
#include "device/broker/board.h"
#include "pkg/manifest.h"

#define APPMGR_MAX_APPS 64
#define APPMGR_TREE_MAX_ENTRIES 10000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STABLE_RUN_MS 60000

extern char **environ;

enum app_state { APP_STOPPED, APP_RUNNING, APP_STOPPING, APP_BACKOFF };

static const char *const state_names[] = {"stopped", "running", "stopping", "backoff"};

struct app {
	char cid[RP_GUID_STRLEN + 1];
	bool from_package;
	bool sideloaded; /* development mode: verified against the capability's development keys */
	uint32_t uid;
	struct manifest *manifest;
	enum app_state state;
	pid_t pid;
	int pidfd;
	struct cgroup_app cg;
	bool cg_live;
	struct sandbox_child warm; /* prepared container waiting for a start request */
	struct sandbox_child live; /* the running one (pid and pidfd mirrored above) */
	struct appmgr_broker broker; /* serves the prepared or running container on its fd 3 */
	bool udp_filtered; /* its broker user's UDP server filter is installed (appmgr_firewall.h) */
	bool storage_mounted;
	int64_t started_ms, deadline_ms; /* deadline: SIGKILL (stopping) or restart (backoff) */
	unsigned restarts, backoff_ms;
	char last_exit[256];
};

struct appmgr {
	struct appmgr_config cfg;
	struct cgroup_layout cg;
	struct sandbox_seccomp_prog seccomp;
	int landlock_abi;
	int epfd;
	int lock_fd; /* flock on STATE/appmgr.lock: one manager per state directory */
	struct app *apps[APPMGR_MAX_APPS];
	size_t napps;
	/* Installed apps that failed to load (e.g. the stored package no longer verifies). */
	char broken_cid[APPMGR_MAX_APPS][RP_GUID_STRLEN + 1];
	char *broken_why[APPMGR_MAX_APPS];
	size_t nbroken;
	char *apps_dir, *run_dir, *staging;
	char *capability_path; /* STATE/devmode/capability (devmode.h) */
	int deviceauth_watch;  /* inotify on cfg.deviceauth_dir: renewals reach running apps; -1: none */
	char learned_tenant[RP_GUID_STRLEN + 1]; /* the agent's record (cfg.device_state), last read */
};

static void prewarm(struct appmgr *m, struct app *a);
static void stop_and_wait(struct appmgr *m, struct app *a);
static void app_log(struct app *a, enum rp_log_level lvl, const char *event, const char *what);
static void cancel_warm_in(struct appmgr *m, struct app *a);
static int not_found(struct appmgr *m, const char *cid, rp_error *err);

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void appmgr_config_defaults(struct appmgr_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->uid_base = 100000;
	cfg->uid_count = 1000;
	cfg->memory_bytes = 64ull << 20;
	cfg->pids_max = 32;
	cfg->tmp_bytes = 1ull << 20;
	cfg->cgroup_parent = "rampart-apps";
	cfg->landlock_required_abi = SANDBOX_LANDLOCK_ABI_NET;
	cfg->landlock_mode = SANDBOX_LANDLOCK_REQUIRED;
	cfg->restart = true;
}

static char *app_path(const struct appmgr *m, const char *cid, const char *leaf)
{
	return xasprintf("%s/%s%s%s", m->apps_dir, cid, leaf ? "/" : "", leaf ? leaf : "");
}

static char *run_path(const struct appmgr *m, const char *what, const char *cid)
{
	return xasprintf("%s/%s/%s", m->run_dir, what, cid);
}

static struct app *find_app(struct appmgr *m, const char *cid)
{
	for (size_t i = 0; i < m->napps; i++)
		if (strcasecmp(m->apps[i]->cid, cid) == 0)
			return m->apps[i];
	return NULL;
}

static void app_free(struct app *a)
{
	if (!a)
		return;
	manifest_free(a->manifest);
	free(a);
}

/* Cloud apps are verified against the trust keys; sideloaded ones against the capability's
 * development keys (the loader checks the capability first). */
static struct app_loader loader_of(const struct appmgr *m, bool sideloaded)
{
	struct app_loader l = {
		.path = m->cfg.loader_path,
		.trust_keys = m->cfg.trust_key_paths,
		.trust_key_count = m->cfg.trust_key_count,
		.capability_path = sideloaded ? m->capability_path : NULL,
		.capability_key = m->cfg.capability_key_path,
		.device_id = m->cfg.device_id,
	};
	return l;
}

static struct manifest *manifest_from_dir(const char *dir, rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/app_manifest.json", dir);
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	if (rp_read_file(path, MANIFEST_MAX_BYTES, &buf, &len, err) < 0)
		return NULL;
	return manifest_parse((const char *)buf, len, err);
}

/* Load apps/<cid>/app.json: {"uid": n, "source": "package"|"dir"} and the manifest. */
static struct app *load_app(struct appmgr *m, const char *cid, rp_error *err)
{
	_cleanup_free_ char *rec = app_path(m, cid, "app.json");
	_cleanup_json_ json_t *j = rp_json_load_file(rec, 4096, err);
	if (!j)
		return NULL;
	int64_t uid = 0;
	const char *source = NULL;
	if (rp_json_get_int(j, "uid", true, 1, UINT32_MAX, &uid, err) < 0 ||
	    rp_json_get_string(j, "source", true, &source, err) < 0)
		return NULL;
	struct app *a = xcalloc(1, sizeof(*a));
	snprintf(a->cid, sizeof(a->cid), "%s", cid);
	a->uid = (uint32_t)uid;
	a->pidfd = -1;
	a->warm = (struct sandbox_child)SANDBOX_CHILD_INIT;
	a->live = (struct sandbox_child)SANDBOX_CHILD_INIT;
	a->broker = (struct appmgr_broker)APPMGR_BROKER_INIT;
	a->sideloaded = strcmp(source, "sideload") == 0;
	a->from_package = strcmp(source, "package") == 0 || a->sideloaded;
	if (a->from_package) {
		_cleanup_free_ char *pkgpath = app_path(m, cid, "package");
		struct app_loader l = loader_of(m, a->sideloaded);
		if (app_loader_run(&l, "check", pkgpath, NULL, &a->manifest, err) < 0)
			a->manifest = NULL;
	} else {
		_cleanup_free_ char *image = app_path(m, cid, "image");
		a->manifest = manifest_from_dir(image, err);
	}
	if (!a->manifest) {
		app_free(a);
		return NULL;
	}
	return a;
}

/* Watch the agent's directory so a renewed certificate reaches running apps (the agent
 * replaces client.pem by rename every ~16 h). Created if missing, as the agent would. */
static int watch_deviceauth(struct appmgr *m, rp_error *err)
{
	if (!m->cfg.deviceauth_dir)
		return 0;
	if (rp_mkdir_p(m->cfg.deviceauth_dir, 0700, err) < 0)
		return rp_error_prefix(err, "--deviceauth-dir");
	m->deviceauth_watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->deviceauth_watch < 0)
		return rp_error_set_errno(err, errno, "inotify_init1");
	if (inotify_add_watch(m->deviceauth_watch, m->cfg.deviceauth_dir,
	                      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0)
		return rp_error_set_errno(err, errno, "watching --deviceauth-dir %s", m->cfg.deviceauth_dir);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &m->deviceauth_watch};
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->deviceauth_watch, &ev) < 0)
		return rp_error_set_errno(err, errno, "epoll_ctl on the inotify fd");
	return 0;
}

/* This device's tenant: --tenant-id, else what the agent recorded (cfg.device_state), read at each
 * use so a device claimed after the manager started needs no restart; NULL when unknown (callers
 * then refuse DeviceAuthentication). */
static const char *device_tenant(struct appmgr *m)
{
	if (m->cfg.tenant_id || !m->cfg.device_state)
		return m->cfg.tenant_id;
	m->learned_tenant[0] = '\0';
	_cleanup_free_ char *path = xasprintf("%s/update/config.json", m->cfg.device_state);
	rp_error e = RP_ERROR_INIT;
	_cleanup_json_ json_t *j = rp_json_load_file(path, 4096, &e);
	const char *tenant = NULL;
	if (!j || rp_json_get_string(j, "tenant_id", true, &tenant, &e) < 0 ||
	    rp_guid_normalize(tenant, m->learned_tenant, &e) < 0) {
		m->learned_tenant[0] = '\0';
		return NULL;
	}
	return m->learned_tenant;
}

static bool wants_deviceauth(const struct app *a)
{
	return a->manifest && a->manifest->caps.device_auth_tenant[0] != '\0';
}

/* Check A's DeviceAuthentication against this device and bring its copy of the certificate
 * up to date; *DIR (malloc'd) is what the sandbox mounts, NULL for apps without it (whose stale
 * copy, e.g. from a previous version that declared it, is removed). */
static int sync_deviceauth(struct appmgr *m, struct app *a, char **dir, rp_error *err)
{
	*dir = NULL;
	_cleanup_free_ char *copy = run_path(m, "deviceauth", a->cid);
	if (!wants_deviceauth(a))
		return rp_remove_tree(copy, err);
	if (deviceauth_check(a->manifest->name, a->manifest->caps.device_auth_tenant, device_tenant(m),
	                     m->cfg.deviceauth_dir, err) < 0)
		return -1;
	_cleanup_free_ char *parent = xasprintf("%s/deviceauth", m->run_dir);
	bool changed = false;
	if (rp_mkdir_p(parent, 0700, err) < 0 ||
	    deviceauth_refresh(m->cfg.deviceauth_dir, copy, a->uid, &changed, err) < 0)
		return -1;
	if (changed)
		app_log(a, RP_LOG_INFO, "app.deviceauth.refreshed", "device certificate copy updated");
	*dir = steal_ptr(copy);
	return 0;
}

/* The agent's directory changed: refresh every entitled app's copy (running, prepared or not). */
static void on_deviceauth_change(struct appmgr *m)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(m->deviceauth_watch, buf, sizeof(buf)) > 0)
		; /* drain: what changed does not matter, the copies are compared */
	for (size_t i = 0; i < m->napps; i++) {
		struct app *a = m->apps[i];
		if (!wants_deviceauth(a))
			continue;
		rp_error e = RP_ERROR_INIT;
		_cleanup_free_ char *dir = NULL;
		if (sync_deviceauth(m, a, &dir, &e) < 0)
			app_log(a, RP_LOG_WARNING, "app.deviceauth.failed", e.message);
	}
}

static void drop_udp_filter(struct appmgr *m, struct app *a, bool force);

struct appmgr *appmgr_open(const struct appmgr_config *cfg, rp_error *err)
{
	struct appmgr *m = xcalloc(1, sizeof(*m));
	m->cfg = *cfg;
	m->epfd = -1;
	m->lock_fd = -1;
	m->deviceauth_watch = -1;
	m->apps_dir = xasprintf("%s/apps", cfg->state_dir);
	m->run_dir = xasprintf("%s/run", cfg->state_dir);
	m->staging = xasprintf("%s/run/root", cfg->state_dir);
	m->capability_path = devmode_capability_path(cfg->state_dir);
	if (rp_mkdir_p(m->apps_dir, 0700, err) < 0 || rp_mkdir_p(m->staging, 0700, err) < 0)
		goto fail;
	{
		/* Two managers on one state directory would fight over apps, cgroups and mounts. */
		_cleanup_free_ char *lock = xasprintf("%s/appmgr.lock", cfg->state_dir);
		m->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (m->lock_fd < 0) {
			rp_error_set_errno(err, errno, "opening %s", lock);
			goto fail;
		}
		if (flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				rp_error_set(err, RP_E_CONFLICT, "another rampart-appmgr is using %s; send it requests with "
				             "'rampart-appmgr ctl --socket PATH ...' instead", cfg->state_dir);
			else
				rp_error_set_errno(err, errno, "locking %s", lock);
			goto fail;
		}
	}
	appmgr_power_init(cfg->state_dir);
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0) {
		rp_error_set_errno(err, errno, "epoll_create1");
		goto fail;
	}
	if (cgroup_setup(&m->cg, cfg->cgroup_parent, (enum cgroup_policy)cfg->cgroup_policy, err) < 0 ||
	    sandbox_seccomp_build(&m->seccomp, err) < 0 ||
	    watch_deviceauth(m, err) < 0)
		goto fail;
	if (m->cg.mode == CGROUP_MODE_V1 && m->cg.v2_unused_mount[0])
		rp_log_event(RP_LOG_NOTICE, "appmgr.cgroup.v1",
		             "app limits use cgroup v1: the cgroup2 mount at %s is not used because %s", m->cg.v2_unused_mount,
		             m->cg.v2_unused_why);
	m->landlock_abi = sandbox_landlock_abi();
	if (cfg->allow_unfiltered_udp_servers)
		rp_log_event(RP_LOG_WARNING, "appmgr.udp_filter.degraded",
		             "--allow-unfiltered-udp-servers: apps with AllowedUdpServerPorts start even when their "
		             "reply-only filter cannot be installed, and can then send datagrams to any address");
	rp_log_event(RP_LOG_INFO, "appmgr.started", "cgroup v%d, Landlock ABI %d (required %d%s)", (int)m->cg.mode,
	             m->landlock_abi, cfg->landlock_required_abi,
	             cfg->landlock_mode == SANDBOX_LANDLOCK_DEGRADED ? ", degraded mode allowed" : "");
	DIR *d = opendir(m->apps_dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL && m->napps < APPMGR_MAX_APPS) {
			if (!rp_guid_is_valid(de->d_name))
				continue;
			rp_error e = RP_ERROR_INIT;
			struct app *a = load_app(m, de->d_name, &e);
			if (a) {
				m->apps[m->napps++] = a;
				if (cfg->broker_path && a->manifest->caps.allowed_udp_server_ports_count > 0)
					drop_udp_filter(m, a, true);
				prewarm(m, a);
			} else {
				rp_log_event(RP_LOG_ERROR, "app.load.failed", "installed app %s cannot be loaded: %s",
				             de->d_name, e.message);
				if (m->nbroken < APPMGR_MAX_APPS) {
					snprintf(m->broken_cid[m->nbroken], RP_GUID_STRLEN + 1, "%.36s", de->d_name);
					m->broken_why[m->nbroken++] = xstrdup(e.message);
				}
			}
		}
		closedir(d);
	}
	return m;
fail:
	rp_error_prefix(err, "starting the application manager");
	appmgr_close(m);
	return NULL;
}

static int pick_uid(struct appmgr *m, uint32_t *uid, rp_error *err)
{
	uint32_t used[APPMGR_MAX_APPS];
	for (size_t i = 0; i < m->napps; i++)
		used[i] = m->apps[i]->uid;
	return uidalloc_pick(used, m->napps, m->cfg.uid_base, m->cfg.uid_count, uid, err);
}

static int write_record(struct appmgr *m, const char *cid, uint32_t uid, const char *source, rp_error *err)
{
	_cleanup_free_ char *rec = app_path(m, cid, "app.json");
	_cleanup_free_ char *text = xasprintf("{\"source\":\"%s\",\"uid\":%u}\n", source, uid);
	return rp_write_file_atomic(rec, text, strlen(text), 0600, err);
}

static int check_new(struct appmgr *m, const struct manifest *mf, rp_error *err)
{
	if (mf->realtime)
		return rp_error_set(err, RP_E_UNSUPPORTED, "real-time capable apps are not supported by this manager");
	if (m->napps == APPMGR_MAX_APPS)
		return rp_error_set(err, RP_E_LIMIT, "already %d apps installed", APPMGR_MAX_APPS);
	/* One owner per peripheral, compared by the ids the board (which the brokers use) gives the
	 * entries; an entry the board does not define is refused, as its broker would refuse to start.
	 * Without a board file, only the spellings can be compared (docs/decisions.md). */
	struct board_source src = {.path = m->cfg.board_path};
	_cleanup_(board_freep) struct board *board = NULL;
	if (m->cfg.board_path) {
		if (!(board = board_load(m->cfg.board_path, err)))
			return rp_error_prefix(err, "checking the app's peripherals against the device's board");
		src.board = board;
		if (manifest_resolve_resources(mf, board_resolve_entry, &src, err) < 0)
			return -1;
	} else if (mf->caps.gpio_count + mf->caps.uart_count + mf->caps.i2c_master_count + mf->caps.spi_master_count +
	           mf->caps.adc_count + mf->caps.pwm_count) {
		rp_log_event(RP_LOG_WARNING, "app.install.no_board",
		             "no board file: peripheral ownership of %s is checked by spelling only", mf->component_id);
	}
	for (size_t i = 0; i < m->napps; i++) {
		if (strcmp(m->apps[i]->cid, mf->component_id) == 0)
			continue; /* an update of the same app */
		if (manifest_check_conflicts_resolved(m->apps[i]->manifest, mf, board ? board_resolve_entry : NULL, &src,
		                                      err) < 0)
			return -1;
	}
	/* Fail closed at install: an app for another tenant never gets this device's certificate. */
	return deviceauth_check(mf->name, mf->caps.device_auth_tenant, device_tenant(m), m->cfg.deviceauth_dir, err);
}

/* Register (or replace, for an update) the app record in memory. */
static int adopt(struct appmgr *m, const char *cid, rp_error *err)
{
	struct app *old = find_app(m, cid);
	if (old && old->state != APP_STOPPED)
		return rp_error_set(err, RP_E_CONFLICT, "app %s is running; stop it before updating", cid);
	struct app *a = load_app(m, cid, err);
	if (!a)
		return -1;
	if (old) {
		cancel_warm_in(m, old);
		if (old->storage_mounted) {
			/* Stays mounted; the new record takes it over. */
			a->storage_mounted = true;
		}
		for (size_t i = 0; i < m->napps; i++)
			if (m->apps[i] == old)
				m->apps[i] = a;
		app_free(old);
	} else {
		m->apps[m->napps++] = a;
	}
	prewarm(m, a);
	return 0;
}

static uint32_t uid_for(struct appmgr *m, const char *cid, rp_error *err, int *rc)
{
	struct app *old = find_app(m, cid);
	uint32_t uid = 0;
	*rc = 0;
	if (old)
		return old->uid; /* updates keep the uid: storage stays readable */
	*rc = pick_uid(m, &uid, err);
	return uid;
}

/* An update stops the running version first (SIGTERM, SIGKILL after 2 s); returns whether it was
 * running, so the new version is started in its place. A backoff counts as running. */
static bool update_stop(struct appmgr *m, struct app *old)
{
	if (!old || old->state == APP_STOPPED)
		return false;
	app_log(old, RP_LOG_INFO, "app.update.stopping", "stopping for an update");
	stop_and_wait(m, old);
	return true;
}

static int install_package(struct appmgr *m, const char *path, bool sideload, char cid[37], rp_error *err)
{
	/* The loader verifies and stores the verified bytes under a temporary name; the component
	 * ID, from the verified manifest, then names the app's directory. */
	_cleanup_free_ char *incoming = xasprintf("%s/.incoming-%d", m->apps_dir, (int)getpid());
	struct app_loader l = loader_of(m, sideload);
	_cleanup_manifest_ struct manifest *mf = NULL;
	if (app_loader_run(&l, "store", path, incoming, &mf, err) < 0 || check_new(m, mf, err) < 0) {
		unlink(incoming);
		return rp_error_prefix(err, "installing %s", path);
	}
	int rc;
	uint32_t uid = uid_for(m, mf->component_id, err, &rc);
	struct app *old = find_app(m, mf->component_id);
	/* Sideloading never replaces an app the cloud installed (its rules stay the cloud's). */
	if (rc == 0 && sideload && old && !old->sideloaded)
		rc = rp_error_set(err, RP_E_CONFLICT, "app %s was installed from the cloud, not sideloaded; it cannot be "
		                  "replaced by a sideloaded package", mf->component_id);
	bool was_running = rc == 0 && update_stop(m, old);
	if (rc == 0 && old && old->state != APP_STOPPED)
		rc = rp_error_set(err, RP_E_CONFLICT, "app %s did not stop for the update", mf->component_id);
	_cleanup_free_ char *dir = app_path(m, mf->component_id, NULL);
	_cleanup_free_ char *dst = app_path(m, mf->component_id, "package");
	if (rc < 0 || rp_mkdir_p(dir, 0700, err) < 0) {
		unlink(incoming);
		return rp_error_prefix(err, "installing %s", path);
	}
	if (rename(incoming, dst) < 0) {
		int e = errno;
		unlink(incoming);
		return rp_error_set_errno(err, e, "installing %s: storing the package", path);
	}
	if (write_record(m, mf->component_id, uid, sideload ? "sideload" : "package", err) < 0 ||
	    adopt(m, mf->component_id, err) < 0)
		return rp_error_prefix(err, "installing %s", path);
	snprintf(cid, 37, "%s", mf->component_id);
	if (was_running && appmgr_start(m, cid, err) < 0)
		return rp_error_prefix(err, "restarting %s after the update", cid);
	rp_log_event(RP_LOG_INFO, "app.installed", "installed %s (%s) from %s, uid %u", mf->name, cid,
	             sideload ? "a sideloaded development package" : "package", uid);
	return 0;
}

int appmgr_install_package(struct appmgr *m, const char *path, char cid[37], rp_error *err)
{
	return install_package(m, path, false, cid, err);
}

int appmgr_sideload_package(struct appmgr *m, const char *path, char cid[37], rp_error *err)
{
	return install_package(m, path, true, cid, err);
}

const struct appmgr_config *appmgr_get_config(const struct appmgr *m)
{
	return &m->cfg;
}

int appmgr_storage_info(struct appmgr *m, const char *cid, uint32_t *limit_kb, char **mountpoint, rp_error *err)
{
	*limit_kb = 0;
	*mountpoint = NULL;
	struct app *a = find_app(m, cid);
	if (!a)
		return not_found(m, cid, err);
	*limit_kb = a->manifest->caps.mutable_storage_kb;
	if (a->storage_mounted)
		*mountpoint = run_path(m, "storage", a->cid);
	return 0;
}

static int copy_tree(const char *src, const char *dst, rp_error *err)
{
	_cleanup_free_ char *from = xasprintf("%s/.", src);
	char *const argv[] = {"cp", "-R", "--no-preserve=ownership", "--", from, (char *)dst, NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, "/bin/cp", NULL, NULL, argv, environ);
	if (rc != 0)
		return rp_error_set_errno(err, rc, "running cp");
	int status;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return rp_error_set(err, RP_E_IO, "copying %s to %s failed", src, dst);
	return 0;
}

int appmgr_install_dir(struct appmgr *m, const char *dir, char cid[37], rp_error *err)
{
	if (sandbox_tree_check(dir, APPMGR_TREE_MAX_ENTRIES, err) < 0)
		return rp_error_prefix(err, "installing %s", dir);
	_cleanup_manifest_ struct manifest *mf = manifest_from_dir(dir, err);
	if (!mf || check_new(m, mf, err) < 0)
		return rp_error_prefix(err, "installing %s", dir);
	int rc;
	uint32_t uid = uid_for(m, mf->component_id, err, &rc);
	if (rc < 0)
		return rp_error_prefix(err, "installing %s", dir);
	struct app *old = find_app(m, mf->component_id);
	bool was_running = update_stop(m, old);
	if (old && old->state != APP_STOPPED)
		return rp_error_set(err, RP_E_CONFLICT, "installing %s: app %s did not stop for the update", dir,
		                    mf->component_id);
	_cleanup_free_ char *appdir = app_path(m, mf->component_id, NULL);
	_cleanup_free_ char *image = app_path(m, mf->component_id, "image");
	_cleanup_free_ char *staged = app_path(m, mf->component_id, "image.new");
	if (rp_mkdir_p(appdir, 0700, err) < 0 || rp_remove_tree(staged, err) < 0 || rp_mkdir_p(staged, 0755, err) < 0 ||
	    copy_tree(dir, staged, err) < 0 || sandbox_tree_check(staged, APPMGR_TREE_MAX_ENTRIES, err) < 0 ||
	    rp_remove_tree(image, err) < 0)
		return rp_error_prefix(err, "installing %s", dir);
	if (rename(staged, image) < 0)
		return rp_error_set_errno(err, errno, "installing %s: renaming the image", dir);
	if (write_record(m, mf->component_id, uid, "dir", err) < 0 || adopt(m, mf->component_id, err) < 0)
		return rp_error_prefix(err, "installing %s", dir);
	snprintf(cid, 37, "%s", mf->component_id);
	if (was_running && appmgr_start(m, cid, err) < 0)
		return rp_error_prefix(err, "restarting %s after the update", cid);
	rp_log_event(RP_LOG_INFO, "app.installed", "installed %s (%s) from directory (development), uid %u", mf->name,
	             cid, uid);
	return 0;
}

/* The package tree to run. A signed package is verified again now by the loader and extracted
 * from its sealed copy into a fresh root-owned directory; the manifest used to start the app is
 * the one from that verification. */
static char *prepare_root(struct appmgr *m, struct app *a, rp_error *err)
{
	if (!a->from_package)
		return app_path(m, a->cid, "image");
	_cleanup_free_ char *pkgpath = app_path(m, a->cid, "package");
	_cleanup_free_ char *root = run_path(m, "images", a->cid);
	if (rp_remove_tree(root, err) < 0 || rp_mkdir_p(root, 0755, err) < 0)
		return NULL;
	struct app_loader l = loader_of(m, a->sideloaded);
	struct manifest *fresh = NULL;
	if (app_loader_run(&l, "extract", pkgpath, root, &fresh, err) < 0)
		return NULL;
	if (strcmp(fresh->component_id, a->cid) != 0) {
		rp_error_set(err, RP_E_VERIFY, "stored package now claims component %s", fresh->component_id);
		manifest_free(fresh);
		return NULL;
	}
	manifest_free(a->manifest);
	a->manifest = fresh;
	return steal_ptr(root);
}

static void app_log(struct app *a, enum rp_log_level lvl, const char *event, const char *what)
{
	rp_log_event(lvl, event, "app %s (%s): %s", a->manifest->name, a->cid, what);
}

/* At each start: a log past half the cap moves to LEAF.1 (replacing the older one), so an app
 * keeps at most two logs however often it restarts, each bounded by RLIMIT_FSIZE (the app's
 * log) or the broker's own cap (broker.log). */
static int rotate_log(struct appmgr *m, const struct app *a, const char *leaf, rp_error *err)
{
	_cleanup_free_ char *path = app_path(m, a->cid, leaf);
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : rp_error_set_errno(err, errno, "inspecting %s", path);
	if (st.st_size <= (off_t)(SANDBOX_LOG_MAX_BYTES / 2))
		return 0;
	_cleanup_free_ char *old = xasprintf("%s.1", path);
	if (rename(path, old) < 0)
		return rp_error_set_errno(err, errno, "rotating %s", path);
	return 0;
}

static int open_log(struct appmgr *m, const struct app *a, rp_error *err)
{
	if (rotate_log(m, a, "log", err) < 0 || rotate_log(m, a, "broker.log", err) < 0)
		return -1;
	_cleanup_free_ char *path = app_path(m, a->cid, "log");
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening %s", path);
	return fd;
}

static void drop_cgroup(struct app *a)
{
	if (!a->cg_live)
		return;
	rp_error e = RP_ERROR_INIT;
	if (cgroup_app_destroy(&a->cg, &e) < 0)
		rp_log_event(RP_LOG_WARNING, "app.cgroup.leak", "%s", e.message);
	a->cg_live = false;
}

static bool broker_uid_of(const struct appmgr *m, const struct app *a, uint32_t *uid, rp_error *err)
{
	return uidalloc_broker_uid(a->uid, m->cfg.uid_base, m->cfg.uid_count, uid, err) == 0;
}

/* Remove A's UDP server filter (a stale one too when FORCE: a manager that died leaves it). */
static void drop_udp_filter(struct appmgr *m, struct app *a, bool force)
{
	uint32_t uid = 0;
	rp_error e = RP_ERROR_INIT;
	if (!a->udp_filtered && !force)
		return;
	if (!broker_uid_of(m, a, &uid, &e) || (force ? appmgr_fw_remove_stale(uid, &e) : appmgr_fw_remove(uid, &e)) < 0)
		rp_log_event(RP_LOG_WARNING, "app.udp_filter.leak", "app %s (%s): %s", a->manifest->name, a->cid, e.message);
	a->udp_filtered = false;
}

/* Before A's broker can open a UDP server socket: only replies to clients may leave it. Fails
 * closed unless the manager runs in the degraded mode. */
static int install_udp_filter(struct appmgr *m, struct app *a, uint32_t broker_uid, rp_error *err)
{
	const struct manifest_capabilities *c = &a->manifest->caps;
	if (c->allowed_udp_server_ports_count == 0)
		return 0;
	rp_error e = RP_ERROR_INIT;
	if (appmgr_fw_install(broker_uid, c->allowed_udp_server_ports, c->allowed_udp_server_ports_count, &e) == 0) {
		a->udp_filtered = true;
		return 0;
	}
	if (m->cfg.allow_unfiltered_udp_servers) {
		rp_log_event(RP_LOG_WARNING, "app.udp_filter.degraded",
		             "app %s (%s) runs with UNFILTERED UDP server ports (--allow-unfiltered-udp-servers): it can "
		             "send datagrams to any address from them: %s",
		             a->manifest->name, a->cid, e.message);
		return 0;
	}
	return rp_error_set(err, e.code,
	                    "the app has AllowedUdpServerPorts, whose reply-only filter cannot be installed: %s; "
	                    "run rampart-appmgr with CAP_NET_ADMIN on a kernel with nf_tables and conntrack (and "
	                    "remove any foreign chain of that name), or accept the risk with "
	                    "--allow-unfiltered-udp-servers",
	                    e.message);
}

/* The broker lives exactly as long as the container it serves, and so does its UDP filter. */
static void stop_broker(struct appmgr *m, struct app *a)
{
	if (a->broker.link_fd >= 0)
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, a->broker.link_fd, NULL);
	appmgr_broker_stop(&a->broker);
	drop_udp_filter(m, a, false);
}

static void cancel_warm_in(struct appmgr *m, struct app *a)
{
	if (a->warm.pid <= 0)
		return;
	sandbox_cancel(&a->warm);
	drop_cgroup(a);
	stop_broker(m, a);
}

/* Open A's broker channels; returns the app's end, -1 when the manager runs without brokers, or
 * -2 with ERR set. The broker itself starts (spawn_broker) once the container is built, so on a
 * start it never competes with the container set-up for the CPU. */
static int open_broker(struct appmgr *m, struct app *a, int ends[2], rp_error *err)
{
	ends[0] = ends[1] = -1;
	if (!m->cfg.broker_path)
		return -1;
	stop_broker(m, a);
	int app_fd = -1;
	if (appmgr_broker_open(&a->broker, &app_fd, ends, err) < 0)
		return -2;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &a->broker};
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, a->broker.link_fd, &ev) < 0)
		rp_abort("epoll_ctl on a fresh broker link");
	return app_fd;
}

/* Start A's broker for the tree at ROOT on the channels from open_broker (closes ENDS). */
static int spawn_broker(struct appmgr *m, struct app *a, const char *root, int log_fd, int ends[2], rp_error *err)
{
	_cleanup_free_ char *manifest = xasprintf("%s/app_manifest.json", root);
	_cleanup_free_ char *events = app_path(m, a->cid, "broker.log");
	uint32_t broker_uid = 0;
	if (!broker_uid_of(m, a, &broker_uid, err) || install_udp_filter(m, a, broker_uid, err) < 0) {
		close(ends[0]);
		close(ends[1]);
		ends[0] = ends[1] = -1;
		return -1;
	}
	struct appmgr_broker_spec bs = {
		.uid = broker_uid,
		.broker_path = m->cfg.broker_path,
		.board_path = m->cfg.board_path,
		.manifest_path = manifest,
		.event_log = events,
		.stderr_fd = log_fd,
		.allow_loopback = m->cfg.broker_allow_loopback,
	};
	return appmgr_broker_spawn(&bs, &a->broker, ends, err);
}

/* Load the package (verifying it again), mount storage, create the cgroup and build the
 * container up to the app's execve (sandbox_prepare); with RUN_NOW (a cold start) straight on
 * through the execve. */
static int prepare_app(struct appmgr *m, struct app *a, bool run_now, rp_error *err)
{
	_cleanup_free_ char *root = prepare_root(m, a, err);
	if (!root)
		return -1;
	_cleanup_free_ char *storage = NULL;
	if (a->manifest->caps.mutable_storage_kb > 0) {
		storage = run_path(m, "storage", a->cid);
		if (!a->storage_mounted) {
			_cleanup_free_ char *image = app_path(m, a->cid, "storage.img");
			if (storage_mount(image, a->manifest->caps.mutable_storage_kb, storage, a->uid, a->uid, err) < 0)
				return -1;
			a->storage_mounted = true;
		}
	}
	/* After prepare_root: the check uses the manifest that was just verified. */
	_cleanup_free_ char *deviceauth = NULL;
	if (sync_deviceauth(m, a, &deviceauth, err) < 0)
		return rp_error_prefix(err, "device certificate");
	_cleanup_close_ int log_fd = open_log(m, a, err);
	if (log_fd < 0)
		return -1;
	drop_cgroup(a);
	if (cgroup_app_create(&m->cg, a->cid, m->cfg.memory_bytes, m->cfg.pids_max, &a->cg, err) < 0)
		return -1;
	a->cg_live = true;
	int broker_ends[2];
	_cleanup_close_ int broker_fd = open_broker(m, a, broker_ends, err);
	if (broker_fd == -2) {
		broker_fd = -1;
		drop_cgroup(a);
		return rp_error_prefix(err, "starting the broker");
	}
	const char *argv[MANIFEST_CMD_ARGS_MAX + 2];
	argv[0] = a->manifest->entry_point;
	for (size_t i = 0; i < a->manifest->cmd_args_count; i++)
		argv[i + 1] = a->manifest->cmd_args[i];
	argv[a->manifest->cmd_args_count + 1] = NULL;
	struct sandbox_spec spec = {
		.name = a->manifest->name[0] ? a->manifest->name : "app",
		.rootfs = root,
		.staging = m->staging,
		.entry_point = a->manifest->entry_point,
		.argv = argv,
		.uid = a->uid,
		.gid = a->uid,
		.storage_dir = storage,
		.deviceauth_dir = deviceauth,
		.broker_fd = broker_fd,
		.log_fd = log_fd,
		.tmp_bytes = m->cfg.tmp_bytes,
		/* Never below a quota the app was granted: a single file may fill its storage or /tmp. */
		.file_max_bytes = (uint64_t)a->manifest->caps.mutable_storage_kb * 1024 > m->cfg.tmp_bytes
		                      ? (uint64_t)a->manifest->caps.mutable_storage_kb * 1024
		                      : m->cfg.tmp_bytes,
		.nofile = 256,
		.nproc = m->cfg.pids_max,
		.cgroup = &a->cg,
		.seccomp = &m->seccomp,
		.landlock_abi = m->landlock_abi,
		.landlock_required_abi = m->cfg.landlock_required_abi,
		.landlock_mode = m->cfg.landlock_mode,
		.run_now = run_now,
	};
	int rc = sandbox_prepare(&spec, &a->warm, err);
	cgroup_app_close_fds(&a->cg);
	if (rc == 0 && broker_fd >= 0 && spawn_broker(m, a, root, log_fd, broker_ends, err) < 0) {
		if (sandbox_child_released(&a->warm)) {
			/* The app runs already: without its broker it would only see ENOTCONN. */
			siginfo_t si;
			syscall(SYS_pidfd_send_signal, a->warm.pidfd, SIGKILL, NULL, 0);
			waitid(P_PIDFD, (id_t)a->warm.pidfd, &si, WEXITED);
			sandbox_child_close(&a->warm);
		} else {
			sandbox_cancel(&a->warm);
		}
		rc = -1;
	} else if (rc < 0 && broker_fd >= 0) {
		close(broker_ends[0]);
		close(broker_ends[1]);
	}
	if (rc < 0) {
		drop_cgroup(a);
		stop_broker(m, a);
	}
	return rc;
}

/* Keep a prepared container for A so its next start is one pipe write (daemon mode). */
static void prewarm(struct appmgr *m, struct app *a)
{
	if (!m->cfg.prewarm || a->warm.pid > 0)
		return;
	rp_error e = RP_ERROR_INIT;
	if (prepare_app(m, a, false, &e) < 0)
		rp_log_event(RP_LOG_WARNING, "app.prepare.failed", "app %s (%s): %s", a->manifest->name, a->cid, e.message);
}

static int not_found(struct appmgr *m, const char *cid, rp_error *err)
{
	for (size_t i = 0; i < m->nbroken; i++)
		if (strcasecmp(m->broken_cid[i], cid) == 0)
			return rp_error_set(err, RP_E_VERIFY, "app %s is installed but cannot be loaded: %s", cid,
			                    m->broken_why[i]);
	return rp_error_set(err, RP_E_NOT_FOUND, "no app %s is installed", cid);
}

int appmgr_start(struct appmgr *m, const char *cid, rp_error *err)
{
	struct app *a = find_app(m, cid);
	if (!a)
		return not_found(m, cid, err);
	if (a->state == APP_RUNNING || a->state == APP_STOPPING)
		return rp_error_set(err, RP_E_CONFLICT, "app %s is already running", cid);
	/* A prepared container mounts the copy's directory, so refreshing the copy now gives this
	 * start the current certificate even if it was prepared hours ago. */
	int rc = -1;
	if (a->warm.pid > 0) {
		_cleanup_free_ char *dir = NULL;
		rc = sync_deviceauth(m, a, &dir, err);
		if (rc < 0) {
			cancel_warm_in(m, a);
			snprintf(a->last_exit, sizeof(a->last_exit), "failed to start: %.200s", err->message);
			app_log(a, RP_LOG_ERROR, "app.start.failed", err->message);
			return rp_error_prefix(err, "starting %s", cid);
		}
		rc = sandbox_release(&a->warm, err);
	}
	if (rc < 0) {
		/* No prepared container, or it died: build one now. */
		cancel_warm_in(m, a);
		rp_error_clear(err);
		/* Straight through to the execve, whose failure is then the caller's error. */
		if (prepare_app(m, a, true, err) < 0) {
			snprintf(a->last_exit, sizeof(a->last_exit), "failed to start: %.200s", err->message);
			app_log(a, RP_LOG_ERROR, "app.start.failed", err->message);
			return rp_error_prefix(err, "starting %s", cid);
		}
	}
	a->live = a->warm;
	a->warm = (struct sandbox_child)SANDBOX_CHILD_INIT;
	a->pid = a->live.pid;
	a->pidfd = a->live.pidfd;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = a};
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, a->pidfd, &ev) < 0)
		rp_abort("epoll_ctl on a fresh pidfd");
	a->state = APP_RUNNING;
	a->started_ms = now_ms();
	rp_log_event(RP_LOG_INFO, "app.started", "app %s (%s) started, pid %d, uid %u", a->manifest->name, a->cid,
	             (int)a->pid, a->uid);
	return 0;
}

static void send_signal(struct app *a, int sig)
{
	if (a->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, a->pidfd, sig, NULL, 0);
}

int appmgr_stop(struct appmgr *m, const char *cid, rp_error *err)
{
	struct app *a = find_app(m, cid);
	if (!a)
		return not_found(m, cid, err);
	if (a->state == APP_BACKOFF) {
		a->state = APP_STOPPED;
		return 0;
	}
	if (a->state != APP_RUNNING)
		return 0;
	/* The app is init of its PID namespace: SIGTERM reaches it only if it handles it. */
	send_signal(a, SIGTERM);
	a->state = APP_STOPPING;
	a->deadline_ms = now_ms() + APPMGR_STOP_GRACE_MS;
	app_log(a, RP_LOG_INFO, "app.stopping", "SIGTERM sent");
	return 0;
}

bool appmgr_is_running(struct appmgr *m, const char *cid)
{
	struct app *a = find_app(m, cid);
	return a && (a->state == APP_RUNNING || a->state == APP_STOPPING);
}

static void describe_exit(struct app *a, const siginfo_t *si, bool oom)
{
	if (si->si_code == CLD_EXITED)
		snprintf(a->last_exit, sizeof(a->last_exit), "exited: status %d", si->si_status);
	else if (oom)
		snprintf(a->last_exit, sizeof(a->last_exit), "killed: memory limit");
	else if (si->si_status == SIGSYS)
		snprintf(a->last_exit, sizeof(a->last_exit), "killed: forbidden system call (SIGSYS)");
	else
		snprintf(a->last_exit, sizeof(a->last_exit), "killed: signal %d (%s)", si->si_status,
		         strsignal(si->si_status));
}

static void on_exit_event(struct appmgr *m, struct app *a)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)a->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
		return;
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, a->pidfd, NULL);
	bool oom = si.si_code != CLD_EXITED && cgroup_app_oom_kills(&a->cg) > 0;
	describe_exit(a, &si, oom);
	rp_error e = RP_ERROR_INIT;
	if (sandbox_exec_result(&a->live, a->manifest->name, &e) < 0)
		snprintf(a->last_exit, sizeof(a->last_exit), "failed to start: %.200s", e.message);
	sandbox_child_close(&a->live);
	a->pidfd = -1;
	/* The app was init of its PID namespace, so its descendants are gone too; the group's
	 * removal sweeps any stragglers. */
	drop_cgroup(a);
	stop_broker(m, a);
	app_log(a, oom ? RP_LOG_WARNING : RP_LOG_INFO, oom ? "app.killed.memory" : "app.exited", a->last_exit);
	bool wanted_stop = a->state == APP_STOPPING;
	a->state = APP_STOPPED;
	a->pid = 0;
	if (wanted_stop || !m->cfg.restart) {
		prewarm(m, a);
		return;
	}
	int64_t ran = now_ms() - a->started_ms;
	if (ran > STABLE_RUN_MS || a->backoff_ms == 0)
		a->backoff_ms = BACKOFF_MIN_MS;
	else if (a->backoff_ms < BACKOFF_MAX_MS)
		a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
	a->state = APP_BACKOFF;
	a->deadline_ms = now_ms() + a->backoff_ms;
	char msg[96];
	snprintf(msg, sizeof(msg), "restarting in %u ms", a->backoff_ms);
	app_log(a, RP_LOG_NOTICE, "app.restart.scheduled", msg);
	prewarm(m, a);
}

static void on_deadlines(struct appmgr *m)
{
	int64_t now = now_ms();
	for (size_t i = 0; i < m->napps; i++) {
		struct app *a = m->apps[i];
		if (a->deadline_ms > now)
			continue;
		if (a->state == APP_STOPPING) {
			/* Killing init of the PID namespace kills every process in it. */
			send_signal(a, SIGKILL);
			a->deadline_ms = INT64_MAX;
			app_log(a, RP_LOG_NOTICE, "app.stop.killed", "did not exit within 2 s of SIGTERM: SIGKILL");
		} else if (a->state == APP_BACKOFF) {
			a->state = APP_STOPPED;
			a->restarts++;
			rp_error e = RP_ERROR_INIT;
			if (appmgr_start(m, a->cid, &e) < 0) {
				a->state = APP_BACKOFF;
				a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
				a->deadline_ms = now + a->backoff_ms;
			}
		}
	}
}

static bool lookup_peer(void *ctx, const char *cid, struct appmgr_broker_peer *out)
{
	struct app *a = find_app(ctx, cid);
	if (!a)
		return false;
	out->manifest = a->manifest;
	out->broker = &a->broker;
	out->running = a->state == APP_RUNNING;
	return true;
}

/* A request from A's broker: app-to-app routing (appmgr_broker.c). */
static void serve_link(struct appmgr *m, struct app *a)
{
	if (a->broker.link_fd < 0)
		return;
	if (!appmgr_broker_serve_link(&a->broker, a->manifest, lookup_peer, m)) {
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, a->broker.link_fd, NULL);
		close(a->broker.link_fd);
		a->broker.link_fd = -1;
		a->broker.accepts_apps = false;
	}
}

void appmgr_foreach_running(struct appmgr *m, appmgr_running_fn fn, void *ctx)
{
	for (size_t i = 0; i < m->napps; i++) {
		struct app *a = m->apps[i];
		if (a->state == APP_RUNNING && a->broker.link_fd >= 0)
			fn(ctx, a->manifest, &a->broker);
	}
}

int appmgr_wait(struct appmgr *m, int extra_fd, int timeout_ms)
{
	int64_t now = now_ms();
	int64_t until = timeout_ms < 0 ? INT64_MAX : now + timeout_ms;
	for (size_t i = 0; i < m->napps; i++) {
		struct app *a = m->apps[i];
		if ((a->state == APP_STOPPING || a->state == APP_BACKOFF) && a->deadline_ms < until)
			until = a->deadline_ms;
	}
	int wait_ms = until == INT64_MAX ? -1 : (int)(until > now ? until - now : 0);
	struct epoll_event evs[16];
	int extra_ready = 0;
	if (extra_fd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, extra_fd, &ev) < 0 && errno != EEXIST)
			rp_abort("epoll_ctl on the control fd");
	}
	/* Going idle with nothing scheduled: hand the heap that app starts and stops left behind
	 * back to the kernel, so the idle manager stays small however many apps it has run. */
	if (wait_ms < 0)
		malloc_trim(0);
	int n = epoll_wait(m->epfd, evs, (int)RP_ARRAY_SIZE(evs), wait_ms);
	for (int i = 0; i < n; i++) {
		struct app *link_of = NULL;
		for (size_t k = 0; k < m->napps && evs[i].data.ptr; k++)
			if (evs[i].data.ptr == &m->apps[k]->broker)
				link_of = m->apps[k];
		if (evs[i].data.ptr == NULL)
			extra_ready = 1;
		else if (evs[i].data.ptr == &m->deviceauth_watch)
			on_deviceauth_change(m);
		else if (link_of)
			serve_link(m, link_of);
		else
			on_exit_event(m, evs[i].data.ptr);
	}
	on_deadlines(m);
	return extra_ready;
}

static json_t *app_json(const struct app *a)
{
	json_t *o = json_object();
	json_object_set_new(o, "component_id", json_string(a->cid));
	json_object_set_new(o, "name", json_string(a->manifest->name));
	json_object_set_new(o, "state", json_string(state_names[a->state]));
	json_object_set_new(o, "uid", json_integer(a->uid));
	if (a->pid > 0)
		json_object_set_new(o, "pid", json_integer(a->pid));
	json_object_set_new(o, "restarts", json_integer(a->restarts));
	json_object_set_new(o, "source", json_string(a->sideloaded     ? "sideload"
	                                             : a->from_package ? "package"
	                                                               : "directory (development)"));
	if (a->last_exit[0])
		json_object_set_new(o, "last_exit", json_string(a->last_exit));
	return o;
}

json_t *appmgr_status(struct appmgr *m, const char *cid, rp_error *err)
{
	if (cid) {
		struct app *a = find_app(m, cid);
		if (!a) {
			not_found(m, cid, err);
			return NULL;
		}
		return app_json(a);
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < m->napps; i++)
		json_array_append_new(arr, app_json(m->apps[i]));
	return arr;
}

/* Stop and wait (bounded by the grace period plus a margin). */
static void stop_and_wait(struct appmgr *m, struct app *a)
{
	rp_error e = RP_ERROR_INIT;
	if (appmgr_stop(m, a->cid, &e) < 0)
		return;
	int64_t give_up = now_ms() + APPMGR_STOP_GRACE_MS + 3000;
	while (a->state == APP_STOPPING && now_ms() < give_up)
		(void)appmgr_wait(m, -1, 200);
}

int appmgr_remove(struct appmgr *m, const char *cid, rp_error *err)
{
	struct app *a = find_app(m, cid);
	if (!a)
		return rp_error_set(err, RP_E_NOT_FOUND, "no app %s is installed", cid);
	stop_and_wait(m, a);
	if (a->state == APP_STOPPING)
		return rp_error_set(err, RP_E_INTERNAL, "app %s did not stop", cid);
	cancel_warm_in(m, a);
	if (a->storage_mounted) {
		_cleanup_free_ char *mp = run_path(m, "storage", a->cid);
		storage_unmount(mp);
		a->storage_mounted = false;
	}
	_cleanup_free_ char *dir = app_path(m, a->cid, NULL);
	_cleanup_free_ char *img = run_path(m, "images", a->cid);
	_cleanup_free_ char *dauth = run_path(m, "deviceauth", a->cid);
	if (rp_remove_tree(dir, err) < 0 || rp_remove_tree(img, err) < 0 || rp_remove_tree(dauth, err) < 0)
		return rp_error_prefix(err, "removing %s", cid);
	for (size_t i = 0; i < m->napps; i++) {
		if (m->apps[i] == a) {
			m->apps[i] = m->apps[--m->napps];
			break;
		}
	}
	rp_log_event(RP_LOG_INFO, "app.removed", "removed %s with its storage", a->cid);
	app_free(a);
	return 0;
}

void appmgr_close(struct appmgr *m)
{
	if (!m)
		return;
	/* Stop everything first: stopping looks apps up by ID, so none may be freed yet. */
	for (size_t i = 0; i < m->napps; i++) {
		struct app *a = m->apps[i];
		stop_and_wait(m, a);
		cancel_warm_in(m, a);
		drop_cgroup(a);
		if (a->storage_mounted) {
			_cleanup_free_ char *mp = run_path(m, "storage", a->cid);
			storage_unmount(mp);
		}
	}
	for (size_t i = 0; i < m->napps; i++)
		app_free(m->apps[i]);
	m->napps = 0;
	cgroup_teardown(&m->cg);
	for (size_t i = 0; i < m->nbroken; i++)
		free(m->broken_why[i]);
	sandbox_seccomp_free(&m->seccomp);
	if (m->epfd >= 0)
		close(m->epfd);
	if (m->lock_fd >= 0)
		close(m->lock_fd);
	if (m->deviceauth_watch >= 0)
		close(m->deviceauth_watch);
	free(m->apps_dir);
	free(m->run_dir);
	free(m->staging);
	free(m->capability_path);
	free(m);
}
