/* The service's TLS key signing through libcrypto (see tls_key.h). */
#include "service/tls_key.h"

#include <stdatomic.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/crypto.h"
#include "common/xalloc.h"

#define CHAIN_MAX 16

struct tls_key {
	gnutls_pcert_st chain[CHAIN_MAX];
	unsigned int chain_len;
	gnutls_privkey_t privkey; /* signs through sign_hash() with KEY */
	EVP_PKEY *key;
	atomic_ulong signatures;
};

static struct tls_key *serving;

/* What GnuTLS asks of an external key: its algorithm and size, and whether it can make a given
 * signature. Only ECDSA over SHA-256 digests (TLS 1.3's ecdsa_secp256r1_sha256, and TLS 1.2's
 * ECDSA with SHA-256); -1 for anything else asked, as GnuTLS requires. */
static int key_info(gnutls_privkey_t privkey, unsigned int flags, void *userdata)
{
	(void)privkey;
	(void)userdata;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return GNUTLS_PK_ECDSA;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return 256;
	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO) {
		gnutls_sign_algorithm_t algo = GNUTLS_FLAGS_TO_SIGN_ALGO(flags);
		return algo == GNUTLS_SIGN_ECDSA_SECP256R1_SHA256 || algo == GNUTLS_SIGN_ECDSA_SHA256;
	}
	if (flags & GNUTLS_PRIVKEY_INFO_SIGN_ALGO)
		return GNUTLS_SIGN_ECDSA_SECP256R1_SHA256;
	return -1;
}

/* HASH is the SHA-256 digest of what the handshake signs; the signature is DER (ECDSA-Sig-Value),
 * in memory GnuTLS frees. */
static int sign_hash(gnutls_privkey_t privkey, gnutls_sign_algorithm_t algo, void *userdata, unsigned int flags,
                     const gnutls_datum_t *hash, gnutls_datum_t *signature)
{
	(void)privkey;
	(void)flags;
	struct tls_key *k = userdata;
	if ((algo != GNUTLS_SIGN_ECDSA_SECP256R1_SHA256 && algo != GNUTLS_SIGN_ECDSA_SHA256) || !hash ||
	    hash->size != RP_SHA256_LEN)
		return GNUTLS_E_INVALID_REQUEST;
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t len = 0;
	rp_error err = RP_ERROR_INIT;
	if (rp_ecdsa_sign_digest(k->key, hash->data, sig, &len, &err) < 0)
		return GNUTLS_E_PK_SIGN_FAILED;
	signature->data = gnutls_malloc(len);
	if (!signature->data)
		return GNUTLS_E_MEMORY_ERROR;
	memcpy(signature->data, sig, len);
	signature->size = (unsigned int)len;
	atomic_fetch_add_explicit(&k->signatures, 1, memory_order_relaxed);
	return 0;
}

unsigned long tls_key_signatures(const struct tls_key *k)
{
	return atomic_load_explicit(&k->signatures, memory_order_relaxed);
}

void tls_key_free(struct tls_key *k)
{
	if (!k)
		return;
	if (serving == k)
		serving = NULL;
	for (unsigned int i = 0; i < k->chain_len; i++)
		gnutls_pcert_deinit(&k->chain[i]);
	if (k->privkey)
		gnutls_privkey_deinit(k->privkey);
	EVP_PKEY_free(k->key);
	free(k);
}

static EVP_PKEY *key_read(const char *key_pem, rp_error *err)
{
	_cleanup_bio_ BIO *bio = BIO_new_mem_buf(key_pem, -1);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"") : NULL;
	if (!key)
		rp_error_set_openssl(err, "reading the TLS private key");
	return key;
}

/* Whether KEY is the private half of the first certificate in CERT_PEM. */
static int key_matches_leaf(const char *cert_pem, EVP_PKEY *key, rp_error *err)
{
	_cleanup_bio_ BIO *bio = BIO_new_mem_buf(cert_pem, -1);
	_cleanup_x509_ X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (!leaf)
		return rp_error_set_openssl(err, "reading the TLS certificate");
	EVP_PKEY *pub = X509_get0_pubkey(leaf);
	if (!pub || EVP_PKEY_eq(pub, key) != 1) {
		ERR_clear_error();
		return rp_error_set(err, RP_E_INVALID, "the TLS private key is not the key of the TLS certificate");
	}
	return 0;
}

struct tls_key *tls_key_load(const char *cert_pem, const char *key_pem, rp_error *err)
{
	EVP_PKEY *key = key_read(key_pem, err);
	if (!key)
		return NULL;
	if (!rp_key_is_p256(key)) {
		EVP_PKEY_free(key);
		rp_error_set(err, RP_E_UNSUPPORTED, "the TLS key is not ECDSA P-256");
		return NULL;
	}
	struct tls_key *k = xcalloc(1, sizeof(*k));
	k->key = key;
	if (key_matches_leaf(cert_pem, key, err) < 0)
		goto fail;
	k->chain_len = CHAIN_MAX;
	gnutls_datum_t pem = {.data = (unsigned char *)cert_pem, .size = (unsigned int)strlen(cert_pem)};
	int rc = gnutls_pcert_list_import_x509_raw(k->chain, &k->chain_len, &pem, GNUTLS_X509_FMT_PEM,
	                                           GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (rc < 0) {
		k->chain_len = 0;
		rp_error_set(err, RP_E_INVALID, "reading the TLS certificate chain (leaf first, at most %d): %s", CHAIN_MAX,
		             gnutls_strerror(rc));
		goto fail;
	}
	if ((rc = gnutls_privkey_init(&k->privkey)) < 0 ||
	    (rc = gnutls_privkey_import_ext4(k->privkey, k, NULL, sign_hash, NULL, NULL, key_info, 0)) < 0) {
		rp_error_set(err, RP_E_INTERNAL, "setting up the TLS key: %s", gnutls_strerror(rc));
		goto fail;
	}
	return k;
fail:
	tls_key_free(k);
	return NULL;
}

void tls_key_serve(struct tls_key *key)
{
	serving = key;
}

int tls_key_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                     const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                     unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	(void)session;
	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	struct tls_key *k = serving;
	if (!k)
		return -1;
	*pcert = k->chain;
	*pcert_length = k->chain_len;
	*pkey = k->privkey;
	return 0;
}
