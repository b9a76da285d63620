/* libFuzzer target: the application manager's control-request parser (appmgr_ctl_parse). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "device/appmgr/appmgr_ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct appmgr_ctl_request r;
	rp_error err = RP_ERROR_INIT;
	if (appmgr_ctl_parse((const char *)data, size, &r, &err) == 0) {
		/* Accepted requests are well-formed: a known op, and an app ID wherever one is needed. */
		if (r.op == APPMGR_CTL_INSTALL ? r.path[0] != '/' : (r.op != APPMGR_CTL_STATUS && strlen(r.app) != 36))
			__builtin_trap();
	} else if (!err.message[0]) {
		__builtin_trap(); /* every refusal says why */
	}
	return 0;
}
