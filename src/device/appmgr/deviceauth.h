/* DeviceAuthentication for apps: the tenant check and the per-app copy of the agent's client
 * certificate bundle that the sandbox mounts read-only at SANDBOX_DEVICEAUTH_PATH. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

#define DEVICEAUTH_BUNDLE_NAME "client.pem"   /* in the agent's directory and in each copy */
#define DEVICEAUTH_BUNDLE_MAX (256 * 1024)   /* certificate chain + key; larger is refused */

/* May an app whose manifest names APP_TENANT ("" = no DeviceAuthentication) run on a device of
 * DEVICE_TENANT (NULL or "" = not configured) whose agent writes into AGENT_DIR (NULL = not
 * configured)? Fails closed with a message naming what to change. */
int deviceauth_check(const char *app_name, const char *app_tenant, const char *device_tenant,
                     const char *agent_dir, rp_error *err) RP_MUST_CHECK;

/* Make COPY_DIR (created 0500, owned by UID) hold an exact copy of AGENT_DIR/client.pem owned
 * by UID, mode 0400, replaced atomically so a reader sees the old or the new bundle, never a mix.
 * When the agent has no bundle yet the copy is removed (the app sees "not ready"). *CHANGED
 * (may be NULL) says whether the copy changed. */
int deviceauth_refresh(const char *agent_dir, const char *copy_dir, uid_t uid, bool *changed,
                       rp_error *err) RP_MUST_CHECK;
