/* The agent daemon's side of its workers: rampart-agent keeps only its schedule, its local API
 * and the last results; every job that talks to the service (attestation with certificate
 * renewal, update checks) runs in a short-lived rampart-agent-work process, so the long-running
 * process maps neither libcurl nor libcrypto and a fault in the network path ends with that job. */
#pragma once

#include <signal.h>

#include "common/error.h"
#include "device/agent/agent_worker_msg.h"

#define AGENT_WORKER_BINARY "rampart-agent-work"
/* The update job's worker: built against mbedTLS with no root-of-trust code, so the process that
 * downloads and installs stays small (docs/decisions.md). rampart-agent-work also runs updates
 * and is used when this one is not installed. */
#define AGENT_UPDATE_WORKER_BINARY "rampart-agent-update"
/* The worker's end of the result pipe. */
#define AGENT_WORKER_RESULT_FD 3
#define AGENT_WORKER_RESULT_FD_ARG "3"

/* The worker binary BINARY next to the running executable (malloc'd), checked to be executable. */
char *agent_worker_path(const char *binary, rp_error *err);

/* Run ARGV[0] = PATH with the result pipe on AGENT_WORKER_RESULT_FD and wait for it, at most
 * TIMEOUT_S seconds (then it is killed). When *STOP becomes set while waiting, the worker gets
 * SIGTERM. Returns 0 with RES from the worker's message, or -1 when the worker sent no valid
 * message (crashed, killed, timed out, or sent garbage): ERR says what happened. */
int agent_worker_run(const char *path, char *const argv[], int timeout_s, const volatile sig_atomic_t *stop,
                     struct agent_worker_result *res, rp_error *err) RP_MUST_CHECK;
/* The peak resident set (KiB, the kernel's ru_maxrss) of the last worker agent_worker_run waited
 * for, or 0 when none has exited yet. */
long agent_worker_last_peak_rss_kib(void);
