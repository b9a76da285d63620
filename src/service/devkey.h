/* Device identity public keys as the maker registers them: P-256 SubjectPublicKeyInfo in PEM.
 * Computes the device ID (hex SHA-256 of the DER SubjectPublicKeyInfo) and a canonical PEM. */
#pragma once

#include <stddef.h>
#include "common/error.h"

#define DEVKEY_ID_HEX_LEN 64

/* Check PEM (a P-256 public key, or a certificate whose key is taken) and return its device ID
 * and canonical PEM (malloc'd). Input errors are RP_E_INVALID. */
int devkey_parse(const char *pem, size_t len, char id_hex[DEVKEY_ID_HEX_LEN + 1], char **canonical_pem,
                 rp_error *err) RP_MUST_CHECK;
