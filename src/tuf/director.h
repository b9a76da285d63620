/* Uptane's split over two TUF repositories: the image repository says what was released (its
 * targets role is signed by the tenant's release key, which can stay offline) and the director
 * says what one device group should run now (all its keys online). A device installs a target
 * only when both agree on it, so neither the director's keys nor the image repository's online
 * timestamp/snapshot keys alone can make a device install arbitrary software. */
#pragma once

#include <stddef.h>
#include "tuf/client.h"

typedef struct tuf_resolved {
	size_t count;
	tuf_target *targets; /* borrowed fields point into the image repository's targets metadata */
} tuf_resolved;

/* Both clients must have been refreshed. Every target the director lists must appear in the
 * image repository under the same name with the same length and SHA-256 (and every other hash
 * both list equal); custom image_id, component_id, version and type given by the director must
 * equal the image repository's. Any disagreement fails the whole resolution (RP_E_VERIFY), so a
 * device never installs half of an inconsistent set. OUT is valid while IMAGE_REPO is unchanged. */
int tuf_uptane_resolve(const tuf_client *image_repo, const tuf_client *director, tuf_resolved *out,
                       rp_error *err) RP_MUST_CHECK;
void tuf_resolved_free(tuf_resolved *r);
