/* Unit tests for the sandbox's small pure helpers: app uid allocation, the package symlink rule,
 * the Landlock "what is missing" text, and the storage image size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "device/appmgr/sandbox_landlock.h"
#include "device/appmgr/sandbox_tree.h"
#include "device/appmgr/storage.h"
#include "device/appmgr/uidalloc.h"

static void test_uid_pick(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	uint32_t out = 0;
	assert_int_equal(uidalloc_pick(NULL, 0, 100000, 10, &out, &err), 0);
	assert_int_equal(out, 100000);
	const uint32_t used[] = {100001, 100000, 100003};
	assert_int_equal(uidalloc_pick(used, 3, 100000, 10, &out, &err), 0);
	assert_int_equal(out, 100002);
	assert_int_equal(uidalloc_pick(used, 2, 100000, 2, &out, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	assert_int_equal(uidalloc_pick(NULL, 0, 0, 10, &out, &err), -1); /* never root */
	assert_int_equal(uidalloc_pick(NULL, 0, UINT32_MAX - 1, 10, &out, &err), -1);
	/* Brokers: the same offset in the range after the apps', never an app's uid. */
	assert_int_equal(uidalloc_broker_uid(100002, 100000, 1000, &out, &err), 0);
	assert_int_equal(out, 101002);
	assert_int_equal(uidalloc_broker_uid(100999, 100000, 1000, &out, &err), 0);
	assert_int_equal(out, 101999);
	assert_int_equal(uidalloc_broker_uid(101000, 100000, 1000, &out, &err), -1); /* not an app uid */
	assert_int_equal(uidalloc_broker_uid(99999, 100000, 1000, &out, &err), -1);
	assert_int_equal(uidalloc_broker_uid(UINT32_MAX - 5, UINT32_MAX - 10, 8, &out, &err), -1); /* no room */
}

static void test_links(void **state)
{
	(void)state;
	assert_true(sandbox_tree_link_stays_inside("app", 0));
	assert_true(sandbox_tree_link_stays_inside("../lib/x", 1));
	assert_true(sandbox_tree_link_stays_inside("./a/../b", 0));
	assert_true(sandbox_tree_link_stays_inside("a/../../b", 1));
	assert_false(sandbox_tree_link_stays_inside("/etc/shadow", 3));
	assert_false(sandbox_tree_link_stays_inside("..", 0));
	assert_false(sandbox_tree_link_stays_inside("../..", 1));
	assert_false(sandbox_tree_link_stays_inside("a/../../b", 0));
	assert_false(sandbox_tree_link_stays_inside("", 0));
}

static void test_landlock_missing(void **state)
{
	(void)state;
	char buf[256];
	sandbox_landlock_missing(7, 4, buf, sizeof(buf));
	assert_string_equal(buf, "");
	sandbox_landlock_missing(3, 4, buf, sizeof(buf));
	assert_string_equal(buf, "TCP bind/connect rules (ABI 4)");
	sandbox_landlock_missing(0, 6, buf, sizeof(buf));
	assert_non_null(strstr(buf, "filesystem rules (ABI 1)"));
	assert_non_null(strstr(buf, "scoping (ABI 6)"));
	sandbox_landlock_missing(0, 6, buf, 8); /* truncation never overflows */
	assert_true(strlen(buf) < 8);
}

static void test_storage_size(void **state)
{
	(void)state;
	assert_int_equal(storage_image_kb(1), STORAGE_MIN_IMAGE_KB);
	assert_int_equal(storage_image_kb(64), 84);
	assert_int_equal(storage_image_kb(65536), 65556);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uid_pick),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_landlock_missing),
		cmocka_unit_test(test_storage_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
