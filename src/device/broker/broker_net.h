/* The network half of the per-app broker: outbound connections to AllowedConnections hosts and
 * listening sockets on declared server ports, made outside the app's sandbox and handed to the
 * app as connected/bound sockets (docs/protocol.md, "Network broker operations v1"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "device/broker/broker_policy.h"
#include "device/broker/broker_proto.h"

struct broker_net_options {
	/* Let apps reach loopback and the device's own addresses (tests and the demo run servers on
	 * 127.0.0.1). Off by default: an allowed name must not lead into the device's own services. */
	bool allow_loopback_targets;
	int connect_timeout_ms; /* per address tried; 0 = 10000 */
};

/* Pure: may an app whose AllowedConnections is ALLOWED (N entries, as manifest_parse stores them)
 * connect to HOST? Host names match case-insensitively, exactly or under a "*.domain" wildcard
 * (at least one more label; the domain itself does not match); IP literals match only the same
 * address written as an entry (compared in inet_ntop form). *IS_LITERAL tells which it was. */
bool broker_net_host_allowed(char *const *allowed, size_t n, const char *host, bool *is_literal);

/* Pure: may a resolved address be a connection target? Refuses the unspecified, multicast,
 * broadcast, link-local and "this network" addresses always, and loopback plus OWN (the device's
 * interface addresses, N_OWN of them) unless ALLOW_LOCAL. IPv4-mapped IPv6 addresses are judged
 * as the IPv4 address they carry. Returns NULL when allowed, else why not. */
const char *broker_net_addr_refusal(const struct sockaddr *sa, bool allow_local, const struct sockaddr_storage *own,
                                    size_t n_own);

/* net.connect: check, resolve, filter, connect (non-blocking, with a timeout, each address in
 * turn) and return 0 with *OUT_FD a connected blocking socket, or an errno value with *WHY set
 * (EPERM for a policy refusal). */
int broker_net_connect(const struct broker_policy *pol, const struct broker_net_options *o, const struct broker_msg *req,
                       int *out_fd, const char **why);
/* net.listen: a TCP listening or UDP bound socket on a declared server port (all addresses). */
int broker_net_listen(const struct broker_policy *pol, const struct broker_msg *req, int *out_fd, const char **why);
