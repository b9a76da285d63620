/* Self-signed TLS server certificate for rampartd when the operator supplies none (development
 * and tests): P-256, SANs from host names and IP addresses, serverAuth only. */
#pragma once

#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "common/error.h"

#define TLS_CERT_MAX_SANS 16
#define TLS_CERT_MAX_DAYS 825 /* the CA/Browser Forum ceiling; clients may refuse longer */

/* Certificate for KEY (P-256) naming SANS (DNS names, or IPv4/IPv6 literals), valid from NOW
 * (backdated 5 minutes) for DAYS. CN is the first SAN. Caller frees the X509. */
X509 *tls_cert_self_signed(EVP_PKEY *key, const char *const *sans, size_t nsans, int days, time_t now, rp_error *err);
/* The same, as malloc'd PEM. */
char *tls_cert_self_signed_pem(EVP_PKEY *key, const char *const *sans, size_t nsans, int days, time_t now,
                               rp_error *err);
