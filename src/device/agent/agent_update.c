/* The agent's update round (see agent_update.h). */
#include "device/agent/agent_update.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/xalloc.h"
#include "device/appmgr/devmode.h"
#include "device/agent/agent_deferral.h"
#include "device/appmgr/appmgr_sysevent.h"
#include "device/broker/broker_proto.h"
#include "device/update/update_fetch.h"
#include "device/update/update_install.h"
#include "device/update/update_status.h"
#include "pkg/package_metadata.h"

#define SELF_MAX_LEN (64 * 1024)
#define APPMGR_MSG_MAX 65536
#define CLAIMS_MAX_LEN (256 * 1024)
/* How long the application manager lets apps answer an update event, and the margin the agent
 * adds before it gives up on the manager's reply (then nothing is deferred). */
#define SYSEVENT_WAIT_MS 5000
#define SYSEVENT_REPLY_MARGIN_S 10

/* STATE/agent/images.json: {COMPONENT_ID: {"image_id", "version"}} for the apps the agent installed.
 * Evidence names an image by ID with the version string the service knows it by, which the update
 * status does not hold; one entry per component, so an upgrade replaces the old version's claim. */
static char *claims_path(const char *state_dir)
{
	return xasprintf("%s/agent/images.json", state_dir);
}

/* MD: the metadata of the package the update client verified against the trusted keys. */
static int claims_record(const char *state_dir, const struct package_metadata *md, rp_error *err)
{
	_cleanup_free_ char *path = claims_path(state_dir);
	_cleanup_json_ json_t *j = rp_json_load_file(path, CLAIMS_MAX_LEN, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	const char *version = md->version_string;
	char num[24];
	if (!version[0]) {
		snprintf(num, sizeof(num), "%" PRIu64, md->version);
		version = num;
	}
	json_object_set_new(j, md->component_id, json_pack("{s:s, s:s}", "image_id", md->image_id, "version", version));
	_cleanup_free_ char *text = rp_json_dump(j);
	if (rp_write_file_atomic(path, text, strlen(text), 0600, err) < 0)
		return rp_error_prefix(err, "recording the installed images");
	return 0;
}

/* One request to the application manager's control socket (SOCK_SEQPACKET, one JSON message each
 * way); returns the reply's "status" (new reference) or NULL with ERR. TIMEOUT_S > 0 bounds the
 * wait for the reply. */
static json_t *appmgr_request_timeout(const char *sock, json_t *req, int timeout_s, rp_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof(sa.sun_path))
		return rp_error_set(err, RP_E_INVALID, "application manager socket path too long: %s", sock), NULL;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return rp_error_set_errno(err, errno, "connecting to the application manager at %s", sock), NULL;
	if (timeout_s > 0) {
		struct timeval tv = {.tv_sec = timeout_s};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	_cleanup_free_ char *out = rp_json_dump(req);
	if (send(fd, out, strlen(out), MSG_NOSIGNAL) < 0)
		return rp_error_set_errno(err, errno, "sending to the application manager"), NULL;
	_cleanup_free_ char *buf = xmalloc(APPMGR_MSG_MAX + 1);
	ssize_t n = recv(fd, buf, APPMGR_MSG_MAX, 0);
	if (n <= 0)
		return rp_error_set_errno(err, n < 0 ? errno : EPIPE, "reading the application manager's reply"), NULL;
	buf[n] = '\0';
	_cleanup_json_ json_t *reply = rp_json_parse(buf, (size_t)n, APPMGR_MSG_MAX, "application manager reply", err);
	if (!reply)
		return NULL;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *msg = json_string_value(json_object_get(reply, "error"));
		return rp_error_set(err, RP_E_INVALID, "the application manager refused: %s", msg ? msg : "no reason"),
		       NULL;
	}
	json_t *st = json_object_get(reply, "status");
	return json_incref(st ? st : json_null());
}

static json_t *appmgr_request(const char *sock, json_t *req, rp_error *err)
{
	return appmgr_request_timeout(sock, req, 0, err);
}

struct app_hook {
	const struct agent_update_options *o;
	int64_t now; /* the check's clock, as the update client sees it */
};

static void announce_app_install(const struct app_hook *h, const struct package_metadata *md);

/* update_app_install_fn: install the verified package through the application manager, then start it. */
static int app_install(void *ctx, const char *package_path, const struct package_metadata *md, rp_error *err)
{
	const struct app_hook *h = ctx;
	/* A developer's device runs what the developer sideloads; cloud apps must not replace it. The
	 * failure is transient, so the app installs at the first check after development mode ends. */
	if (h->o->appmgr_state && devmode_capability_present(h->o->appmgr_state))
		return rp_error_set(err, RP_E_UNAVAILABLE,
		                    "development mode is on (an appDevelopment capability is installed): cloud app updates "
		                    "are paused until `rampart device enable-cloud-test`");
	announce_app_install(h, md);
	_cleanup_json_ json_t *req = json_pack("{s:i, s:s, s:s}", "version", 1, "op", "install", "path", package_path);
	_cleanup_json_ json_t *st = appmgr_request(h->o->appmgr_socket, req, err);
	if (!st)
		return rp_error_prefix(err, "installing %s", package_path);
	const char *cid = json_string_value(json_object_get(st, "component_id"));
	const char *state = json_string_value(json_object_get(st, "state"));
	if (!cid)
		return rp_error_set(err, RP_E_INVALID, "the application manager's install reply names no component");
	rp_log_event(RP_LOG_NOTICE, "agent.app.installed", "application %s installed by the application manager (%s)",
	             cid, state ? state : "?");
	if (claims_record(h->o->state_dir, md, err) < 0)
		return -1;
	if (state && strcmp(state, "running") == 0)
		return 0;
	_cleanup_json_ json_t *start = json_pack("{s:i, s:s, s:s}", "version", 1, "op", "start", "app", cid);
	_cleanup_json_ json_t *st2 = appmgr_request(h->o->appmgr_socket, start, err);
	if (!st2)
		return rp_error_prefix(err, "starting application %s", cid);
	rp_log_event(RP_LOG_NOTICE, "agent.app.started", "application %s started", cid);
	return 0;
}

/* ---- update deferral (applibs sysevent.h; docs/protocol.md, "System events and update deferral") ----
 * The deferral's end is recorded in STATE/agent/deferral.json (agent_deferral.h); the 24 h total is
 * the update client's (update_status deferred_since): that end never lies beyond it. */

/* Minutes of deferral NAME has left of its 24 h: the update client saved the target's status
 * (state "downloading", deferred_since kept for the same bytes) before it downloaded it. */
static uint32_t deferral_minutes_left(const char *state_dir, const char *name, int64_t now)
{
	struct update_status st;
	update_status_load(&st, state_dir);
	json_t *e = update_status_get(&st, name);
	int64_t since = e ? json_integer_value(json_object_get(e, "deferred_since")) : 0;
	update_status_free(&st);
	int64_t left = UPDATE_DEFER_MAX_S - (since > 0 && since <= now ? now - since : 0);
	if (left <= 0)
		return 0;
	return left / 60 > BROKER_SYSEVENT_DEFER_MAX_MINUTES ? BROKER_SYSEVENT_DEFER_MAX_MINUTES : (uint32_t)(left / 60);
}

/* One system event through the application manager; the reply's status, or NULL (logged). */
static json_t *sysevent(const struct app_hook *h, const char *event, const char *type, const char *name,
                        uint64_t version, uint32_t max_minutes)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *req = json_pack("{s:i, s:s, s:s, s:i}", "version", 1, "op", "sysevent", "event", event,
	                                       "wait_ms", SYSEVENT_WAIT_MS);
	if (name) {
		/* The manager takes names of 1..128 printable ASCII characters; a target name is only
		 * shown in logs, so a longer or odd one is shortened and masked rather than refused. */
		char shown[APPMGR_SYSEVENT_NAME_MAX + 1];
		size_t n = 0;
		for (; name[n] && n < APPMGR_SYSEVENT_NAME_MAX; n++)
			shown[n] = name[n] >= 0x20 && name[n] < 0x7f ? name[n] : '?';
		shown[n] = '\0';
		json_object_set_new(req, "update_type", json_string(type));
		json_object_set_new(req, "name", json_string(n ? shown : "?"));
		json_object_set_new(req, "image_version", json_integer(version > INT64_MAX ? INT64_MAX : (json_int_t)version));
		json_object_set_new(req, "max_defer_minutes", json_integer(max_minutes));
	}
	json_t *st = appmgr_request_timeout(h->o->appmgr_socket, req, SYSEVENT_WAIT_MS / 1000 + SYSEVENT_REPLY_MARGIN_S,
	                                    &err);
	if (!st)
		rp_log_event(RP_LOG_WARNING, "agent.sysevent.failed", "telling apps %s%s%s: %s (the update is not deferred)",
		             event, name ? " for " : "", name ? name : "", err.message);
	return st;
}

/* update_defer_fn: tell the apps an update is ready and let those holding SoftwareUpdateDeferral
 * hold it back, within what is left of the 24 h. The manager being unreachable never blocks an
 * update: then it proceeds. Trust updates never get here (update_client.c should_defer). */
static bool defer_update(void *ctx, const char *name, const char *type, uint64_t version)
{
	const struct app_hook *h = ctx;
	bool is_app = strcmp(type, UPDATE_TYPE_APP) == 0;
	if (!is_app && strcmp(type, UPDATE_TYPE_OS) != 0)
		return false;
	/* Paused cloud app updates fail at install (app_install): nothing to announce. */
	if (is_app && h->o->appmgr_state && devmode_capability_present(h->o->appmgr_state))
		return false;
	const char *kind = is_app ? "app" : "system";
	int64_t until = agent_deferral_until(h->o->state_dir, name, version);
	uint32_t left = deferral_minutes_left(h->o->state_dir, name, h->now);
	if (until > h->now && left > 0) {
		rp_log_event(RP_LOG_NOTICE, "agent.update.deferred", "%s (version %" PRIu64 ") stays deferred for %lld s",
		             name, version, (long long)(until - h->now));
		return true;
	}
	_cleanup_json_ json_t *st = sysevent(h, "update_ready", kind, name, version, left);
	json_int_t minutes = st ? json_integer_value(json_object_get(st, "deferral_minutes")) : 0;
	if (minutes < 0 || minutes > (json_int_t)left)
		minutes = minutes < 0 ? 0 : left;
	if (minutes > 0) {
		agent_deferral_set(h->o->state_dir, name, version, h->now + (int64_t)minutes * 60, h->now);
		rp_log_event(RP_LOG_NOTICE, "agent.update.deferred",
		             "%s (version %" PRIu64 ") deferred by an application for %lld minutes (%u minutes of the 24 h "
		             "were left)", name, version, (long long)minutes, left);
		return true;
	}
	if (until)
		agent_deferral_set(h->o->state_dir, name, version, 0, h->now);
	/* Installing now. An app package is announced by app_install, right before the manager stops
	 * the app it replaces (also when the 24 h ran out and this hook was not asked). */
	if (!is_app)
		json_decref(sysevent(h, "update_started", kind, name, version, 0));
	return false;
}

/* UpdateStarted for an app package about to be installed; the manager answers once every
 * listening app's broker has the event, so an app being replaced hears it before its SIGTERM.
 * MD is the verified package's metadata: the file is not reopened (that would parse it again
 * without a trust policy and copy it whole just for a display name). */
static void announce_app_install(const struct app_hook *h, const struct package_metadata *md)
{
	json_decref(sysevent(h, "update_started", "app", md->name[0] ? md->name : "application", md->version, 0));
}

/* Learn tenant and group from the service's record of this device and record them for the client. */
static int learn_group(struct update_config *cfg, const char *service_url, rp_error *err)
{
	_cleanup_free_ char *url = xasprintf("%s/v1/device/self", service_url);
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (update_fetch_buffer(&cfg->fetch, url, SELF_MAX_LEN, &data, &len, err) < 0)
		return rp_error_prefix(err, "reading this device's record (GET /v1/device/self)");
	_cleanup_json_ json_t *j = rp_json_parse((const char *)data, len, SELF_MAX_LEN, "device record", err);
	const char *tenant = NULL, *group = NULL, *device = NULL;
	if (!j || rp_json_get_string(j, "tenant_id", true, &tenant, err) < 0 ||
	    rp_json_get_string(j, "device_id", true, &device, err) < 0 ||
	    rp_json_get_string(j, "device_group_id", false, &group, err) < 0)
		return rp_error_prefix(err, "this device's record");
	if (!group)
		return rp_error_set(err, RP_E_NOT_FOUND, "the device is in no device group: claim it into one");
	return update_set_device_group(cfg->state_dir, tenant, group, device, err);
}

int agent_update_run(const struct agent_update_options *o, int64_t now, struct update_report *report,
                     rp_error *err)
{
	memset(report, 0, sizeof(*report));
	struct update_config cfg;
	update_config_default(&cfg);
	_cleanup_free_ char *cert = xasprintf("%s/agent/device-api.pem", o->state_dir);
	_cleanup_free_ char *key = xasprintf("%s/agent/device-api.key", o->state_dir);
	cfg.state_dir = o->state_dir;
	cfg.fetch.ca_file = o->service_ca;
	cfg.fetch.client_cert = cert;
	cfg.fetch.client_key = key;
	cfg.monitor_socket = o->monitor_socket;
	if (o->rot_backend)
		cfg.rot_backend = o->rot_backend;
	struct app_hook hook = {.o = o, .now = now};
	if (o->appmgr_socket) {
		cfg.app_install = app_install;
		cfg.app_install_ctx = &hook;
		cfg.defer = defer_update;
		cfg.defer_ctx = &hook;
	}
	int rc = learn_group(&cfg, o->service_url, err);
	struct update_config_owned owned = {0};
	if (rc == 0)
		rc = update_config_load(&cfg, o->service_url, &owned, err);
	if (rc == 0)
		rc = update_check_and_install(&cfg, now, report, err);
	if (rc == 0 && o->appmgr_socket && report->installed == 0 && report->deferred == 0 && report->failed == 0)
		json_decref(sysevent(&hook, "no_update", NULL, NULL, 0, 0));
	update_fetch_close(&cfg.fetch);
	update_config_owned_free(&owned);
	return rc < 0 ? -1 : 0;
}

size_t agent_update_installed_images(const char *state_dir, monitor_image_claim *out, size_t max)
{
	_cleanup_free_ char *path = claims_path(state_dir);
	_cleanup_json_ json_t *claims = rp_json_load_file(path, CLAIMS_MAX_LEN, NULL);
	if (!json_is_object(claims))
		return 0;
	struct update_status st;
	update_status_load(&st, state_dir);
	/* The image IDs the update status says are installed or committed now. */
	json_t *live = json_object();
	const char *name;
	json_t *img;
	json_object_foreach(json_object_get(st.doc, "images"), name, img) {
		const char *state = json_string_value(json_object_get(img, "state"));
		const char *id = json_string_value(json_object_get(img, "image_id"));
		if (state && id && (strcmp(state, "installed") == 0 || strcmp(state, "committed") == 0))
			json_object_set_new(live, id, json_true());
	}
	update_status_free(&st);
	size_t n = 0;
	const char *cid;
	json_object_foreach(claims, cid, img) {
		const char *id = json_string_value(json_object_get(img, "image_id"));
		const char *version = json_string_value(json_object_get(img, "version"));
		rp_error e = RP_ERROR_INIT;
		if (n >= max || !id || !version || !json_object_get(live, id) || strlen(version) > EVIDENCE_VERSION_MAX ||
		    !evidence_version_ok(version, strlen(version)) || rp_guid_normalize(id, out[n].id, &e) < 0)
			continue;
		snprintf(out[n].version, sizeof(out[n].version), "%s", version);
		n++;
	}
	json_decref(live);
	return n;
}
