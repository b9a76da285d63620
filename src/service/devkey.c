/* Device identity public keys (see devkey.h). The common form, an uncompressed P-256
 * SubjectPublicKeyInfo, has one exact 91-byte DER encoding; it is checked byte for byte and the
 * point is checked to be on the curve with a shared EC_GROUP, which is some twenty times faster
 * than OpenSSL 3's generic decoder (bulk registration of a fleet is bound by it). Anything else
 * (a certificate, an unusual but valid encoding) goes through the generic, slower path. Both
 * paths refuse every key that is not a valid P-256 point. */
#include "service/devkey.h"

#include <pthread.h>
#include <string.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/xalloc.h"

/* SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (66 bytes, 0 unused bits) } */
static const uint8_t p256_spki_prefix[DEVKEY_P256_POINT_OFFSET] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                             0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                             0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

static const char pem_begin[] = "-----BEGIN PUBLIC KEY-----";
static const char pem_end[] = "-----END PUBLIC KEY-----";

static EC_GROUP *p256;
static pthread_once_t p256_once = PTHREAD_ONCE_INIT;

static void p256_init(void)
{
	p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
}

static char *pem_from_der(const uint8_t *der, size_t len)
{
	_cleanup_free_ char *b64 = rp_base64_encode(der, len);
	size_t n = strlen(b64);
	size_t cap = sizeof(pem_begin) + sizeof(pem_end) + n + n / 64 + 4;
	char *out = xmalloc(cap);
	size_t pos = (size_t)snprintf(out, cap, "%s\n", pem_begin);
	for (size_t i = 0; i < n; i += 64)
		pos += (size_t)snprintf(out + pos, cap - pos, "%.*s\n", (int)(n - i < 64 ? n - i : 64), b64 + i);
	snprintf(out + pos, cap - pos, "%s\n", pem_end);
	return out;
}

bool devkey_p256_spki(const char *pem, size_t len, uint8_t out[DEVKEY_P256_SPKI_LEN])
{
	const char *b = memmem(pem, len, pem_begin, sizeof(pem_begin) - 1);
	if (!b)
		return false;
	const char *body = b + sizeof(pem_begin) - 1;
	const char *e = memmem(body, len - (size_t)(body - pem), pem_end, sizeof(pem_end) - 1);
	if (!e)
		return false;
	char b64[256];
	size_t n = 0;
	for (const char *p = body; p < e; p++) {
		if (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t')
			continue;
		if (n == sizeof(b64))
			return false;
		b64[n++] = *p;
	}
	_cleanup_free_ uint8_t *der = NULL;
	size_t der_len = 0;
	rp_error ignored = RP_ERROR_INIT;
	if (rp_base64_decode(b64, n, &der, &der_len, &ignored) < 0 || der_len != DEVKEY_P256_SPKI_LEN ||
	    memcmp(der, p256_spki_prefix, sizeof(p256_spki_prefix)) != 0 || der[DEVKEY_P256_POINT_OFFSET] != 0x04)
		return false;
	memcpy(out, der, DEVKEY_P256_SPKI_LEN);
	return true;
}

/* 1 = handled (fast path), 0 = not the common form, -1 = error. */
static int fast_path(const char *pem, size_t len, char id_hex[DEVKEY_ID_HEX_LEN + 1], char **canonical, rp_error *err)
{
	uint8_t der[DEVKEY_P256_SPKI_LEN];
	size_t der_len = sizeof(der);
	if (!devkey_p256_spki(pem, len, der))
		return 0;
	pthread_once(&p256_once, p256_init);
	if (!p256)
		return rp_error_set_openssl(err, "loading the P-256 group");
	EC_POINT *pt = EC_POINT_new(p256);
	/* oct2point refuses a point that is not on the curve (invalid-curve attacks). */
	int ok = pt && EC_POINT_oct2point(p256, pt, der + DEVKEY_P256_POINT_OFFSET, 65, NULL) == 1 && !EC_POINT_is_at_infinity(p256, pt);
	EC_POINT_free(pt);
	if (!ok)
		return rp_error_set(err, RP_E_INVALID, "the public key is not a point on P-256");
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(der, der_len, digest);
	_cleanup_free_ char *hex = rp_hex_encode(digest, sizeof(digest));
	memcpy(id_hex, hex, DEVKEY_ID_HEX_LEN + 1);
	*canonical = pem_from_der(der, der_len);
	return 1;
}

int devkey_parse(const char *pem, size_t len, char id_hex[DEVKEY_ID_HEX_LEN + 1], char **canonical_pem, rp_error *err)
{
	int r = fast_path(pem, len, id_hex, canonical_pem, err);
	if (r != 0)
		return r < 0 ? -1 : 0;
	_cleanup_pkey_ EVP_PKEY *key = rp_key_from_public_pem(pem, len, err);
	if (!key) {
		/* Whatever OpenSSL said, the cause is the caller's input. */
		if (err)
			err->code = RP_E_INVALID;
		return -1;
	}
	_cleanup_free_ char *hex = rp_key_id_hex(key, err);
	if (!hex)
		return -1;
	char *out = rp_key_public_pem(key, err);
	if (!out)
		return -1;
	memcpy(id_hex, hex, DEVKEY_ID_HEX_LEN + 1);
	*canonical_pem = out;
	return 0;
}
