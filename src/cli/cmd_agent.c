/* `rampart agent`: run on the device itself, through rampart-agent's local socket
 * (STATE/agent.sock; the agent checks the caller's user with SO_PEERCRED): attest now, check for
 * updates now, and the status (last attestation and update check, certificate validity, next
 * attempts). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/render.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"

#define LOCAL_REPLY_MAX 8192

/* Send REQUEST, read one JSON line back (the agent answers once, then closes). */
static json_t *agent_call(const char *path, const char *request, int timeout_ms, rp_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return rp_error_set(err, RP_E_INVALID, "socket path %s is too long", path), NULL;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return rp_error_set_errno(err, errno, "connecting to the device agent at %s (is rampart-agent running?)",
		                          path),
		       NULL;
	if (rp_write_full(fd, request, strlen(request)) < 0)
		return rp_error_set_errno(err, errno, "sending to the device agent"), NULL;
	char buf[LOCAL_REPLY_MAX];
	size_t len = 0;
	while (len < sizeof(buf)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		if (r == 0)
			return rp_error_set(err, RP_E_UNAVAILABLE, "the device agent did not answer in time"), NULL;
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t n = r < 0 ? -1 : read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rp_error_set_errno(err, errno, "reading the device agent's answer"), NULL;
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	if (len == 0)
		return rp_error_set(err, RP_E_PERMISSION, "the device agent closed the connection without an answer"), NULL;
	return rp_json_parse(buf, len, sizeof(buf), "the device agent's answer", err);
}

static int local_run_at(struct cli_ctx *ctx, const char *socket, const char *request, int timeout_ms)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *reply = agent_call(socket, request, timeout_ms, &err);
	if (!reply)
		return cli_fail(&err);
	cli_render_object(ctx->output, reply);
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *why = json_string_value(json_object_get(reply, "reason"));
		const char *e = json_string_value(json_object_get(reply, "error"));
		rp_error_set(&err, RP_E_VERIFY, "%s", e ? e : why && *why ? why : "the device agent reports a failure");
		return cli_fail(&err);
	}
	json_t *up = json_object_get(reply, "update");
	if (strcmp(request, "update-now\n") == 0 && !json_is_true(json_object_get(up, "ok"))) {
		const char *why = json_string_value(json_object_get(up, "reason"));
		rp_error_set(&err, RP_E_UNAVAILABLE, "update check failed: %s", why && *why ? why : "no reason given");
		return cli_fail(&err);
	}
	return 0;
}

static int local_run(struct cli_ctx *ctx, const char *request, int timeout_ms)
{
	return local_run_at(ctx, cli_opt(ctx, "socket"), request, timeout_ms);
}

int cmd_agent_update_now(struct cli_ctx *ctx, const char *socket)
{
	const char *env = getenv("RAMPART_AGENT_SOCKET");
	if (!socket)
		socket = env && *env ? env : "/var/lib/rampart/agent.sock";
	/* A check may download an OS bundle: allow it time, but not forever. */
	return local_run_at(ctx, socket, "update-now\n", 900000);
}

static int local_update(struct cli_ctx *ctx)
{
	return cmd_agent_update_now(ctx, cli_opt(ctx, "socket"));
}

static int local_attest(struct cli_ctx *ctx)
{
	return local_run(ctx, "attest-now\n", 180000);
}

static int local_status(struct cli_ctx *ctx)
{
	return local_run(ctx, "status\n", 10000);
}

static const struct cli_opt socket_opts[] = {
	{"socket", 's', "PATH", "the agent's local socket (STATE/agent.sock)", true, false},
	{0},
};

static const struct cli_cmd local_cmds[] = {
	{"attest", "Attest now and renew the device's certificates", socket_opts, CLI_CMD_OUTPUT, local_attest,
	 "  rampart agent attest --socket /var/lib/rampart/agent.sock\n"},
	{"update", "Check for updates now and install them (also: rampart device update --now)", socket_opts,
	 CLI_CMD_OUTPUT, local_update, "  rampart agent update --socket /var/lib/rampart/agent.sock\n"},
	{"status", "Last attestation and update check, certificate validity, next attempts", socket_opts,
	 CLI_CMD_OUTPUT, local_status, NULL},
};

int cmd_agent(int argc, char **argv)
{
	return cli_run_group("agent", "On the device: the device agent's attestation (rampart-agent)", local_cmds,
	                     RP_ARRAY_SIZE(local_cmds), argc, argv);
}
