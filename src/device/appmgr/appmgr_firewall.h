/* The reply-only filter for apps' UDP server ports (issue 6): an nftables rule in the device's
 * namespace that drops a datagram leaving a granted UDP server port unless conntrack has seen the
 * flow start from the client, so a passed server socket cannot reach new peers (sendto: EPERM). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define APPMGR_FW_TABLE "inet rampart"
#define APPMGR_FW_MAX_PORTS 256 /* MANIFEST_LIST_MAX */

/* Pure: the nft commands that install (replace) the filter for the broker user BROKER_UID and its
 * granted UDP server PORTS, or that remove it. Each command batch is one transaction. Both refuse
 * uid 0 (it would match the manager's own sockets), port 0, empty lists and lists longer than
 * APPMGR_FW_MAX_PORTS; repeated ports are listed once. The text is built from these integers alone. Returns malloc'd text or NULL. */
char *appmgr_fw_install_text(uint32_t broker_uid, const uint16_t *ports, size_t n_ports, rp_error *err);
char *appmgr_fw_remove_text(uint32_t broker_uid, rp_error *err);

/* Run them through libnftables. Install fails when nftables refuses (no CAP_NET_ADMIN, no
 * nf_tables/conntrack, a foreign object under our chain's name); the error says what to do.
 * Remove succeeds when the chain is gone already. */
int appmgr_fw_install(uint32_t broker_uid, const uint16_t *ports, size_t n_ports, rp_error *err) RP_MUST_CHECK;
int appmgr_fw_remove(uint32_t broker_uid, rp_error *err) RP_MUST_CHECK;
/* The same, but first looks whether the chain exists, so a manager that finds nothing to clean up
 * leaves the namespace's rule set untouched (no table is created). */
int appmgr_fw_remove_stale(uint32_t broker_uid, rp_error *err) RP_MUST_CHECK;
