/* The security monitor server: the only process that talks to the root of trust. It serves the
 * protocol of monitor_protocol.h on a Unix SOCK_SEQPACKET socket, authorises every message by
 * the peer's UID (SO_PEERCRED) and role, keeps the measurement log, and builds and signs
 * attestation evidence itself (it never signs caller-supplied bytes). */
#pragma once

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/bytes.h"
#include "common/error.h"
#include "device/rot/rot.h"

#define MONITOR_POLICY_MAX 16
#define MONITOR_MAX_CLIENTS 16
/* Connections one UID may hold at once: a quarter of the slots, so no peer fills them all. */
#define MONITOR_MAX_CLIENTS_PER_UID 4

typedef struct monitor_policy {
	size_t n;
	struct {
		uid_t uid;
		uint32_t roles;
	} entries[MONITOR_POLICY_MAX];
} monitor_policy;

/* Add "ROLE=UID" (role: agent, boot, appmgr). A UID may hold several roles. */
int monitor_policy_add(monitor_policy *p, const char *spec, rp_error *err) RP_MUST_CHECK;
uint32_t monitor_policy_roles(const monitor_policy *p, uid_t uid);

typedef struct monitor_server monitor_server;

/* Takes ownership of ROT. EVENTLOG_PATH is where the measurement log is kept across restarts. */
monitor_server *monitor_server_new(rot *r, const monitor_policy *policy, const char *eventlog_path, rp_error *err);
void monitor_server_free(monitor_server *s);
/* Bind the socket (a stale socket file is replaced). */
int monitor_server_listen(monitor_server *s, const char *socket_path, rp_error *err) RP_MUST_CHECK;
/* Serve until *STOP becomes non-zero. */
int monitor_server_run(monitor_server *s, volatile sig_atomic_t *stop, rp_error *err) RP_MUST_CHECK;
/* Handle one message from a peer with UID and ROLES; the reply is appended to REPLY. */
void monitor_server_handle(monitor_server *s, uid_t uid, uint32_t roles, const uint8_t *msg, size_t len, rp_buf *reply);
