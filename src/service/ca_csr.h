/* Checks on certificate signing requests from devices (hostile input): what a CSR may ask
 * for before the tenant CA will certify its key. Pure: no I/O, fuzzed by tests/fuzz/fuzz_csr.c. */
#pragma once

#include <stddef.h>
#include <openssl/evp.h>
#include "common/error.h"

#define CA_CSR_MAX_LEN 8192

/* Check a PEM CSR: size, one PEM request, version 1, named-curve P-256 key on the curve,
 * ecdsa-with-SHA256 signature that verifies, no attribute but one extension request, and no
 * requested extension beyond what the CA grants anyway (basicConstraints CA:FALSE, keyUsage
 * digitalSignature, extendedKeyUsage clientAuth). The subject is not looked at: the CA sets it.
 * Returns the CSR's public key (caller frees), or NULL with ERR filled. */
EVP_PKEY *ca_csr_check(const char *csr_pem, size_t csr_len, rp_error *err);
