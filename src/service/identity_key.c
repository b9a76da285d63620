/* Decoding a device's registered identity key for each attestation. OpenSSL 3.0's PEM/DER decoder
 * set-up costs several times an ECDSA verification, so the common form (a named-curve P-256
 * SubjectPublicKeyInfo with an uncompressed point) is taken apart here and imported directly. */
#include "service/identity_key.h"

#include <string.h>
#include <stdbool.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/macros.h"

#define PEM_BEGIN "-----BEGIN PUBLIC KEY-----"
#define PEM_END "-----END PUBLIC KEY-----"
#define POINT_LEN 65

/* DER of SubjectPublicKeyInfo { id-ecPublicKey, prime256v1 } up to the point's BIT STRING content. */
static const uint8_t spki_p256_prefix[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                           0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};

/* The point of a canonical P-256 PEM public key, or false for anything else (no error: the caller
 * then takes the general decoder, which also names what is wrong). */
static bool p256_point(const char *pem, size_t len, uint8_t point[POINT_LEN])
{
	size_t bl = strlen(PEM_BEGIN), el = strlen(PEM_END);
	if (len < bl + el || memcmp(pem, PEM_BEGIN, bl) != 0)
		return false;
	const char *p = pem + bl, *end = pem + len;
	char b64[160];
	size_t n = 0;
	for (; p < end && *p != '-'; p++) {
		if (*p == '\n' || *p == '\r')
			continue;
		if (n == sizeof(b64))
			return false;
		b64[n++] = *p;
	}
	if ((size_t)(end - p) < el || memcmp(p, PEM_END, el) != 0)
		return false;
	for (p += el; p < end; p++)
		if (*p != '\n' && *p != '\r')
			return false;
	rp_error e = RP_ERROR_INIT;
	_cleanup_free_ uint8_t *der = NULL;
	size_t der_len = 0;
	if (rp_base64_decode(b64, n, &der, &der_len, &e) < 0) {
		rp_error_clear(&e);
		return false;
	}
	if (der_len != sizeof(spki_p256_prefix) + POINT_LEN ||
	    memcmp(der, spki_p256_prefix, sizeof(spki_p256_prefix)) != 0 || der[sizeof(spki_p256_prefix)] != 0x04)
		return false;
	memcpy(point, der + sizeof(spki_p256_prefix), POINT_LEN);
	return true;
}

EVP_PKEY *identity_key_from_pem(const char *pem, size_t len, rp_error *err)
{
	uint8_t point[POINT_LEN];
	if (p256_point(pem, len, point)) {
		/* The import checks that the point lies on the curve. */
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
			OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)),
			OSSL_PARAM_construct_end(),
		};
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		EVP_PKEY *key = NULL;
		int ok = ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
		         EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
		EVP_PKEY_CTX_free(ctx);
		if (ok && rp_key_is_p256(key))
			return key;
		EVP_PKEY_free(key);
		ERR_clear_error();
	}
	return rp_key_from_public_pem(pem, len, err);
}
