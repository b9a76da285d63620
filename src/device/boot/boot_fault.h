/* Power-cut fault injection for tests: RAMPART_FAULT_POINT=NAME[:N] makes the process SIGKILL its
 * whole device process tree (its components' process groups, then itself) the Nth time (default
 * the first) it reaches the named point. Points are listed in docs/protocol.md ("Device state
 * directory and A/B slots"). Without the variable every point is a no-op. */
#pragma once

/* Called just before the kill, to SIGKILL child process groups (may be NULL). */
void boot_fault_set_killer(void (*killer)(void));
void boot_fault_point(const char *name);
