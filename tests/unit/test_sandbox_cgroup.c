/* Unit tests for the pure parts of the app cgroup code: choosing v1 or v2 from the mount table,
 * finding the manager's own group, and joining paths without escaping the parent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "device/appmgr/cgroup.h"

/* The hybrid layout of the CI hosts: v1 controllers plus an empty cgroup2 mount. */
static const char hybrid[] =
	"tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
	"cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
	"cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
	"cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0\n"
	"cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n"
	"cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";

static const char unified[] = "sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev 0 0\n";

static void test_hybrid_uses_v1(void **state)
{
	(void)state;
	struct cgroup_layout l;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(cgroup_parse_mounts(hybrid, "hugetlb\n", &l, &err), 0);
	assert_int_equal(l.mode, CGROUP_MODE_V1);
	assert_string_equal(l.v1_memory_mount, "/sys/fs/cgroup/memory");
	assert_string_equal(l.v1_pids_mount, "/sys/fs/cgroup/pids");
}

static void test_v2_with_controllers(void **state)
{
	(void)state;
	struct cgroup_layout l;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(cgroup_parse_mounts(unified, "cpuset cpu io memory hugetlb pids rdma\n", &l, &err), 0);
	assert_int_equal(l.mode, CGROUP_MODE_V2);
	assert_string_equal(l.v2_mount, "/sys/fs/cgroup");
}

static void test_v2_without_memory_fails(void **state)
{
	(void)state;
	struct cgroup_layout l;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(cgroup_parse_mounts(unified, "cpu io pids\n", &l, &err), -1);
	assert_int_equal(err.code, RP_E_UNSUPPORTED);
	assert_non_null(strstr(err.message, "memory and pids"));
	/* "memoryx" is not "memory". */
	assert_int_equal(cgroup_parse_mounts(unified, "memoryx pids\n", &l, &err), -1);
}

static void test_parse_self(void **state)
{
	(void)state;
	static const char self[] = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/x\n0::/\n";
	char out[256];
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(cgroup_parse_self(self, "memory", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/process_api/abc");
	assert_int_equal(cgroup_parse_self(self, "pids", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/");
	assert_int_equal(cgroup_parse_self(self, "cpuacct", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/x");
	assert_int_equal(cgroup_parse_self(self, NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, "/");
	assert_int_equal(cgroup_parse_self(self, "blkio", out, sizeof(out), &err), -1);
	assert_int_equal(cgroup_parse_self("0::/a/very/long/path\n", NULL, out, 5, &err), -1);
}

static void test_join(void **state)
{
	(void)state;
	char out[64];
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(cgroup_join("/sys/fs/cgroup/memory/", "app", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/sys/fs/cgroup/memory/app");
	assert_int_equal(cgroup_join("/", "app", out, sizeof(out), &err), 0);
	assert_string_equal(out, "/app");
	static const char *const bad[] = {"", ".", "..", "a/b", "../x", "a\nb"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cgroup_join("/base", bad[i], out, sizeof(out), &err), -1);
	assert_int_equal(cgroup_join("/base", "0123456789012345678901234567890123456789012345678901234567890123", out,
	                             sizeof(out), &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hybrid_uses_v1),
		cmocka_unit_test(test_v2_with_controllers),
		cmocka_unit_test(test_v2_without_memory_fails),
		cmocka_unit_test(test_parse_self),
		cmocka_unit_test(test_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
