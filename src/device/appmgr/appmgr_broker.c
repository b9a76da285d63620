/* Per-app brokers (see appmgr_broker.h). A broker is a separate root process so the manager
 * daemon stays small and a broker bug is confined to one app's session; it learns its app only
 * through the verified manifest and the socket the sandbox puts on fd 3. The manager routes
 * app-to-app connections because it is the one party that sees every app: it creates the
 * socketpair only when both manifests list each other, and the peer is running and listening. */
#include "device/appmgr/appmgr_broker.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "common/macros.h"
#include "device/broker/broker_proto.h"
#include "device/broker/broker_wire.h"

#define BROKER_LINK_FD 4

extern char **environ;

int appmgr_broker_start(const struct appmgr_broker_spec *spec, struct appmgr_broker *b, int *app_fd, rp_error *err)
{
	int ctl[2] = {-1, -1}, link[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	*app_fd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
		return rp_error_set_errno(err, errno, "creating the broker channel");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, link) < 0) {
		rc = errno;
		close(ctl[0]);
		close(ctl[1]);
		return rp_error_set_errno(err, rc, "creating the broker link");
	}
	const char *argv[16];
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
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, spec->stderr_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, spec->stderr_fd, 2);
	posix_spawn_file_actions_adddup2(&fa, ctl[1], 3);
	posix_spawn_file_actions_adddup2(&fa, link[1], BROKER_LINK_FD);
	rc = posix_spawn(&pid, spec->broker_path, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(ctl[1]);
	close(link[1]);
	if (rc != 0) {
		close(ctl[0]);
		close(link[0]);
		return rp_error_set_errno(err, rc, "starting the broker %s", spec->broker_path);
	}
	/* A broker that stops reading must not block the manager's loop. */
	if (fcntl(link[0], F_SETFL, O_NONBLOCK) < 0)
		rp_abort("fcntl on a fresh socket");
	b->pid = pid;
	b->link_fd = link[0];
	b->accepts_apps = false;
	*app_fd = ctl[0];
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
		if (!exited) {
			kill(b->pid, SIGTERM);
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
	    (m.type != BROKER_LINK_CONNECT && m.type != BROKER_LINK_LISTENING)) {
		rp_log_event(RP_LOG_WARNING, "appmgr.link.protocol_error", "app %s (%s): bad link message: %s", self->name,
		             self->component_id, err.message[0] ? err.message : "unexpected type or descriptor");
		return false;
	}
	if (m.type == BROKER_LINK_LISTENING) {
		b->accepts_apps = true;
		return true;
	}
	int fd = -1;
	int status = route(self, m.component_id, lookup, ctx, &fd);
	struct broker_msg r = {.type = BROKER_LINK_CONNECT | BROKER_RESPONSE, .seq = m.seq, .status = (uint32_t)status};
	bool ok = link_send(b->link_fd, &r, fd);
	if (fd >= 0)
		close(fd);
	return ok;
}
