/* OpenSSL 3 wrappers (see crypto.h). */
#include "common/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/xalloc.h"

#define KEY_FILE_MAX (64 * 1024)

int rp_sha256_init(rp_sha256 *h, rp_error *err)
{
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
		return rp_error_set_openssl(err, "initialising SHA-256");
	}
	return 0;
}

void rp_sha256_update(rp_sha256 *h, const void *data, size_t len)
{
	/* EVP_DigestUpdate on an initialised SHA-256 context cannot fail for valid pointers. */
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		rp_abort("SHA-256 update failed");
}

int rp_sha256_final(rp_sha256 *h, uint8_t out[RP_SHA256_LEN], rp_error *err)
{
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != RP_SHA256_LEN)
		return rp_error_set_openssl(err, "finishing SHA-256");
	return 0;
}

void rp_sha256_free(rp_sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void rp_sha256_buf(const void *data, size_t len, uint8_t out[RP_SHA256_LEN])
{
	unsigned int n = 0;
	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
		rp_abort("SHA-256 failed");
}

void rp_key_free(rp_key *key)
{
	EVP_PKEY_free(key);
}

rp_key *rp_key_ref(rp_key *key)
{
	/* Fails only on a lock error, which OpenSSL's atomic reference counts do not take. */
	if (EVP_PKEY_up_ref(key) != 1)
		abort();
	return key;
}

EVP_PKEY *rp_key_generate_p256(rp_error *err)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	if (!key)
		rp_error_set_openssl(err, "generating an ECDSA P-256 key");
	return key;
}

bool rp_key_is_p256(EVP_PKEY *key)
{
	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return false;
	char group[64] = "";
	size_t len = 0;
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) != 1)
		return false;
	return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

/* A P-256 key holding only the group, copied for each imported point: copying a group is cheap,
 * building one from its name is not. EVP_PKEY_dup() takes a non-const key, so the template is
 * only touched under a lock. */
static pthread_mutex_t p256_template_lock = PTHREAD_MUTEX_INITIALIZER;
static EVP_PKEY *p256_template;

static EVP_PKEY *p256_params_copy(void)
{
	pthread_mutex_lock(&p256_template_lock);
	if (!p256_template) {
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
			OSSL_PARAM_construct_end(),
		};
		_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
		    EVP_PKEY_fromdata(ctx, &p256_template, EVP_PKEY_KEY_PARAMETERS, params) != 1)
			p256_template = NULL;
	}
	EVP_PKEY *copy = p256_template ? EVP_PKEY_dup(p256_template) : NULL;
	pthread_mutex_unlock(&p256_template_lock);
	return copy;
}

EVP_PKEY *rp_key_from_p256_point(const uint8_t point[RP_P256_POINT_LEN], rp_error *err)
{
	if (point[0] != 0x04) {
		rp_error_set(err, RP_E_INVALID, "public key is not an uncompressed P-256 point");
		return NULL;
	}
	EVP_PKEY *key = p256_params_copy();
	if (!key) {
		rp_error_set_openssl(err, "preparing a P-256 public key");
		return NULL;
	}
	/* The import checks that the point lies on the curve; (0, 0), the only 65-byte form that
	 * could stand for the point at infinity, does not. */
	if (EVP_PKEY_set1_encoded_public_key(key, point, RP_P256_POINT_LEN) != 1) {
		EVP_PKEY_free(key);
		ERR_clear_error();
		rp_error_set(err, RP_E_INVALID, "public key is not a valid P-256 point (not on the curve)");
		return NULL;
	}
	return key;
}

static EVP_PKEY *require_p256(EVP_PKEY *key, const char *what, rp_error *err)
{
	if (!rp_key_is_p256(key)) {
		EVP_PKEY_free(key);
		rp_error_set(err, RP_E_UNSUPPORTED, "%s is not an ECDSA P-256 key (only P-256 is accepted)", what);
		return NULL;
	}
	/* The decoders accept the point at infinity (and, for some encodings, points off the curve);
	 * with Q = infinity every forged signature over any message verifies. P-256 has cofactor 1,
	 * so the quick check (on the curve, not infinity) is the full public-key validation. */
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (!ctx || EVP_PKEY_public_check_quick(ctx) != 1) {
		EVP_PKEY_free(key);
		rp_error_set(err, RP_E_INVALID, "%s is not a valid P-256 public key (point at infinity or not on the curve)",
		             what);
		return NULL;
	}
	return key;
}

static int bio_to_file(BIO *bio, const char *path, mode_t mode, bool noreplace, rp_error *err)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	if (len < 0)
		return rp_error_set_openssl(err, "encoding key for %s", path);
	return noreplace ? rp_write_file_new(path, data, (size_t)len, mode, err)
	                 : rp_write_file_atomic(path, data, (size_t)len, mode, err);
}

static int save_private(EVP_PKEY *key, const char *path, bool noreplace, rp_error *err)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		return rp_error_set_openssl(err, "encoding private key");
	int r = bio_to_file(bio, path, 0600, noreplace, err);
	/* Scrub the PEM copy held in the memory BIO before it is freed. */
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	if (data && len > 0)
		OPENSSL_cleanse(data, (size_t)len);
	return r;
}

int rp_key_save_private_pem(EVP_PKEY *key, const char *path, rp_error *err)
{
	return save_private(key, path, false, err);
}

int rp_key_save_private_pem_new(EVP_PKEY *key, const char *path, rp_error *err)
{
	return save_private(key, path, true, err);
}

int rp_key_save_public_pem(EVP_PKEY *key, const char *path, rp_error *err)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PUBKEY(bio, key) != 1)
		return rp_error_set_openssl(err, "encoding public key");
	return bio_to_file(bio, path, 0644, false, err);
}

/* Encrypted key files are refused rather than prompting on a terminal: Rampart's daemons have no
 * terminal, and a prompt would hang them. */
static int refuse_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)userdata;
	return -1;
}

EVP_PKEY *rp_key_load_private_pem(const char *path, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, KEY_FILE_MAX, &data, &len, err) < 0)
		return NULL;
	_cleanup_bio_ BIO *bio = BIO_new_mem_buf(data, (int)len);
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, refuse_passphrase, NULL) : NULL;
	OPENSSL_cleanse(data, len);
	if (!key) {
		rp_error_set_openssl(err, "%s does not hold an unencrypted PEM private key", path);
		return NULL;
	}
	return require_p256(key, path, err);
}

EVP_PKEY *rp_key_from_public_pem(const char *pem, size_t len, rp_error *err)
{
	if (len > KEY_FILE_MAX) {
		rp_error_set(err, RP_E_LIMIT, "public key PEM is larger than %d bytes", KEY_FILE_MAX);
		return NULL;
	}
	_cleanup_bio_ BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		rp_error_set_openssl(err, "reading public key");
		return NULL;
	}
	EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!key) {
		/* Not a bare public key: accept a certificate and take its key. */
		ERR_clear_error();
		(void)BIO_reset(bio);
		_cleanup_x509_ X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (cert)
			key = X509_get_pubkey(cert);
	}
	if (!key) {
		rp_error_set_openssl(err, "not a PEM public key or certificate");
		return NULL;
	}
	return require_p256(key, "public key", err);
}

EVP_PKEY *rp_key_load_public_pem(const char *path, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, KEY_FILE_MAX, &data, &len, err) < 0)
		return NULL;
	EVP_PKEY *key = rp_key_from_public_pem((const char *)data, len, err);
	if (!key)
		rp_error_prefix(err, "loading %s", path);
	return key;
}

EVP_PKEY *rp_key_from_public_der(const uint8_t *der, size_t len, rp_error *err)
{
	if (len > KEY_FILE_MAX) {
		rp_error_set(err, RP_E_LIMIT, "public key DER is larger than %d bytes", KEY_FILE_MAX);
		return NULL;
	}
	const unsigned char *p = der;
	EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)len);
	if (!key) {
		rp_error_set_openssl(err, "not a DER SubjectPublicKeyInfo");
		return NULL;
	}
	if (p != der + len) {
		EVP_PKEY_free(key);
		rp_error_set(err, RP_E_INVALID, "public key DER has %zu trailing bytes", (size_t)(der + len - p));
		return NULL;
	}
	return require_p256(key, "public key", err);
}

int rp_key_public_der(EVP_PKEY *key, uint8_t **der, size_t *len, rp_error *err)
{
	unsigned char *buf = NULL;
	int n = i2d_PUBKEY(key, &buf);
	if (n <= 0)
		return rp_error_set_openssl(err, "encoding public key as DER");
	*der = xmemdup(buf, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(buf);
	return 0;
}

char *rp_key_public_pem(EVP_PKEY *key, rp_error *err)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PUBKEY(bio, key) != 1) {
		rp_error_set_openssl(err, "encoding public key as PEM");
		return NULL;
	}
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	return xstrndup(data, (size_t)len);
}

int rp_ecdsa_sign_digest(EVP_PKEY *key, const uint8_t digest[RP_SHA256_LEN], uint8_t sig[RP_ECDSA_SIG_MAX],
                         size_t *sig_len, rp_error *err)
{
	if (!rp_key_is_p256(key))
		return rp_error_set(err, RP_E_UNSUPPORTED, "signing key is not ECDSA P-256");
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	size_t len = RP_ECDSA_SIG_MAX;
	if (!ctx || EVP_PKEY_sign_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
	    EVP_PKEY_sign(ctx, sig, &len, digest, RP_SHA256_LEN) != 1)
		return rp_error_set_openssl(err, "signing with ECDSA P-256");
	*sig_len = len;
	return 0;
}

int rp_ecdsa_verify_digest(EVP_PKEY *key, const uint8_t digest[RP_SHA256_LEN], const uint8_t *sig, size_t sig_len,
                           rp_error *err)
{
	if (!rp_key_is_p256(key))
		return rp_error_set(err, RP_E_UNSUPPORTED, "verification key is not ECDSA P-256");
	if (sig_len == 0 || sig_len > RP_ECDSA_SIG_MAX)
		return rp_error_set(err, RP_E_VERIFY, "signature length %zu is not valid for ECDSA P-256", sig_len);
	_cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (!ctx || EVP_PKEY_verify_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1)
		return rp_error_set_openssl(err, "preparing ECDSA verification");
	int r = EVP_PKEY_verify(ctx, sig, sig_len, digest, RP_SHA256_LEN);
	ERR_clear_error();
	if (r != 1)
		return rp_error_set(err, RP_E_VERIFY, "signature does not match");
	return 0;
}

int rp_random_bytes(void *buf, size_t len, rp_error *err)
{
	if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1)
		return rp_error_set_openssl(err, "generating random bytes");
	return 0;
}

bool rp_memeq_consttime(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
