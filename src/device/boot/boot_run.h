/* The boot sequence: pick a slot, verify it (signature, os-bundle, version >= floor), measure it,
 * extract it, start its components, run the health check, commit or fall back, then supervise
 * until SIGTERM. The root of trust is opened only before any component starts (and again, only
 * when free, to advance the floor at commit). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"

#define BOOT_DEFAULT_PCR 8
#define BOOT_DEFAULT_HEALTH_TIMEOUT_MS 30000

struct boot_options {
	const char *state_dir;
	const char *rot_backend; /* "soft" or "tpm2" */
	const char *tcti;
	uint32_t health_timeout_ms;
	unsigned pcr;
	bool until_healthy; /* stop the components and return after the health check (tests, tooling) */
};

/* Returns 0 after a clean stop (SIGTERM) or, with until_healthy, after a passed health check;
 * -1 with ERR when nothing bootable was found or the booted slot failed and had no fallback. */
int boot_run(const struct boot_options *opts, rp_error *err) RP_MUST_CHECK;
