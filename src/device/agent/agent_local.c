/* Device-local API of the agent (see agent_local.h). */
#include "device/agent/agent_local.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"

enum agent_local_cmd agent_local_parse(const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len == 10 && memcmp(line, "attest-now", 10) == 0)
		return AGENT_LOCAL_ATTEST_NOW;
	if (len == 6 && memcmp(line, "status", 6) == 0)
		return AGENT_LOCAL_STATUS;
	if (len == 10 && memcmp(line, "update-now", 10) == 0)
		return AGENT_LOCAL_UPDATE_NOW;
	return AGENT_LOCAL_BAD;
}

int agent_local_listen(const char *path, rp_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return rp_error_set(err, RP_E_INVALID, "socket path %s is too long", path);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "creating the local API socket");
	if (unlink(path) < 0 && errno != ENOENT)
		return rp_error_set_errno(err, errno, "removing the old socket %s", path);
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc < 0 || listen(fd, 16) < 0)
		return rp_error_set_errno(err, errno, "listening on %s", path);
	return steal_fd(fd);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The agent serves one peer at a time: the whole request gets one deadline, so a peer trickling a
 * byte at a time (each read restarting a per-read timeout) cannot hold the agent for minutes.
 * Returns -1 with *timed_out set when the deadline passed. */
static int read_line(int fd, char *buf, size_t cap, size_t *len, bool *timed_out)
{
	*len = 0;
	*timed_out = false;
	const int64_t deadline = now_ms() + AGENT_LOCAL_REQUEST_MS;
	while (*len < cap) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			*timed_out = true;
			return -1;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			*timed_out = true;
		if (r <= 0)
			return -1;
		ssize_t n = read(fd, buf + *len, cap - *len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return *len > 0 ? 0 : -1;
		*len += (size_t)n;
		if (memchr(buf, '\n', *len))
			return 0;
	}
	return -1;
}

int agent_local_accept(int listen_fd, const uid_t *allowed, size_t n_allowed, enum agent_local_cmd *cmd,
                       rp_error *err)
{
	_cleanup_close_ int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "accepting a local connection");
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
		return rp_error_set_errno(err, errno, "reading the local peer's credentials");
	bool ok = cred.uid == 0 || cred.uid == geteuid();
	for (size_t i = 0; i < n_allowed && !ok; i++)
		ok = allowed[i] == cred.uid;
	if (!ok) {
		agent_local_reply(fd, "{\"ok\":false,\"error\":\"permission denied: this user may not use the agent\"}");
		return rp_error_set(err, RP_E_PERMISSION, "refused a local connection from uid %u (pid %d)",
		                    (unsigned)cred.uid, (int)cred.pid);
	}
	char line[AGENT_LOCAL_LINE_MAX];
	size_t len = 0;
	bool timed_out = false;
	if (read_line(fd, line, sizeof(line), &len, &timed_out) < 0 && timed_out) {
		agent_local_reply(fd, "{\"ok\":false,\"error\":\"timed out: send the whole request line within 2 seconds\"}");
		return rp_error_set(err, RP_E_INVALID, "a local peer (uid %u) did not send its request in time",
		                    (unsigned)cred.uid);
	}
	if (!memchr(line, '\n', len) ||
	    (*cmd = agent_local_parse(line, (size_t)((char *)memchr(line, '\n', len) - line))) == AGENT_LOCAL_BAD) {
		agent_local_reply(fd, "{\"ok\":false,\"error\":\"unknown request: send 'attest-now', 'update-now' or 'status' and a "
		                      "newline\"}");
		return rp_error_set(err, RP_E_INVALID, "a local peer (uid %u) sent a malformed request", (unsigned)cred.uid);
	}
	return steal_fd(fd);
}

void agent_local_reply(int fd, const char *json_text)
{
	if (rp_write_full(fd, json_text, strlen(json_text)) < 0 || rp_write_full(fd, "\n", 1) < 0)
		rp_debug("a local peer went away before its reply");
}
