/* Root-of-trust interface: one vtable, two backends (tpm2: a TPM 2.0 through tpm2-tss ESAPI;
 * soft: the same semantics in software, INSECURE, for development and CI). Only the security
 * monitor (and the one-time provisioning command) open a root of trust; an exclusive lock on the
 * backend's state directory enforces that no second process uses it at the same time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/error.h"

#include "device/rot/rot_limits.h"

/* Largest single advance of a counter: counters hold security version numbers (small integers),
 * and on a TPM every step is one NV write, so a huge jump is refused rather than wearing NV. */
#define ROT_COUNTER_MAX_STEP 4096
#define ROT_NONCE_LEN 32
#define ROT_ATTEST_MAX 1024

typedef struct rot rot;

typedef struct rot_config {
	/* tpm2: TCTI configuration string ("swtpm:host=127.0.0.1,port=2321", "device:/dev/tpmrm0"). */
	const char *tcti;
	/* Create the identity (and counters) when missing. Only provisioning sets this; the monitor
	 * refuses to start on an unprovisioned device. */
	bool create;
	/* tpm2 provisioning: leave the TPM's owner authorization as it is (empty) instead of setting
	 * a random one nobody keeps, for devices where other software needs the owner hierarchy. */
	bool keep_owner_auth;
} rot_config;

/* A quote: a marshalled TPMS_ATTEST (type TPM_ST_ATTEST_QUOTE, extraData = the 32 bytes the caller
 * passes, SHA-256 PCR selection and digest) and a DER ECDSA signature by the identity key over
 * SHA-256 of it. The soft backend produces the same structure, so one verifier
 * (src/attest/quote_verify.h) checks both. Quotes are all the identity key signs: there is no
 * operation that signs other data. */
typedef struct rot_quote {
	uint8_t attest[ROT_ATTEST_MAX];
	size_t attest_len;
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t sig_len;
} rot_quote;

struct rot_ops {
	const char *backend_name;
	bool insecure;
	size_t priv_size;
	int (*open)(rot *r, const char *state_dir, const rot_config *cfg, bool *created, rp_error *err);
	void (*close)(rot *r);
	rp_key *(*identity_public_key)(rot *r, rp_error *err);
	int (*pcr_extend)(rot *r, unsigned index, const uint8_t digest[RP_SHA256_LEN], rp_error *err);
	int (*pcr_read)(rot *r, uint32_t mask, uint8_t values[ROT_PCR_COUNT][RP_SHA256_LEN], rp_error *err);
	int (*quote)(rot *r, const uint8_t nonce[ROT_NONCE_LEN], uint32_t mask, rot_quote *out, rp_error *err);
	int (*counter_read)(rot *r, unsigned index, uint64_t *value, rp_error *err);
	int (*counter_advance_to)(rot *r, unsigned index, uint64_t value, rp_error *err);
	int (*random)(rot *r, void *buf, size_t len, rp_error *err);
};

/* Backend by name ("soft", "tpm2"), or NULL. */
const struct rot_ops *rot_backend(const char *name);

/* Open the root of trust whose state lives under STATE_DIR/rot-<backend>/. *created (may be
 * NULL) reports whether a new identity was made (only with cfg->create). */
rot *rot_open(const char *backend, const char *state_dir, const rot_config *cfg, bool *created, rp_error *err);
void rot_close(rot *r);
RP_DEFINE_CLEANUP(rot, rot_close)
#define _cleanup_rot_ _cleanup_(rot_closep)

const char *rot_backend_name(const rot *r);
bool rot_insecure(const rot *r);

/* The identity key's public half (a new reference; the private half never leaves the backend). */
rp_key *rot_identity_public_key(rot *r, rp_error *err);
/* Device ID: SHA-256 of the DER SubjectPublicKeyInfo of the identity public key. */
int rot_device_id(rot *r, uint8_t id[RP_KEY_ID_LEN], rp_error *err) RP_MUST_CHECK;

/* PCR[index] = SHA-256(PCR[index] || digest). */
int rot_pcr_extend(rot *r, unsigned index, const uint8_t digest[RP_SHA256_LEN], rp_error *err) RP_MUST_CHECK;
/* Read the PCRs whose bits are set in MASK into VALUES[index]; other rows are left untouched. */
int rot_pcr_read(rot *r, uint32_t mask, uint8_t values[ROT_PCR_COUNT][RP_SHA256_LEN], rp_error *err) RP_MUST_CHECK;
/* Quote the SHA-256 PCRs in MASK with NONCE as qualifying data. */
int rot_quote_pcrs(rot *r, const uint8_t nonce[ROT_NONCE_LEN], uint32_t mask, rot_quote *out,
                   rp_error *err) RP_MUST_CHECK;
int rot_counter_read(rot *r, unsigned index, uint64_t *value, rp_error *err) RP_MUST_CHECK;
/* Raise counter INDEX to VALUE. Equal is a no-op; lower is refused (RP_E_CONFLICT); a step
 * above ROT_COUNTER_MAX_STEP is refused (RP_E_LIMIT). */
int rot_counter_advance_to(rot *r, unsigned index, uint64_t value, rp_error *err) RP_MUST_CHECK;
/* Random bytes from the root of trust (at most 1024 per call). */
int rot_random(rot *r, void *buf, size_t len, rp_error *err) RP_MUST_CHECK;

/* Backend-internal helpers (rot.c). */
void *rot_priv(rot *r);
/* Take an exclusive, non-blocking lock on DIR/lock; returns the fd. */
int rot_lock_dir(const char *dir, rp_error *err) RP_MUST_CHECK;

extern const struct rot_ops rot_soft_ops;
extern const struct rot_ops rot_tpm2_ops;
