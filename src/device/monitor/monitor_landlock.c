/* Landlock for the security monitor (raw system calls; the kernel headers of older distributions
 * stop at ABI 2, so the later fields and flags are spelled out below as the stable kernel ABI).
 * Every right the running kernel's ABI knows is handled; only the rules' paths and ports get any
 * of them back. */
#include "device/monitor/monitor_landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/landlock.h>

#include "common/log.h"
#include "common/macros.h"

struct monitor_ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;             /* ABI 6 */
};

struct monitor_ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

#define LL_ABI_REFER 2
#define LL_ABI_TRUNCATE 3
#define LL_ABI_NET 4
#define LL_ABI_IOCTL 5
#define LL_ABI_SCOPE 6
#define LL_FS_TRUNCATE (1ULL << 14)
#define LL_FS_IOCTL_DEV (1ULL << 15)
#define LL_RULE_NET_PORT 2
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

int monitor_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? 0 : (int)v;
}

/* Every filesystem right ABI knows: bits 0..12 from ABI 1, REFER from 2, TRUNCATE 3, IOCTL_DEV 5. */
static uint64_t ll_fs_handled(int abi)
{
	uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;
	if (abi >= LL_ABI_REFER)
		all |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= LL_ABI_TRUNCATE)
		all |= LL_FS_TRUNCATE;
	if (abi >= LL_ABI_IOCTL)
		all |= LL_FS_IOCTL_DEV;
	return all;
}

static int ll_add_path(int ruleset, const char *path, bool dir, uint64_t access, rp_error *err)
{
	struct landlock_path_beneath_attr attr = {.allowed_access = access, .parent_fd = -1};
	attr.parent_fd = open(path, O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
	if (attr.parent_fd < 0)
		return rp_error_set_errno(err, errno, "landlock: opening %s", path);
	long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
	int saved = errno;
	close(attr.parent_fd);
	if (rc < 0)
		return rp_error_set_errno(err, saved, "landlock: adding the rule for %s", path);
	return 0;
}

static int ll_add_port(int ruleset, uint16_t port, rp_error *err)
{
	struct monitor_ll_net_port_attr attr = {.allowed_access = LL_NET_CONNECT_TCP, .port = port};
	if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &attr, 0) < 0)
		return rp_error_set_errno(err, errno, "landlock: allowing TCP connect to port %u", (unsigned)port);
	return 0;
}

static int ll_add_rules(int rs, int abi, const monitor_landlock_rules *rules, rp_error *err)
{
	uint64_t handled = ll_fs_handled(abi);
	const uint64_t read = LANDLOCK_ACCESS_FS_READ_FILE;
	const uint64_t read_dir = read | LANDLOCK_ACCESS_FS_READ_DIR;
	/* Files only: no directories, devices, sockets, FIFOs or links are made or removed. */
	const uint64_t rw = (read_dir | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_FILE |
	                     LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER | LL_FS_TRUNCATE) & handled;
	const uint64_t dev = (read | LANDLOCK_ACCESS_FS_WRITE_FILE | LL_FS_IOCTL_DEV) & handled;
	for (unsigned i = 0; i < rules->n_rw_dirs && i < MONITOR_LANDLOCK_MAX_PATHS; i++)
		if (ll_add_path(rs, rules->rw_dirs[i], true, rw, err) < 0)
			return -1;
	for (unsigned i = 0; i < rules->n_read_dirs && i < MONITOR_LANDLOCK_MAX_PATHS; i++)
		if (ll_add_path(rs, rules->read_dirs[i], true, read_dir, err) < 0)
			return -1;
	for (unsigned i = 0; i < rules->n_read_files && i < MONITOR_LANDLOCK_MAX_PATHS; i++)
		if (ll_add_path(rs, rules->read_files[i], false, read, err) < 0)
			return -1;
	for (unsigned i = 0; i < rules->n_dev_files && i < MONITOR_LANDLOCK_MAX_PATHS; i++)
		if (ll_add_path(rs, rules->dev_files[i], false, dev, err) < 0)
			return -1;
	if (abi >= LL_ABI_NET)
		for (unsigned i = 0; i < rules->n_tcp_ports && i < MONITOR_LANDLOCK_MAX_PORTS; i++)
			if (ll_add_port(rs, rules->tcp_ports[i], err) < 0)
				return -1;
	return 0;
}

int monitor_landlock_apply(const monitor_landlock_rules *rules, rp_error *err)
{
	int abi = monitor_landlock_abi();
	if (abi < 1) {
		/* Fail open on purpose (docs/threat-model.md): the capability, no_new_privs and seccomp
		 * layers still apply; only the filesystem confinement is missing. */
		rp_warn("this kernel has no Landlock (not built in, or not in the lsm= list): the security monitor "
		        "runs WITHOUT filesystem confinement and can still write root-owned files");
		return 0;
	}
	struct monitor_ll_ruleset_attr attr = {.handled_access_fs = ll_fs_handled(abi)};
	size_t attr_size = sizeof(uint64_t);
	if (abi >= LL_ABI_NET) {
		/* Handled: no TCP bind at all, connect only to the rules' ports (none for a device TPM). */
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		attr_size = 2 * sizeof(uint64_t);
	}
	if (abi >= LL_ABI_SCOPE) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (rs < 0)
		return rp_error_set_errno(err, errno, "landlock: creating the ruleset (ABI %d)", abi);
	int rc = ll_add_rules(rs, abi, rules, err);
	if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		rc = rp_error_set_errno(err, errno, "landlock: setting no_new_privs");
	if (rc == 0 && syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		rc = rp_error_set_errno(err, errno, "landlock: restricting the monitor");
	close(rs);
	if (rc < 0)
		return -1;
	if (rules->n_tcp_ports > 0 && abi < LL_ABI_NET)
		rp_notice("Landlock ABI %d has no TCP rules (ABI 4): the TPM simulator connection is limited by "
		          "seccomp only", abi);
	rp_debug("landlock ABI %d: %u writable directories, %u device nodes, %u TCP ports", abi, rules->n_rw_dirs,
	         rules->n_dev_files, abi >= LL_ABI_NET ? rules->n_tcp_ports : 0);
	return 1;
}
