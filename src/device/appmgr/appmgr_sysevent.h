/* System events (applibs sysevent.h) from the update agent to running apps: the manager turns one
 * control request into one "round" — a link.sysevent to the broker of every running app whose
 * manifest declares SystemEventNotifications — waits (bounded) for the brokers' acknowledgements
 * and for the deferrals or resumptions of apps holding SoftwareUpdateDeferral, and answers the
 * agent with the longest deferral (docs/protocol.md, "System events and update deferral"). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

struct appmgr;

#define APPMGR_SYSEVENT_NAME_MAX 128
#define APPMGR_SYSEVENT_WAIT_DEFAULT_MS 5000
#define APPMGR_SYSEVENT_WAIT_MIN_MS 100
#define APPMGR_SYSEVENT_WAIT_MAX_MS 60000

/* One "sysevent" control request, validated (appmgr_sysevent_parse). */
struct appmgr_sysevent_request {
	uint32_t event;             /* BROKER_SYSEVENT_UPDATE_READY, _UPDATE_STARTED or _NO_UPDATE */
	uint32_t update_type;       /* BROKER_UPDATE_APP / _SYSTEM; NONE for no_update */
	uint32_t max_defer_minutes; /* update_ready: what is left of the 24 h; 0 = Final */
	uint32_t wait_ms;           /* how long apps may take to answer */
	uint64_t image_version;
	char name[APPMGR_SYSEVENT_NAME_MAX + 1]; /* the target, for logs ("" for no_update) */
};

/* Pure: validate the sysevent fields of control request J (the caller checked version, op and the
 * allowed keys). Fuzzed through appmgr_ctl_parse. */
int appmgr_sysevent_parse(json_t *j, struct appmgr_sysevent_request *out, rp_error *err) RP_MUST_CHECK;

/* Pure: the status an app sees for REQ (Pending, Final or Complete). */
uint32_t appmgr_sysevent_status(const struct appmgr_sysevent_request *req);

/* The one round in progress (at most one at a time). */
struct appmgr_sysevent {
	uint32_t next_round;
	bool active;
	uint32_t round;
	int client_fd; /* the agent's connection, answered when the round ends */
	int64_t deadline_ms;
	struct appmgr_sysevent_request req;
	unsigned notified;
};

#define APPMGR_SYSEVENT_INIT {.next_round = 1, .active = false, .client_fd = -1}

/* Start a round for REQ and own CLIENT_FD (answered later by appmgr_sysevent_poll). Returns false
 * with ERR when it cannot start (one is in progress); the caller still owns CLIENT_FD then. */
bool appmgr_sysevent_begin(struct appmgr_sysevent *se, struct appmgr *m, const struct appmgr_sysevent_request *req,
                           int client_fd, rp_error *err);
/* Milliseconds until the round's deadline (-1: none in progress), for the caller's poll timeout. */
int appmgr_sysevent_timeout(const struct appmgr_sysevent *se);
/* Finish the round if every notified app answered or the deadline passed: reply to the agent. */
void appmgr_sysevent_poll(struct appmgr_sysevent *se, struct appmgr *m);
/* Shutting down: answer a waiting agent with an error. */
void appmgr_sysevent_abort(struct appmgr_sysevent *se);
