/* Landlock for application sandboxes: probe the kernel's ABI and confine a process to its
 * container's files (and, from ABI 4, forbid TCP bind/connect; from ABI 6, scope signals and
 * abstract Unix sockets to the container). */
#pragma once

#include <stdbool.h>
#include "common/error.h"

/* What each ABI version adds, so callers can say precisely what is missing. */
#define SANDBOX_LANDLOCK_ABI_FS 1      /* filesystem access rights */
#define SANDBOX_LANDLOCK_ABI_TRUNCATE 3
#define SANDBOX_LANDLOCK_ABI_NET 4     /* TCP bind/connect rules */
#define SANDBOX_LANDLOCK_ABI_IOCTL 5
#define SANDBOX_LANDLOCK_ABI_SCOPE 6   /* signal and abstract-socket scoping */

/* The running kernel's Landlock ABI version, 0 when Landlock is unavailable or disabled. */
int sandbox_landlock_abi(void);

/* Human-readable list of the protections that ABI lacks compared with WANT ("TCP rules (ABI 4),
 * scoping (ABI 6)"); "" when nothing is missing. Writes at most LEN bytes. */
void sandbox_landlock_missing(int abi, int want, char *buf, size_t len);

/* Paths, inside the final root, that the confined process may write. */
struct sandbox_landlock_paths {
	const char *const *rw;   /* read, write, create and delete beneath */
	unsigned rw_count;
	const char *const *dev;  /* read and write existing files (device nodes) beneath */
	unsigned dev_count;
};

/* Confine the calling process: read and execute everything under "/", plus PATHS. Uses at most
 * ABI (the probed version). Called in the sandbox child after pivot_root; does not allocate.
 * Returns -1 with errno set and *step naming the failing call. */
int sandbox_landlock_apply(int abi, const struct sandbox_landlock_paths *paths, const char **step);
