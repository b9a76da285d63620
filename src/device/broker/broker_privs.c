/* The broker's privilege drop (see broker_privs.h). A broker parses every byte a hostile app
 * sends; if one of those parsers has a bug, this is what the attacker gets: an unprivileged user
 * of its own (not the app's, not root), at most the one or two capabilities its app's manifest
 * justifies, and no way to exec, trace, mount, load modules or enter namespaces. */
#include "device/broker/broker_privs.h"

#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <linux/securebits.h>

#include "common/log.h"
#include "common/macros.h"

#if defined(__SANITIZE_ADDRESS__)
#define BROKER_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BROKER_SANITIZED 1
#endif
#endif

void broker_privs_needed(const struct broker_policy *policy, struct board *board, struct broker_privs *out)
{
	*out = (struct broker_privs){0};
	out->sys_time = policy->system_time && !board->clock_simulated;
	for (int t = 0; t < BOARD_TYPE_COUNT; t++)
		for (size_t i = 0; i < policy->periph_count[t]; i++) {
			struct board_periph *p = board_find_manifest(board, (enum board_type)t, policy->periph[t][i]);
			if (p && !p->simulated)
				out->dac_override = true;
		}
	for (size_t i = 0; i < policy->tcp_server_port_count; i++)
		if (policy->tcp_server_ports[i] < 1024)
			out->net_bind_service = true;
	for (size_t i = 0; i < policy->udp_server_port_count; i++)
		if (policy->udp_server_ports[i] < 1024)
			out->net_bind_service = true;
}

/* System calls a broker never makes. Everything else stays allowed: the broker's needs (libgpiod,
 * the resolver, netlink for interface status) are too varied for a short allow list, and what it
 * may do with them is already bounded by its user and capabilities. */
static const char *const denied_calls[] = {
	"execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
	"chroot", "unshare", "setns", "open_by_handle_at", "name_to_handle_at", "kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key",
	"request_key", "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "mknod", "mknodat", "iopl", "ioperm",
	"fanotify_init", "fsopen", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "setuid",
	"setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "capset",
	"personality",
};
/* Changing the time: allowed only to a broker that keeps CAP_SYS_TIME. */
static const char *const time_calls[] = {"clock_settime", "settimeofday", "clock_adjtime", "adjtimex"};

static void ctx_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static int deny_call(scmp_filter_ctx ctx, const char *name, rp_error *err)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return 0; /* not on this architecture */
#ifdef BROKER_SANITIZED
	/* LeakSanitizer stops the world with ptrace at exit. */
	if (nr == seccomp_syscall_resolve_name("ptrace"))
		return 0;
#endif
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	if (rc < 0)
		return rp_error_set_errno(err, -rc, "broker seccomp policy: adding %s", name);
	return 0;
}

static int install_seccomp(const struct broker_privs *need, rp_error *err)
{
	_cleanup_(ctx_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return rp_error_set(err, RP_E_INTERNAL, "broker seccomp policy: seccomp_init failed");
	for (size_t i = 0; i < RP_ARRAY_SIZE(denied_calls); i++)
		if (deny_call(ctx, denied_calls[i], err) < 0)
			return -1;
	for (size_t i = 0; i < RP_ARRAY_SIZE(time_calls) && !need->sys_time; i++)
		if (deny_call(ctx, time_calls[i], err) < 0)
			return -1;
	/* Namespaces through clone: clone3 hides its flags from seccomp, so it falls back to clone. */
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	static const uint64_t ns_flags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
	                                    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWTIME};
	for (size_t i = 0; i < RP_ARRAY_SIZE(ns_flags) && rc >= 0; i++) {
		struct scmp_arg_cmp cmp = {.arg = 0, .op = SCMP_CMP_MASKED_EQ, .datum_a = ns_flags[i], .datum_b = ns_flags[i]};
		rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, &cmp);
	}
	if (rc < 0)
		return rp_error_set_errno(err, -rc, "broker seccomp policy: clone rules");
	rc = seccomp_load(ctx);
	if (rc < 0)
		return rp_error_set_errno(err, -rc, "installing the broker's seccomp filter");
	return 0;
}

static void cap_freep(cap_t *c)
{
	if (*c)
		cap_free(*c);
}

int broker_privs_drop(const struct broker_privs *need, bool change_user, uid_t uid, gid_t gid, rp_error *err)
{
	cap_value_t keep[3];
	int nkeep = 0;
	if (need->sys_time)
		keep[nkeep++] = CAP_SYS_TIME;
	if (need->dac_override)
		keep[nkeep++] = CAP_DAC_OVERRIDE;
	if (need->net_bind_service)
		keep[nkeep++] = CAP_NET_BIND_SERVICE;

	if (change_user && (uid == 0 || gid == 0))
		return rp_error_set(err, RP_E_INVALID, "the broker's user and group must not be 0");
	_cleanup_(cap_freep) cap_t cur = cap_get_proc();
	cap_flag_value_t setpcap = CAP_CLEAR;
	if (!cur || cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap) < 0)
		return rp_error_set_errno(err, errno, "reading the broker's capabilities");
	/* A broker started by hand without privileges cannot keep what it never had: the request that
	 * needs it then fails with the OS's error, as it would have anyway. */
	for (int i = 0; i < nkeep;) {
		cap_flag_value_t have = CAP_CLEAR;
		if (cap_get_flag(cur, keep[i], CAP_PERMITTED, &have) < 0 || have != CAP_SET) {
			rp_log_event(RP_LOG_WARNING, "broker.capability_missing",
			             "the broker lacks %s, which its app's grants need",
			             keep[i] == CAP_SYS_TIME     ? "CAP_SYS_TIME"
			             : keep[i] == CAP_DAC_OVERRIDE ? "CAP_DAC_OVERRIDE"
			                                           : "CAP_NET_BIND_SERVICE");
			keep[i] = keep[--nkeep];
			continue;
		}
		i++;
	}
	if (setpcap == CAP_SET) {
		/* Root has no special meaning any more; capabilities survive the user switch only
		 * through KEEP_CAPS, which the switch below then clears. */
		if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
		                                 SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED | SECBIT_KEEP_CAPS, 0, 0, 0) < 0)
			return rp_error_set_errno(err, errno, "setting securebits");
		for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
			bool kept = false;
			for (int i = 0; i < nkeep; i++)
				kept = kept || keep[i] == c;
			if (!kept && cap_drop_bound(c) < 0 && errno != EINVAL)
				return rp_error_set_errno(err, errno, "dropping bounding capability %d", (int)c);
		}
	}
	if (cap_reset_ambient() < 0 && errno != EINVAL)
		return rp_error_set_errno(err, errno, "clearing ambient capabilities");
	if (change_user) {
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
			return rp_error_set_errno(err, errno, "switching to uid %u gid %u", (unsigned)uid, (unsigned)gid);
		uid_t r, e, s;
		if (getresuid(&r, &e, &s) < 0 || r != uid || e != uid || s != uid || setuid(0) == 0)
			return rp_error_set(err, RP_E_INTERNAL, "the switch to uid %u did not take effect", (unsigned)uid);
	}
	_cleanup_(cap_freep) cap_t want = cap_init();
	if (!want || (nkeep && (cap_set_flag(want, CAP_PERMITTED, nkeep, keep, CAP_SET) < 0 ||
	                        cap_set_flag(want, CAP_EFFECTIVE, nkeep, keep, CAP_SET) < 0)))
		return rp_error_set_errno(err, errno, "building the broker's capability set");
	if (cap_set_proc(want) < 0)
		return rp_error_set_errno(err, errno, "reducing the broker's capabilities");
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 && errno != EPERM)
		return rp_error_set_errno(err, errno, "clearing keep-caps");
#ifdef BROKER_SANITIZED
	/* A user switch makes the process undumpable, which stops LeakSanitizer's tracer. */
	if (change_user)
		(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return rp_error_set_errno(err, errno, "setting no_new_privs");
	return install_seccomp(need, err);
}
