/* What a peripheral broker keeps after start-up, and the switch to it: its own unprivileged user,
 * only the capabilities its app's grants need, no_new_privs and a seccomp filter
 * (docs/threat-model.md, "Broker privileges"). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "device/broker/board.h"
#include "device/broker/broker_policy.h"

struct broker_privs {
	bool sys_time;         /* CAP_SYS_TIME: SystemTime on a board whose clock is real */
	bool dac_override;     /* CAP_DAC_OVERRIDE: the manifest grants a Linux (non-simulated) peripheral */
	bool net_bind_service; /* CAP_NET_BIND_SERVICE: AllowedTcp/UdpServerPorts lists a port below 1024 */
};

/* Pure: the capabilities POLICY's grants need on BOARD. */
void broker_privs_needed(const struct broker_policy *policy, struct board *board, struct broker_privs *out);

/* Drop to UID/GID (when CHANGE_USER; uid and gid must not be 0), keep only NEED's capabilities
 * (permitted and effective; nothing inheritable or ambient; the bounding set cut to NEED), set
 * no_new_privs and install the broker's seccomp filter. Fails closed: any step that does not take
 * effect is an error and the broker must not serve. */
int broker_privs_drop(const struct broker_privs *need, bool change_user, uid_t uid, gid_t gid,
                      rp_error *err) RP_MUST_CHECK;
