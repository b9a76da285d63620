/* The application manager's control socket. Requests come from other local processes, so each
 * is size-bounded, strictly parsed, versioned, and accepted only from uid 0 (SO_PEERCRED). */
#include "device/appmgr/appmgr_ctl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/guid.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/appmgr/devmode.h"

static json_t *reply_error(const rp_error *e)
{
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "code", rp_error_code_name(e->code), "error", e->message);
}

int appmgr_ctl_parse(const char *req, size_t len, struct appmgr_ctl_request *out, rp_error *err)
{
	static const char *const keys[] = {"version", "op", "app", "path", "event", "update_type", "name",
	                                   "image_version", "max_defer_minutes", "wait_ms", NULL};
	static const char *const sysevent_keys[] = {"event", "update_type", "name", "image_version",
	                                            "max_defer_minutes", "wait_ms"};
	memset(out, 0, sizeof(*out));
	_cleanup_json_ json_t *j = rp_json_parse(req, len, APPMGR_CTL_MAX_MSG, "control request", err);
	int64_t version = 0;
	const char *op = NULL, *app = NULL, *path = NULL;
	if (!j || rp_json_check_keys(j, keys, "control request", err) < 0 ||
	    rp_json_get_int(j, "version", true, 1, 1000, &version, err) < 0 ||
	    rp_json_get_string(j, "op", true, &op, err) < 0 || rp_json_get_string(j, "app", false, &app, err) < 0 ||
	    rp_json_get_string(j, "path", false, &path, err) < 0)
		return -1;
	if (version != APPMGR_CTL_VERSION)
		return rp_error_set(err, RP_E_UNSUPPORTED, "control protocol version %lld is not supported (this is %d)",
		                    (long long)version, APPMGR_CTL_VERSION);
	if (strcmp(op, "start") == 0)
		out->op = APPMGR_CTL_START;
	else if (strcmp(op, "stop") == 0)
		out->op = APPMGR_CTL_STOP;
	else if (strcmp(op, "status") == 0)
		out->op = APPMGR_CTL_STATUS;
	else if (strcmp(op, "install") == 0)
		out->op = APPMGR_CTL_INSTALL;
	else if (strcmp(op, "remove") == 0)
		out->op = APPMGR_CTL_REMOVE;
	else if (strcmp(op, "sysevent") == 0)
		out->op = APPMGR_CTL_SYSEVENT;
	else
		return rp_error_set(err, RP_E_INVALID,
		                    "unknown control operation (expected start, stop, status, install, remove or sysevent)");
	if (out->op == APPMGR_CTL_SYSEVENT) {
		if (app || path)
			return rp_error_set(err, RP_E_INVALID, "control request \"sysevent\" takes no \"app\" or \"path\"");
		return appmgr_sysevent_parse(j, &out->sysevent, err);
	}
	for (size_t i = 0; i < RP_ARRAY_SIZE(sysevent_keys); i++)
		if (json_object_get(j, sysevent_keys[i]))
			return rp_error_set(err, RP_E_INVALID, "control request: \"%s\" is only for \"sysevent\"",
			                    sysevent_keys[i]);
	if (out->op == APPMGR_CTL_INSTALL) {
		if (!path || path[0] != '/' || strlen(path) >= sizeof(out->path) || app)
			return rp_error_set(err, RP_E_INVALID,
			                    "control request \"install\" needs an absolute \"path\" (and no \"app\")");
		memcpy(out->path, path, strlen(path) + 1);
		return 0;
	}
	if (path)
		return rp_error_set(err, RP_E_INVALID, "control request: \"path\" is only for \"install\"");
	if (app) {
		if (!rp_guid_is_valid(app))
			return rp_error_set(err, RP_E_INVALID, "control request: \"app\" must be a component ID (GUID)");
		snprintf(out->app, sizeof(out->app), "%s", app);
	} else if (out->op != APPMGR_CTL_STATUS) {
		return rp_error_set(err, RP_E_INVALID, "control request \"%s\" needs \"app\"", op);
	}
	return 0;
}

json_t *appmgr_ctl_handle(struct appmgr *m, const char *req, size_t len)
{
	/* Development-mode operations (devmode.h) share this socket and its root-only check. */
	json_t *dev = devmode_ctl_handle(m, req, len);
	if (dev)
		return dev;
	rp_error err = RP_ERROR_INIT;
	struct appmgr_ctl_request r;
	if (appmgr_ctl_parse(req, len, &r, &err) < 0)
		return reply_error(&err);
	const char *app = r.app[0] ? r.app : NULL;
	char cid[37];
	int rc = 0;
	if (r.op == APPMGR_CTL_START) {
		rc = appmgr_start(m, app, &err);
	} else if (r.op == APPMGR_CTL_STOP) {
		rc = appmgr_stop(m, app, &err);
	} else if (r.op == APPMGR_CTL_REMOVE) {
		if (appmgr_remove(m, app, &err) < 0)
			return reply_error(&err);
		return json_pack("{s:b, s:n}", "ok", 1, "status");
	} else if (r.op == APPMGR_CTL_SYSEVENT) {
		/* Answered by appmgr_ctl_serve's loop once the apps had their say. */
		rp_error_set(&err, RP_E_UNSUPPORTED, "\"sysevent\" is served only by the daemon's control socket");
		return reply_error(&err);
	} else if (r.op == APPMGR_CTL_INSTALL) {
		struct stat st;
		rc = stat(r.path, &st) == 0 && S_ISDIR(st.st_mode) ? appmgr_install_dir(m, r.path, cid, &err)
		                                                     : appmgr_install_package(m, r.path, cid, &err);
		app = cid;
	}
	if (rc < 0)
		return reply_error(&err);
	json_t *st = appmgr_status(m, app, &err);
	if (!st)
		return reply_error(&err);
	return json_pack("{s:b, s:o}", "ok", 1, "status", st);
}

/* A "sysevent" request: the round keeps the connection and answers when it ends. Returns true
 * when it took C. */
static bool begin_sysevent(struct appmgr *m, struct appmgr_sysevent *se, const char *buf, size_t n, int c,
                           json_t **reply)
{
	rp_error err = RP_ERROR_INIT;
	struct appmgr_ctl_request r;
	if (appmgr_ctl_parse(buf, n, &r, &err) < 0 || r.op != APPMGR_CTL_SYSEVENT)
		return false;
	if (appmgr_sysevent_begin(se, m, &r.sysevent, c, &err))
		return true;
	*reply = reply_error(&err);
	return false;
}

static void serve_one(struct appmgr *m, struct appmgr_sysevent *se, int lfd)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	struct ucred cred = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1}; /* shown as such if SO_PEERCRED fails */
	socklen_t cl = sizeof(cred);
	json_t *reply = NULL;
	char *buf = xmalloc(APPMGR_CTL_MAX_MSG);
	/* Bounded: a stuck client must not hang the loop. The request is read (never acted on) even
	 * from a refused peer, so it gets the refusal instead of a connection reset. */
	struct timeval tv = {2, 0};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = recv(c, buf, APPMGR_CTL_MAX_MSG, MSG_TRUNC);
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != 0) {
		rp_error e = RP_ERROR_INIT;
		rp_error_set(&e, RP_E_PERMISSION, "only root may control the application manager");
		rp_log_event(RP_LOG_WARNING, "appmgr.ctl.refused", "control request from uid %u refused",
		             (unsigned)cred.uid);
		reply = reply_error(&e);
	} else {
		if (n > 0 && n <= APPMGR_CTL_MAX_MSG) {
			if (begin_sysevent(m, se, buf, (size_t)n, c, &reply)) {
				free(buf);
				return;
			}
			if (!reply)
				reply = appmgr_ctl_handle(m, buf, (size_t)n);
		} else {
			rp_error e = RP_ERROR_INIT;
			rp_error_set(&e, RP_E_INVALID, "control request missing or larger than %d bytes", APPMGR_CTL_MAX_MSG);
			reply = reply_error(&e);
		}
	}
	_cleanup_free_ char *out = rp_json_dump(reply);
	json_decref(reply);
	(void)!send(c, out, strlen(out), MSG_NOSIGNAL);
	free(buf);
	close(c);
}

int appmgr_ctl_serve(struct appmgr *m, const char *socket_path, rp_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return rp_error_set(err, RP_E_INVALID, "socket path too long: %s", socket_path);
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	_cleanup_close_ int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return rp_error_set_errno(err, errno, "socket");
	unlink(socket_path);
	mode_t old = umask(077);
	int rc = bind(lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(lfd, 16) < 0)
		return rp_error_set_errno(err, errno, "listening on %s", socket_path);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	_cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return rp_error_set_errno(err, errno, "signalfd");
	rp_log_event(RP_LOG_INFO, "appmgr.listening", "control socket %s", socket_path);
	struct appmgr_sysevent se = APPMGR_SYSEVENT_INIT;
	for (;;) {
		int wait = appmgr_sysevent_timeout(&se);
		if (appmgr_wait(m, lfd, wait >= 0 && wait < 500 ? wait : 500) == 1)
			serve_one(m, &se, lfd);
		appmgr_sysevent_poll(&se, m);
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			break;
	}
	appmgr_sysevent_abort(&se);
	rp_log_event(RP_LOG_INFO, "appmgr.stopping", "stopping every app (power-down)");
	unlink(socket_path);
	return 0;
}

int appmgr_ctl_client(const char *socket_path, const char *op, const char *arg, rp_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return rp_error_set(err, RP_E_INVALID, "socket path too long: %s", socket_path);
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return rp_error_set_errno(err, errno, "connecting to the application manager at %s", socket_path);
	json_t *req = json_pack("{s:i, s:s}", "version", APPMGR_CTL_VERSION, "op", op);
	if (arg)
		json_object_set_new(req, strcmp(op, "install") == 0 ? "path" : "app", json_string(arg));
	_cleanup_free_ char *out = rp_json_dump(req);
	json_decref(req);
	if (send(fd, out, strlen(out), MSG_NOSIGNAL) < 0)
		return rp_error_set_errno(err, errno, "sending to the application manager");
	_cleanup_free_ char *buf = xmalloc(APPMGR_CTL_MAX_MSG + 1);
	ssize_t n = recv(fd, buf, APPMGR_CTL_MAX_MSG, 0);
	if (n <= 0)
		return rp_error_set_errno(err, n < 0 ? errno : EPIPE, "reading the application manager's reply");
	buf[n] = '\0';
	_cleanup_json_ json_t *reply = rp_json_parse(buf, (size_t)n, APPMGR_CTL_MAX_MSG, "reply", err);
	if (!reply)
		return -1;
	json_t *ok = json_object_get(reply, "ok");
	if (!json_is_true(ok)) {
		json_t *msg = json_object_get(reply, "error");
		return rp_error_set(err, RP_E_INVALID, "%s", json_is_string(msg) ? json_string_value(msg) : "request failed");
	}
	_cleanup_free_ char *st = rp_json_dump(json_object_get(reply, "status"));
	printf("%s\n", st);
	return 0;
}
