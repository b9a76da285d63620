/* Unit tests for waiting on an agent worker (agent_worker.h): a worker that closes its result
 * pipe and then hangs is still bound by the job deadline and by a stop request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/xalloc.h"
#include "device/agent/agent_worker.h"

static char g_dir[] = "/tmp/rampart-test-agent-worker-XXXXXX";
static volatile sig_atomic_t g_stop;

/* A stand-in worker: closes the result pipe, then sleeps far longer than any test waits. */
static char *hanging_worker(void)
{
	char *path = xasprintf("%s/worker", g_dir);
	static const char script[] = "#!/bin/sh\nexec 3>&-\nexec sleep 120\n";
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(script, 1, sizeof(script) - 1, f), sizeof(script) - 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

static void on_alarm(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void deadline_holds_after_eof(void **state)
{
	(void)state;
	char *path = hanging_worker();
	char *argv[] = {path, NULL};
	struct agent_worker_result res;
	rp_error err = RP_ERROR_INIT;
	g_stop = 0;
	assert_int_equal(agent_worker_run(path, argv, 1, &g_stop, &res, &err), -1);
	assert_non_null(strstr(err.message, "did not finish within 1 s"));
	free(path);
}

static void stop_holds_after_eof(void **state)
{
	(void)state;
	char *path = hanging_worker();
	char *argv[] = {path, NULL};
	struct agent_worker_result res;
	rp_error err = RP_ERROR_INIT;
	g_stop = 0;
	/* The stop request arrives while the worker runs (as SIGTERM to the agent would set it). */
	struct sigaction sa = {.sa_handler = on_alarm};
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	struct itimerval it = {.it_value = {.tv_usec = 300 * 1000}};
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	assert_int_equal(agent_worker_run(path, argv, 60, &g_stop, &res, &err), -1);
	assert_non_null(strstr(err.message, "killed by signal 15"));
	free(path);
}

int main(void)
{
	if (!mkdtemp(g_dir))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(deadline_holds_after_eof),
	    cmocka_unit_test(stop_holds_after_eof),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rp_error err = RP_ERROR_INIT;
	if (rp_remove_tree(g_dir, &err) < 0)
		fprintf(stderr, "removing %s: %s\n", g_dir, err.message);
	return rc;
}
