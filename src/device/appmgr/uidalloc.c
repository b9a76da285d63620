/* Per-app user IDs. Pure: the manager passes the ids its installed apps already hold. */
#include "device/appmgr/uidalloc.h"

#include <stdbool.h>

int uidalloc_pick(const uint32_t *used, size_t n_used, uint32_t base, uint32_t count, uint32_t *out, rp_error *err)
{
	if (base == 0 || count == 0 || (uint64_t)base + count > UINT32_MAX)
		return rp_error_set(err, RP_E_INVALID, "invalid app uid range %u+%u (uid 0 is never an app's)", base,
		                    count);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t cand = base + i;
		bool taken = false;
		for (size_t j = 0; j < n_used && !taken; j++)
			taken = used[j] == cand;
		if (!taken) {
			*out = cand;
			return 0;
		}
	}
	return rp_error_set(err, RP_E_LIMIT, "all %u app uids from %u are in use; remove an app first", count, base);
}

int uidalloc_broker_uid(uint32_t app_uid, uint32_t base, uint32_t count, uint32_t *out, rp_error *err)
{
	if (base == 0 || count == 0 || (uint64_t)base + 2 * (uint64_t)count > UINT32_MAX)
		return rp_error_set(err, RP_E_INVALID, "invalid app uid range %u+%u: no room for broker uids after it", base,
		                    count);
	if (app_uid < base || app_uid - base >= count)
		return rp_error_set(err, RP_E_INVALID, "app uid %u is outside the range %u+%u", app_uid, base, count);
	*out = app_uid + count;
	return 0;
}
