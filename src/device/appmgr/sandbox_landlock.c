/* Landlock for application sandboxes: ABI probe and the per-app ruleset. The ruleset defends
 * against an app reaching files outside its package, its storage and /tmp even if a mount or
 * permission mistake exposed them, and (ABI >= 4) against TCP use that bypasses the brokers. */
#include "device/appmgr/sandbox_landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/landlock.h>

/* Debian 12's kernel headers stop at ABI 2; the newer fields and flags are stable kernel ABI. */
struct sandbox_ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;             /* ABI 6 */
};

#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

int sandbox_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v < 0 ? 0 : (int)v;
}

void sandbox_landlock_missing(int abi, int want, char *buf, size_t len)
{
	static const struct {
		int abi;
		const char *what;
	} steps[] = {
		{SANDBOX_LANDLOCK_ABI_FS, "filesystem rules (ABI 1)"},
		{SANDBOX_LANDLOCK_ABI_TRUNCATE, "truncate rules (ABI 3)"},
		{SANDBOX_LANDLOCK_ABI_NET, "TCP bind/connect rules (ABI 4)"},
		{SANDBOX_LANDLOCK_ABI_IOCTL, "device ioctl rules (ABI 5)"},
		{SANDBOX_LANDLOCK_ABI_SCOPE, "signal and abstract-socket scoping (ABI 6)"},
	};
	size_t used = 0;
	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].abi <= abi || steps[i].abi > want)
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", steps[i].what);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

static uint64_t fs_rights(int abi)
{
	uint64_t all = (LANDLOCK_ACCESS_FS_REFER << 1) - 1; /* ABI 2: bits 0..13 */
	if (abi < 2)
		all &= ~LANDLOCK_ACCESS_FS_REFER;
	if (abi >= SANDBOX_LANDLOCK_ABI_TRUNCATE)
		all |= LL_FS_TRUNCATE;
	if (abi >= SANDBOX_LANDLOCK_ABI_IOCTL)
		all |= LL_FS_IOCTL_DEV;
	return all;
}

static int add_path(int ruleset, const char *path, uint64_t access, const char **step)
{
	struct landlock_path_beneath_attr attr = {.allowed_access = access, .parent_fd = -1};
	attr.parent_fd = open(path, O_PATH | O_CLOEXEC | O_DIRECTORY);
	if (attr.parent_fd < 0) {
		*step = "landlock: opening a ruled path";
		return -1;
	}
	long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
	int saved = errno;
	close(attr.parent_fd);
	errno = saved;
	if (rc < 0) {
		*step = "landlock_add_rule";
		return -1;
	}
	return 0;
}

int sandbox_landlock_apply(int abi, const struct sandbox_landlock_paths *paths, const char **step)
{
	if (abi < SANDBOX_LANDLOCK_ABI_FS) {
		*step = "landlock: not supported by this kernel";
		errno = EOPNOTSUPP;
		return -1;
	}
	uint64_t handled = fs_rights(abi);
	struct sandbox_ll_ruleset_attr attr = {.handled_access_fs = handled};
	size_t attr_size = sizeof(uint64_t);
	if (abi >= SANDBOX_LANDLOCK_ABI_NET) {
		/* Handled with no rule: every TCP bind and connect is refused. Allowed server ports
		 * and broker-made connections come later as explicit rules and passed sockets. */
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		attr_size = 2 * sizeof(uint64_t);
	}
	if (abi >= SANDBOX_LANDLOCK_ABI_SCOPE) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (rs < 0) {
		*step = "landlock_create_ruleset";
		return -1;
	}
	const uint64_t read_exec = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	uint64_t dev_rw = read_exec | LANDLOCK_ACCESS_FS_WRITE_FILE;
	if (abi >= SANDBOX_LANDLOCK_ABI_IOCTL)
		dev_rw |= LL_FS_IOCTL_DEV;
	uint64_t rw = handled & ~(LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK);
	int rc = add_path(rs, "/", read_exec, step);
	for (unsigned i = 0; rc == 0 && i < paths->rw_count; i++)
		rc = add_path(rs, paths->rw[i], rw, step);
	for (unsigned i = 0; rc == 0 && i < paths->dev_count; i++)
		rc = add_path(rs, paths->dev[i], dev_rw & handled, step);
	if (rc == 0 && syscall(SYS_landlock_restrict_self, rs, 0) < 0) {
		*step = "landlock_restrict_self";
		rc = -1;
	}
	int saved = errno;
	close(rs);
	errno = saved;
	return rc;
}
