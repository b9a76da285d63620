/* libFuzzer target: the application manager's control-request parser (appmgr_ctl_parse), with the
 * "sysevent" request the update agent sends (appmgr_sysevent_parse). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "device/appmgr/appmgr_ctl.h"
#include "device/broker/broker_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct appmgr_ctl_request r;
	rp_error err = RP_ERROR_INIT;
	if (appmgr_ctl_parse((const char *)data, size, &r, &err) == 0) {
		/* Accepted requests are well-formed: a known op, and an app ID wherever one is needed. */
		if (r.op == APPMGR_CTL_SYSEVENT) {
			/* One known event; update events name their target; only a pending one is deferrable,
			 * by at most 24 h; the wait is bounded. */
			const struct appmgr_sysevent_request *e = &r.sysevent;
			bool update = e->event == BROKER_SYSEVENT_UPDATE_READY || e->event == BROKER_SYSEVENT_UPDATE_STARTED;
			if ((!update && e->event != BROKER_SYSEVENT_NO_UPDATE) || update != (e->name[0] != '\0') ||
			    update != (e->update_type != BROKER_UPDATE_NONE) ||
			    e->max_defer_minutes > BROKER_SYSEVENT_DEFER_MAX_MINUTES ||
			    (e->max_defer_minutes && e->event != BROKER_SYSEVENT_UPDATE_READY) ||
			    e->wait_ms < APPMGR_SYSEVENT_WAIT_MIN_MS || e->wait_ms > APPMGR_SYSEVENT_WAIT_MAX_MS ||
			    strlen(e->name) > APPMGR_SYSEVENT_NAME_MAX || r.app[0] || r.path[0])
				__builtin_trap();
		} else if (r.op == APPMGR_CTL_INSTALL ? r.path[0] != '/'
		                                     : (r.op != APPMGR_CTL_STATUS && strlen(r.app) != 36)) {
			__builtin_trap();
		}
	} else if (!err.message[0]) {
		__builtin_trap(); /* every refusal says why */
	}
	return 0;
}
