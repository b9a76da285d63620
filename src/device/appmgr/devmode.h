/* Development mode on the device (docs/protocol.md, "Device capabilities" and "Device-local
 * API"): the installed appDevelopment capability and the control-socket operations that need it
 * (enable-development, enable-cloud-test, sideload, sideload-delete, quota, logs, development). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "common/error.h"

struct appmgr;

#define DEVMODE_LOG_TAIL_MAX (16 * 1024) /* keeps a reply well inside one control message */

/* STATE/devmode/capability (malloc'd). */
char *devmode_capability_path(const char *state_dir);
/* True while a capability is installed in the application manager's STATE_DIR. The device agent
 * and update client pause cloud app updates while this holds (libc only, for any process). */
bool devmode_capability_present(const char *state_dir);

/* Handle REQ when its "op" is one of development mode's; NULL when the op is someone else's (the
 * caller then handles it). Never NULL for development operations: errors become error replies. */
json_t *devmode_ctl_handle(struct appmgr *m, const char *req, size_t len);
