/* os.json, the file inside an OS bundle's payload that names the device runtime's components to
 * start, their arguments and the health-check rule (docs/protocol.md). It comes from a verified
 * bundle, but is still parsed strictly: a signing mistake must give a clear error, not a crash. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

#define BOOT_OSCONF_MAX_LEN (64 * 1024)
#define BOOT_OSCONF_MAX_COMPONENTS 16
#define BOOT_OSCONF_MAX_ARGS 32
#define BOOT_OSCONF_MAX_ARG_LEN 1024
#define BOOT_OSCONF_NAME_MAX 31
#define BOOT_OSCONF_SETTLE_MAX_MS 600000

struct boot_component {
	char name[BOOT_OSCONF_NAME_MAX + 1];
	char *exec;  /* relative path inside the bundle root */
	char **args; /* argv[1..], NULL-terminated; may contain ${VAR} placeholders */
	size_t nargs;
	bool required;
	char *ready_file; /* optional template: the component creates it when ready (health check waits) */
};

struct boot_osconf {
	struct boot_component components[BOOT_OSCONF_MAX_COMPONENTS];
	size_t ncomponents;
	uint32_t settle_ms;    /* required components must stay up this long to pass */
	char *monitor_socket;  /* optional: where the bundle's monitor listens (commit goes through it) */
};

int boot_osconf_parse(const char *buf, size_t len, struct boot_osconf *conf, rp_error *err) RP_MUST_CHECK;
void boot_osconf_free(struct boot_osconf *conf);

/* Replace ${STATE}, ${ROOT}, ${RUN}, ${ROT}, ${TCTI}, ${VERSION}, ${DEVICE_ID} in TEMPLATE; unknown
 * names fail. DEVICE_ID is the root of trust's device ID (64 hex), which the runtime's components
 * need without asking the monitor (the application manager checks capabilities against it). */
struct boot_osconf_vars {
	const char *state, *root, *run, *rot, *tcti, *version, *device_id;
};
char *boot_osconf_expand(const char *template, const struct boot_osconf_vars *vars, rp_error *err);
