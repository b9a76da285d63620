/* The service's TLS certificate and key as libmicrohttpd's TLS layer (GnuTLS) uses them. A P-256
 * key signs its handshakes through libcrypto, whose P-256 code signs in about half the time of the
 * TLS library's own (one signature per connection, so per device attestation; docs/benchmarks.md).
 * The certificate chain and every other part of TLS stay with GnuTLS. Other key types are left to
 * GnuTLS entirely: tls_key_load() says RP_E_UNSUPPORTED and the caller passes the PEM as before. */
#pragma once

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include "common/error.h"

struct tls_key;

/* CERT_PEM: the chain, leaf first (at most 16 certificates); KEY_PEM: the leaf's private key. The
 * key must be the leaf certificate's (refused otherwise, as GnuTLS refuses a mismatched pair). NULL
 * with RP_E_UNSUPPORTED for a key that is not ECDSA P-256. */
struct tls_key *tls_key_load(const char *cert_pem, const char *key_pem, rp_error *err);
void tls_key_free(struct tls_key *key);
/* How many handshake signatures KEY has made (for tests and diagnostics). */
unsigned long tls_key_signatures(const struct tls_key *key);

/* Make KEY the one tls_key_retrieve() hands out (the process serves one certificate; the callback
 * has no argument of its own). KEY must outlive every TLS session; NULL clears it. */
void tls_key_serve(struct tls_key *key);

/* A gnutls_certificate_retrieve_function2: the served chain and key, whatever the peer asked for
 * (a client that cannot check ECDSA fails the handshake, as it would with the PEM). */
int tls_key_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                     const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                     unsigned int *pcert_length, gnutls_privkey_t *pkey);
