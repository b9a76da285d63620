/* Security monitor hardening. Defends against a monitor that a malformed message somehow
 * subverted: Landlock keeps its files to its own state directories and TPM connection; without
 * capabilities, with no_new_privs and a seccomp allow list it cannot exec, ptrace, mount, load
 * modules, open new network listeners or gain privileges. Calls outside the
 * list fail with EPERM (not a kill), so an unexpected library call becomes an error reply and the
 * monitor keeps serving. */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/monitor/monitor_harden.h"
#include "device/monitor/monitor_landlock.h"

/* What the tpm2 backend (src/device/rot/rot_tpm2.c) and the TSS's device TCTI open by default. */
#define HARDEN_DEFAULT_TPM_DEVICE "/dev/tpmrm0"
#define HARDEN_TCTI_DEVICE_DEFAULT "/dev/tpm0"
#define HARDEN_TCTI_TCP_DEFAULT_PORT 2321

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

const char *monitor_harden_tcti_device(const char *tcti, char *buf, size_t len)
{
	if (!tcti)
		return HARDEN_DEFAULT_TPM_DEVICE;
	size_t n = strcspn(tcti, ":");
	bool device = n == 6 && strncmp(tcti, "device", 6) == 0;
	for (size_t i = 0; i + 11 <= n && !device; i++)
		device = strncmp(tcti + i, "tcti-device", 11) == 0;
	if (!device)
		return NULL;
	const char *conf = tcti[n] == ':' ? tcti + n + 1 : "";
	if (!*conf)
		return HARDEN_TCTI_DEVICE_DEFAULT;
	int w = snprintf(buf, len, "%s", conf);
	return w < 0 || (size_t)w >= len ? NULL : buf;
}

int monitor_harden_tcti_port(const char *tcti, uint16_t *out, rp_error *err)
{
	uint32_t port = HARDEN_TCTI_TCP_DEFAULT_PORT;
	const char *conf = strchr(tcti, ':');
	for (const char *p = conf; p && *p; p = strchr(p, ',')) {
		p++;
		if (strncmp(p, "port=", 5) != 0)
			continue;
		char value[8];
		size_t vlen = strcspn(p + 5, ",");
		if (vlen >= sizeof(value))
			return rp_error_set(err, RP_E_INVALID, "TCTI '%s': port is not a number from 1 to 65535", tcti);
		memcpy(value, p + 5, vlen);
		value[vlen] = '\0';
		if (rp_parse_u32(value, 1, 65535, &port, err) < 0)
			return rp_error_prefix(err, "TCTI '%s': port", tcti);
	}
	*out = (uint16_t)port;
	return 0;
}

/* Landlock: files under STATE/monitor (event log) and STATE/rot-BACKEND (lock, soft state), the
 * TPM device node, /dev/urandom (rp_write_file_atomic names its temporary files from it), the
 * simulator's TCP command port. */
static int harden_landlock(const monitor_harden_config *cfg, bool tcp, rp_error *err)
{
	_cleanup_free_ char *mon_dir = xasprintf("%s/monitor", cfg->state_dir);
	_cleanup_free_ char *rot_dir = xasprintf("%s/rot-%s", cfg->state_dir, cfg->backend);
	char devbuf[256];
	monitor_landlock_rules rules = {
		.rw_dirs = {mon_dir, rot_dir},
		.n_rw_dirs = 2,
		.read_files = {"/dev/urandom"},
		.n_read_files = 1,
	};
#if defined(__SANITIZE_ADDRESS__)
	/* sanitizer builds only: the leak checker reads /proc/self at exit */
	rules.read_dirs[rules.n_read_dirs++] = "/proc";
#endif
	if (strcmp(cfg->backend, "tpm2") == 0) {
		const char *dev = monitor_harden_tcti_device(cfg->tcti, devbuf, sizeof(devbuf));
		if (dev)
			rules.dev_files[rules.n_dev_files++] = dev;
		if (tcp && monitor_harden_tcti_port(cfg->tcti, &rules.tcp_ports[0], err) < 0)
			return -1;
		if (tcp)
			rules.n_tcp_ports = 1;
	}
	/* glibc loads the time zone on the first time conversion, even gmtime_r's for log lines: load
	 * it now rather than have a log line after confinement try a refused read of /etc/localtime. */
	tzset();
	return monitor_landlock_apply(&rules, err) < 0 ? -1 : 0;
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

int monitor_harden_apply(const monitor_harden_config *cfg, rp_error *err)
{
	/* TCP sockets stay allowed only for a TPM simulator reached over TCP (the TCTI may reconnect). */
	bool allow_inet = strcmp(cfg->backend, "tpm2") == 0 && monitor_harden_tcti_is_tcp(cfg->tcti);
	/* Landlock first, while its system calls are still allowed: seccomp's list stays unchanged. */
	if (harden_landlock(cfg, allow_inet, err) < 0)
		return rp_error_prefix(err, "hardening");
	if (harden_drop_caps(err) < 0)
		return rp_error_prefix(err, "hardening");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return rp_error_set_errno(err, errno, "hardening: setting no_new_privs");
	if (harden_seccomp(allow_inet, err) < 0)
		return rp_error_prefix(err, "hardening");
	rp_debug("hardened: Landlock, no capabilities, no_new_privs, seccomp allow list (%s sockets)",
	         allow_inet ? "Unix and TCP" : "Unix");
	return 0;
}
