/* nftables rules that keep apps' UDP server sockets to answering their clients (see
 * appmgr_firewall.h). One base chain per broker user, hooked at output, so starting or stopping one
 * app never touches another's rule, and a chain left by a manager that died is replaced on the
 * app's next start or removed at the manager's next start. */
#include "device/appmgr/appmgr_firewall.h"

#include <nftables/libnftables.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/bytes.h"
#include "common/macros.h"
#include "common/xalloc.h"

/* Only replies (conntrack established/related) leave a granted port; new, invalid and untracked
 * packets are dropped, which a local sender sees as EPERM. */
#define CHAIN_SPEC "{ type filter hook output priority 0; policy accept; }"

static int check_uid(uint32_t uid, rp_error *err)
{
	if (uid == 0 || uid == UINT32_MAX)
		return rp_error_set(err, RP_E_INVALID, "UDP server filter: invalid broker uid %u", uid);
	return 0;
}

char *appmgr_fw_install_text(uint32_t broker_uid, const uint16_t *ports, size_t n_ports, rp_error *err)
{
	if (check_uid(broker_uid, err) < 0)
		return NULL;
	if (n_ports == 0 || n_ports > APPMGR_FW_MAX_PORTS) {
		rp_error_set(err, RP_E_LIMIT, "UDP server filter: %zu ports (1 to %d allowed)", n_ports, APPMGR_FW_MAX_PORTS);
		return NULL;
	}
	char list[APPMGR_FW_MAX_PORTS * 7 + 1];
	size_t used = 0;
	for (size_t i = 0; i < n_ports; i++) {
		if (ports[i] == 0) {
			rp_error_set(err, RP_E_INVALID, "UDP server filter: port 0");
			return NULL;
		}
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = ports[j] == ports[i];
		if (seen)
			continue;
		int w = snprintf(list + used, sizeof(list) - used, "%s%u", used ? ", " : "", (unsigned)ports[i]);
		if (w < 0 || (size_t)w >= sizeof(list) - used)
			rp_abort("UDP server port list overflows its buffer");
		used += (size_t)w;
	}
	return xasprintf("add table " APPMGR_FW_TABLE "\n"
	                 "add chain " APPMGR_FW_TABLE " udp_servers_%u " CHAIN_SPEC "\n"
	                 "flush chain " APPMGR_FW_TABLE " udp_servers_%u\n"
	                 "add rule " APPMGR_FW_TABLE " udp_servers_%u meta skuid %u udp sport { %s } "
	                 "ct state != { established, related } drop\n",
	                 broker_uid, broker_uid, broker_uid, broker_uid, list);
}

char *appmgr_fw_remove_text(uint32_t broker_uid, rp_error *err)
{
	if (check_uid(broker_uid, err) < 0)
		return NULL;
	/* Adding first makes the removal idempotent; with the hook spec, a foreign regular chain of
	 * that name makes the batch fail rather than being deleted. */
	return xasprintf("add table " APPMGR_FW_TABLE "\n"
	                 "add chain " APPMGR_FW_TABLE " udp_servers_%u " CHAIN_SPEC "\n"
	                 "flush chain " APPMGR_FW_TABLE " udp_servers_%u\n"
	                 "delete chain " APPMGR_FW_TABLE " udp_servers_%u\n",
	                 broker_uid, broker_uid, broker_uid);
}

/* Run CMDS as one transaction; WHAT names it in ERR. WHAT NULL: a probe, whose failure is an
 * answer rather than an error. */
static int run_nft(const char *cmds, const char *what, rp_error *err)
{
	if (!what) {
		what = "probing nftables";
		err = NULL;
	}
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx)
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: cannot create an nftables context", what);
	/* Keep nft's output and errors off our stdout/stderr: the error goes into ERR. */
	if (nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0) {
		nft_ctx_free(ctx);
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: cannot set up nftables buffers", what);
	}
	int rc = nft_run_cmd_from_buffer(ctx, cmds);
	if (rc != 0) {
		const char *msg = nft_ctx_get_error_buffer(ctx);
		char first[200] = "";
		if (msg) {
			size_t len = strcspn(msg, "\n");
			if (len >= sizeof(first))
				len = sizeof(first) - 1;
			memcpy(first, msg, len);
			first[len] = '\0';
		}
		rp_error_set(err, RP_E_UNAVAILABLE, "%s: nftables refused (table %s): %s", what, APPMGR_FW_TABLE,
		             first[0] ? first : "no reason given");
	}
	nft_ctx_free(ctx);
	return rc != 0 ? -1 : 0;
}

int appmgr_fw_install(uint32_t broker_uid, const uint16_t *ports, size_t n_ports, rp_error *err)
{
	_cleanup_free_ char *cmds = appmgr_fw_install_text(broker_uid, ports, n_ports, err);
	if (!cmds)
		return -1;
	_cleanup_free_ char *what = xasprintf("installing the UDP server filter (chain udp_servers_%u)", broker_uid);
	return run_nft(cmds, what, err);
}

int appmgr_fw_remove(uint32_t broker_uid, rp_error *err)
{
	_cleanup_free_ char *cmds = appmgr_fw_remove_text(broker_uid, err);
	if (!cmds)
		return -1;
	_cleanup_free_ char *what = xasprintf("removing the UDP server filter (chain udp_servers_%u)", broker_uid);
	return run_nft(cmds, what, err);
}

int appmgr_fw_remove_stale(uint32_t broker_uid, rp_error *err)
{
	if (check_uid(broker_uid, err) < 0)
		return -1;
	_cleanup_free_ char *probe = xasprintf("list chain " APPMGR_FW_TABLE " udp_servers_%u\n", broker_uid);
	if (run_nft(probe, NULL, NULL) < 0)
		return 0;
	return appmgr_fw_remove(broker_uid, err);
}
