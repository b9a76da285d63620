/* mbedTLS 2.28 implementation of crypto.h, for the device update path that must fit in a few
 * MiB of memory. It mirrors crypto.c (the OpenSSL backend) call for call: same P-256-only policy,
 * same error codes, byte-identical SubjectPublicKeyInfo and therefore key IDs, and the same
 * strict DER signature rule (a non-canonical encoding is refused, so a signature cannot be
 * re-encoded into a second valid form that one backend accepts and the other refuses). */
#include "common/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/constant_time.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "common/encoding.h"
#include "common/error_internal.h"
#include "common/fileio.h"
#include "common/xalloc.h"

#define KEY_FILE_MAX (64 * 1024)
/* Large enough for any P-256 encoding we produce (SPKI 91 bytes, PKCS#8 ~140 bytes, PEM ~250). */
#define KEY_BUF_MAX 1024

struct rp_key {
	mbedtls_pk_context pk;
	unsigned refs; /* rp_key_ref / rp_key_free; keys are not shared between threads */
};

/* RP_E_CRYPTO with mbedTLS's reason for RET appended, like rp_error_set_openssl. */
static int set_mbed(rp_error *err, int ret, const char *fmt, ...) RP_PRINTF(3, 4);
static int set_mbed(rp_error *err, int ret, const char *fmt, ...)
{
	if (!err)
		return -1;
	char reason[200] = "";
	mbedtls_strerror(ret, reason, sizeof(reason));
	va_list ap;
	va_start(ap, fmt);
	rp_error_vformat(err, fmt, ap);
	va_end(ap);
	err->code = RP_E_CRYPTO;
	err->sys_errno = 0;
	rp_error_append(err, ": ");
	rp_error_append(err, reason[0] ? reason : "unknown mbedTLS error");
	return -1;
}

/* --- SHA-256 --- */

/* SHA-256 is Nettle's (see crypto.h): it cannot fail. */
int rp_sha256_init(rp_sha256 *h, rp_error *err)
{
	(void)err;
	sha256_init(&h->ctx);
	return 0;
}

void rp_sha256_update(rp_sha256 *h, const void *data, size_t len)
{
	sha256_update(&h->ctx, len, data);
}

int rp_sha256_final(rp_sha256 *h, uint8_t out[RP_SHA256_LEN], rp_error *err)
{
	(void)err;
	sha256_digest(&h->ctx, RP_SHA256_LEN, out);
	return 0;
}

void rp_sha256_free(rp_sha256 *h)
{
	mbedtls_platform_zeroize(&h->ctx, sizeof(h->ctx));
}

void rp_sha256_buf(const void *data, size_t len, uint8_t out[RP_SHA256_LEN])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, RP_SHA256_LEN, out);
}

/* --- Random numbers: one CTR-DRBG per process, seeded from the kernel --- */

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_ctr_drbg_context rng_drbg;
static pid_t rng_pid; /* 0 until seeded; the process that seeded or last reseeded */

static void rng_atfork_child(void);

static void rng_register_atfork(void)
{
	if (pthread_atfork(NULL, NULL, rng_atfork_child) != 0)
		rp_abort("registering the random generator's fork handler failed");
}

static int kernel_entropy(void *unused, unsigned char *out, size_t len)
{
	(void)unused;
	while (len > 0) {
		ssize_t n = getrandom(out, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
		}
		out += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A forked child inherits the parent's DRBG state; without a reseed both would produce the same
 * "random" bytes (and the same ECDSA blinding values). The atfork handler marks every child for a
 * reseed (a pid check alone misses a grandchild that got its grandparent's pid back) and gives it
 * a lock no other thread of the parent can be holding. */
static void rng_atfork_child(void)
{
	pthread_mutex_init(&rng_lock, NULL);
	if (rng_pid != 0)
		rng_pid = -1;
}

static int rng_fill(unsigned char *out, size_t len)
{
	static const unsigned char personal[] = "rampart ctr-drbg";
	static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
	int ret = 0;
	pthread_once(&atfork_once, rng_register_atfork);
	pthread_mutex_lock(&rng_lock);
	pid_t pid = getpid();
	if (rng_pid == 0) {
		mbedtls_ctr_drbg_init(&rng_drbg);
		ret = mbedtls_ctr_drbg_seed(&rng_drbg, kernel_entropy, NULL, personal, sizeof(personal) - 1);
		if (ret != 0)
			mbedtls_ctr_drbg_free(&rng_drbg);
		else
			rng_pid = pid;
	} else if (rng_pid != pid) {
		ret = mbedtls_ctr_drbg_reseed(&rng_drbg, (const unsigned char *)&pid, sizeof(pid));
		if (ret == 0)
			rng_pid = pid;
	}
	while (ret == 0 && len > 0) {
		size_t n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;
		ret = mbedtls_ctr_drbg_random(&rng_drbg, out, n);
		out += n;
		len -= n;
	}
	pthread_mutex_unlock(&rng_lock);
	return ret;
}

static int rng_cb(void *unused, unsigned char *out, size_t len)
{
	(void)unused;
	return rng_fill(out, len);
}

int rp_random_bytes(void *buf, size_t len, rp_error *err)
{
	int ret = rng_fill(buf, len);
	if (ret != 0)
		return set_mbed(err, ret, "generating random bytes");
	return 0;
}

bool rp_memeq_consttime(const void *a, const void *b, size_t len)
{
	return mbedtls_ct_memcmp(a, b, len) == 0;
}

/* --- Keys --- */

static rp_key *key_new(void)
{
	rp_key *key = xmalloc(sizeof(*key));
	mbedtls_pk_init(&key->pk);
	key->refs = 1;
	return key;
}

rp_key *rp_key_ref(rp_key *key)
{
	key->refs++;
	return key;
}

void rp_key_free(rp_key *key)
{
	if (!key || --key->refs > 0)
		return;
	mbedtls_pk_free(&key->pk); /* zeroises the private scalar */
	free(key);
}

bool rp_key_is_p256(rp_key *key)
{
	if (!key || mbedtls_pk_get_type(&key->pk) != MBEDTLS_PK_ECKEY)
		return false;
	return mbedtls_pk_ec(key->pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

/* mbedTLS fails to parse algorithms and curves it does not know, where OpenSSL parses them and
 * crypto.c then refuses them; both end as RP_E_UNSUPPORTED. */
static bool unsupported_key(int ret)
{
	return ret == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG || ret == MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE ||
	       ret == MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE;
}

static int set_not_p256(rp_error *err, const char *what)
{
	return rp_error_set(err, RP_E_UNSUPPORTED, "%s is not an ECDSA P-256 key (only P-256 is accepted)", what);
}

static rp_key *require_p256(rp_key *key, const char *what, rp_error *err)
{
	if (!rp_key_is_p256(key)) {
		rp_key_free(key);
		set_not_p256(err, what);
		return NULL;
	}
	return key;
}

rp_key *rp_key_generate_p256(rp_error *err)
{
	_cleanup_key_ rp_key *key = key_new();
	int ret = mbedtls_pk_setup(&key->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (ret == 0)
		ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key->pk), rng_cb, NULL);
	if (ret != 0) {
		set_mbed(err, ret, "generating an ECDSA P-256 key");
		return NULL;
	}
	return steal_ptr(key);
}

/* PKCS#8 PrivateKeyInfo around the SEC1 ECPrivateKey, labelled "PRIVATE KEY": the form OpenSSL
 * writes, so key files do not depend on which backend made them. */
static int save_private(rp_key *key, const char *path, bool noreplace, rp_error *err)
{
	if (!rp_key_is_p256(key))
		return rp_error_set(err, RP_E_UNSUPPORTED, "private key is not ECDSA P-256");
	/* A key loaded from public material has d = 0: refuse, as OpenSSL does, instead of writing it. */
	if (mbedtls_ecp_check_privkey(&mbedtls_pk_ec(key->pk)->grp, &mbedtls_pk_ec(key->pk)->d) != 0)
		return rp_error_set(err, RP_E_INVALID, "the key has no private part to save to %s", path);
	unsigned char der[KEY_BUF_MAX];
	unsigned char pem[KEY_BUF_MAX];
	int r = -1;
	int ret = mbedtls_pk_write_key_der(&key->pk, der, sizeof(der));
	if (ret < 0) {
		set_mbed(err, ret, "encoding private key");
		goto out;
	}
	unsigned char *p = der + sizeof(der) - ret;
	size_t len = (size_t)ret;
	size_t alg = 0;
#define ASN1_ADD(total, call)                                                                                          \
	do {                                                                                                           \
		if ((ret = (call)) < 0) {                                                                              \
			set_mbed(err, ret, "encoding private key");                                                    \
			goto out;                                                                                      \
		}                                                                                                      \
		(total) += (size_t)ret;                                                                                \
	} while (0)
	ASN1_ADD(len, mbedtls_asn1_write_len(&p, der, len));
	ASN1_ADD(len, mbedtls_asn1_write_tag(&p, der, MBEDTLS_ASN1_OCTET_STRING));
	ASN1_ADD(alg, mbedtls_asn1_write_oid(&p, der, MBEDTLS_OID_EC_GRP_SECP256R1,
	                                     MBEDTLS_OID_SIZE(MBEDTLS_OID_EC_GRP_SECP256R1)));
	size_t params = alg;
	alg = 0;
	ASN1_ADD(alg, mbedtls_asn1_write_algorithm_identifier(&p, der, MBEDTLS_OID_EC_ALG_UNRESTRICTED,
	                                                      MBEDTLS_OID_SIZE(MBEDTLS_OID_EC_ALG_UNRESTRICTED),
	                                                      params));
	len += alg;
	ASN1_ADD(len, mbedtls_asn1_write_int(&p, der, 0));
	ASN1_ADD(len, mbedtls_asn1_write_len(&p, der, len));
	ASN1_ADD(len, mbedtls_asn1_write_tag(&p, der, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
#undef ASN1_ADD
	size_t pem_len = 0;
	ret = mbedtls_pem_write_buffer("-----BEGIN PRIVATE KEY-----\n", "-----END PRIVATE KEY-----\n", p, len, pem,
	                               sizeof(pem), &pem_len);
	if (ret != 0 || pem_len == 0) {
		set_mbed(err, ret, "encoding private key");
		goto out;
	}
	r = noreplace ? rp_write_file_new(path, pem, pem_len - 1 /* the NUL */, 0600, err)
	              : rp_write_file_atomic(path, pem, pem_len - 1 /* the NUL */, 0600, err);
out:
	mbedtls_platform_zeroize(der, sizeof(der));
	mbedtls_platform_zeroize(pem, sizeof(pem));
	return r;
}

int rp_key_save_private_pem(rp_key *key, const char *path, rp_error *err)
{
	return save_private(key, path, false, err);
}

int rp_key_save_private_pem_new(rp_key *key, const char *path, rp_error *err)
{
	return save_private(key, path, true, err);
}

int rp_key_save_public_pem(rp_key *key, const char *path, rp_error *err)
{
	_cleanup_free_ char *pem = rp_key_public_pem(key, err);
	if (!pem)
		return -1;
	return rp_write_file_atomic(path, pem, strlen(pem), 0644, err);
}

rp_key *rp_key_load_private_pem(const char *path, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, KEY_FILE_MAX, &data, &len, err) < 0)
		return NULL;
	/* mbedTLS parses the PEM forms OpenSSL writes (PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY")
	 * and would fall back to raw DER; crypto.c reads PEM only, so refuse text without a PEM
	 * header. Encrypted keys fail for want of a passphrase: daemons have no terminal. */
	bool is_pem = len >= 11 && memmem(data, len, "-----BEGIN ", 11) != NULL;
	_cleanup_free_ uint8_t *text = xmalloc(len + 1);
	memcpy(text, data, len);
	text[len] = '\0';
	mbedtls_platform_zeroize(data, len);
	_cleanup_key_ rp_key *key = key_new();
	int ret = MBEDTLS_ERR_PEM_NO_HEADER_FOOTER_PRESENT;
	if (is_pem)
		ret = mbedtls_pk_parse_key(&key->pk, text, len + 1, NULL, 0);
	mbedtls_platform_zeroize(text, len + 1);
	if (ret != 0) {
		if (unsupported_key(ret))
			set_not_p256(err, path);
		else
			set_mbed(err, ret, "%s does not hold an unencrypted PEM private key", path);
		return NULL;
	}
	return require_p256(steal_ptr(key), path, err);
}

/* Parses the DER in the first PEM block labelled LABEL of TEXT (NUL-terminated). */
static int pem_block(const char *text, const char *label, mbedtls_pem_context *pem)
{
	char header[64], footer[64];
	snprintf(header, sizeof(header), "-----BEGIN %s-----", label);
	snprintf(footer, sizeof(footer), "-----END %s-----", label);
	size_t used = 0;
	return mbedtls_pem_read_buffer(pem, header, footer, (const unsigned char *)text, NULL, 0, &used);
}

static int key_from_spki_pem(const char *text, rp_key *key)
{
	mbedtls_pem_context pem;
	mbedtls_pem_init(&pem);
	int ret = pem_block(text, "PUBLIC KEY", &pem);
	if (ret == 0) {
		unsigned char *p = pem.buf;
		ret = mbedtls_pk_parse_subpubkey(&p, pem.buf + pem.buflen, &key->pk);
	}
	mbedtls_pem_free(&pem);
	return ret;
}

static int key_from_cert_pem(const char *text, rp_key *key)
{
	mbedtls_pem_context pem;
	mbedtls_pem_init(&pem);
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	int ret = pem_block(text, "CERTIFICATE", &pem);
	if (ret == 0)
		ret = mbedtls_x509_crt_parse_der(&crt, pem.buf, pem.buflen);
	if (ret == 0) {
		/* Re-parse the certificate's raw SubjectPublicKeyInfo into our own context. */
		unsigned char *p = crt.pk_raw.p;
		ret = mbedtls_pk_parse_subpubkey(&p, crt.pk_raw.p + crt.pk_raw.len, &key->pk);
	}
	mbedtls_x509_crt_free(&crt);
	mbedtls_pem_free(&pem);
	return ret;
}

rp_key *rp_key_from_public_pem(const char *pem, size_t len, rp_error *err)
{
	if (len > KEY_FILE_MAX) {
		rp_error_set(err, RP_E_LIMIT, "public key PEM is larger than %d bytes", KEY_FILE_MAX);
		return NULL;
	}
	_cleanup_free_ char *text = xstrndup(pem, len);
	_cleanup_key_ rp_key *key = key_new();
	int ret = key_from_spki_pem(text, key);
	if (ret != 0 && !unsupported_key(ret)) {
		/* Not a bare public key: accept a certificate and take its key. */
		int cert_ret = key_from_cert_pem(text, key);
		if (cert_ret == 0 || ret == MBEDTLS_ERR_PEM_NO_HEADER_FOOTER_PRESENT)
			ret = cert_ret;
	}
	if (ret != 0) {
		if (unsupported_key(ret))
			set_not_p256(err, "public key");
		else
			set_mbed(err, ret, "not a PEM public key or certificate");
		return NULL;
	}
	return require_p256(steal_ptr(key), "public key", err);
}

rp_key *rp_key_load_public_pem(const char *path, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, KEY_FILE_MAX, &data, &len, err) < 0)
		return NULL;
	rp_key *key = rp_key_from_public_pem((const char *)data, len, err);
	if (!key)
		rp_error_prefix(err, "loading %s", path);
	return key;
}

rp_key *rp_key_from_public_der(const uint8_t *der, size_t len, rp_error *err)
{
	if (len > KEY_FILE_MAX) {
		rp_error_set(err, RP_E_LIMIT, "public key DER is larger than %d bytes", KEY_FILE_MAX);
		return NULL;
	}
	_cleanup_key_ rp_key *key = key_new();
	/* mbedtls_pk_parse_subpubkey only reads through P; the cast drops a const it does not need. */
	unsigned char *p = (unsigned char *)der;
	int ret = mbedtls_pk_parse_subpubkey(&p, der + len, &key->pk);
	if (ret != 0) {
		if (unsupported_key(ret))
			set_not_p256(err, "public key");
		else
			set_mbed(err, ret, "not a DER SubjectPublicKeyInfo");
		return NULL;
	}
	if (p != der + len) {
		rp_error_set(err, RP_E_INVALID, "public key DER has %zu trailing bytes", (size_t)(der + len - p));
		return NULL;
	}
	return require_p256(steal_ptr(key), "public key", err);
}

int rp_key_public_der(rp_key *key, uint8_t **der, size_t *len, rp_error *err)
{
	unsigned char buf[KEY_BUF_MAX];
	int n = mbedtls_pk_write_pubkey_der(&key->pk, buf, sizeof(buf));
	if (n <= 0)
		return set_mbed(err, n, "encoding public key as DER");
	*der = xmemdup(buf + sizeof(buf) - n, (size_t)n);
	*len = (size_t)n;
	return 0;
}

char *rp_key_public_pem(rp_key *key, rp_error *err)
{
	unsigned char buf[KEY_BUF_MAX];
	int ret = mbedtls_pk_write_pubkey_pem(&key->pk, buf, sizeof(buf));
	if (ret != 0) {
		set_mbed(err, ret, "encoding public key as PEM");
		return NULL;
	}
	return xstrndup((const char *)buf, sizeof(buf));
}

/* --- ECDSA --- */

int rp_ecdsa_sign_digest(rp_key *key, const uint8_t digest[RP_SHA256_LEN], uint8_t sig[RP_ECDSA_SIG_MAX],
                         size_t *sig_len, rp_error *err)
{
	if (!rp_key_is_p256(key))
		return rp_error_set(err, RP_E_UNSUPPORTED, "signing key is not ECDSA P-256");
	unsigned char buf[MBEDTLS_ECDSA_MAX_LEN];
	size_t len = 0;
	/* Deterministic nonces (RFC 6979) with RNG blinding: a weak device RNG cannot leak the key. */
	int ret = mbedtls_ecdsa_write_signature(mbedtls_pk_ec(key->pk), MBEDTLS_MD_SHA256, digest, RP_SHA256_LEN, buf,
	                                        &len, rng_cb, NULL);
	if (ret != 0)
		return set_mbed(err, ret, "signing with ECDSA P-256");
	if (len > RP_ECDSA_SIG_MAX)
		rp_abort("ECDSA P-256 signature longer than its DER bound");
	memcpy(sig, buf, len);
	*sig_len = len;
	return 0;
}

/* Reads an ECDSA-Sig-Value and accepts it only in its one DER encoding (minimal lengths and
 * integers, no trailing bytes), as OpenSSL's verifier does. */
static bool parse_der_sig(const uint8_t *sig, size_t sig_len, mbedtls_mpi *r, mbedtls_mpi *s)
{
	unsigned char *p = (unsigned char *)sig;
	const unsigned char *end = sig + sig_len;
	size_t len = 0;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
	    p + len != end || mbedtls_asn1_get_mpi(&p, end, r) != 0 || mbedtls_asn1_get_mpi(&p, end, s) != 0 ||
	    p != end)
		return false;
	/* Zero is never a valid r or s, and re-encoding it would read outside AGAIN. */
	if (mbedtls_mpi_cmp_int(r, 0) <= 0 || mbedtls_mpi_cmp_int(s, 0) <= 0)
		return false;
	unsigned char again[MBEDTLS_ECDSA_MAX_LEN];
	unsigned char *q = again + sizeof(again);
	int n_s = mbedtls_asn1_write_mpi(&q, again, s);
	int n_r = n_s < 0 ? n_s : mbedtls_asn1_write_mpi(&q, again, r);
	if (n_s <= 0 || n_r <= 0)
		return false;
	size_t body = (size_t)n_s + (size_t)n_r;
	int n_len = mbedtls_asn1_write_len(&q, again, body);
	int n_tag = n_len < 0 ? n_len
	                      : mbedtls_asn1_write_tag(&q, again, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
	if (n_len < 0 || n_tag < 0)
		return false;
	size_t total = body + (size_t)n_len + (size_t)n_tag;
	return total == sig_len && memcmp(q, sig, sig_len) == 0;
}

int rp_ecdsa_verify_digest(rp_key *key, const uint8_t digest[RP_SHA256_LEN], const uint8_t *sig, size_t sig_len,
                           rp_error *err)
{
	if (!rp_key_is_p256(key))
		return rp_error_set(err, RP_E_UNSUPPORTED, "verification key is not ECDSA P-256");
	if (sig_len == 0 || sig_len > RP_ECDSA_SIG_MAX)
		return rp_error_set(err, RP_E_VERIFY, "signature length %zu is not valid for ECDSA P-256", sig_len);
	mbedtls_mpi r, s;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	bool ok = parse_der_sig(sig, sig_len, &r, &s);
	if (ok) {
		mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
		ok = mbedtls_ecdsa_verify(&ec->grp, digest, RP_SHA256_LEN, &ec->Q, &r, &s) == 0;
	}
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	if (!ok)
		return rp_error_set(err, RP_E_VERIFY, "signature does not match");
	return 0;
}

