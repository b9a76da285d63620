/* The measurement log: what was extended into PCRs 8..15 since boot, kept next to the PCRs in
 * STATE/monitor/eventlog.bin so that it survives a monitor restart and can be written by the boot
 * stage, which measures the OS bundle before the monitor runs. */
#pragma once

#include <stdbool.h>

#include "attest/evidence.h"
#include "common/bytes.h"
#include "common/error.h"
#include "device/rot/rot.h"

/* STATE/monitor/eventlog.bin (malloc'd). */
char *monitor_eventlog_path(const char *state_dir);

/* Append the log's entries (u16 count, then pcr u8, name str8, version str8, sha256[32]). */
void monitor_eventlog_encode_entries(const evidence *log, rp_buf *out);
int monitor_eventlog_save(const char *path, const evidence *log, rp_error *err) RP_MUST_CHECK;

/* Load PATH into LOG (entries only) and bring it into agreement with the PCRs: the same boot (the
 * log replays to PCRs 8..15) keeps it; a fresh boot (PCRs 8..15 all zero) starts an empty log;
 * anything else sets *consistent = false (attestation must then be refused until the next boot).
 * A missing or damaged file counts as an empty log. Fails only when the PCRs cannot be read or
 * the reset log cannot be written. */
int monitor_eventlog_open(rot *r, const char *path, evidence *log, bool *consistent, rp_error *err) RP_MUST_CHECK;

/* Extend PCR with DIGEST and record it: the PCR first, then the log (a crash in between leaves a
 * log that does not replay, which fails closed). */
int monitor_eventlog_extend(rot *r, const char *path, evidence *log, unsigned pcr, const char *name,
                            const char *version, const uint8_t digest[RP_SHA256_LEN], rp_error *err) RP_MUST_CHECK;

/* For a process that holds the root of trust while the monitor is not running (the boot stage):
 * open the log under STATE_DIR, extend and record one measurement. When the log is already
 * inconsistent the PCR is still extended (it must record what runs) and the log left alone;
 * the monitor then refuses ATTEST until the next boot. */
int monitor_eventlog_measure(rot *r, const char *state_dir, unsigned pcr, const char *name, const char *version,
                             const uint8_t digest[RP_SHA256_LEN], rp_error *err) RP_MUST_CHECK;
