/* Unit tests for the app cgroup code: choosing v1 or v2 from the mount table and the policy,
 * finding the manager's own group, joining paths without escaping the parent; and, as root, the
 * cgroup v2 code run against the host's real cgroup2 mount (create, refuse unlimited, clone into
 * a group, cgroup.events, cgroup.kill and removal). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>
#include <cmocka.h>

#include "common/fileio.h"

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

static void test_policy(void **state)
{
	(void)state;
	struct cgroup_layout l;
	rp_error err = RP_ERROR_INIT;
	/* auto on the hybrid layout: v1, and why the cgroup2 mount is not used. */
	assert_int_equal(cgroup_parse_mounts(hybrid, "hugetlb\n", &l, &err), 0);
	assert_int_equal(cgroup_apply_policy(&l, CGROUP_POLICY_AUTO, &err), 0);
	assert_int_equal(l.mode, CGROUP_MODE_V1);
	assert_string_equal(l.v2_unused_mount, "/sys/fs/cgroup/unified");
	assert_non_null(strstr(l.v2_unused_why, "lacks memory and pids (bound to the cgroup v1 hierarchies)"));
	/* v2 required: refused, naming the mount, the reason and what to do. */
	assert_int_equal(cgroup_apply_policy(&l, CGROUP_POLICY_V2, &err), -1);
	assert_int_equal(err.code, RP_E_UNSUPPORTED);
	assert_non_null(strstr(err.message, "requires cgroup v2"));
	assert_non_null(strstr(err.message, "/sys/fs/cgroup/unified"));
	assert_non_null(strstr(err.message, "bound to the cgroup v1"));
	assert_non_null(strstr(err.message, "--cgroup auto"));
	/* v2 with only pids missing says so. */
	assert_int_equal(cgroup_parse_mounts(hybrid, "memory\n", &l, &err), 0);
	assert_non_null(strstr(l.v2_unused_why, "lacks pids"));
	assert_null(strstr(l.v2_unused_why, "memory"));
	/* v1 required on a pure v2 host: refused; v2 required there: accepted. */
	assert_int_equal(cgroup_parse_mounts(unified, "memory pids\n", &l, &err), 0);
	assert_int_equal(cgroup_apply_policy(&l, CGROUP_POLICY_V2, &err), 0);
	assert_int_equal(cgroup_apply_policy(&l, CGROUP_POLICY_V1, &err), -1);
	assert_non_null(strstr(err.message, "requires cgroup v1"));
}

/* ---- the real cgroup2 mount (root only) ---- */

struct real_v2 {
	char mount[CGROUP_PATH_MAX];
	char parent[CGROUP_PATH_MAX]; /* a test group of our own beneath this process's v2 group */
};

/* Skips (with the reason) when this process cannot manage cgroup v2 groups here. */
static bool real_v2_setup(struct real_v2 *r)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: the real cgroup2 tests need root\n");
		return false;
	}
	_cleanup_free_ uint8_t *mounts = NULL, *self = NULL;
	size_t ml = 0, sl = 0;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_read_file("/proc/self/mounts", 1 << 20, &mounts, &ml, &err), 0);
	assert_int_equal(rp_read_file("/proc/self/cgroup", 1 << 16, &self, &sl, &err), 0);
	r->mount[0] = '\0';
	for (const char *line = (const char *)mounts; line && *line;) {
		char dev[64], dir[CGROUP_PATH_MAX], type[32];
		if (sscanf(line, "%63s %511s %31s", dev, dir, type) == 3 && strcmp(type, "cgroup2") == 0) {
			snprintf(r->mount, sizeof(r->mount), "%s", dir);
			break;
		}
		const char *nl = strchr(line, '\n');
		line = nl ? nl + 1 : NULL;
	}
	if (!r->mount[0]) {
		fprintf(stderr, "skipped: no cgroup2 file system is mounted on this host\n");
		return false;
	}
	char own[CGROUP_PATH_MAX];
	if (cgroup_parse_self((const char *)self, NULL, own, sizeof(own), &err) < 0) {
		fprintf(stderr, "skipped: this process is in no cgroup v2 group: %s\n", err.message);
		return false;
	}
	int n = snprintf(r->parent, sizeof(r->parent), "%s%s/rampart-unit-%d", r->mount, strcmp(own, "/") == 0 ? "" : own,
	                 (int)getpid());
	assert_true(n > 0 && (size_t)n < sizeof(r->parent) - 8);
	if (mkdir(r->parent, 0755) < 0) {
		fprintf(stderr, "skipped: cannot create a cgroup v2 group %s: %s\n", r->parent, strerror(errno));
		return false;
	}
	return true;
}

/* Enabling memory and pids for the test group works only where the cgroup2 mount has them (not
 * while they are bound to v1): then the manager must limit apps; else it must refuse. */
static void test_real_v2_limits_or_refusal(void **state)
{
	(void)state;
	struct real_v2 r;
	if (!real_v2_setup(&r))
		skip();
	char path[CGROUP_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", r.parent);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	bool enabled = write(fd, "+memory +pids", 13) == 13;
	int enable_errno = errno;
	close(fd);
	struct cgroup_layout l;
	memset(&l, 0, sizeof(l));
	l.mode = CGROUP_MODE_V2;
	snprintf(l.v2_mount, sizeof(l.v2_mount), "%s", r.mount);
	snprintf(l.parent_v2, sizeof(l.parent_v2), "%s", r.parent);
	struct cgroup_app app;
	rp_error err = RP_ERROR_INIT;
	int rc = cgroup_app_create(&l, "app", 64ull << 20, 32, &app, &err);
	char dir[CGROUP_PATH_MAX + 8];
	snprintf(dir, sizeof(dir), "%s/app", r.parent);
	if (enabled) {
		fprintf(stderr, "note: memory and pids enabled on %s: checking the limits\n", r.mount);
		assert_int_equal(rc, 0);
		char buf[64];
		snprintf(path, sizeof(path), "%s/pids.max", dir);
		_cleanup_free_ uint8_t *v = NULL;
		size_t vl = 0;
		assert_int_equal(rp_read_file(path, 64, &v, &vl, &err), 0);
		snprintf(buf, sizeof(buf), "%.*s", (int)vl, (const char *)v);
		assert_string_equal(buf, "32\n");
		assert_int_equal(cgroup_app_destroy(&app, &err), 0);
	} else {
		/* This host: the controllers are elsewhere (ENOENT from the kernel). */
		fprintf(stderr, "note: enabling memory and pids on %s failed (%s): checking the refusal\n", r.mount,
		        strerror(enable_errno));
		assert_int_equal(rc, -1);
		assert_non_null(strstr(err.message, "cannot be limited"));
		assert_non_null(strstr(err.message, "memory.max"));
		/* No empty group is left behind. */
		assert_int_equal(access(dir, F_OK), -1);
		assert_int_equal(errno, ENOENT);
	}
	assert_int_equal(rmdir(r.parent), 0);
}

/* What the manager does on v2 that needs no controller: a child born in its group
 * (clone3 CLONE_INTO_CGROUP, as sandbox_prepare does), cgroup.events "populated", and
 * cgroup_app_destroy (cgroup.kill, then rmdir) ending every process of the group. */
static void test_real_v2_clone_into_and_kill(void **state)
{
	(void)state;
	struct real_v2 r;
	if (!real_v2_setup(&r))
		skip();
	struct cgroup_app app;
	memset(&app, 0, sizeof(app));
	app.mode = CGROUP_MODE_V2;
	app.procs_fd[0] = app.procs_fd[1] = -1;
	int n = snprintf(app.dir_v2, sizeof(app.dir_v2), "%s/app", r.parent);
	assert_true(n > 0 && (size_t)n < sizeof(app.dir_v2));
	assert_int_equal(mkdir(app.dir_v2, 0755), 0);
	app.v2_dirfd = open(app.dir_v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(app.v2_dirfd >= 0);
	assert_int_equal(cgroup_v2_populated(app.dir_v2), 0);

	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_INTO_CGROUP;
	args.exit_signal = SIGCHLD;
	args.cgroup = (uint64_t)app.v2_dirfd;
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0) {
		/* Bounded: the test kills it long before. */
		sleep(30);
		_exit(0);
	}
	assert_true(pid > 0);
	cgroup_app_close_fds(&app);
	/* Born inside: its own view says so, the group lists it and reports itself populated. */
	char path[CGROUP_PATH_MAX + 32];
	snprintf(path, sizeof(path), "/proc/%ld/cgroup", pid);
	_cleanup_free_ uint8_t *cg = NULL;
	size_t cl = 0;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_read_file(path, 1 << 16, &cg, &cl, &err), 0);
	char own[CGROUP_PATH_MAX];
	assert_int_equal(cgroup_parse_self((const char *)cg, NULL, own, sizeof(own), &err), 0);
	char want[CGROUP_PATH_MAX + 32];
	snprintf(want, sizeof(want), "/rampart-unit-%d/app", (int)getpid());
	size_t ol = strlen(own), wl = strlen(want);
	assert_true(ol >= wl && strcmp(own + ol - wl, want) == 0);
	snprintf(path, sizeof(path), "%s/cgroup.procs", app.dir_v2);
	_cleanup_free_ uint8_t *procs = NULL;
	size_t pl = 0;
	assert_int_equal(rp_read_file(path, 4096, &procs, &pl, &err), 0);
	assert_int_equal(strtol((const char *)procs, NULL, 10), pid);
	assert_int_equal(cgroup_v2_populated(app.dir_v2), 1);

	/* Destroy: every process killed, the group gone. */
	assert_int_equal(cgroup_app_destroy(&app, &err), 0);
	int status = 0;
	assert_int_equal(waitpid((pid_t)pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(access(app.dir_v2, F_OK), -1);
	assert_int_equal(cgroup_v2_populated(app.dir_v2), -1);
	assert_int_equal(rmdir(r.parent), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hybrid_uses_v1),
		cmocka_unit_test(test_v2_with_controllers),
		cmocka_unit_test(test_v2_without_memory_fails),
		cmocka_unit_test(test_parse_self),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_real_v2_limits_or_refusal),
		cmocka_unit_test(test_real_v2_clone_into_and_kill),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
