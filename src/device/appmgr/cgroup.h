/* Control groups for app containers: find the memory and pids controllers (cgroup v2 where it
 * has them, v1 hierarchies otherwise), create one group per app with its limits, and read back
 * why an app died (the kernel's OOM-kill counter). */
#pragma once

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"

enum cgroup_mode { CGROUP_MODE_V1 = 1, CGROUP_MODE_V2 = 2 };
/* Which hierarchy the device's policy accepts (rampart-appmgr --cgroup): auto takes v2 when its
 * mount has memory and pids, else v1; v1 or v2 refuse to start without that one. */
enum cgroup_policy { CGROUP_POLICY_AUTO = 0, CGROUP_POLICY_V1 = 1, CGROUP_POLICY_V2 = 2 };

#define CGROUP_PATH_MAX 512

struct cgroup_layout {
	enum cgroup_mode mode;
	char v2_mount[CGROUP_PATH_MAX];     /* cgroup2 mount that has memory and pids */
	char v1_memory_mount[CGROUP_PATH_MAX];
	char v1_pids_mount[CGROUP_PATH_MAX];
	/* Absolute directories under which app groups are created (v2 uses parent_v2 only). */
	char parent_v2[CGROUP_PATH_MAX];
	char parent_memory[CGROUP_PATH_MAX];
	char parent_pids[CGROUP_PATH_MAX];
	/* When a cgroup2 mount exists but is not used: where, and why (for the start-up log line). */
	char v2_unused_mount[CGROUP_PATH_MAX];
	char v2_unused_why[160];
};

struct cgroup_app {
	enum cgroup_mode mode;
	char dir_v2[CGROUP_PATH_MAX];
	char dir_memory[CGROUP_PATH_MAX];
	char dir_pids[CGROUP_PATH_MAX];
	int v2_dirfd;      /* for clone3(CLONE_INTO_CGROUP); -1 on v1 */
	int procs_fd[2];   /* v1: memory and pids "tasks" files, written ("0") by the child itself; -1 on v2 */
};

/* Pure helpers (unit-tested). MOUNTS is /proc/self/mounts; fills the mount fields and mode.
 * v2 is chosen only when its cgroup.controllers (CONTROLLERS_V2, may be NULL) lists both memory
 * and pids. */
int cgroup_parse_mounts(const char *mounts, const char *controllers_v2, struct cgroup_layout *out,
                        rp_error *err) RP_MUST_CHECK;
/* From /proc/self/cgroup text, the path of this process in the v2 hierarchy (CONTROLLER NULL) or
 * in the v1 hierarchy that has CONTROLLER. */
int cgroup_parse_self(const char *self, const char *controller, char *out, size_t len, rp_error *err) RP_MUST_CHECK;
/* Apply POLICY to a layout from cgroup_parse_mounts() (which chose as auto does): fails with the
 * reason and what to do when the required hierarchy cannot hold the limits. */
int cgroup_apply_policy(struct cgroup_layout *layout, enum cgroup_policy policy, rp_error *err) RP_MUST_CHECK;
/* Join BASE / NAME, refusing names that could leave BASE ("", ".", "..", "/"). */
int cgroup_join(const char *base, const char *name, char *out, size_t len, rp_error *err) RP_MUST_CHECK;

/* Probe this machine and prepare PARENT_NAME (created beneath this process's own groups, so that
 * the limits the manager itself runs under still apply to its apps). */
int cgroup_setup(struct cgroup_layout *layout, const char *parent_name, enum cgroup_policy policy,
                 rp_error *err) RP_MUST_CHECK;
/* Remove the parent groups made by cgroup_setup() if no app group is left in them. */
void cgroup_teardown(const struct cgroup_layout *layout);
/* Create NAME's group with a memory limit (no swap) and a pids limit; fds opened O_CLOEXEC. */
int cgroup_app_create(const struct cgroup_layout *layout, const char *name, uint64_t memory_bytes,
                      uint32_t pids_max, struct cgroup_app *app, rp_error *err) RP_MUST_CHECK;
/* Close the fds kept for spawning (after the child is in the group). */
void cgroup_app_close_fds(struct cgroup_app *app);
/* Times the kernel OOM-killed a task of the group (memory limit reached); -1 when unreadable. */
long cgroup_app_oom_kills(const struct cgroup_app *app);
/* cgroup v2: 1 when the group at DIR (or a descendant) has processes ("populated" in
 * cgroup.events), 0 when not, -1 when unreadable. */
int cgroup_v2_populated(const char *dir);
/* SIGKILL every process in the group, then remove it (retrying briefly while they exit). */
int cgroup_app_destroy(struct cgroup_app *app, rp_error *err) RP_MUST_CHECK;
