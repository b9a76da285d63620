/* Process hardening for the security monitor: close inherited descriptors, drop every
 * capability, set no_new_privs and install a seccomp allow list of the system calls it needs. */
#pragma once

#include "common/error.h"

/* Close every descriptor above stderr (call first thing in main). */
void monitor_harden_close_fds(void);
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the monitor serves: its state directory, root-of-trust backend and TCTI, as given on the
 * command line. */
typedef struct {
	const char *state_dir; /* --state; STATE/monitor and STATE/rot-BACKEND must exist */
	const char *backend;   /* "soft" or "tpm2" */
	const char *tcti;      /* --tpm2-tcti; NULL for the tpm2 backend's default device */
} monitor_harden_config;

/* Landlock, then drop capabilities, no_new_privs, seccomp. After this the monitor can only serve
 * its socket, talk to its TPM connection and rewrite its own state files: files only under
 * STATE/monitor and STATE/rot-BACKEND, the TPM device node the TCTI names, and TCP (new
 * AF_INET/AF_INET6 sockets, connect to the TCTI's command port only) when the TPM is a simulator reached
 * over TCP. */
int monitor_harden_apply(const monitor_harden_config *cfg, rp_error *err) RP_MUST_CHECK;
/* Whether the TCTI configuration string reaches the TPM over TCP (mssim, swtpm). */
bool monitor_harden_tcti_is_tcp(const char *tcti);
/* The device node a device TCTI ("device:/dev/tpmrm0", "libtss2-tcti-device.so.0:PATH") opens,
 * copied to BUF when the TCTI names it; NULL for other TCTIs (or a path longer than LEN). NULL
 * TCTI: the tpm2 backend's default, /dev/tpmrm0. */
const char *monitor_harden_tcti_device(const char *tcti, char *buf, size_t len);
/* The TPM simulator's command port from a TCP TCTI's "host=...,port=N" (default 2321). The swtpm
 * TCTI connects to it for every command; the platform port N+1 (which can reset the TPM) is used
 * only at start-up, so the monitor's Landlock rules leave it closed. */
int monitor_harden_tcti_port(const char *tcti, uint16_t *out, rp_error *err) RP_MUST_CHECK;
