/* Cryptography: streaming SHA-256, ECDSA P-256 keys, signatures and key IDs. Two backends
 * implement this header: OpenSSL 3 (crypto.c, the default) and mbedTLS 2.28 (crypto_mbedtls.c,
 * built with RP_CRYPTO_MBEDTLS for the memory-bounded device update path). Both produce the same
 * key IDs and DER signatures. Only P-256 keys are accepted anywhere a key is loaded, so a caller
 * cannot be handed an RSA or other-curve key that would change the security argument. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef RP_CRYPTO_MBEDTLS
#include <nettle/sha2.h>
#else
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/bio.h>
#endif
#include "common/error.h"

#define RP_SHA256_LEN 32
#define RP_KEY_ID_LEN 32
#define RP_ECDSA_SIG_MAX 72 /* DER ECDSA-Sig-Value for P-256 */

#ifdef RP_CRYPTO_MBEDTLS
/* Opaque: callers never see the library's key structure. */
typedef struct rp_key rp_key;

/* SHA-256 through Nettle, which uses the CPU's SHA instructions where present (4x mbedTLS's C
 * code on x86-64 with SHA-NI): the update path hashes every downloaded byte twice. */
typedef struct rp_sha256 {
	struct sha256_ctx ctx;
} rp_sha256;
#else
/* Under OpenSSL a key is an EVP_PKEY, so service-side code may keep using OpenSSL calls on it. */
typedef EVP_PKEY rp_key;

RP_DEFINE_CLEANUP(EVP_PKEY, EVP_PKEY_free)
RP_DEFINE_CLEANUP(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
RP_DEFINE_CLEANUP(EVP_MD_CTX, EVP_MD_CTX_free)
RP_DEFINE_CLEANUP(BIO, BIO_free_all)
RP_DEFINE_CLEANUP(X509, X509_free)
#define _cleanup_pkey_ _cleanup_(EVP_PKEY_freep)
#define _cleanup_bio_ _cleanup_(BIO_free_allp)
#define _cleanup_x509_ _cleanup_(X509_freep)

typedef struct rp_sha256 {
	EVP_MD_CTX *ctx;
} rp_sha256;

#define RP_P256_POINT_LEN 65
/* A P-256 public key from its uncompressed point (0x04 || X || Y), refused unless the point lies
 * on the curve. Several times cheaper than OpenSSL 3.0's decoders or a by-name import, which
 * build the curve's group afresh for every key: the service imports three keys per attestation. */
EVP_PKEY *rp_key_from_p256_point(const uint8_t point[RP_P256_POINT_LEN], rp_error *err);
#endif

void rp_key_free(rp_key *key);
/* Another reference to KEY, released with rp_key_free. */
rp_key *rp_key_ref(rp_key *key);
RP_DEFINE_CLEANUP(rp_key, rp_key_free)
#define _cleanup_key_ _cleanup_(rp_key_freep)

int rp_sha256_init(rp_sha256 *h, rp_error *err) RP_MUST_CHECK;
void rp_sha256_update(rp_sha256 *h, const void *data, size_t len);
int rp_sha256_final(rp_sha256 *h, uint8_t out[RP_SHA256_LEN], rp_error *err) RP_MUST_CHECK;
void rp_sha256_free(rp_sha256 *h);
void rp_sha256_buf(const void *data, size_t len, uint8_t out[RP_SHA256_LEN]);
/* Hash a whole file; returns its size in *size when non-NULL. */
int rp_sha256_file(const char *path, uint8_t out[RP_SHA256_LEN], uint64_t *size, rp_error *err) RP_MUST_CHECK;

rp_key *rp_key_generate_p256(rp_error *err);
/* True when KEY is an EC key on P-256. */
bool rp_key_is_p256(rp_key *key);

/* PEM files. Private keys are written 0600 atomically; loading refuses non-P-256 keys. */
int rp_key_save_private_pem(rp_key *key, const char *path, rp_error *err) RP_MUST_CHECK;
/* The same, but PATH must not exist yet (RP_E_EXISTS, the file untouched): a new key never
 * silently replaces one that signs existing packages. */
int rp_key_save_private_pem_new(rp_key *key, const char *path, rp_error *err) RP_MUST_CHECK;
int rp_key_save_public_pem(rp_key *key, const char *path, rp_error *err) RP_MUST_CHECK;
rp_key *rp_key_load_private_pem(const char *path, rp_error *err);
/* Accepts a PUBLIC KEY PEM file (or a certificate, whose public key is taken). */
rp_key *rp_key_load_public_pem(const char *path, rp_error *err);
rp_key *rp_key_from_public_pem(const char *pem, size_t len, rp_error *err);
rp_key *rp_key_from_public_der(const uint8_t *der, size_t len, rp_error *err);

/* SubjectPublicKeyInfo, DER (malloc'd) and PEM (malloc'd NUL-terminated string). */
int rp_key_public_der(rp_key *key, uint8_t **der, size_t *len, rp_error *err) RP_MUST_CHECK;
char *rp_key_public_pem(rp_key *key, rp_error *err);
/* Key ID: SHA-256 of the DER SubjectPublicKeyInfo. */
int rp_key_id(rp_key *key, uint8_t out[RP_KEY_ID_LEN], rp_error *err) RP_MUST_CHECK;
/* Key ID as 64 lowercase hex characters (malloc'd), or NULL. */
char *rp_key_id_hex(rp_key *key, rp_error *err);

/* ECDSA over a SHA-256 digest computed by the caller (streaming); signatures are DER. */
int rp_ecdsa_sign_digest(rp_key *key, const uint8_t digest[RP_SHA256_LEN], uint8_t sig[RP_ECDSA_SIG_MAX],
                         size_t *sig_len, rp_error *err) RP_MUST_CHECK;
/* 0 when valid; RP_E_VERIFY when the signature does not match. */
int rp_ecdsa_verify_digest(rp_key *key, const uint8_t digest[RP_SHA256_LEN], const uint8_t *sig, size_t sig_len,
                           rp_error *err) RP_MUST_CHECK;
/* Convenience: hash MSG with SHA-256, then sign / verify. */
int rp_ecdsa_sign(rp_key *key, const void *msg, size_t len, uint8_t sig[RP_ECDSA_SIG_MAX], size_t *sig_len,
                  rp_error *err) RP_MUST_CHECK;
int rp_ecdsa_verify(rp_key *key, const void *msg, size_t len, const uint8_t *sig, size_t sig_len,
                    rp_error *err) RP_MUST_CHECK;

int rp_random_bytes(void *buf, size_t len, rp_error *err) RP_MUST_CHECK;
/* Constant-time comparison for secrets and MACs. */
bool rp_memeq_consttime(const void *a, const void *b, size_t len);
