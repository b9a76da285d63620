/* The application manifest (app_manifest.json, schema version 1): a strict parser and validator
 * for untrusted manifests, their canonical JSON form, and the install-time resource checks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "common/error.h"
#include "common/guid.h"

/* Limits (docs/protocol.md, "Application manifest"). Exceeding any of them is an error, never a
 * silent truncation. */
#define MANIFEST_MAX_BYTES (64u * 1024u)        /* whole document */
#define MANIFEST_NAME_MAX 31                   /* bytes of Name */
#define MANIFEST_ENTRY_POINT_MAX 255           /* bytes of EntryPoint */
#define MANIFEST_CMD_ARGS_MAX 64               /* entries of CmdArgs */
#define MANIFEST_CMD_ARG_MAX 1024              /* bytes of one CmdArgs entry */
#define MANIFEST_CMD_ARGS_TOTAL_MAX 8192       /* bytes of all CmdArgs entries together */
#define MANIFEST_LIST_MAX 256                  /* entries of any capability array */
#define MANIFEST_RESOURCE_NAME_MAX 64          /* bytes of a peripheral name ("$SAMPLE_LED") */
#define MANIFEST_HOST_MAX 253                  /* bytes of an AllowedConnections entry */
#define MANIFEST_BETA_APIS_MAX 32              /* bytes of TargetBetaApis */
#define MANIFEST_RUNTIME_VERSION_MAX 1000      /* TargetApplicationRuntimeVersion */
#define MANIFEST_MUTABLE_STORAGE_MIN_KB 1u
#define MANIFEST_MUTABLE_STORAGE_MAX_KB 65536u /* 64 MiB */

#define MANIFEST_SCHEMA_VERSION 1

/* PowerControls entries as bit flags. */
enum manifest_power_control {
	MANIFEST_POWER_FORCE_REBOOT = 1u << 0,     /* "ForceReboot" */
	MANIFEST_POWER_FORCE_POWER_DOWN = 1u << 1, /* "ForcePowerDown" */
	MANIFEST_POWER_SET_POWER_PROFILE = 1u << 2 /* "SetPowerProfile" */
};

/* What the app may use. Nothing is granted unless listed. Arrays are owned by the manifest;
 * an absent capability has count 0 (and a NULL array). Peripheral entries keep the name as
 * written ("$SAMPLE_LED", "ISU0"); numeric entries (9 or "9") are stored as decimal strings. */
struct manifest_capabilities {
	char **allowed_connections; /* lowercase host names, "*.domain" wildcards, canonical IP literals */
	size_t allowed_connections_count;
	uint16_t *allowed_tcp_server_ports;
	size_t allowed_tcp_server_ports_count;
	uint16_t *allowed_udp_server_ports;
	size_t allowed_udp_server_ports_count;
	char **allowed_application_connections; /* lowercase canonical component IDs */
	size_t allowed_application_connections_count;

	char **gpio;
	size_t gpio_count;
	char **uart;
	size_t uart_count;
	char **i2c_master;
	size_t i2c_master_count;
	char **spi_master;
	size_t spi_master_count;
	char **adc;
	size_t adc_count;
	char **pwm;
	size_t pwm_count;
	char **external_interrupt; /* real-time apps only */
	size_t external_interrupt_count;

	uint32_t mutable_storage_kb;                  /* 0 = no MutableStorage */
	char device_auth_tenant[RP_GUID_STRLEN + 1]; /* "" = no DeviceAuthentication */
	unsigned power_controls;                     /* enum manifest_power_control bits */

	bool cert_store;
	bool wifi_config;
	bool enterprise_wifi_config;
	bool network_config;
	bool read_network_proxy_config;
	bool hardware_address_config;
	bool dhcp_service;
	bool sntp_service;
	bool system_time;
	bool time_sync_config;
	bool system_event_notifications;
	bool software_update_deferral;
	bool heap_mem_stats;
};

struct manifest {
	int schema_version;
	char name[MANIFEST_NAME_MAX + 1];           /* NUL-terminated, <= 31 bytes */
	char component_id[RP_GUID_STRLEN + 1];      /* lowercase canonical GUID */
	char *entry_point;                          /* absolute path inside the package */
	char **cmd_args;
	size_t cmd_args_count;
	bool realtime;                              /* ApplicationType == "RealTimeCapable" */
	int malloc_version;                         /* 0 = absent */
	int target_runtime_version;                 /* TargetApplicationRuntimeVersion, 0 = absent */
	char *target_beta_apis;                     /* TargetBetaApis, NULL = absent */
	struct manifest_capabilities caps;
};

/* Parse and validate LEN bytes of app_manifest.json. NULL + ERR (naming the field path, e.g.
 * `Capabilities.Gpio[2]: duplicate resource "GPIO9"`) on any problem. */
struct manifest *manifest_parse(const char *json, size_t len, rp_error *err) RP_MUST_CHECK;
void manifest_free(struct manifest *m);

/* Canonical form for `image-package show` and the service: known fields only, normalised
 * values (lowercase GUIDs and host names, sorted keys when dumped). Parsing the output again
 * gives an equal manifest. Never NULL. */
json_t *manifest_to_json(const struct manifest *m);

/* Install-time ownership check: two apps may not both claim one peripheral (Gpio, Uart,
 * I2cMaster, SpiMaster, Adc, Pwm, ExternalInterrupt entry) or one TCP/UDP server port; returns -1
 * with an RP_E_CONFLICT error naming the resource and both component IDs. */
int manifest_check_conflicts(const struct manifest *a, const struct manifest *b, rp_error *err) RP_MUST_CHECK;

/* Resolves peripheral entry ENTRY of capability CAP ("Gpio", "Uart", ...) to the id the device
 * knows it by: 1 and *ID; 0 when CAP is not a kind the resolver covers (ExternalInterrupt); -1 and
 * ERR when the device has no such peripheral. */
typedef int (*manifest_resolve_fn)(void *ctx, const char *cap, const char *entry, uint32_t *id, rp_error *err);

/* manifest_check_conflicts, comparing peripherals by what RESOLVE makes of them: two entries
 * both resolved conflict when their ids are equal, whatever their spellings ("$SAMPLE_LED" and 8);
 * a pair not both resolved is compared by spelling. RESOLVE NULL: spellings only. */
int manifest_check_conflicts_resolved(const struct manifest *a, const struct manifest *b, manifest_resolve_fn resolve,
                                      void *ctx, rp_error *err) RP_MUST_CHECK;

/* -1 and ERR (naming the app and the entry) on the first peripheral entry of M that RESOLVE
 * does not know. */
int manifest_resolve_resources(const struct manifest *m, manifest_resolve_fn resolve, void *ctx,
                               rp_error *err) RP_MUST_CHECK;

/* App-to-app connections are allowed only when both sides declare each other. */
bool manifest_allows_app_connection(const struct manifest *from, const struct manifest *to);

/* The PowerControls name of one flag ("ForceReboot"), or NULL. */
const char *manifest_power_control_name(unsigned flag);

static inline void manifest_freep(struct manifest **m)
{
	if (*m)
		manifest_free(*m);
}
#define _cleanup_manifest_ __attribute__((cleanup(manifest_freep)))
