/* Landlock for the security monitor: after start-up it keeps only its own state directories, the
 * files and TPM connection it uses at run time, and no other filesystem or TCP access, so a
 * subverted monitor (uid 0, no capabilities) cannot rewrite root-owned files elsewhere. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define MONITOR_LANDLOCK_MAX_PATHS 4
#define MONITOR_LANDLOCK_MAX_PORTS 4

/* What stays reachable. Everything the kernel's Landlock ABI can restrict and is not listed here
 * is refused. Paths must exist when the rules are applied. */
typedef struct {
	const char *rw_dirs[MONITOR_LANDLOCK_MAX_PATHS];   /* read, write, create, rename, remove files beneath */
	unsigned n_rw_dirs;
	const char *read_files[MONITOR_LANDLOCK_MAX_PATHS]; /* read only */
	unsigned n_read_files;
	const char *dev_files[MONITOR_LANDLOCK_MAX_PATHS];  /* read and write (device nodes) */
	unsigned n_dev_files;
	const char *read_dirs[MONITOR_LANDLOCK_MAX_PATHS];  /* read files and list beneath */
	unsigned n_read_dirs;
	uint16_t tcp_ports[MONITOR_LANDLOCK_MAX_PORTS];     /* TCP connect allowed (ABI >= 4); bind never */
	unsigned n_tcp_ports;
} monitor_landlock_rules;

/* The running kernel's Landlock ABI version, 0 when Landlock is unavailable or disabled. */
int monitor_landlock_abi(void);

/* Confine the calling process (sets no_new_privs). Returns 1 when confined, 0 when the kernel has
 * no Landlock (a warning is logged), -1 with ERR filled when a rule cannot be applied. */
int monitor_landlock_apply(const monitor_landlock_rules *rules, rp_error *err) RP_MUST_CHECK;
