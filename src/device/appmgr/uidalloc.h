/* Per-app user IDs: each installed app gets its own unprivileged uid (and gid of the same
 * number) from a configured range, so no two apps share file or signal permissions. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

/* Lowest id in [BASE, BASE + COUNT) not in USED (N_USED entries, any order). */
int uidalloc_pick(const uint32_t *used, size_t n_used, uint32_t base, uint32_t count, uint32_t *out,
                  rp_error *err) RP_MUST_CHECK;
