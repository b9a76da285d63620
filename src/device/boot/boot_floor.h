/* The OS version floor: the root-of-trust counter below which no OS bundle installs or boots. */
#pragma once

#include <stdint.h>
#include "common/error.h"

#define BOOT_ROT_COUNTER_OS_FLOOR 0 /* root-of-trust counter holding the OS version floor */

/* Read the OS floor: the root of trust directly (must not be in use), else the monitor socket.
 * The update worker's build (boot_floor_lean.c) has no root-of-trust code and reads it through
 * the monitor only. */
int boot_floor_read(const char *state_dir, const char *rot_backend, const char *tcti, const char *monitor_socket,
                    uint64_t *floor, rp_error *err) RP_MUST_CHECK;
/* Read the OS floor through the security monitor, which holds the root of trust. */
int boot_floor_read_monitor(const char *monitor_socket, uint64_t *floor, rp_error *err) RP_MUST_CHECK;
