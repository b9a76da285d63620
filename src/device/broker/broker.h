/* The peripheral broker: serves one app's applibs over its inherited socket, granting only the
 * peripherals and system operations its manifest declares (docs/protocol.md, "Peripheral broker
 * protocol v1"). A library so the app manager can run one per app; main.c is a thin wrapper. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "device/broker/board.h"
#include "device/broker/broker_policy.h"

struct broker;

struct broker_options {
	/* JSON-lines event log (every open, change, transfer and denial); NULL for none. */
	const char *event_log_path;
	/* Networking readiness reported to the app: -1 = look at the host's interfaces. */
	int network_ready;
	/* Called for granted power requests (app manager hook); NULL = only logged. Returns 0 or an errno. */
	int (*power_hook)(void *ctx, uint8_t action, uint32_t arg);
	void *power_ctx;
	/* Network operations (broker_net.h): loopback/own-address targets, connect timeout. */
	bool allow_loopback_targets;
	int connect_timeout_ms;
	/* Link channel to the app manager for app-to-app connections (docs/protocol.md, "Network
	 * broker operations v1"); without one, app.connect to a declared peer is ECONNREFUSED. */
	bool has_link;
	int link_fd;
};

/* Resolve every peripheral the policy names against the board; a manifest entry the board does
 * not define is an error (the app could never use it, and it usually means the wrong board). The
 * broker borrows BOARD and POLICY; they must outlive it. */
struct broker *broker_new(struct board *board, const struct broker_policy *policy, const struct broker_options *opts,
                          rp_error *err) RP_MUST_CHECK;
/* Serve CONTROL_FD until the app closes it. A malformed message closes the channel it came on
 * (and ends the session when it is the control channel) with an error in the event log. */
int broker_run(struct broker *b, int control_fd, rp_error *err) RP_MUST_CHECK;
void broker_free(struct broker *b);
