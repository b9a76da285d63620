/* The manager's side of rampart-app-loader: run it for one package and take back the verified
 * manifest, or its error message. */
#pragma once

#include <jansson.h>
#include "common/error.h"
#include "pkg/manifest.h"

struct app_loader {
	const char *path;                /* the rampart-app-loader executable */
	const char *const *trust_keys;   /* PEM files of keys that may sign packages */
	size_t trust_key_count;
	/* Sideloaded apps (development mode): verify this capability file with CAPABILITY_KEY for
	 * DEVICE_ID first; the package must then be signed by one of its development keys, and
	 * TRUST_KEYS are not used. NULL for every other app. */
	const char *capability_path;
	const char *capability_key;
	const char *device_id;
};

/* Run `rampart-app-loader CMD PKG [DEST]`; on success *out is the verified package's manifest.
 * On failure ERR carries the loader's own message. */
int app_loader_run(const struct app_loader *l, const char *cmd, const char *pkg, const char *dest,
                   struct manifest **out, rp_error *err) RP_MUST_CHECK;
/* Run `rampart-app-loader capability PATH` with L's capability key and device ID: the payload of
 * a capability that verified for this device now, or NULL with the loader's reason. */
json_t *app_loader_capability(const struct app_loader *l, const char *path, rp_error *err);
