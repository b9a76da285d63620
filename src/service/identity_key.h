/* Decoding a device's registered identity key (PEM) cheaply for each attestation. */
#pragma once

#include <stddef.h>
#include <openssl/evp.h>
#include "common/error.h"

/* The P-256 public key in PEM (a public key or a certificate, as rp_key_from_public_pem accepts),
 * or NULL with ERR set. A named-curve P-256 key with an uncompressed point is imported without
 * OpenSSL's generic decoders; anything else takes rp_key_from_public_pem. */
EVP_PKEY *identity_key_from_pem(const char *pem, size_t len, rp_error *err);
