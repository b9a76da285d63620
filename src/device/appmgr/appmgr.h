/* The application manager: installs app packages, starts each in its own sandbox, stops them
 * (SIGTERM, then SIGKILL after 2 s), restarts apps that exit (bounded backoff), and reports
 * status, including "killed: memory limit" when the cgroup's OOM killer ended an app. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "common/error.h"
#include "device/appmgr/sandbox.h"

#define APPMGR_STOP_GRACE_MS 2000

struct appmgr_config {
	const char *state_dir;       /* apps/<component-id>/ and run/ live here */
	uint32_t uid_base, uid_count;
	uint64_t memory_bytes;       /* per app */
	uint32_t pids_max;           /* per app */
	uint64_t tmp_bytes;          /* /tmp per app */
	const char *cgroup_parent;   /* created beneath the manager's own cgroups */
	int cgroup_policy;           /* enum cgroup_policy (--cgroup auto|v1|v2); 0: auto */
	int landlock_required_abi;
	enum sandbox_landlock_mode landlock_mode;
	bool restart;                /* restart apps that exit by themselves */
	bool prewarm;                /* keep a prepared container per stopped app (daemon mode) */
	const char *const *trust_key_paths; /* PEM public keys that may sign installed packages */
	size_t trust_key_count;
	const char *loader_path;     /* rampart-app-loader, which verifies packages */
	/* Per-app brokers (appmgr_broker.c): rampart-periph-broker and the device's board file.
	 * broker_path NULL: apps get no broker (fd 3 absent; applibs calls fail with ENOTCONN). */
	const char *broker_path;
	const char *board_path;
	bool broker_allow_loopback;  /* --allow-loopback-targets for every broker (tests, demo) */
	/* Degraded mode: start apps with AllowedUdpServerPorts even when their reply-only filter
	 * (appmgr_firewall.h) cannot be installed; logged at start and for each such app. */
	bool allow_unfiltered_udp_servers;
	/* Development mode (devmode.h): the key that signs capabilities and this device's ID. Both
	 * unset: capabilities are refused, and so is sideloading. */
	const char *capability_key_path;
	const char *device_id;
	/* DeviceAuthentication (deviceauth.h): the agent's directory holding client.pem, and this
	 * device's tenant, which an app's DeviceAuthentication must name. Unset: such apps are
	 * refused. */
	const char *deviceauth_dir;
	const char *tenant_id;
	/* The device runtime's state directory (rampart-boot's ${STATE}): when tenant_id is not given,
	 * the tenant is read at each use from DIR/update/config.json, which the agent writes once the
	 * service tells it the device's tenant; unset: tenant_id only. */
	const char *device_state;
};

void appmgr_config_defaults(struct appmgr_config *cfg);

struct appmgr;

struct appmgr *appmgr_open(const struct appmgr_config *cfg, rp_error *err) RP_MUST_CHECK;
/* Stops every app (SIGTERM, 2 s, SIGKILL), unmounts storage, frees. */
void appmgr_close(struct appmgr *m);

/* Install a signed package (verified against the trust keys now and again at every start), or,
 * for development, an unpacked tree. *cid receives the component ID (37 bytes). */
int appmgr_install_package(struct appmgr *m, const char *path, char cid[37], rp_error *err) RP_MUST_CHECK;
int appmgr_install_dir(struct appmgr *m, const char *dir, char cid[37], rp_error *err) RP_MUST_CHECK;
/* Development mode: install a development package verified against the development keys of the
 * installed capability (app_loader.h); the app is recorded as sideloaded and every later load
 * checks the capability again. Refused when CID is already installed from the cloud. */
int appmgr_sideload_package(struct appmgr *m, const char *path, char cid[37], rp_error *err) RP_MUST_CHECK;
/* The manager's configuration (state directory, capability key, device ID, loader). */
const struct appmgr_config *appmgr_get_config(const struct appmgr *m);
/* Mutable storage of CID: its quota (0 when the app has none) and, when mounted, the mountpoint
 * (malloc'd into *MOUNTPOINT, else NULL). */
int appmgr_storage_info(struct appmgr *m, const char *cid, uint32_t *limit_kb, char **mountpoint,
                        rp_error *err) RP_MUST_CHECK;
/* Stop the app if running and delete it with its storage. */
int appmgr_remove(struct appmgr *m, const char *cid, rp_error *err) RP_MUST_CHECK;

int appmgr_start(struct appmgr *m, const char *cid, rp_error *err) RP_MUST_CHECK;
/* Ask the app to stop: SIGTERM now, SIGKILL to its whole container after 2 s. Returns at once;
 * appmgr_wait() completes it. */
int appmgr_stop(struct appmgr *m, const char *cid, rp_error *err) RP_MUST_CHECK;
/* Status of one app, or of all when CID is NULL (an array). NULL + ERR if unknown. */
json_t *appmgr_status(struct appmgr *m, const char *cid, rp_error *err);
/* True while CID has a live process. */
bool appmgr_is_running(struct appmgr *m, const char *cid);

/* Running apps whose broker link is open, for system events (appmgr_sysevent.c): FN is called
 * once for each. */
struct manifest;
struct appmgr_broker;
typedef void (*appmgr_running_fn)(void *ctx, const struct manifest *manifest, struct appmgr_broker *broker);
void appmgr_foreach_running(struct appmgr *m, appmgr_running_fn fn, void *ctx);

/* Wait up to TIMEOUT_MS (-1: until something happens) for app exits, stop deadlines and
 * restarts, handling them; returns 1 when EXTRA_FD (if >= 0) is readable, else 0. */
int appmgr_wait(struct appmgr *m, int extra_fd, int timeout_ms);
