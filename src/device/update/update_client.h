/* The device's update client: one check runs the TUF workflow against the image repository and
 * the director, keeps only the targets both agree on (Uptane), downloads each new blob by hash with
 * resume, verifies it (TUF length and hash, then the package signature against the device's trusted
 * keys), installs in the order trust update, OS bundle, applications, and records and reports the
 * status of every image (docs/protocol.md, "Update delivery"). The agent calls
 * update_check_and_install() on start, every ~20 h with jitter and on demand. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"
#include "device/update/update_fetch.h"
#include "device/update/update_status.h"
#include "pkg/package_metadata.h"

#define UPDATE_CHECK_INTERVAL_S (20 * 3600)
#define UPDATE_CHECK_JITTER_S (2 * 3600)
#define UPDATE_BLOB_MAX_LEN (1024ull * 1024 * 1024) /* refuse targets larger than 1 GiB */

/* Installs an application package that was verified against the trusted keys. The agent plugs the
 * application manager here; without it the verified package is staged in
 * STATE/update/apps/<component-id>.rpkg for the manager to pick up. */
/* MD is the verified package's metadata, so the hook never reopens the file to learn it. */
typedef int (*update_app_install_fn)(void *ctx, const char *package_path, const struct package_metadata *md,
                                     rp_error *err);

/* Deferral (issue 5, item 4): asked once a target is downloaded and verified, before it is
 * installed. The agent forwards it to apps holding SystemEventNotifications and
 * SoftwareUpdateDeferral; returning true defers the install to a later check. The client caps the
 * total deferral of one target at UPDATE_DEFER_MAX_S, after which it installs regardless. */
#define UPDATE_DEFER_MAX_S (24 * 3600)
typedef bool (*update_defer_fn)(void *ctx, const char *name, const char *type, uint64_t version);

struct update_config {
	const char *state_dir;
	/* Base URLs, without a trailing '/': NAME is appended for metadata, the hex SHA-256 for blobs. */
	const char *image_repo_url;
	const char *director_url;
	const char *blob_url;
	const char *status_url; /* NULL: status is only kept locally */
	const char *device_id;
	struct update_fetch_config fetch;
	/* OS bundle installs: where the version floor is read (see boot_slot_install). */
	const char *rot_backend, *tcti, *monitor_socket;
	update_app_install_fn app_install;
	void *app_install_ctx;
	update_defer_fn defer;
	void *defer_ctx;
	/* Trust the first root.json fetched over the pinned TLS channel when none is provisioned. */
	bool bootstrap_root;
};

struct update_report {
	unsigned targets;   /* what both repositories agreed on */
	unsigned installed; /* newly installed in this check */
	unsigned failed;
	unsigned skipped;   /* already installed */
	unsigned deferred;  /* downloaded and verified, install deferred by an app */
	bool os_installed;  /* a new OS bundle waits in the inactive slot: reboot to use it */
	uint64_t bytes;     /* bytes received */
	uint64_t requests;
};

void update_config_default(struct update_config *cfg);

/* Fill the URLs from STATE/update/config.json and SERVICE_URL (docs/protocol.md); fields already
 * set in CFG win. Strings are owned by CFG's holder through *OWNED (free with update_config_owned_free). */
struct update_config_owned {
	char *strings[8];
	size_t n;
};
int update_config_load(struct update_config *cfg, const char *service_url, struct update_config_owned *owned,
                       rp_error *err) RP_MUST_CHECK;
void update_config_owned_free(struct update_config_owned *owned);

/* Record where the device belongs (from the service's device record, e.g. GET /v1/device/self) in
 * STATE/update/config.json. When the device group changed, the old director's trusted metadata is
 * dropped and the new director's first root is trusted over the pinned TLS channel at the next
 * check (its versions are unrelated to the old group's, so keeping them would fail as rollback). */
int update_set_device_group(const char *state_dir, const char *tenant_id, const char *device_group_id,
                            const char *device_id, rp_error *err) RP_MUST_CHECK;

/* One check: refresh both repositories, resolve, download, verify, install, report. Returns -1 when
 * metadata could not be refreshed or any target failed (the report and STATE/update/status.json say
 * which); what was installed before stays installed either way. */
int update_check_and_install(struct update_config *cfg, int64_t now, struct update_report *report,
                             rp_error *err) RP_MUST_CHECK;

/* Seconds until the next periodic check: the interval plus or minus the jitter, from RANDOM. */
int64_t update_next_check_delay(uint32_t random);
