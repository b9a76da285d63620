/* Update metadata on the service (docs/protocol.md, "Update delivery"): per tenant a TUF image
 * repository (what was released) and per device group a director repository (what the group should
 * run now), kept as rampart-tuf directories under STATE/tuf/, with their signing keys 0600 beside
 * them. Targets are named by image ID and point at content-addressed blobs; the files themselves
 * are never copied into the repositories. Snapshot and timestamp are re-signed on every change
 * and again before they expire, when a device asks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "service/store.h"

enum update_repo_kind { UPDATE_REPO_IMAGE, UPDATE_REPO_DIRECTOR };

/* What one target says: the blob's SHA-256 (hex) and length, and the image it holds. */
struct update_publish_image {
	const char *image_id, *component_id, *image_type, *sha256;
	uint64_t size, version;
};

/* Create the tenant's keys and image repository when missing (idempotent). The convenient setup:
 * the service holds every key. In the offline setup the tenant removes keys/image/root.pem and
 * keys/image/targets.pem from the service and uploads signed targets metadata instead. */
int update_publish_tenant_ensure(const char *state_dir, const char *tenant_id, int64_t now, rp_error *err) RP_MUST_CHECK;

/* Release IMG in the tenant's image repository: a new targets version, then snapshot and
 * timestamp. Returns 0 when released, 1 when the release needs targets signed offline (the service
 * holds no targets key, or the current root no longer lists it: nothing is written then). */
int update_publish_image_added(const char *state_dir, const char *tenant_id, const struct update_publish_image *img,
                               int64_t now, rp_error *err) RP_MUST_CHECK;

/* Create the device group's director with signed, empty targets when it has none (idempotent): a
 * group without a deployment answers "nothing to install" through the same TUF checks as any
 * other (docs/decisions.md). */
int update_publish_director_ensure(const char *state_dir, const char *tenant_id, const char *group_id, int64_t now,
                                   rp_error *err) RP_MUST_CHECK;

/* Make the device group's director list exactly IMAGES (the current deployment). */
int update_publish_director(const char *state_dir, const char *tenant_id, const char *group_id,
                            const struct update_publish_image *images, size_t n, int64_t now,
                            rp_error *err) RP_MUST_CHECK;

/* Offline setup: install targets metadata signed by the tenant's own targets key(s). It must verify
 * against the repository's current root, be newer than the current targets and unexpired. */
int update_publish_upload_targets(const char *state_dir, const char *tenant_id, const uint8_t *data, size_t len,
                                  int64_t now, rp_error *err) RP_MUST_CHECK;

/* The file to serve for metadata NAME ("timestamp.json", "3.root.json", "7.snapshot.json", ...)
 * of a repository (ID: tenant for the image repository, device group for the director), after
 * re-signing snapshot and timestamp when they are within half their lifetime of expiring.
 * RP_E_NOT_FOUND for an unknown name or a repository that does not exist (yet). */
char *update_publish_file(const char *state_dir, enum update_repo_kind kind, const char *tenant_id, const char *id,
                          const char *name, int64_t now, rp_error *err);
