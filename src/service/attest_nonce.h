/* Attestation nonces without a database write (docs/protocol.md "Attestation nonces").
 *
 * A challenge used to insert a row and wait for its fsync before the nonce went out; now the
 * nonce carries its own proof of origin, its expiry and its device binding, MAC'd with a key kept
 * in the state directory (shared by every rampartd instance that shares the state directory).
 * Single use is still enforced by the store: the evidence request records the nonce as used in
 * the same transaction that records the certificates, and a second use finds the row.
 *
 *   nonce = random[8] || expires_at[4] (u32 BE, seconds) || tag_service[10] || tag_device[10]
 *   tag_service = HMAC-SHA256(key, "rampart attestation nonce v1" 0x00 || random || expires_at)[0..10)
 *   tag_device  = HMAC-SHA256(key, "rampart attestation nonce v1 device" 0x00 || random || expires_at
 *                               || device_id (64 hex characters))[0..10)
 *
 * Two tags so that a refusal can say "issued to another device" apart from "never issued". 80-bit
 * tags are checked online only (each guess costs a request and is refused and audited). */
#pragma once

#include <stdint.h>

#include "common/error.h"
#include "service/attestation.h"

#define ATTEST_NONCE_KEY_LEN 32
#define ATTEST_NONCE_KEY_FILE "attestation-nonce.key"

struct attest_nonce_key {
	uint8_t bytes[ATTEST_NONCE_KEY_LEN];
};

/* Read STATE_DIR/attestation-nonce.key, creating it (0600, random) when it does not exist yet.
 * Two instances starting at once end up with the same key: the file is created with link(2),
 * which never replaces, and whoever loses reads the winner's. */
int attest_nonce_key_load(const char *state_dir, struct attest_nonce_key *key, rp_error *err) RP_MUST_CHECK;

/* A fresh nonce for DEVICE_ID (64 lowercase hex characters) that expires at EXPIRES_AT. */
int attest_nonce_issue(const struct attest_nonce_key *key, const char *device_id, int64_t expires_at,
                       uint8_t nonce[EVIDENCE_NONCE_LEN], rp_error *err) RP_MUST_CHECK;

/* What NONCE says about itself when presented by DEVICE_ID: OUT->found when this service issued
 * it, OUT->device_id = DEVICE_ID when it was issued to that device (otherwise a marker that
 * matches no device ID), OUT->expires_at. OUT->used is left false: only the store knows that. */
void attest_nonce_open(const struct attest_nonce_key *key, const char *device_id,
                       const uint8_t nonce[EVIDENCE_NONCE_LEN], struct attest_nonce *out);
