/* Unit tests for capability files (common/capability.c): signing, strict parsing, and each way
 * verification fails closed (signature, device, expiry, clock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/capability.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/xalloc.h"

#define DEV_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DEV_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define NOW INT64_C(1800000000)

static EVP_PKEY *signer, *other, *devkey;

static int setup(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	signer = rp_key_generate_p256(&err);
	other = rp_key_generate_p256(&err);
	devkey = rp_key_generate_p256(&err);
	return signer && other && devkey ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(signer);
	EVP_PKEY_free(other);
	EVP_PKEY_free(devkey);
	return 0;
}

/* A document for DEV_A issued at NOW (expiring at EXPIRES, 0: never) with one development key. */
static char *issue(EVP_PKEY *key, const char *device, int64_t issued, int64_t expires)
{
	rp_error err = RP_ERROR_INIT;
	struct capability c;
	memset(&c, 0, sizeof(c));
	snprintf(c.type, sizeof(c.type), "%s", CAPABILITY_TYPE_APP_DEVELOPMENT);
	snprintf(c.device_id, sizeof(c.device_id), "%s", device);
	snprintf(c.tenant_id, sizeof(c.tenant_id), "%s", "0f8fad5b-d9cb-469f-a165-70867728950e");
	snprintf(c.serial, sizeof(c.serial), "%s", "00112233445566778899aabbccddeeff");
	c.issued_at = issued;
	c.expires_at = expires;
	c.dev_keys[0] = rp_key_public_pem(devkey, &err);
	assert_non_null(c.dev_keys[0]);
	c.ndev_keys = 1;
	char *doc = capability_sign(&c, key, &err);
	assert_non_null(doc);
	capability_free(&c);
	return doc;
}

static int check(const char *doc, EVP_PKEY *key, const char *device, int64_t now, rp_error *err)
{
	struct capability c;
	if (capability_parse((const uint8_t *)doc, strlen(doc), &c, err) < 0)
		return -1;
	int rc = capability_verify(&c, key, device, CAPABILITY_TYPE_APP_DEVELOPMENT, now, err);
	capability_free(&c);
	return rc;
}

static void round_trip(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char *doc = issue(signer, DEV_A, NOW, NOW + 86400);
	struct capability c;
	assert_int_equal(capability_parse((const uint8_t *)doc, strlen(doc), &c, &err), 0);
	assert_string_equal(c.device_id, DEV_A);
	assert_int_equal(c.ndev_keys, 1);
	assert_int_equal(c.expires_at, NOW + 86400);
	assert_int_equal(capability_verify(&c, signer, DEV_A, CAPABILITY_TYPE_APP_DEVELOPMENT, NOW, &err), 0);
	EVP_PKEY *k = rp_key_from_public_pem(c.dev_keys[0], strlen(c.dev_keys[0]), &err);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(k, devkey), 1);
	EVP_PKEY_free(k);
	capability_free(&c);
	free(doc);
}

static void refusals(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char *doc = issue(signer, DEV_A, NOW, NOW + 86400);
	assert_int_equal(check(doc, signer, DEV_B, NOW, &err), -1);
	assert_non_null(strstr(err.message, "is for device " DEV_A));
	rp_error_clear(&err);
	assert_int_equal(check(doc, other, DEV_A, NOW, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	rp_error_clear(&err);
	assert_int_equal(check(doc, signer, DEV_A, NOW + 86400, &err), -1);
	assert_int_equal(err.code, RP_E_EXPIRED);
	assert_non_null(strstr(err.message, "expired at"));
	rp_error_clear(&err);
	assert_int_equal(check(doc, signer, DEV_A, NOW - 3600, &err), -1);
	assert_non_null(strstr(err.message, "in the future"));
	rp_error_clear(&err);
	/* Within the allowed clock skew it is fine. */
	assert_int_equal(check(doc, signer, DEV_A, NOW - 60, &err), 0);
	free(doc);
	/* No expiry: valid far ahead. */
	doc = issue(signer, DEV_A, NOW, 0);
	assert_int_equal(check(doc, signer, DEV_A, NOW + 10 * 365 * 86400LL, &err), 0);
	free(doc);
}

/* Replace the payload by PAYLOAD (keeping the signature): must fail verification or parsing. */
static char *with_payload(const char *doc, const char *payload)
{
	rp_error err = RP_ERROR_INIT;
	json_t *j = rp_json_parse(doc, strlen(doc), CAPABILITY_FILE_MAX, "doc", &err);
	assert_non_null(j);
	char *b64 = rp_base64_encode((const uint8_t *)payload, strlen(payload));
	json_object_set_new(j, "payload", json_string(b64));
	free(b64);
	char *out = rp_json_dump(j);
	json_decref(j);
	return out;
}

static void tampering(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char *doc = issue(signer, DEV_A, NOW, 0);
	char *t = with_payload(doc, "{\"type\":\"appDevelopment\",\"device_id\":\"" DEV_B "\",\"tenant_id\":"
	                            "\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"serial\":"
	                            "\"00112233445566778899aabbccddeeff\",\"issued_at\":1800000000}");
	assert_int_equal(check(t, signer, DEV_B, NOW, &err), -1);
	assert_non_null(strstr(err.message, "signature does not verify"));
	free(t);
	static const char *const bad[] = {
		"{\"type\":\"appDevelopment\"}",                                   /* missing fields */
		"{\"type\":\"fieldServicing\",\"device_id\":\"" DEV_A "\",\"tenant_id\":"
		"\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"serial\":\"00112233445566778899aabbccddeeff\","
		"\"issued_at\":1}",                                                 /* unsupported type */
		"{\"type\":\"appDevelopment\",\"device_id\":\"AA\",\"tenant_id\":"
		"\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"serial\":\"00112233445566778899aabbccddeeff\","
		"\"issued_at\":1}",                                                 /* bad device ID */
		"{\"type\":\"appDevelopment\",\"device_id\":\"" DEV_A "\",\"tenant_id\":"
		"\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"serial\":\"00112233445566778899aabbccddeeff\","
		"\"issued_at\":10,\"expires_at\":5}",                               /* expires before issued */
		"{\"type\":\"appDevelopment\",\"device_id\":\"" DEV_A "\",\"tenant_id\":"
		"\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"serial\":\"00112233445566778899aabbccddeeff\","
		"\"issued_at\":1,\"development_keys\":[\"not a key\"]}",           /* bad development key */
		"{\"type\":\"appDevelopment\",\"device_id\":\"" DEV_A "\",\"tenant_id\":"
		"\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"serial\":\"00112233445566778899aabbccddeeff\","
		"\"issued_at\":1,\"extra\":true}",                                  /* unknown key */
		"[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *b = with_payload(doc, bad[i]);
		struct capability c;
		rp_error_clear(&err);
		assert_int_equal(capability_parse((const uint8_t *)b, strlen(b), &c, &err), -1);
		assert_true(err.message[0] != '\0');
		free(b);
	}
	/* Envelope problems. */
	static const char *const envelopes[] = {
		"{}",
		"{\"format\":\"rampart-capability-v2\",\"payload\":\"e30=\",\"signature\":\"AAAA\"}",
		"{\"format\":\"rampart-capability-v1\",\"payload\":\"%%%\",\"signature\":\"AAAA\"}",
		"{\"format\":\"rampart-capability-v1\",\"payload\":\"e30=\",\"signature\":\"\"}",
		"{\"format\":\"rampart-capability-v1\",\"payload\":\"e30=\",\"signature\":\"AAAA\",\"x\":1}",
		"{\"format\":\"rampart-capability-v1\",\"payload\":\"e30=\",\"signature\":\"AAAA\"} trailing",
	};
	for (size_t i = 0; i < sizeof(envelopes) / sizeof(envelopes[0]); i++) {
		struct capability c;
		rp_error_clear(&err);
		assert_int_equal(capability_parse((const uint8_t *)envelopes[i], strlen(envelopes[i]), &c, &err), -1);
		assert_true(err.message[0] != '\0');
	}
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(refusals),
		cmocka_unit_test(tampering),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
