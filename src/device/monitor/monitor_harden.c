/* Security monitor hardening. Defends against a monitor that a malformed message somehow
 * subverted: without capabilities, with no_new_privs and a seccomp allow list it cannot exec,
 * ptrace, mount, load modules, open new network listeners or gain privileges. Calls outside the
 * list fail with EPERM (not a kill), so an unexpected library call becomes an error reply and the
 * monitor keeps serving. */
#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "device/monitor/monitor_harden.h"

void monitor_harden_close_fds(void)
{
	if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
}

static int harden_drop_caps(rp_error *err)
{
	/* The bounding set first (needs CAP_SETPCAP, which we may or may not have), then the sets. */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
			return rp_error_set_errno(err, errno, "dropping capability %d from the bounding set", cap);
	cap_t caps = cap_init();
	if (!caps)
		return rp_error_set_errno(err, errno, "allocating an empty capability set");
	int rc = cap_set_proc(caps);
	cap_free(caps);
	if (rc < 0)
		return rp_error_set_errno(err, errno, "dropping capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return rp_error_set_errno(err, errno, "clearing ambient capabilities");
	return 0;
}

static const int harden_allowed[] = {
	/* serving the socket */
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg), SCMP_SYS(sendto),
	SCMP_SYS(sendmsg), SCMP_SYS(getsockopt), SCMP_SYS(close), SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv),
	SCMP_SYS(writev), SCMP_SYS(shutdown),
	/* the TPM connection (the TCTI may reconnect) */
	SCMP_SYS(connect), SCMP_SYS(setsockopt), SCMP_SYS(getpeername), SCMP_SYS(getsockname),
	/* state files (atomic replace) and logging */
	SCMP_SYS(openat), SCMP_SYS(open), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(lseek),
	SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(fchmod), SCMP_SYS(renameat), SCMP_SYS(rename),
	SCMP_SYS(renameat2), SCMP_SYS(unlinkat), SCMP_SYS(unlink), SCMP_SYS(fcntl), SCMP_SYS(getdents64),
	SCMP_SYS(faccessat), SCMP_SYS(access), SCMP_SYS(faccessat2), SCMP_SYS(lstat), SCMP_SYS(stat),
	/* memory, time, randomness, signals, exit */
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(mprotect),
	SCMP_SYS(futex), SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(getrandom), SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(getpid),
	SCMP_SYS(gettid), SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(sched_yield), SCMP_SYS(getuid),
	SCMP_SYS(geteuid), SCMP_SYS(umask), SCMP_SYS(restart_syscall),
#if defined(__SANITIZE_ADDRESS__)
	/* sanitizer builds only: the leak checker stops the world with a traced thread at exit */
	SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(prctl), SCMP_SYS(sigaltstack),
	SCMP_SYS(rt_sigaction), SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(getppid), SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq), SCMP_SYS(sched_getaffinity), SCMP_SYS(prlimit64), SCMP_SYS(getrlimit), SCMP_SYS(munlock),
	SCMP_SYS(mlock), SCMP_SYS(kill), SCMP_SYS(tgkill), SCMP_SYS(pipe2), SCMP_SYS(pipe), SCMP_SYS(getdents),
	SCMP_SYS(waitid), SCMP_SYS(arch_prctl), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(fstatfs),
#endif
};

bool monitor_harden_tcti_is_tcp(const char *tcti)
{
	if (!tcti)
		return false;
	/* "swtpm:host=...", "mssim", or a library name such as "libtss2-tcti-swtpm.so.0:..." */
	size_t n = strcspn(tcti, ":");
	for (size_t i = 0; i < n; i++)
		if (n - i >= 5 && (strncmp(tcti + i, "swtpm", 5) == 0 || strncmp(tcti + i, "mssim", 5) == 0))
			return true;
	return false;
}

static int harden_seccomp(bool allow_inet, rp_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return rp_error_set(err, RP_E_INTERNAL, "seccomp_init failed");
	int rc = 0;
	for (size_t i = 0; i < RP_ARRAY_SIZE(harden_allowed) && rc == 0; i++)
		if (harden_allowed[i] >= 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, harden_allowed[i], 0);
	/* New sockets only of the kinds the TPM connection uses: Unix, and TCP only when the TCTI is
	 * a simulator's (swtpm, mssim); a subverted monitor on a device TPM cannot reach the network. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
	if (rc == 0 && allow_inet)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_INET, 0));
	if (rc == 0 && allow_inet)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0));
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return rp_error_set(err, RP_E_INTERNAL, "installing the seccomp filter: %s", strerror(-rc));
	return 0;
}

int monitor_harden_apply(bool allow_inet, rp_error *err)
{
	if (harden_drop_caps(err) < 0)
		return rp_error_prefix(err, "hardening");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return rp_error_set_errno(err, errno, "hardening: setting no_new_privs");
	if (harden_seccomp(allow_inet, err) < 0)
		return rp_error_prefix(err, "hardening");
	rp_debug("hardened: no capabilities, no_new_privs, seccomp allow list (%s sockets)",
	         allow_inet ? "Unix and TCP" : "Unix");
	return 0;
}
