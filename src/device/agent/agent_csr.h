/* Certificate signing requests the device agent sends with its evidence: one fresh P-256 key per
 * certificate, a CSR that asks for nothing the tenant CA would refuse (no extensions at all; the CA
 * sets subject, key usage and extended key usage itself). */
#pragma once

#include <openssl/evp.h>
#include "common/error.h"

/* PEM CSR for KEY with CN = COMMON_NAME (malloc'd), or NULL. */
char *agent_csr_build(EVP_PKEY *key, const char *common_name, rp_error *err);
