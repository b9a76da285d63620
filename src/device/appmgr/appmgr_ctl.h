/* The application manager's device-local control socket (docs/protocol.md, "Application manager
 * control"): SOCK_SEQPACKET, one JSON request per message, one JSON reply; root peers only. */
#pragma once

#include "common/error.h"
#include "device/appmgr/appmgr.h"
#include "device/appmgr/appmgr_sysevent.h"

#define APPMGR_CTL_VERSION 1
#define APPMGR_CTL_MAX_MSG 65536

/* Serve until SIGTERM or SIGINT, then stop every app. */
int appmgr_ctl_serve(struct appmgr *m, const char *socket_path, rp_error *err) RP_MUST_CHECK;
/* Send OP (start|stop|status|remove with an app ID, install with a path; ARG may be NULL for
 * status) and print the reply's JSON. */
int appmgr_ctl_client(const char *socket_path, const char *op, const char *arg, rp_error *err) RP_MUST_CHECK;
enum appmgr_ctl_op {
	APPMGR_CTL_START,
	APPMGR_CTL_STOP,
	APPMGR_CTL_STATUS,
	APPMGR_CTL_INSTALL,
	APPMGR_CTL_REMOVE,
	APPMGR_CTL_SYSEVENT, /* a system event for running apps (appmgr_sysevent.h), answered later */
};

struct appmgr_ctl_request {
	enum appmgr_ctl_op op;
	char app[64];    /* "" when absent (status of all apps) */
	char path[4096]; /* install: absolute path of a package file or (development) tree */
	struct appmgr_sysevent_request sysevent;
};

/* Pure: parse and validate one request (size, strict keys, version, op, app present where
 * needed). Fuzzed (tests/fuzz/fuzz_appmgr_ctl.c). */
int appmgr_ctl_parse(const char *req, size_t len, struct appmgr_ctl_request *out, rp_error *err) RP_MUST_CHECK;
/* Handle one request document, returning the reply (never NULL). */
json_t *appmgr_ctl_handle(struct appmgr *m, const char *req, size_t len);
