/* identity_key_from_pem: the direct P-256 import must yield the same key the generic decoder does,
 * and must refuse (or hand to the generic decoder) anything that is not exactly that. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/evp.h>
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/macros.h"
#include "common/xalloc.h"
#include "service/identity_key.h"

static void same_key_as_generic_decoder(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	for (int i = 0; i < 20; i++) {
		_cleanup_pkey_ EVP_PKEY *k = rp_key_generate_p256(&err);
		assert_non_null(k);
		_cleanup_free_ char *pem = rp_key_public_pem(k, &err);
		assert_non_null(pem);
		_cleanup_pkey_ EVP_PKEY *fast = identity_key_from_pem(pem, strlen(pem), &err);
		_cleanup_pkey_ EVP_PKEY *slow = rp_key_from_public_pem(pem, strlen(pem), &err);
		assert_non_null(fast);
		assert_non_null(slow);
		assert_int_equal(EVP_PKEY_eq(fast, slow), 1);
		assert_int_equal(EVP_PKEY_eq(fast, k), 1);
		/* It verifies what the private key signs. */
		uint8_t sig[RP_ECDSA_SIG_MAX];
		size_t sig_len = sizeof(sig);
		assert_int_equal(rp_ecdsa_sign(k, (const uint8_t *)"msg", 3, sig, &sig_len, &err), 0);
		assert_int_equal(rp_ecdsa_verify(fast, (const uint8_t *)"msg", 3, sig, sig_len, &err), 0);
	}
}

/* A point off the curve in an otherwise well-formed SPKI is refused, not imported. */
static void off_curve_point_refused(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_pkey_ EVP_PKEY *k = rp_key_generate_p256(&err);
	_cleanup_free_ char *pem = rp_key_public_pem(k, &err);
	assert_non_null(pem);
	/* Decode, flip the last byte of the Y coordinate, re-encode as PEM. */
	const char *b = strchr(pem, '\n') + 1, *e = strstr(pem, "-----END");
	char b64[200];
	size_t n = 0;
	for (const char *p = b; p < e; p++)
		if (*p != '\n')
			b64[n++] = *p;
	_cleanup_free_ uint8_t *der = NULL;
	size_t der_len = 0;
	assert_int_equal(rp_base64_decode(b64, n, &der, &der_len, &err), 0);
	assert_int_equal(der_len, 91);
	der[90] ^= 0x01;
	_cleanup_free_ char *enc = rp_base64_encode(der, der_len);
	_cleanup_free_ char *bad = xasprintf("-----BEGIN PUBLIC KEY-----\n%.64s\n%s\n-----END PUBLIC KEY-----\n", enc,
	                                     enc + 64);
	EVP_PKEY *got = identity_key_from_pem(bad, strlen(bad), &err);
	assert_null(got);
	rp_error_clear(&err);
}

static void garbage_refused(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	static const char *const bad[] = {
		"",
		"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
		"not a key at all",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EVP_PKEY *got = identity_key_from_pem(bad[i], strlen(bad[i]), &err);
		assert_null(got);
		assert_true(err.code != 0);
		rp_error_clear(&err);
	}
}

/* rp_key_from_p256_point: (0, 0), the encoding that could stand for the point at infinity, and
 * anything but the uncompressed form are refused. */
static void point_import_refuses_non_points(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	uint8_t pt[RP_P256_POINT_LEN] = {0x04};
	assert_null(rp_key_from_p256_point(pt, &err));
	assert_int_equal(err.code, RP_E_INVALID);
	rp_error_clear(&err);
	_cleanup_pkey_ EVP_PKEY *k = rp_key_generate_p256(&err);
	size_t n = 0;
	assert_int_equal(EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", pt, sizeof(pt), &n), 1);
	assert_int_equal(n, sizeof(pt));
	pt[0] = 0x02;
	assert_null(rp_key_from_p256_point(pt, &err));
	rp_error_clear(&err);
	pt[0] = 0x04;
	_cleanup_pkey_ EVP_PKEY *back = rp_key_from_p256_point(pt, &err);
	assert_non_null(back);
	assert_int_equal(EVP_PKEY_eq(back, k), 1);
}

/* Request threads import keys at once through one shared template: each gets its own key. */
static void *import_many(void *arg)
{
	EVP_PKEY *k = arg;
	uint8_t pt[RP_P256_POINT_LEN];
	size_t n = 0;
	if (EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", pt, sizeof(pt), &n) != 1)
		return (void *)1;
	for (int i = 0; i < 200; i++) {
		rp_error err = RP_ERROR_INIT;
		EVP_PKEY *got = rp_key_from_p256_point(pt, &err);
		int same = got && EVP_PKEY_eq(got, k) == 1;
		EVP_PKEY_free(got);
		if (!same)
			return (void *)1;
	}
	return NULL;
}

static void point_import_from_many_threads(void **state)
{
	(void)state;
	enum { THREADS = 4 };
	pthread_t t[THREADS];
	EVP_PKEY *keys[THREADS];
	for (int i = 0; i < THREADS; i++) {
		keys[i] = rp_key_generate_p256(NULL);
		assert_non_null(keys[i]);
		assert_int_equal(pthread_create(&t[i], NULL, import_many, keys[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		void *res = (void *)1;
		assert_int_equal(pthread_join(t[i], &res), 0);
		assert_null(res);
		EVP_PKEY_free(keys[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_key_as_generic_decoder),
		cmocka_unit_test(off_curve_point_refused),
		cmocka_unit_test(garbage_refused),
		cmocka_unit_test(point_import_refuses_non_points),
		cmocka_unit_test(point_import_from_many_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
