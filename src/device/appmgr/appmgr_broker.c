/* Per-app brokers (see appmgr_broker.h). A broker is a separate process so the manager daemon
 * stays small and a broker bug is confined to one app's session: it starts as root, opens what its
 * manifest grants, then drops to its own user (--user) with only the capabilities those grants
 * need (src/device/broker/broker_privs.c). It learns its app only
 * through the verified manifest and the socket the sandbox puts on fd 3. The manager routes
 * app-to-app connections because it is the one party that sees every app: it creates the
 * socketpair only when both manifests list each other, and the peer is running and listening. */
#include "device/appmgr/appmgr_broker.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "common/macros.h"
#include "device/appmgr/appmgr_power.h"
#include "device/broker/broker_proto.h"
#include "device/broker/broker_wire.h"

#define BROKER_LINK_FD 4

extern char **environ;

/* Start PATH with stdin /dev/null, stdout and stderr on STDERR_FD, CTL_FD on 3 and LINK_FD on 4;
 * returns 0 or an errno. Fork-style rather than posix_spawn, whose vfork holds the manager until the
 * broker's execve is done (milliseconds, more under load), which a start would wait for. The
 * manager is single-threaded, and the child makes only async-signal-safe calls. An execve failure
 * shows in the app's log and as the broker's exit (the app's fd 3 closes); the common cause, a
 * missing broker, is caught here. */
static int spawn_nowait(const char *path, const char *const *argv, int stderr_fd, int ctl_fd, int link_fd, pid_t *pid)
{
	if (access(path, X_OK) < 0)
		return errno;
	pid_t p = fork();
	if (p < 0)
		return errno;
	if (p > 0) {
		*pid = p;
		return 0;
	}
	/* The manager blocks SIGTERM and SIGINT for its signalfd, and a blocked mask survives execve: the
	 * broker must get its SIGTERM at stop. Handlers reset at execve; ignored signals would not, and
	 * the manager may itself have been started with some ignored (nohup, a background job). */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	for (int sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	/* Out of the manager's process group: the boot stage's SIGTERM to that group must not cut an app
	 * off from its broker while the manager stops the app; the broker exits when its app does, and
	 * appmgr_broker_stop() signals it itself. */
	setpgid(0, 0);
	/* Above the target numbers first, so no dup2 below clobbers another source. */
	int err_hi = fcntl(stderr_fd, F_DUPFD_CLOEXEC, 10);
	int ctl_hi = fcntl(ctl_fd, F_DUPFD_CLOEXEC, 10);
	int link_hi = fcntl(link_fd, F_DUPFD_CLOEXEC, 10);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (err_hi < 0 || ctl_hi < 0 || link_hi < 0 || null < 0 || dup2(null, 0) < 0 || dup2(err_hi, 1) < 0 ||
	    dup2(err_hi, 2) < 0 || dup2(ctl_hi, 3) < 0 || dup2(link_hi, BROKER_LINK_FD) < 0)
		_exit(127);
	execve(path, (char *const *)argv, environ);
	static const char msg[] = "rampart-appmgr: cannot execute the broker\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(127);
}

int appmgr_broker_open(struct appmgr_broker *b, int *app_fd, int broker_ends[2], rp_error *err)
{
	int ctl[2] = {-1, -1}, link[2] = {-1, -1};

	*app_fd = broker_ends[0] = broker_ends[1] = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
		return rp_error_set_errno(err, errno, "creating the broker channel");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, link) < 0) {
		int e = errno;
		close(ctl[0]);
		close(ctl[1]);
		return rp_error_set_errno(err, e, "creating the broker link");
	}
	/* A broker that stops reading must not block the manager's loop. */
	if (fcntl(link[0], F_SETFL, O_NONBLOCK) < 0)
		rp_abort("fcntl on a fresh socket");
	b->pid = 0;
	b->link_fd = link[0];
	b->accepts_apps = false;
	b->se_round = b->se_max_minutes = b->se_minutes = 0;
	b->se_acked = b->se_awaiting = b->se_answered = false;
	*app_fd = ctl[0];
	broker_ends[0] = ctl[1];
	broker_ends[1] = link[1];
	return 0;
}

int appmgr_broker_spawn(const struct appmgr_broker_spec *spec, struct appmgr_broker *b, int broker_ends[2],
                        rp_error *err)
{
	const char *argv[18];
	char uid_arg[16];
	size_t n = 0;
	argv[n++] = spec->broker_path;
	argv[n++] = "--board";
	argv[n++] = spec->board_path;
	argv[n++] = "--manifest";
	argv[n++] = spec->manifest_path;
	argv[n++] = "--socket-fd";
	argv[n++] = "3";
	argv[n++] = "--link-fd";
	argv[n++] = "4";
	argv[n++] = "--log";
	argv[n++] = spec->event_log;
	if (spec->allow_loopback)
		argv[n++] = "--allow-loopback-targets";
	if (spec->uid != 0) {
		snprintf(uid_arg, sizeof(uid_arg), "%u", spec->uid);
		argv[n++] = "--user";
		argv[n++] = uid_arg;
	}
	argv[n] = NULL;
	pid_t pid = 0;
	int rc = spawn_nowait(spec->broker_path, argv, spec->stderr_fd, broker_ends[0], broker_ends[1], &pid);
	close(broker_ends[0]);
	close(broker_ends[1]);
	broker_ends[0] = broker_ends[1] = -1;
	if (rc != 0)
		return rp_error_set_errno(err, rc, "starting the broker %s", spec->broker_path);
	b->pid = pid;
	return 0;
}

int appmgr_broker_start(const struct appmgr_broker_spec *spec, struct appmgr_broker *b, int *app_fd, rp_error *err)
{
	int ends[2];
	if (appmgr_broker_open(b, app_fd, ends, err) < 0)
		return -1;
	if (appmgr_broker_spawn(spec, b, ends, err) < 0) {
		close(*app_fd);
		*app_fd = -1;
		appmgr_broker_stop(b);
		return -1;
	}
	return 0;
}

void appmgr_broker_stop(struct appmgr_broker *b)
{
	b->accepts_apps = false;
	if (b->pid > 0) {
		/* Usually it is exiting already: its app's end of the channel closed with the app. Give it
		 * a bounded moment (500 ms) to finish on its own and record its stop, then signal it. */
		bool exited = false;
		for (int i = 0; i < 50 && !exited; i++) {
			pid_t r = waitpid(b->pid, NULL, WNOHANG);
			exited = r == b->pid || (r < 0 && errno != EINTR);
			if (!exited)
				usleep(10 * 1000);
		}
		/* Then SIGTERM and another bounded moment (500 ms): a broker stuck in a connect must not hold
		 * the single-threaded manager. SIGKILL ends it for sure, and the last wait is then short. */
		if (!exited)
			kill(b->pid, SIGTERM);
		for (int i = 0; i < 50 && !exited; i++) {
			usleep(10 * 1000);
			pid_t r = waitpid(b->pid, NULL, WNOHANG);
			exited = r == b->pid || (r < 0 && errno != EINTR);
		}
		if (!exited) {
			kill(b->pid, SIGKILL);
			while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
	}
	/* Closed last, so the broker's own exit, not the manager going away, ends its session. */
	if (b->link_fd >= 0)
		close(b->link_fd);
	b->link_fd = -1;
	b->pid = 0;
}

static bool link_send(int fd, const struct broker_msg *m, int pass_fd)
{
	rp_buf out;
	rp_buf_init(&out);
	broker_msg_encode(m, &out);
	bool ok = broker_wire_send(fd, out.data, out.len, pass_fd) == 0;
	rp_buf_free(&out);
	return ok;
}

/* Route SELF's request to connect to CID. Returns 0 with the requester's end in *FD, or an errno. */
static int route(const struct manifest *self, const char *cid, appmgr_broker_lookup_fn lookup,
                 void *ctx, int *fd)
{
	struct appmgr_broker_peer peer = {0};
	int sv[2];

	*fd = -1;
	if (!lookup(ctx, cid, &peer) || !manifest_allows_app_connection(self, peer.manifest)) {
		rp_log_event(RP_LOG_WARNING, "app.connect.denied",
		             "app %s (%s) -> %s refused: both apps must list each other in AllowedApplicationConnections",
		             self->name, self->component_id, cid);
		return EPERM;
	}
	if (!peer.running || !peer.broker || peer.broker->link_fd < 0 || !peer.broker->accepts_apps) {
		rp_log_event(RP_LOG_NOTICE, "app.connect.refused", "app %s (%s) -> %s (%s): the peer is not %s",
		             self->name, self->component_id, peer.manifest->name, cid,
		             peer.running ? "accepting app connections" : "running");
		return ECONNREFUSED;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return errno;
	struct broker_msg in = {.type = BROKER_LINK_INCOMING};
	memcpy(in.component_id, self->component_id, BROKER_COMPONENT_ID_LEN + 1);
	bool sent = link_send(peer.broker->link_fd, &in, sv[1]);
	close(sv[1]);
	if (!sent) {
		close(sv[0]);
		return ECONNREFUSED;
	}
	rp_log_event(RP_LOG_INFO, "app.connected", "app %s (%s) connected to %s (%s)", self->name, self->component_id,
	             peer.manifest->name, cid);
	*fd = sv[0];
	return 0;
}

bool appmgr_broker_send_sysevent(struct appmgr_broker *b, uint32_t round, uint32_t event, uint32_t status,
                                 uint32_t update_type, uint32_t max_defer_minutes)
{
	struct broker_msg m = {.type = BROKER_LINK_SYSEVENT, .seq = round};
	m.sysevent.event = event;
	m.sysevent.status = status;
	m.sysevent.update_type = update_type;
	m.sysevent.max_defer_minutes = max_defer_minutes;
	if (b->link_fd < 0 || !link_send(b->link_fd, &m, -1))
		return false;
	b->se_round = round;
	b->se_max_minutes = max_defer_minutes;
	b->se_minutes = 0;
	b->se_acked = b->se_awaiting = b->se_answered = false;
	return true;
}

/* A broker's acknowledgement of the current round, or its app's answer. Anything for another round
 * (late, or from an app that answers twice) is dropped: a round's result never changes after it
 * was given to the agent. The deferral is capped here again: the broker speaks for a hostile app. */
static void serve_sysevent(struct appmgr_broker *b, const struct manifest *self, const struct broker_msg *m)
{
	if (m->seq != b->se_round || b->se_round == 0) {
		rp_log_event(RP_LOG_NOTICE, "app.sysevent.stale", "app %s (%s): answer for an earlier system event dropped",
		             self->name, self->component_id);
		return;
	}
	if (m->type != BROKER_LINK_DEFER) {
		b->se_acked = true;
		/* Only an app that may defer is waited for, or any broker could stall every update round. */
		b->se_awaiting = m->sysevent.awaiting && self->caps.software_update_deferral && b->se_max_minutes > 0;
		return;
	}
	if (!b->se_awaiting || b->se_answered || !self->caps.software_update_deferral) {
		rp_log_event(RP_LOG_WARNING, "app.sysevent.refused", "app %s (%s): unexpected deferral dropped", self->name,
		             self->component_id);
		return;
	}
	b->se_answered = true;
	b->se_minutes = m->arg < b->se_max_minutes ? m->arg : b->se_max_minutes;
	if (b->se_minutes)
		rp_log_event(RP_LOG_NOTICE, "app.sysevent.deferred", "app %s (%s) defers the update by %u minutes",
		             self->name, self->component_id, b->se_minutes);
	else
		rp_log_event(RP_LOG_INFO, "app.sysevent.resumed", "app %s (%s) lets the update proceed", self->name,
		             self->component_id);
}

bool appmgr_broker_serve_link(struct appmgr_broker *b, const struct manifest *self, appmgr_broker_lookup_fn lookup,
                              void *ctx)
{
	uint8_t buf[BROKER_MSG_MAX];
	struct broker_msg m;
	rp_error err = RP_ERROR_INIT;
	int in_fd = -1;
	ssize_t n = broker_wire_recv(b->link_fd, buf, sizeof(buf), &in_fd);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return true;
	bool had_fd = in_fd >= 0;
	if (had_fd)
		close(in_fd); /* brokers never pass descriptors to the manager */
	if (n <= 0)
		return false;
	/* Brokers are ours, but they face hostile apps: decode strictly and accept only link requests. */
	if (broker_msg_decode(buf, (size_t)n, &m, &err) < 0 || had_fd ||
	    (m.type != BROKER_LINK_CONNECT && m.type != BROKER_LINK_LISTENING && m.type != BROKER_LINK_DEFER &&
	     m.type != BROKER_LINK_POWER && m.type != (BROKER_LINK_SYSEVENT | BROKER_RESPONSE))) {
		rp_log_event(RP_LOG_WARNING, "appmgr.link.protocol_error", "app %s (%s): bad link message: %s", self->name,
		             self->component_id, err.message[0] ? err.message : "unexpected type or descriptor");
		return false;
	}
	if (m.type == BROKER_LINK_LISTENING) {
		b->accepts_apps = true;
		return true;
	}
	if (m.type == (BROKER_LINK_SYSEVENT | BROKER_RESPONSE) || m.type == BROKER_LINK_DEFER) {
		serve_sysevent(b, self, &m);
		return true;
	}
	if (m.type == BROKER_LINK_POWER) {
		int st = appmgr_power_request(self, m.dir, m.id);
		struct broker_msg r = {.type = BROKER_LINK_POWER | BROKER_RESPONSE, .seq = m.seq, .status = (uint32_t)st};
		return link_send(b->link_fd, &r, -1);
	}
	int fd = -1;
	int status = route(self, m.component_id, lookup, ctx, &fd);
	struct broker_msg r = {.type = BROKER_LINK_CONNECT | BROKER_RESPONSE, .seq = m.seq, .status = (uint32_t)status};
	bool ok = link_send(b->link_fd, &r, fd);
	if (fd >= 0)
		close(fd);
	return ok;
}
