/* Starting agent workers and collecting their results (see agent_worker.h). */
#include "device/agent/agent_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/macros.h"
#include "common/sibling_path.h"
#include "common/xalloc.h"

char *agent_worker_path(const char *binary, rp_error *err)
{
	char *path = rp_sibling_path(binary, err);
	if (!path)
		rp_error_prefix(err, "the agent's worker %s (installed next to rampart-agent)", binary);
	return path;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pid_t spawn(const char *path, char *const argv[], int result_fd, rp_error *err)
{
	pid_t pid = fork();
	if (pid < 0)
		return rp_error_set_errno(err, errno, "starting %s", path);
	if (pid > 0)
		return pid;
	/* Child: the result pipe on its fixed fd, everything else the daemon holds is O_CLOEXEC. */
	if (result_fd == AGENT_WORKER_RESULT_FD ? fcntl(result_fd, F_SETFD, 0) < 0
	                                        : dup2(result_fd, AGENT_WORKER_RESULT_FD) < 0)
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(path, argv);
	_exit(127);
}

static void describe_exit(int status, rp_error *err)
{
	if (WIFSIGNALED(status))
		rp_error_set(err, RP_E_INTERNAL, "the agent worker was killed by signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status) == 127)
		rp_error_set(err, RP_E_INTERNAL, "the agent worker could not be started");
	else
		rp_error_set(err, RP_E_INTERNAL, "the agent worker exited with status %d without a result",
		             WEXITSTATUS(status));
}

static long last_peak_rss_kib;

long agent_worker_last_peak_rss_kib(void)
{
	return last_peak_rss_kib;
}

int agent_worker_run(const char *path, char *const argv[], int timeout_s, const volatile sig_atomic_t *stop,
                     struct agent_worker_result *res, rp_error *err)
{
	memset(res, 0, sizeof(*res));
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return rp_error_set_errno(err, errno, "creating the agent worker's result pipe");
	_cleanup_close_ int rfd = p[0];
	pid_t pid = spawn(path, argv, p[1], err);
	close(p[1]);
	if (pid < 0)
		return -1;

	uint8_t buf[AGENT_WORKER_MSG_MAX + 1];
	size_t len = 0;
	bool termed = false, killed = false, eof = false;
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;
	while (!eof) {
		if (*stop && !termed) {
			kill(pid, SIGTERM);
			termed = true;
			deadline = mono_ms() + 10000; /* then it is killed */
		}
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		struct pollfd pf = {.fd = rfd, .events = POLLIN};
		int r = poll(&pf, 1, left > 1000 ? 1000 : (int)left);
		if (r < 0 && errno != EINTR) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		if (r <= 0)
			continue;
		ssize_t n = read(rfd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			eof = true;
		else if ((len += (size_t)n) == sizeof(buf)) {
			kill(pid, SIGKILL); /* longer than any valid message */
			break;
		}
	}
	/* A worker that closed its result pipe may still hang: the deadline and stop requests hold
	 * until it has exited, so the agent can neither stall forever nor ignore SIGTERM. */
	int status = 0;
	if (killed)
		deadline = mono_ms() + 10000;
	for (;;) {
		struct rusage ru;
		pid_t w = wait4(pid, &status, WNOHANG, &ru);
		if (w == pid)
			last_peak_rss_kib = ru.ru_maxrss;
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rp_error_set_errno(err, errno, "waiting for the agent worker");
			return -1;
		}
		if (w < 0)
			continue;
		if (*stop && !termed && !killed) {
			kill(pid, SIGTERM);
			termed = true;
			deadline = mono_ms() + 10000;
		}
		if (!killed && mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			killed = true;
			deadline = mono_ms() + 10000;
		} else if (killed && mono_ms() >= deadline) {
			/* Stuck in the kernel even after SIGKILL: give up on it rather than stall the agent. */
			return rp_error_set(err, RP_E_UNAVAILABLE, "the agent worker (pid %d) did not exit after SIGKILL",
			                    (int)pid);
		}
		nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
	}
	if (killed && !termed)
		return rp_error_set(err, RP_E_UNAVAILABLE, "the agent worker did not finish within %d s and was stopped",
		                    timeout_s);
	if (len == 0) {
		describe_exit(status, err);
		return -1;
	}
	if (agent_worker_msg_parse(buf, len, res, err) < 0)
		return rp_error_prefix(err, "the agent worker's result");
	return 0;
}
