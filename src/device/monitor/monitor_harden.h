/* Process hardening for the security monitor: close inherited descriptors, drop every
 * capability, set no_new_privs and install a seccomp allow list of the system calls it needs. */
#pragma once

#include "common/error.h"

/* Close every descriptor above stderr (call first thing in main). */
void monitor_harden_close_fds(void);
/* Drop capabilities, no_new_privs, seccomp. After this the monitor can only serve its socket,
 * talk to its TPM connection and rewrite its own state files. */
int monitor_harden_apply(rp_error *err) RP_MUST_CHECK;
