/* The result a short-lived agent worker (rampart-agent-work) sends its parent (rampart-agent)
 * over a pipe when its job ends: one small binary message, version 1 (docs/protocol.md "Agent
 * worker result"). Pure encoding and a length-checked parser that rejects short, oversized or
 * trailing data, so a worker that misbehaves costs the daemon one failed round, never its state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "common/error.h"

#define AGENT_WORKER_MSG_VERSION 1
#define AGENT_WORKER_DEVICE_ID_MAX 64
#define AGENT_WORKER_REASON_MAX (RP_ERROR_MESSAGE_MAX - 1)
/* version, kind, ok; attest: two times, id; update: five counters and a flag; then the reason. */
#define AGENT_WORKER_MSG_MAX (3 + 16 + 1 + AGENT_WORKER_DEVICE_ID_MAX + 2 + AGENT_WORKER_REASON_MAX)

enum agent_worker_kind { AGENT_WORKER_ATTEST = 1, AGENT_WORKER_UPDATE = 2 };

struct agent_worker_result {
	enum agent_worker_kind kind;
	bool ok;
	/* attest */
	int64_t not_before, not_after;
	char device_id[AGENT_WORKER_DEVICE_ID_MAX + 1];
	/* update */
	uint32_t targets, installed, skipped, failed, deferred;
	bool os_installed;
	/* why it failed (empty on success): printable text, no NUL */
	char reason[AGENT_WORKER_REASON_MAX + 1];
};

/* Replace, in place, every byte of the NUL-terminated S that may not travel in a reason with '?':
 * controls and all non-ASCII bytes. An error chain is cut at a byte limit and may end inside a
 * UTF-8 character; after this it is printable ASCII, so JSON encoders and log lines accept it. */
void agent_worker_reason_sanitize(char *s);

/* Append the message for RES to OUT (a reason longer than the maximum is cut). */
void agent_worker_msg_encode(const struct agent_worker_result *res, rp_buf *out);

/* Parse exactly LEN bytes into RES. Returns -1 (ERR says why) on a wrong version or kind, a short,
 * long or trailing message, an ok flag other than 0/1, a device ID that is not lowercase hex, or a
 * reason with control bytes. */
int agent_worker_msg_parse(const uint8_t *data, size_t len, struct agent_worker_result *res,
                           rp_error *err) RP_MUST_CHECK;
