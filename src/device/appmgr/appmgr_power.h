/* Power requests of apps that declare PowerControls, carried out for the app manager: a reboot or
 * a power-down is asked of the boot stage that supervises the manager (docs/protocol.md, "Power
 * requests"); a power profile is recorded in the manager's state and applied to the CPU frequency
 * governor where the platform has one. The broker checked the app's grant; the manager checks it
 * again, because the broker speaks for a hostile app. */
#pragma once

#include <stdint.h>
#include "pkg/manifest.h"

/* PowerManagement_System_PowerProfile values. */
enum appmgr_power_profile { APPMGR_POWER_SAVER = 0, APPMGR_POWER_BALANCED = 1, APPMGR_POWER_HIGH_PERFORMANCE = 2 };

/* Remember STATE_DIR and the boot stage that supervises this process (RAMPART_BOOT_PID, only when it
 * is the parent), and apply the power profile recorded there by an earlier run. */
void appmgr_power_init(const char *state_dir);

/* Carry out APP's request ACTION (BROKER_POWER_REBOOT, _DOWN, _PROFILE) with ARG (the profile).
 * Returns 0 or an errno for the app: EPERM without the grant, EINVAL for an unknown profile,
 * ENOTSUP for a reboot or power-down with no boot stage to carry it out, EIO when recording failed. */
int appmgr_power_request(const struct manifest *app, uint8_t action, uint32_t arg);

/* The recorded profile name ("Balanced" when none was ever set). */
const char *appmgr_power_profile_name(unsigned profile);
