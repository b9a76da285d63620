/* Unit tests for DeviceAuthentication in the app manager: the tenant check's refusals and the
 * per-app copy of the agent's certificate bundle (owner, mode, refresh, withdrawal). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/fileio.h"
#include "common/xalloc.h"
#include "device/appmgr/deviceauth.h"

#define T1 "5a3d0b8e-1c2f-4e6a-9b7d-0f1e2d3c4b5a"
#define T2 "0b9c5e1a-7d2f-4c3b-8a6e-1f2e3d4c5b6a"

static void test_check(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(deviceauth_check("a", "", NULL, NULL, &err), 0); /* not declared: nothing needed */
	assert_int_equal(deviceauth_check("a", T1, T1, "/x", &err), 0);
	assert_int_equal(deviceauth_check("a", T1, "5A3D0B8E-1C2F-4E6A-9B7D-0F1E2D3C4B5A", "/x", &err), 0);
	assert_int_equal(deviceauth_check("a", T1, T2, "/x", &err), -1);
	assert_int_equal(err.code, RP_E_PERMISSION);
	assert_non_null(strstr(err.message, "belongs to tenant " T2));
	rp_error_clear(&err);
	assert_int_equal(deviceauth_check("a", T1, NULL, "/x", &err), -1);
	assert_non_null(strstr(err.message, "--tenant-id"));
	rp_error_clear(&err);
	assert_int_equal(deviceauth_check("a", T1, T1, NULL, &err), -1);
	assert_non_null(strstr(err.message, "--deviceauth-dir"));
	rp_error_clear(&err);
}

static void test_refresh(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char tmpl[] = "/tmp/rampart-deviceauth-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	_cleanup_free_ char *agent = xasprintf("%s/agent", tmpl), *copy = xasprintf("%s/copy", tmpl);
	_cleanup_free_ char *src = xasprintf("%s/client.pem", agent), *dst = xasprintf("%s/client.pem", copy);
	assert_int_equal(mkdir(agent, 0700), 0);
	bool changed = true;
	uid_t me = getuid();

	/* No bundle yet: an empty directory, nothing to read. */
	assert_int_equal(deviceauth_refresh(agent, copy, me, &changed, &err), 0);
	assert_false(changed);
	assert_int_equal(access(dst, F_OK), -1);

	assert_int_equal(rp_write_file_atomic(src, "one", 3, 0640, &err), 0);
	assert_int_equal(deviceauth_refresh(agent, copy, me, &changed, &err), 0);
	assert_true(changed);
	struct stat st;
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
	assert_int_equal(st.st_uid, me);
	assert_int_equal(stat(copy, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0500);

	/* Same bytes: left alone. New bytes: replaced. */
	assert_int_equal(deviceauth_refresh(agent, copy, me, &changed, &err), 0);
	assert_false(changed);
	assert_int_equal(rp_write_file_atomic(src, "second", 6, 0640, &err), 0);
	assert_int_equal(deviceauth_refresh(agent, copy, me, &changed, &err), 0);
	assert_true(changed);
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	assert_int_equal(rp_read_file(dst, 64, &buf, &len, &err), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "second", 6);

	/* Withdrawn by the agent: the copy goes. */
	assert_int_equal(unlink(src), 0);
	assert_int_equal(deviceauth_refresh(agent, copy, me, &changed, &err), 0);
	assert_true(changed);
	assert_int_equal(access(dst, F_OK), -1);

	/* A symlink planted as the bundle is not followed. */
	assert_int_equal(symlink("/etc/passwd", src), 0);
	assert_int_equal(deviceauth_refresh(agent, copy, me, &changed, &err), -1);
	rp_error_clear(&err);
	assert_int_equal(rp_remove_tree(tmpl, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_refresh),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
