/* The manager's side of rampart-app-loader: run it for one package and take back the verified
 * manifest, or its error message. */
#pragma once

#include "common/error.h"
#include "pkg/manifest.h"

struct app_loader {
	const char *path;                /* the rampart-app-loader executable */
	const char *const *trust_keys;   /* PEM files of keys that may sign packages */
	size_t trust_key_count;
};

/* Run `rampart-app-loader CMD PKG [DEST]`; on success *out is the verified package's manifest.
 * On failure ERR carries the loader's own message. */
int app_loader_run(const struct app_loader *l, const char *cmd, const char *pkg, const char *dest,
                   struct manifest **out, rp_error *err) RP_MUST_CHECK;
