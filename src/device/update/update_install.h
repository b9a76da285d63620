/* Installing one downloaded, hash-verified target: each package is verified again with the package
 * reader against the device's trusted image-signing keys (STATE/trust/\*.pub) and must match what the
 * signed metadata said it is (type, image ID, version), then goes to its installer: trust updates
 * replace STATE/trust atomically, OS bundles go to the inactive A/B slot (verified while they stream
 * into it, in one pass), applications to the application manager. */
#pragma once

#include <stdint.h>
#include "common/error.h"
#include "device/update/update_client.h"

#define UPDATE_TYPE_TRUST "trust-update"
#define UPDATE_TYPE_OS "os-bundle"
#define UPDATE_TYPE_APP "application"

struct update_install_expect {
	const char *type;     /* package image type name */
	const char *image_id; /* NULL: not checked */
	uint64_t version;     /* 0: not checked */
};

/* Install PATH. *PERMANENT tells whether a failure would repeat with the same bytes (refused
 * signature, type or version) rather than be transient (I/O, disk full). */
int update_install(const struct update_config *cfg, const char *path, const struct update_install_expect *expect,
                   bool *permanent, bool *os_installed, rp_error *err) RP_MUST_CHECK;
