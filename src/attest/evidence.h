/* Attestation evidence (format version 2): what a device proves about itself, built by the security
 * monitor and signed by one TPM quote whose qualifying data is the SHA-256 of the claims (every
 * byte before the quote, the service's nonce among them), checked by the service. Canonical binary
 * encoding (docs/protocol.md, "Attestation evidence"); decoding is strict and bounded because the
 * bytes come from the network. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/error.h"
#include "attest/quote_verify.h"

#define EVIDENCE_MAGIC 0x52504556u /* "RPEV" */
#define EVIDENCE_VERSION 2
#define EVIDENCE_NONCE_LEN 32
/* Channel-bound attestation (docs/protocol.md): the nonce is the TLS 1.3 exporter value of the
 * connection the evidence is sent on (RFC 8446 section 7.5), this label, empty context, 32 bytes. */
#define EVIDENCE_TLS_EXPORTER_LABEL "EXPORTER-rampart-attestation-nonce"
#define EVIDENCE_NONCE_BINDING_TLS "tls-exporter"
#define EVIDENCE_MAX_LEN 49152
#define EVIDENCE_MAX_LOG 128
#define EVIDENCE_MAX_IMAGES 64
#define EVIDENCE_MAX_COUNTERS 8
#define EVIDENCE_BACKEND_MAX 16
#define EVIDENCE_NAME_MAX 64
#define EVIDENCE_VERSION_MAX 64
#define EVIDENCE_GUID_LEN 36
/* Rampart measures into PCRs 8..15 (0..7 belong to firmware); quotes cover exactly these. */
#define EVIDENCE_PCR_FIRST 8
#define EVIDENCE_PCR_LAST 15
#define EVIDENCE_PCR_MASK 0x0000ff00u

typedef struct evidence_measurement {
	uint8_t pcr;
	char name[EVIDENCE_NAME_MAX + 1];       /* component: "os-bundle", "rampart-agent", ... */
	char version[EVIDENCE_VERSION_MAX + 1]; /* may be empty */
	uint8_t digest[RP_SHA256_LEN];          /* SHA-256 of what was measured */
} evidence_measurement;

typedef struct evidence_image {
	char id[EVIDENCE_GUID_LEN + 1]; /* lowercase GUID */
	char version[EVIDENCE_VERSION_MAX + 1];
} evidence_image;

typedef struct evidence_counter {
	uint8_t index;
	uint64_t value;
} evidence_counter;

typedef struct evidence {
	char backend[EVIDENCE_BACKEND_MAX + 1];
	bool insecure;
	uint8_t device_id[RP_KEY_ID_LEN];
	uint8_t nonce[EVIDENCE_NONCE_LEN];
	evidence_measurement *log; /* in extend order */
	size_t n_log;
	evidence_image *images; /* sorted by id, unique */
	size_t n_images;
	evidence_counter counters[EVIDENCE_MAX_COUNTERS]; /* sorted by index, unique */
	size_t n_counters;
	uint8_t quote_attest[QUOTE_ATTEST_MAX]; /* marshalled TPMS_ATTEST */
	size_t quote_attest_len;
	uint8_t quote_sig[RP_ECDSA_SIG_MAX]; /* identity key over SHA-256 of quote_attest */
	size_t quote_sig_len;
} evidence;

/* Character-set checks shared with the monitor protocol (LEN bytes, not NUL-terminated). */
bool evidence_name_ok(const char *s, size_t len);
bool evidence_version_ok(const char *s, size_t len);
bool evidence_guid_ok(const char *s, size_t len);

void evidence_init(evidence *ev);
void evidence_free(evidence *ev);

/* Builders; each validates its input (names, versions, GUIDs, PCR range, order, limits). */
int evidence_set_backend(evidence *ev, const char *backend, bool insecure, rp_error *err) RP_MUST_CHECK;
int evidence_add_measurement(evidence *ev, unsigned pcr, const char *name, const char *version,
                             const uint8_t digest[RP_SHA256_LEN], rp_error *err) RP_MUST_CHECK;
/* Images are kept sorted by ID; a duplicate ID is refused. */
int evidence_add_image(evidence *ev, const char *id, const char *version, rp_error *err) RP_MUST_CHECK;
/* Counters must be added in ascending index order. */
int evidence_add_counter(evidence *ev, unsigned index, uint64_t value, rp_error *err) RP_MUST_CHECK;

/* The claims (every field before the quote) and their SHA-256, the quote's qualifying data. */
int evidence_encode_claims(const evidence *ev, rp_buf *out, rp_error *err) RP_MUST_CHECK;
int evidence_claims_digest(const evidence *ev, uint8_t out[RP_SHA256_LEN], rp_error *err) RP_MUST_CHECK;
/* The whole encoding: claims, quote and its signature. */
int evidence_encode(const evidence *ev, rp_buf *out, rp_error *err) RP_MUST_CHECK;
/* Strict decoding of untrusted bytes: size limit, magic, version, every length and character set,
 * order and uniqueness, no trailing bytes. Free OUT with evidence_free even on failure. */
int evidence_decode(const uint8_t *data, size_t len, evidence *out, rp_error *err) RP_MUST_CHECK;

/* Replay the measurement log from all-zero PCRs. */
void evidence_replay(const evidence *ev, uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN]);

/* Verify evidence against the device's registered public key and the nonce the service issued:
 * device ID is the key's ID, then evidence_verify_signature, then evidence_verify_quote. */
int evidence_verify(const evidence *ev, rp_key *key, const uint8_t nonce[EVIDENCE_NONCE_LEN],
                    rp_error *err) RP_MUST_CHECK;

/* The quote is signed by KEY and its qualifying data is the digest of these claims: nothing in
 * the evidence was changed after the device signed it, and KEY (the registered one) signed it. */
int evidence_verify_signature(const evidence *ev, rp_key *key, rp_error *err) RP_MUST_CHECK;

/* For evidence whose signature was verified: it answers NONCE, its backend and insecure flag
 * agree, and the quote covers exactly PCRs 8..15 whose values equal the replayed log. */
int evidence_verify_quote(const evidence *ev, const uint8_t nonce[EVIDENCE_NONCE_LEN], rp_error *err) RP_MUST_CHECK;

/* A JSON view for logs, audit records and `rampart-os evidence show`. */
json_t *evidence_to_json(const evidence *ev);
