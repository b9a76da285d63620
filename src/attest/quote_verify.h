/* TPM 2.0 quotes without a TPM: build and strictly parse a marshalled TPMS_ATTEST of type
 * TPM_ST_ATTEST_QUOTE, and verify one against a public key, a nonce and replayed PCR values.
 * Pure functions (OpenSSL only): the service verifies device quotes with them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/error.h"

#define QUOTE_PCR_COUNT 24
#define QUOTE_NONCE_MAX 64
#define QUOTE_ATTEST_MAX 1024
#define QUOTE_TPM_GENERATED 0xff544347u
#define QUOTE_ST_ATTEST_QUOTE 0x8018
#define QUOTE_ALG_SHA256 0x000b

typedef struct quote_info {
	uint8_t nonce[QUOTE_NONCE_MAX]; /* extraData */
	size_t nonce_len;
	uint32_t pcr_mask; /* SHA-256 bank selection */
	uint8_t pcr_digest[RP_SHA256_LEN];
	uint64_t clock;
	uint32_t reset_count;
	uint32_t restart_count;
	uint64_t firmware_version;
} quote_info;

/* SHA-256 over the PCR values selected by MASK, in ascending index order (what TPM2_Quote
 * signs as pcrDigest). */
void quote_pcr_digest(uint32_t mask, const uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN],
                      uint8_t out[RP_SHA256_LEN]);

/* Marshal a TPMS_ATTEST quote the way a TPM does (used by the soft backend). SIGNER_NAME is the
 * qualifiedSigner (TPM2B_NAME contents, at most 68 bytes). */
void quote_attest_build(rp_buf *out, const uint8_t *signer_name, size_t signer_name_len,
                        const uint8_t *nonce, size_t nonce_len, uint32_t pcr_mask,
                        const uint8_t pcr_digest[RP_SHA256_LEN], uint64_t clock);

/* Strictly parse a marshalled TPMS_ATTEST: magic, quote type, bounded sizes, exactly one SHA-256
 * PCR selection, no trailing bytes. */
int quote_attest_parse(const uint8_t *attest, size_t len, quote_info *out, rp_error *err) RP_MUST_CHECK;

/* The parsed quote's selection covers REQUIRED_MASK and its pcrDigest equals the digest of VALUES
 * (the replayed PCRs) over the quoted selection. */
int quote_check_pcrs(const quote_info *info, uint32_t required_mask, const uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN],
                     rp_error *err) RP_MUST_CHECK;

/* Verify a quote: the signature (DER ECDSA over SHA-256(ATTEST)) by KEY, extraData == NONCE,
 * the selection covers REQUIRED_MASK, and pcrDigest equals the digest of VALUES (the replayed
 * PCRs) over the quoted selection. OUT (may be NULL) receives the parsed fields. */
int quote_verify(rp_key *key, const uint8_t *attest, size_t attest_len, const uint8_t *sig, size_t sig_len,
                 const uint8_t *nonce, size_t nonce_len, uint32_t required_mask,
                 const uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN], quote_info *out,
                 rp_error *err) RP_MUST_CHECK;
