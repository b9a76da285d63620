/* What one app may ask its peripheral broker for: the peripheral entries and system capabilities
 * of its app_manifest.json, taken from the manifest module's validated form (src/pkg/manifest.h),
 * so the broker and the installer agree on what a manifest grants. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "device/broker/board.h"
#include "pkg/manifest.h"

#define BROKER_POWER_FORCE_REBOOT 0x1u
#define BROKER_POWER_FORCE_POWER_DOWN 0x2u
#define BROKER_POWER_SET_POWER_PROFILE 0x4u

struct broker_policy {
	char app_name[32];
	char component_id[37]; /* lowercase; the app manager's link channel names apps by it */
	char **periph[BOARD_TYPE_COUNT]; /* manifest entries as written ("$SAMPLE_LED", "8") */
	size_t periph_count[BOARD_TYPE_COUNT];
	char **app_connections; /* AllowedApplicationConnections, lowercase component IDs */
	size_t app_connection_count;
	bool system_event_notifications;
	bool software_update_deferral;
	unsigned power_controls; /* BROKER_POWER_* bits */
	bool device_auth;
	bool system_time;      /* SystemTime: set the clock, write the RTC */
	bool time_sync_config; /* TimeSyncConfig: enable/disable time sync (SystemTime also grants it) */
	/* Network grants (src/device/broker/broker_net.c). */
	char **allowed_connections; /* lowercase names, "*.domain" wildcards, canonical IP literals */
	size_t allowed_connection_count;
	uint16_t *tcp_server_ports, *udp_server_ports;
	size_t tcp_server_port_count, udp_server_port_count;
};

/* Copy the grants the broker enforces out of a parsed manifest (the app manager's path). */
struct broker_policy *broker_policy_from_manifest(const struct manifest *m);
/* Parse and validate LEN bytes of app_manifest.json with manifest_parse(), then copy its grants. */
struct broker_policy *broker_policy_from_manifest_json(const char *json, size_t len, const char *what,
                                                       rp_error *err) RP_MUST_CHECK;
struct broker_policy *broker_policy_load(const char *path, rp_error *err) RP_MUST_CHECK;
void broker_policy_free(struct broker_policy *p);
