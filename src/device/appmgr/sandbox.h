/* The application sandbox: start one app in its own container (namespaces, read-only package
 * root, cgroup, unprivileged user, no capabilities, no_new_privs, Landlock, seccomp). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "device/appmgr/cgroup.h"
#include "device/appmgr/sandbox_seccomp.h"

/* Where the app finds things (docs/decisions.md, "Application sandbox"). */
#define SANDBOX_BROKER_FD 3                /* inherited broker channel, when given */
#define SANDBOX_STORAGE_PATH "/mnt/storage" /* the app's mutable storage, read-write */
#define SANDBOX_MAX_TOP_ENTRIES 64         /* top-level entries of a package root */
/* DeviceAuthentication: the app's copy of the device certificate bundle, read-only. Its parent
 * /run is then provided by the device, so a package may not have a top-level "run". */
#define SANDBOX_DEVICEAUTH_PATH "/run/rampart/deviceauth"
/* RLIMIT_FSIZE floor: how far an app can grow its log (stdout/stderr, a regular file opened for
 * append) in one run; the manager rotates it at each start (docs/threat-model.md). */
#define SANDBOX_LOG_MAX_BYTES (1ull << 20)

enum sandbox_landlock_mode {
	SANDBOX_LANDLOCK_REQUIRED = 0, /* refuse to start when the kernel lacks required_abi */
	SANDBOX_LANDLOCK_DEGRADED,     /* start anyway with what the kernel has; logged */
};

struct sandbox_spec {
	const char *name;          /* app name, for the hostname and messages */
	const char *rootfs;        /* the verified package tree (trusted directory) */
	const char *staging;       /* an empty directory used as the new root's mount point */
	const char *entry_point;   /* absolute path inside the package */
	const char *const *argv;   /* NULL-terminated; argv[0] is conventionally the entry point */
	uid_t uid;
	gid_t gid;
	const char *storage_dir;   /* NULL: none; else bind-mounted read-write at SANDBOX_STORAGE_PATH */
	const char *deviceauth_dir; /* NULL: none; else bind-mounted read-only at SANDBOX_DEVICEAUTH_PATH */
	int broker_fd;             /* -1: none; else inherited as SANDBOX_BROKER_FD */
	int log_fd;                /* becomes stdout and stderr */
	uint64_t tmp_bytes;        /* size of /tmp */
	uint64_t file_max_bytes;   /* RLIMIT_FSIZE (at least SANDBOX_LOG_MAX_BYTES; 0 means that) */
	uint32_t nofile;           /* RLIMIT_NOFILE */
	uint32_t nproc;            /* RLIMIT_NPROC (per uid; each app has its own uid) */
	const struct cgroup_app *cgroup;
	const struct sandbox_seccomp_prog *seccomp;
	int landlock_abi;          /* probed with sandbox_landlock_abi() */
	int landlock_required_abi; /* what this device's policy demands */
	enum sandbox_landlock_mode landlock_mode;
	/* sandbox_prepare() runs the app at once (a cold start): no ready report and release
	 * round trip; it returns once the execve succeeded, the child already released. */
	bool run_now;
};

/* A sandbox prepared up to the app's execve: every barrier is in place and the child waits for
 * sandbox_release(). Lets the manager keep one ready per installed app, so that a start request
 * costs one pipe write and an execve. */
struct sandbox_child {
	pid_t pid;
	int pidfd;     /* O_CLOEXEC; readable when the child exits */
	int go_fd;     /* write end: one byte releases the child, closing it cancels */
	int report_fd; /* read end: a report arrives if execve fails; EOF once it succeeded */
};

#define SANDBOX_CHILD_INIT {.pid = 0, .pidfd = -1, .go_fd = -1, .report_fd = -1}

/* Build the container and stop just before execve. Setup failures come back precisely
 * ("starting NAME: sandbox: pivot_root: Invalid argument"). */
int sandbox_prepare(const struct sandbox_spec *spec, struct sandbox_child *child, rp_error *err) RP_MUST_CHECK;
/* True once CHILD runs the app (released, or prepared with run_now). */
bool sandbox_child_released(const struct sandbox_child *child);
/* Let a prepared child execve the app. Does not wait for the execve. */
int sandbox_release(struct sandbox_child *child, rp_error *err) RP_MUST_CHECK;
/* After the child exited: why, if its execve failed (message into ERR, returns -1), else 0. */
int sandbox_exec_result(struct sandbox_child *child, const char *name, rp_error *err) RP_MUST_CHECK;
/* Make a prepared child exit without running the app, reap it and close everything. */
void sandbox_cancel(struct sandbox_child *child);
/* Close the descriptors of a child that has been reaped. */
void sandbox_child_close(struct sandbox_child *child);

/* Prepare, release and wait for the execve: on success *pid is the app's PID (init of its PID
 * namespace) and *pidfd its pidfd (O_CLOEXEC). */
int sandbox_spawn(const struct sandbox_spec *spec, pid_t *pid, int *pidfd, rp_error *err) RP_MUST_CHECK;
