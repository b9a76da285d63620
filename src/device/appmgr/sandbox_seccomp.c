/* The application seccomp policy. It defends against an app reaching kernel interfaces that a
 * high-level app never needs (ptrace, mount, namespaces, keyrings, BPF, perf, modules, kexec,
 * raw and packet sockets): each is a large attack surface, or a way out of the container. */
#include "device/appmgr/sandbox_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "common/fileio.h"
#include "common/xalloc.h"

const char *const sandbox_seccomp_allowed[] = {
	/* files and descriptors */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
	"open", "openat", "close", "close_range", "creat", "lseek", "dup", "dup2", "dup3", "fcntl", "flock",
	"fsync", "fdatasync", "truncate", "fadvise64", "sendfile", "copy_file_range",
	"splice", "tee", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access",
	"faccessat", "faccessat2", "getdents64", "getcwd", "chdir", "fchdir", "rename", "renameat",
	"renameat2", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "link", "linkat", "symlink",
	"symlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat", "umask", "utimensat",
	"pipe", "pipe2", "memfd_create", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	/* waiting and events */
	"select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "timerfd_create", "timerfd_settime",
	"timerfd_gettime", "signalfd", "signalfd4", "futex", "futex_waitv", "nanosleep", "clock_nanosleep",
	"pause", "sched_yield", "restart_syscall",
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "membarrier",
	/* signals (the PID namespace and Landlock scoping keep them inside the container) */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
	"rt_sigsuspend", "rt_sigqueueinfo", "sigaltstack", "kill", "tgkill", "tkill", "alarm", "setitimer",
	"getitimer", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
	/* processes and threads */
	"fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "set_tid_address",
	"set_robust_list", "get_robust_list", "rseq", "arch_prctl", "prctl", "getpid", "getppid", "gettid",
	"getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid", "getpgrp",
	"getpgid", "getsid", "setpgid", "getrlimit", "prlimit64", "getrusage", "getpriority",
	"setpriority", "sched_getaffinity", "sched_getparam", "sched_getscheduler", "capget",
	/* time and system information */
	"clock_gettime", "clock_getres", "gettimeofday", "time", "times", "uname", "sysinfo", "getrandom",
	/* sockets (socket() itself is filtered by family and type below) */
	"socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom", "sendmsg",
	"recvmsg", "sendmmsg", "recvmmsg", "shutdown", "getsockname", "getpeername", "setsockopt",
	"getsockopt",
};
const size_t sandbox_seccomp_allowed_count = sizeof(sandbox_seccomp_allowed) / sizeof(sandbox_seccomp_allowed[0]);

static void ctx_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned count, const struct scmp_arg_cmp *cmp,
                rp_error *err)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return rp_error_set(err, RP_E_INTERNAL, "seccomp policy: unknown system call %s", name);
	int rc = seccomp_rule_add_array(ctx, action, nr, count, cmp);
	if (rc < 0)
		return rp_error_set_errno(err, -rc, "seccomp policy: adding %s", name);
	return 0;
}

int sandbox_seccomp_build(struct sandbox_seccomp_prog *out, rp_error *err)
{
	out->filter = NULL;
	out->len = 0;
	_cleanup_(ctx_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return rp_error_set(err, RP_E_INTERNAL, "seccomp policy: seccomp_init failed");
	/* Kernel-side log of every refused call, next to the app's own report of the error. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1) < 0)
		return rp_error_set(err, RP_E_INTERNAL, "seccomp policy: cannot enable logging");
	for (size_t i = 0; i < sandbox_seccomp_allowed_count; i++) {
		/* Names this architecture lacks (e.g. "open" on arm64) are skipped, not errors. */
		if (seccomp_syscall_resolve_name(sandbox_seccomp_allowed[i]) == __NR_SCMP_ERROR)
			continue;
		if (rule(ctx, SCMP_ACT_ALLOW, sandbox_seccomp_allowed[i], 0, NULL, err) < 0)
			return -1;
	}
	/* clone3 takes its flags through a pointer seccomp cannot read: make the C library fall
	 * back to clone, and allow clone only without namespace flags. */
	if (rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err) < 0)
		return -1;
	const uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
	                          CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME;
	struct scmp_arg_cmp clone_cmp[] = {SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags, 0)};
	if (rule(ctx, SCMP_ACT_ALLOW, "clone", 1, clone_cmp, err) < 0)
		return -1;
	/* socket: Unix, IPv4 and IPv6 stream and datagram only; raw, packet, netlink and the rest
	 * are refused (the app has no capabilities either, so this is a second barrier). */
	static const int families[] = {AF_UNIX, AF_INET, AF_INET6};
	static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
	for (size_t f = 0; f < RP_ARRAY_SIZE(families); f++) {
		for (size_t t = 0; t < RP_ARRAY_SIZE(types); t++) {
			if (families[f] != AF_UNIX && types[t] == SOCK_SEQPACKET)
				continue;
			struct scmp_arg_cmp cmp[] = {
				/* Spelled out: libseccomp's SCMP_A0() leaves datum_b implicit, which clang flags. */
				{.arg = 0, .op = SCMP_CMP_EQ, .datum_a = (uint64_t)families[f], .datum_b = 0},
				{.arg = 1, .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xf, .datum_b = (uint64_t)types[t]},
			};
			if (rule(ctx, SCMP_ACT_ALLOW, "socket", 2, cmp, err) < 0)
				return -1;
		}
	}
	/* The log (fds 1 and 2, a regular file on the state partition) is bounded by RLIMIT_FSIZE,
	 * which fallocate with FALLOC_FL_KEEP_SIZE escapes: refused on every fd (a dup of fd 1 is
	 * the same file). EOPNOTSUPP, as ext2 storage answers, so posix_fallocate falls back to
	 * writes, which the limit and the storage quota bound. */
	if (rule(ctx, SCMP_ACT_ERRNO(EOPNOTSUPP), "fallocate", 0, NULL, err) < 0)
		return -1;
	/* ftruncate on fds 0-2 would erase the log (and the broker's lines in it): EPERM. A dup of
	 * fd 1 gets past this check, so nothing relies on it: the broker's record is broker.log,
	 * and growing a file this way is bounded by RLIMIT_FSIZE. */
	struct scmp_arg_cmp trunc_cmp[] = {{.arg = 0, .op = SCMP_CMP_GT, .datum_a = 2, .datum_b = 0}};
	if (rule(ctx, SCMP_ACT_ALLOW, "ftruncate", 1, trunc_cmp, err) < 0)
		return -1;
	/* ioctl is allowed: the container has no terminal (stdin is /dev/null, stdout a log), so
	 * TIOCSTI-style injection has no target; device ioctls are for peripheral brokers' fds. */
	if (rule(ctx, SCMP_ACT_ALLOW, "ioctl", 0, NULL, err) < 0)
		return -1;

	/* libseccomp 2.5 exports BPF only to a file descriptor. */
	_cleanup_close_ int mfd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (mfd < 0)
		return rp_error_set_errno(err, errno, "seccomp policy: memfd_create");
	int rc = seccomp_export_bpf(ctx, mfd);
	if (rc < 0)
		return rp_error_set_errno(err, -rc, "seccomp policy: exporting BPF");
	off_t size = lseek(mfd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
		return rp_error_set(err, RP_E_INTERNAL, "seccomp policy: unexpected BPF size %lld", (long long)size);
	struct sock_filter *filter = xmalloc((size_t)size);
	if (pread(mfd, filter, (size_t)size, 0) != size) {
		free(filter);
		return rp_error_set(err, RP_E_IO, "seccomp policy: reading back BPF failed");
	}
	out->filter = filter;
	out->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
	return 0;
}

void sandbox_seccomp_free(struct sandbox_seccomp_prog *prog)
{
	free(prog->filter);
	prog->filter = NULL;
	prog->len = 0;
}

int sandbox_seccomp_install(const struct sandbox_seccomp_prog *prog)
{
	struct sock_fprog fprog = {.len = prog->len, .filter = prog->filter};
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, &fprog);
}
