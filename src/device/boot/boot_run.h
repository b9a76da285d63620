/* The boot sequence: pick a slot, verify it (signature, os-bundle, version >= floor), measure it,
 * extract it, start its components, run the health check, commit or fall back, then supervise
 * until SIGTERM. The root of trust is opened only before any component starts (and again, only
 * when free, to advance the floor at commit). */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"

#define BOOT_DEFAULT_PCR 8
#define BOOT_DEFAULT_HEALTH_TIMEOUT_MS 30000

/* What the boot stage does when a boot decision needs a fresh power cycle (a failed attempt of a
 * pending slot, a fallback after it was measured) or when a supervised component asks for a reboot
 * or power-down: exit with a status for the device harness (BOOT_EXIT_REBOOT / 0), or reboot(2). */
enum boot_reboot_mode { BOOT_REBOOT_EXIT = 0, BOOT_REBOOT_SYSTEM = 1 };

/* boot_run's results besides -1 (error). */
enum boot_run_result {
	BOOT_RUN_STOPPED = 0,   /* clean stop (SIGTERM), or with until_healthy a passed health check */
	BOOT_RUN_REBOOT = 1,    /* components stopped, state saved: power-cycle the device and run again */
	BOOT_RUN_POWER_OFF = 2, /* a component asked to power the device down; components stopped */
};

/* A supervised component asks for a reboot or a power-down with kill(RAMPART_BOOT_PID, ...). */
#define BOOT_SIGNAL_REBOOT SIGUSR1
#define BOOT_SIGNAL_POWER_OFF SIGUSR2

/* Exit status of `rampart-boot run` asking its harness for a power cycle (docs/protocol.md). */
#define BOOT_EXIT_REBOOT 80

struct boot_options {
	const char *state_dir;
	const char *rot_backend; /* "soft" or "tpm2" */
	const char *tcti;
	uint32_t health_timeout_ms;
	unsigned pcr;
	bool until_healthy; /* stop the components and return after the health check (tests, tooling) */
	enum boot_reboot_mode reboot;
};

/* Returns BOOT_RUN_STOPPED after a clean stop (SIGTERM) or, with until_healthy, after a passed
 * health check; BOOT_RUN_REBOOT when the next decision needs a fresh power cycle (the root of trust
 * must not hold two OS measurements of one power-on) or a component asked for a reboot;
 * BOOT_RUN_POWER_OFF when a component asked for a power-down; -1 with ERR when nothing bootable was
 * found or the booted slot failed and had no fallback. The caller performs the reboot or power-off. */
int boot_run(const struct boot_options *opts, rp_error *err) RP_MUST_CHECK;
