/* Runs rampart-app-loader, which verifies packages in a process of its own (see loader_main.c).
 * Its stdout is the verified manifest (bounded); its stderr, the error to pass on. */
#include "device/appmgr/app_loader.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"

extern char **environ;

#define LOADER_STDERR_MAX 4096

/* Run the loader; its stdout (at most MANIFEST_MAX_BYTES) goes to *OUT. */
static int run_loader(const struct app_loader *l, const char *cmd, const char *pkg, const char *dest, uint8_t **out,
                      size_t *out_len, rp_error *err)
{
	*out = NULL;
	bool sideload = l->capability_path != NULL;
	if (!sideload && l->trust_key_count == 0)
		return rp_error_set(err, RP_E_VERIFY, "no trusted package signing keys are configured (--trust-key)");
	if (l->trust_key_count > 8)
		return rp_error_set(err, RP_E_LIMIT, "at most 8 trusted package signing keys");
	if (sideload && (!l->capability_key || !l->device_id))
		return rp_error_set(err, RP_E_PERMISSION, "development mode is not configured on this device "
		                    "(rampart-appmgr --capability-key PEM --device-id ID)");
	const char *argv[2 * 8 + 12];
	size_t n = 0;
	argv[n++] = "rampart-app-loader";
	if (sideload) {
		argv[n++] = "--capability";
		argv[n++] = l->capability_path;
		argv[n++] = "--capability-key";
		argv[n++] = l->capability_key;
		argv[n++] = "--device-id";
		argv[n++] = l->device_id;
	}
	for (size_t i = 0; !sideload && i < l->trust_key_count; i++) {
		argv[n++] = "--trust-key";
		argv[n++] = l->trust_keys[i];
	}
	argv[n++] = cmd;
	argv[n++] = pkg;
	if (dest)
		argv[n++] = dest;
	argv[n] = NULL;

	int outp[2], errp[2];
	if (pipe2(outp, O_CLOEXEC) < 0)
		return rp_error_set_errno(err, errno, "pipe2");
	if (pipe2(errp, O_CLOEXEC) < 0) {
		int e = errno;
		close(outp[0]);
		close(outp[1]);
		return rp_error_set_errno(err, e, "pipe2");
	}
	_cleanup_close_ int out_rd = outp[0], err_rd = errp[0];
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
	pid_t pid;
	int rc = posix_spawn(&pid, l->path, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(outp[1]);
	close(errp[1]);
	if (rc != 0)
		return rp_error_set_errno(err, rc, "running %s", l->path);
	/* The loader writes stderr only when it fails, and then little: reading stdout to EOF
	 * first cannot block on a full stderr pipe. */
	_cleanup_free_ uint8_t *manifest = NULL, *msg = NULL;
	size_t mlen = 0, elen = 0;
	rp_error rerr = RP_ERROR_INIT;
	int read_rc = rp_read_fd_all(out_rd, MANIFEST_MAX_BYTES, &manifest, &mlen, &rerr);
	rp_error ignored = RP_ERROR_INIT;
	if (rp_read_fd_all(err_rd, LOADER_STDERR_MAX, &msg, &elen, &ignored) < 0)
		msg = NULL;
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return rp_error_set_errno(err, errno, "waiting for the package loader");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *text = msg ? (const char *)msg : "";
		/* "rampart-app-loader: error: MESSAGE\n" -> MESSAGE */
		const char *p = strstr(text, "error: ");
		p = p ? p + strlen("error: ") : text;
		size_t l2 = strcspn(p, "\n");
		return rp_error_set(err, RP_E_VERIFY, "%.*s", (int)(l2 ? l2 : strlen("package loader failed")),
		                    l2 ? p : "package loader failed");
	}
	if (read_rc < 0) {
		*err = rerr;
		return -1;
	}
	*out = steal_ptr(manifest);
	*out_len = mlen;
	return 0;
}

int app_loader_run(const struct app_loader *l, const char *cmd, const char *pkg, const char *dest,
                   struct manifest **out, rp_error *err)
{
	*out = NULL;
	_cleanup_free_ uint8_t *text = NULL;
	size_t len = 0;
	if (run_loader(l, cmd, pkg, dest, &text, &len, err) < 0)
		return -1;
	*out = manifest_parse((const char *)text, len, err);
	return *out ? 0 : -1;
}

json_t *app_loader_capability(const struct app_loader *l, const char *path, rp_error *err)
{
	/* The capability options (--capability-key, --device-id) go with the "capability" command;
	 * package trust keys do not. */
	struct app_loader cl = *l;
	cl.trust_key_count = 0;
	cl.capability_path = path;
	_cleanup_free_ uint8_t *text = NULL;
	size_t len = 0;
	if (run_loader(&cl, "capability", path, NULL, &text, &len, err) < 0)
		return NULL;
	return rp_json_parse((const char *)text, len, MANIFEST_MAX_BYTES, "capability", err);
}
