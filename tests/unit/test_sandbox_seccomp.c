/* Unit tests for the application seccomp policy: it builds, and, installed in a child process,
 * allows ordinary calls and refuses the escape-relevant ones with the documented errors. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <seccomp.h>

#include "device/appmgr/sandbox_seccomp.h"

static void test_builds(void **state)
{
	(void)state;
	struct sandbox_seccomp_prog prog;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(sandbox_seccomp_build(&prog, &err), 0);
	assert_non_null(prog.filter);
	assert_true(prog.len > 20);
	sandbox_seccomp_free(&prog);
	assert_null(prog.filter);
}

static void test_allow_list_has_no_dangerous_calls(void **state)
{
	(void)state;
	static const char *const forbidden[] = {"ptrace", "mount", "umount2", "unshare", "setns", "keyctl", "add_key",
	                                        "request_key", "bpf", "perf_event_open", "init_module",
	                                        "finit_module", "delete_module", "kexec_load", "pivot_root", "chroot",
	                                        "reboot", "swapon", "open_by_handle_at", "mknod", "mknodat",
	                                        "process_vm_readv", "setuid", "setgid", "clone3", "socket", "userfaultfd"};
	for (size_t i = 0; i < sandbox_seccomp_allowed_count; i++) {
		for (size_t j = 0; j < sizeof(forbidden) / sizeof(forbidden[0]); j++)
			assert_string_not_equal(sandbox_seccomp_allowed[i], forbidden[j]);
		/* Every listed name is a real system call somewhere (typos would silently allow nothing). */
		assert_true(seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, sandbox_seccomp_allowed[i]) != __NR_SCMP_ERROR ||
		            seccomp_syscall_resolve_name_arch(SCMP_ARCH_AARCH64, sandbox_seccomp_allowed[i]) != __NR_SCMP_ERROR);
	}
}

/* Run CHECK in a child under the policy; the child's exit status is the first failing line. */
static int child_check(void)
{
	if (getpid() <= 0)
		return 1;
	errno = 0;
	if (syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0) != -1 || errno != EPERM)
		return 2;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 3;
	if (socket(AF_PACKET, SOCK_RAW, 0) != -1 || errno != EPERM)
		return 4;
	if (socket(AF_INET, SOCK_RAW, 1) != -1 || errno != EPERM)
		return 5;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 6;
	close(s);
	if (unshare(CLONE_NEWNS) != -1 || errno != EPERM)
		return 7;
	if (syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) != -1 || errno != EPERM)
		return 8;
	pid_t p = fork(); /* clone without namespace flags stays allowed */
	if (p < 0)
		return 9;
	if (p == 0)
		_exit(0);
	int st;
	if (waitpid(p, &st, 0) != p)
		return 10;
	if (syscall(SYS_bpf, 0, NULL, 0) != -1 || errno != EPERM)
		return 11;
	return 0;
}

static void test_policy_enforced(void **state)
{
	(void)state;
	struct sandbox_seccomp_prog prog;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(sandbox_seccomp_build(&prog, &err), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || sandbox_seccomp_install(&prog) < 0)
			_exit(100);
		_exit(child_check());
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	sandbox_seccomp_free(&prog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builds),
		cmocka_unit_test(test_allow_list_has_no_dangerous_calls),
		cmocka_unit_test(test_policy_enforced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
