/* Per-app user IDs: each installed app gets its own unprivileged uid (and gid of the same
 * number) from a configured range, so no two apps share file or signal permissions. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

/* The uid (and gid) of APP_UID's peripheral broker: the same offset in the range that follows the
 * apps' own, [BASE + COUNT, BASE + 2 * COUNT), so a broker never shares an id with any app or
 * with root. */
int uidalloc_broker_uid(uint32_t app_uid, uint32_t base, uint32_t count, uint32_t *out, rp_error *err) RP_MUST_CHECK;

/* Lowest id in [BASE, BASE + COUNT) not in USED (N_USED entries, any order). */
int uidalloc_pick(const uint32_t *used, size_t n_used, uint32_t base, uint32_t count, uint32_t *out,
                  rp_error *err) RP_MUST_CHECK;
