/* The agent's update round (issue 5): after a successful attestation, learn the device's group
 * from the service (GET /v1/device/self over mutual TLS with the device-API credential), run one
 * update check, and install application packages through the application manager's control
 * socket, except while development mode is on (then cloud app updates pause; OS and trust updates
 * continue). Also reads the installed images back from the update status for attestation evidence. */
#pragma once

#include <stddef.h>
#include "common/error.h"
#include "device/monitor/monitor_protocol.h"
#include "device/update/update_client.h"

struct agent_update_options {
	const char *state_dir;
	const char *service_url;
	const char *service_ca;
	const char *monitor_socket;
	const char *rot_backend;     /* version floor for OS installs; "soft" when NULL */
	const char *appmgr_socket;   /* NULL: verified app packages are staged for the manager */
	const char *appmgr_state;    /* where devmode_capability_present() looks; NULL: never paused */
};

/* One round. Returns -1 when the group could not be learned or the check failed (ERR says why);
 * REPORT is filled either way. */
int agent_update_run(const struct agent_update_options *o, int64_t now, struct update_report *report,
                     rp_error *err) RP_MUST_CHECK;

/* Apps this agent installed that the update status says are installed or committed, as evidence
 * claims with the version string the service knows (at most MAX). */
size_t agent_update_installed_images(const char *state_dir, monitor_image_claim *out, size_t max);
