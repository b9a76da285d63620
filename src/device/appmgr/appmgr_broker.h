/* One peripheral/network broker process per app container, started by the application manager
 * next to the container and stopped with it, plus the manager's side of the brokers' link
 * channels, which routes app-to-app connections (docs/protocol.md, "Network broker operations v1"). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "pkg/manifest.h"

struct appmgr_broker {
	pid_t pid;         /* 0: none */
	int link_fd;       /* manager end of the link channel; -1: none */
	bool accepts_apps; /* the app called app.listen: it takes incoming app connections */
	/* The system-event round last sent to this broker (appmgr_sysevent.c) and its answers: the
	 * broker's acknowledgement (and whether its app may still answer), the app's deferral. */
	uint32_t se_round, se_max_minutes, se_minutes;
	bool se_acked, se_awaiting, se_answered;
};

#define APPMGR_BROKER_INIT {.pid = 0, .link_fd = -1, .accepts_apps = false}

struct appmgr_broker_spec {
	const char *broker_path;
	const char *board_path;
	const char *manifest_path; /* the verified app_manifest.json of the tree about to run */
	const char *event_log;     /* JSON-lines event log of the broker */
	int stderr_fd;             /* the app's log: broker errors and refusals show next to the app's output */
	bool allow_loopback;
	uint32_t uid;              /* the broker's own user (and group) after start-up; 0: stay root */
};

/* Start a broker; *APP_FD receives the app's end of the control channel (O_CLOEXEC), which the
 * sandbox puts on fd 3. */
int appmgr_broker_start(const struct appmgr_broker_spec *spec, struct appmgr_broker *b, int *app_fd,
                        rp_error *err) RP_MUST_CHECK;
/* The same in two steps, so a start need not wait for the broker: open the channels first (the
 * app's end in *APP_FD, the broker's two ends in BROKER_ENDS, B's link set up), then spawn the
 * broker on them once the container runs; spawn closes BROKER_ENDS whatever happens. */
int appmgr_broker_open(struct appmgr_broker *b, int *app_fd, int broker_ends[2], rp_error *err) RP_MUST_CHECK;
int appmgr_broker_spawn(const struct appmgr_broker_spec *spec, struct appmgr_broker *b, int broker_ends[2],
                        rp_error *err) RP_MUST_CHECK;
/* Stop (SIGTERM) and reap the broker, close the link. Idempotent. */
void appmgr_broker_stop(struct appmgr_broker *b);

/* What the manager needs to route one link request: the requesting app, and a lookup of the
 * target by component ID that returns its manifest, broker and whether it is running. */
struct appmgr_broker_peer {
	const struct manifest *manifest;
	struct appmgr_broker *broker;
	bool running;
};
typedef bool (*appmgr_broker_lookup_fn)(void *ctx, const char *cid, struct appmgr_broker_peer *out);

/* Send round ROUND's event to B's broker (link.sysevent); false when the link does not take it. */
bool appmgr_broker_send_sysevent(struct appmgr_broker *b, uint32_t round, uint32_t event, uint32_t status,
                                 uint32_t update_type, uint32_t max_defer_minutes);

/* Serve one message on B's link (called when the link is readable): app-connection requests, and
 * the acknowledgements and deferrals of system events (recorded in B for appmgr_sysevent.c). Returns false when the link
 * closed (the caller removes it from its poll set and closes it). */
bool appmgr_broker_serve_link(struct appmgr_broker *b, const struct manifest *self, appmgr_broker_lookup_fn lookup,
                              void *ctx);
