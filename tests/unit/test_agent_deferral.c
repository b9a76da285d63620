/* Unit tests for the agent's record of update deferrals (agent_deferral.c): set, look up, the
 * next end for the scheduler, expiry, the entry bound, and a damaged file reading as empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "device/agent/agent_deferral.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rp-deferral-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char agent[96];
	snprintf(agent, sizeof(agent), "%s/agent", dir);
	return mkdir(agent, 0700);
}

static int teardown(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	return rp_remove_tree(dir, &err);
}

static void test_set_and_next(void **state)
{
	(void)state;
	assert_int_equal(agent_deferral_next(dir, 1000), 0);
	agent_deferral_set(dir, "blink", 2, 5000, 1000);
	agent_deferral_set(dir, "os", 7, 3000, 1000);
	assert_int_equal(agent_deferral_until(dir, "blink", 2), 5000);
	assert_int_equal(agent_deferral_until(dir, "blink", 3), 0); /* another version is not deferred */
	assert_int_equal(agent_deferral_next(dir, 1000), 3000);
	assert_int_equal(agent_deferral_next(dir, 3000), 5000); /* ended ones do not count */
	agent_deferral_set(dir, "blink", 2, 0, 1000);            /* forgotten */
	assert_int_equal(agent_deferral_until(dir, "blink", 2), 0);
	/* Recording another one drops entries past their end. */
	agent_deferral_set(dir, "hello", 1, 9000, 4000);
	assert_int_equal(agent_deferral_until(dir, "os", 7), 0);
	assert_int_equal(agent_deferral_next(dir, 4000), 9000);
}

static void test_bounded_and_damaged(void **state)
{
	(void)state;
	char name[32];
	for (int i = 0; i < AGENT_DEFERRAL_MAX_ENTRIES + 5; i++) {
		snprintf(name, sizeof(name), "target-%d", i);
		agent_deferral_set(dir, name, 1, 10000 + i, 100);
	}
	assert_int_equal(agent_deferral_until(dir, "target-0", 1), 10000);
	snprintf(name, sizeof(name), "target-%d", AGENT_DEFERRAL_MAX_ENTRIES);
	assert_int_equal(agent_deferral_until(dir, name, 1), 0); /* not kept: asked again next time */

	char path[128];
	snprintf(path, sizeof(path), "%s/agent/deferral.json", dir);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_write_file_atomic(path, "{not json", 9, 0600, &err), 0);
	assert_int_equal(agent_deferral_next(dir, 0), 0);
	assert_int_equal(agent_deferral_until(dir, "target-0", 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_and_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_and_damaged, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
