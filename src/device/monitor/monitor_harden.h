/* Process hardening for the security monitor: close inherited descriptors, drop every
 * capability, set no_new_privs and install a seccomp allow list of the system calls it needs. */
#pragma once

#include "common/error.h"

/* Close every descriptor above stderr (call first thing in main). */
void monitor_harden_close_fds(void);
#include <stdbool.h>

/* Drop capabilities, no_new_privs, seccomp. After this the monitor can only serve its socket,
 * talk to its TPM connection and rewrite its own state files. ALLOW_INET: the TPM is reached over
 * TCP (a simulator), so new AF_INET/AF_INET6 sockets stay allowed; otherwise only AF_UNIX. */
int monitor_harden_apply(bool allow_inet, rp_error *err) RP_MUST_CHECK;
/* Whether the TCTI configuration string reaches the TPM over TCP (mssim, swtpm). */
bool monitor_harden_tcti_is_tcp(const char *tcti);
