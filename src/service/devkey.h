/* Device identity public keys as the maker registers them: P-256 SubjectPublicKeyInfo in PEM.
 * Computes the device ID (hex SHA-256 of the DER SubjectPublicKeyInfo) and a canonical PEM. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

#define DEVKEY_ID_HEX_LEN 64
/* DER of a named-curve P-256 SubjectPublicKeyInfo with an uncompressed point: 26 fixed bytes, then
 * the 65-byte point. */
#define DEVKEY_P256_SPKI_LEN 91
#define DEVKEY_P256_POINT_OFFSET 26

/* The DER of PEM when it holds that one common form, or false for anything else (no error: the
 * caller then takes OpenSSL's general decoder, which also names what is wrong). The point is not
 * checked here to lie on the curve. */
bool devkey_p256_spki(const char *pem, size_t len, uint8_t der[DEVKEY_P256_SPKI_LEN]);

/* Check PEM (a P-256 public key, or a certificate whose key is taken) and return its device ID
 * and canonical PEM (malloc'd). Input errors are RP_E_INVALID. */
int devkey_parse(const char *pem, size_t len, char id_hex[DEVKEY_ID_HEX_LEN + 1], char **canonical_pem,
                 rp_error *err) RP_MUST_CHECK;
