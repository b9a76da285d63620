/* How many refused attestation attempts reach the audit table. Anyone who knows a device ID (it is
 * in the device's certificates) can send challenges and evidence for it without any credential;
 * each refusal would otherwise be an audit row and an fsync in the device's tenant. Two token
 * buckets bound that: one per device ID (a burst of AUDIT_THROTTLE_BURST refusals, then one every
 * AUDIT_THROTTLE_REFILL_SECONDS) and one for the whole service (AUDIT_THROTTLE_GLOBAL_BURST, then
 * AUDIT_THROTTLE_GLOBAL_PER_SECOND). A refusal over either is counted, not written, and the next
 * audited refusal of that device says how many of its refusals were left out.
 * Per-device buckets live in a fixed table indexed by a keyed hash (the key is random per
 * process, so nobody can pick IDs that collide): memory never grows with requests. A slot whose
 * bucket is still refilling is not handed to another ID; that ID shares the bucket instead, so
 * alternating IDs cannot reset a bucket to full. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define AUDIT_THROTTLE_BURST 10
#define AUDIT_THROTTLE_REFILL_SECONDS 6
#define AUDIT_THROTTLE_GLOBAL_BURST 200
#define AUDIT_THROTTLE_GLOBAL_PER_SECOND 10
#define AUDIT_THROTTLE_SLOTS 4096

/* Whether a refusal for DEVICE_ID at NOW (Unix seconds) is audited. When it is, *SUPPRESSED is
 * the number of refusals left out on its bucket since the last audited one (0 for none; they are
 * this device's own unless it shares a slot). Thread-safe. */
bool audit_throttle_admit(const char *device_id, int64_t now, uint64_t *suppressed);
