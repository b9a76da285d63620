/* Unit tests for the core library: errors, parsing, encodings, JSON, files, bytes and crypto. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#ifndef RP_CRYPTO_MBEDTLS
#include <openssl/evp.h>
#endif

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/parse.h"
#include "common/xalloc.h"

static char tmpdir[256];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rampart-test-common-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	return rp_remove_tree(tmpdir, &err);
}

/* --- errors --- */

static void error_prefix_builds_chain(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_error_set(&err, RP_E_VERIFY, "signature does not match"), -1);
	rp_error_prefix(&err, "verifying package");
	rp_error_prefix(&err, "installing app %d", 1234);
	assert_string_equal(err.message, "installing app 1234: verifying package: signature does not match");
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_int_equal(rp_error_exit_status(&err), 3);
}

static void error_errno_maps_codes(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	rp_error_set_errno(&err, ENOENT, "opening %s", "x");
	assert_int_equal(err.code, RP_E_NOT_FOUND);
	assert_int_equal(err.sys_errno, ENOENT);
	assert_non_null(strstr(err.message, "opening x: "));
	rp_error_set_errno(&err, EACCES, "a");
	assert_int_equal(err.code, RP_E_PERMISSION);
	rp_error_set_errno(&err, ENOSPC, "a");
	assert_int_equal(err.code, RP_E_LIMIT);
}

static void error_null_is_tolerated_and_long_chain_truncates(void **state)
{
	(void)state;
	assert_int_equal(rp_error_set(NULL, RP_E_IO, "x"), -1);
	assert_int_equal(rp_error_prefix(NULL, "x"), -1);
	rp_error err = RP_ERROR_INIT;
	rp_error_set(&err, RP_E_INVALID, "root cause");
	for (int i = 0; i < 500; i++)
		rp_error_prefix(&err, "layer %d", i);
	assert_true(strlen(err.message) < RP_ERROR_MESSAGE_MAX);
	assert_int_equal(strncmp(err.message, "layer 499: ", 11), 0);
}

/* --- parsing --- */

static void parse_u64_bounds(void **state)
{
	(void)state;
	uint64_t v = 0;
	assert_int_equal(rp_parse_u64("42", 0, 100, &v, NULL), 0);
	assert_int_equal(v, 42);
	assert_int_equal(rp_parse_u64("101", 0, 100, &v, NULL), -1);
	assert_int_equal(rp_parse_u64("", 0, 100, &v, NULL), -1);
	assert_int_equal(rp_parse_u64(" 1", 0, 100, &v, NULL), -1);
	assert_int_equal(rp_parse_u64("1x", 0, 100, &v, NULL), -1);
	assert_int_equal(rp_parse_u64("-1", 0, 100, &v, NULL), -1);
	assert_int_equal(rp_parse_u64("+1", 0, 100, &v, NULL), -1);
	assert_int_equal(rp_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v, NULL), -1);
	assert_int_equal(rp_parse_u64("18446744073709551615", 0, UINT64_MAX, &v, NULL), 0);
	assert_true(v == UINT64_MAX);
}

static void parse_i64_and_size(void **state)
{
	(void)state;
	int64_t i = 0;
	assert_int_equal(rp_parse_i64("-5", -10, 10, &i, NULL), 0);
	assert_int_equal(i, -5);
	assert_int_equal(rp_parse_i64("-11", -10, 10, &i, NULL), -1);
	assert_int_equal(rp_parse_i64("-", -10, 10, &i, NULL), -1);
	uint64_t s = 0;
	assert_int_equal(rp_parse_size("64M", UINT64_MAX, &s, NULL), 0);
	assert_true(s == 64u * 1024 * 1024);
	assert_int_equal(rp_parse_size("2K", 1024, &s, NULL), -1);
	assert_int_equal(rp_parse_size("K", UINT64_MAX, &s, NULL), -1);
	assert_int_equal(rp_parse_size("99999999999999G", UINT64_MAX, &s, NULL), -1);
}

/* --- encodings --- */

static void hex_round_trip_and_strictness(void **state)
{
	(void)state;
	const uint8_t data[] = {0x00, 0xab, 0xff, 0x10};
	_cleanup_free_ char *hex = rp_hex_encode(data, sizeof(data));
	assert_string_equal(hex, "00abff10");
	uint8_t out[4];
	assert_int_equal(rp_hex_decode("00ABff10", out, 4, NULL), 0);
	assert_memory_equal(out, data, 4);
	assert_int_equal(rp_hex_decode("00abff1", out, 4, NULL), -1);
	assert_int_equal(rp_hex_decode("00abff1g", out, 4, NULL), -1);
	_cleanup_free_ uint8_t *dyn = NULL;
	size_t len = 0;
	assert_int_equal(rp_hex_decode_alloc("abc", &dyn, &len, NULL), -1);
}

static void base64_round_trip_and_strictness(void **state)
{
	(void)state;
	const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *expect[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < RP_ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *enc = rp_base64_encode((const uint8_t *)cases[i], strlen(cases[i]));
		assert_string_equal(enc, expect[i]);
		_cleanup_free_ uint8_t *dec = NULL;
		size_t len = 99;
		assert_int_equal(rp_base64_decode(enc, strlen(enc), &dec, &len, NULL), 0);
		assert_int_equal(len, strlen(cases[i]));
		assert_memory_equal(dec, cases[i], len);
	}
	uint8_t *dec = NULL;
	size_t len = 0;
	assert_int_equal(rp_base64_decode("Zm9", 3, &dec, &len, NULL), -1);
	assert_int_equal(rp_base64_decode("Z=9v", 4, &dec, &len, NULL), -1);
	assert_int_equal(rp_base64_decode("Zm9v\n", 5, &dec, &len, NULL), -1);
	assert_int_equal(rp_base64_decode("Zm!v", 4, &dec, &len, NULL), -1);
}

static void guid_validation(void **state)
{
	(void)state;
	char out[RP_GUID_STRLEN + 1];
	assert_int_equal(rp_guid_normalize("1689D8B2-C835-2E27-27AD-E894D6D15FA9", out, NULL), 0);
	assert_string_equal(out, "1689d8b2-c835-2e27-27ad-e894d6d15fa9");
	assert_false(rp_guid_is_valid("1689d8b2c8352e2727ade894d6d15fa9"));
	assert_false(rp_guid_is_valid("1689d8b2-c835-2e27-27ad-e894d6d15fa"));
	assert_false(rp_guid_is_valid("1689d8b2-c835-2e27-27ad-e894d6d15fag"));
	assert_false(rp_guid_is_valid("{1689d8b2-c835-2e27-27ad-e894d6d15fa9}"));
	char a[RP_GUID_STRLEN + 1], b[RP_GUID_STRLEN + 1];
	assert_int_equal(rp_guid_generate(a, NULL), 0);
	assert_int_equal(rp_guid_generate(b, NULL), 0);
	assert_true(rp_guid_is_valid(a));
	assert_string_not_equal(a, b);
	assert_int_equal(a[14], '4');
}

/* --- JSON --- */

static void json_rejects_duplicates_and_unknown_keys(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	const char *dup = "{\"a\":1,\"a\":2}";
	assert_null(rp_json_parse(dup, strlen(dup), 1024, "doc", &err));
	assert_int_equal(err.code, RP_E_INVALID);
	const char *doc = "{\"name\":\"x\",\"extra\":true}";
	_cleanup_(json_decrefp) json_t *v = rp_json_parse(doc, strlen(doc), 1024, "doc", &err);
	assert_non_null(v);
	static const char *const allowed[] = {"name", NULL};
	assert_int_equal(rp_json_check_keys(v, allowed, "request", &err), -1);
	assert_non_null(strstr(err.message, "unknown field \"extra\""));
	assert_null(rp_json_parse(doc, strlen(doc), 5, "doc", &err));
	assert_int_equal(err.code, RP_E_LIMIT);
	const char *bad_utf8 = "{\"n\":\"\xff\"}";
	assert_null(rp_json_parse(bad_utf8, strlen(bad_utf8), 1024, "doc", &err));
}

static void json_typed_getters(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	const char *doc = "{\"s\":\"v\",\"b\":true,\"i\":7,\"o\":{},\"a\":[]}";
	const char *nul_doc = "{\"nul\":\"a\\u0000b\"}";
	/* An escaped NUL would truncate C strings later: refused at parse time. */
	assert_null(rp_json_parse(nul_doc, strlen(nul_doc), 1024, "doc", &err));
	_cleanup_(json_decrefp) json_t *v = rp_json_parse(doc, strlen(doc), 1024, "doc", &err);
	assert_non_null(v);
	const char *s = NULL;
	bool b = false;
	int64_t i = 0;
	json_t *o = NULL;
	assert_int_equal(rp_json_get_string(v, "s", true, &s, &err), 1);
	assert_string_equal(s, "v");
	assert_int_equal(rp_json_get_bool(v, "b", true, &b, &err), 1);
	assert_true(b);
	assert_int_equal(rp_json_get_int(v, "i", true, 0, 10, &i, &err), 1);
	assert_int_equal(i, 7);
	assert_int_equal(rp_json_get_int(v, "i", true, 0, 5, &i, &err), -1);
	assert_non_null(strstr(err.message, "outside [0, 5]"));
	assert_int_equal(rp_json_get_object(v, "o", true, &o, &err), 1);
	assert_int_equal(rp_json_get_array(v, "a", true, &o, &err), 1);
	assert_int_equal(rp_json_get_string(v, "b", true, &s, &err), -1);
	assert_non_null(strstr(err.message, "must be a string, not boolean"));
	assert_int_equal(rp_json_get_string(v, "missing", false, &s, &err), 0);
	assert_int_equal(rp_json_get_string(v, "missing", true, &s, &err), -1);
	json_object_set_new(v, "nul", json_stringn("a\0b", 3));
	assert_int_equal(rp_json_get_string(v, "nul", true, &s, &err), -1);
	assert_non_null(strstr(err.message, "NUL"));
}

/* --- files --- */

static void atomic_write_replaces_and_leaves_no_temp(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "%s/state.json", tmpdir);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_write_file_atomic(path, "old", 3, 0600, &err), 0);
	assert_int_equal(rp_write_file_atomic(path, "new!", 4, 0640, &err), 0);
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	assert_int_equal(rp_read_file(path, 100, &data, &len, &err), 0);
	assert_int_equal(len, 4);
	assert_string_equal((char *)data, "new!");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	int temps = 0;
	while ((de = readdir(d)))
		temps += strstr(de->d_name, ".tmp-") != NULL;
	closedir(d);
	assert_int_equal(temps, 0);
}

static void read_file_enforces_limit_and_type(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "%s/big", tmpdir);
	rp_error err = RP_ERROR_INIT;
	char buf[10000];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(rp_write_file_atomic(path, buf, sizeof(buf), 0600, &err), 0);
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	assert_int_equal(rp_read_file(path, 9999, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	assert_int_equal(rp_read_file(path, 10000, &data, &len, &err), 0);
	assert_int_equal(len, 10000);
	uint8_t *d2 = NULL;
	assert_int_equal(rp_read_file(tmpdir, 100, &d2, &len, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	assert_int_equal(rp_read_file(path, 100, &d2, &len, &err), -1);
	assert_int_equal(err.code, RP_E_NOT_FOUND);
}

static void mkdir_p_and_remove_tree(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "%s/a/b/c", tmpdir);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_mkdir_p(path, 0700, &err), 0);
	assert_int_equal(rp_mkdir_p(path, 0700, &err), 0);
	char top[512];
	snprintf(top, sizeof(top), "%s/a", tmpdir);
	assert_int_equal(rp_remove_tree(top, &err), 0);
	assert_int_equal(access(top, F_OK), -1);
	assert_int_equal(rp_remove_tree(top, &err), 0);
}

/* --- bytes --- */

static void reader_rejects_short_and_trailing(void **state)
{
	(void)state;
	rp_buf b;
	rp_buf_init(&b);
	rp_buf_u16(&b, 0x0102);
	rp_buf_u32(&b, 0x03040506);
	rp_buf_u64(&b, 0x0708090a0b0c0d0eULL);
	rp_reader r;
	uint16_t a;
	uint32_t c;
	uint64_t d;
	rp_error err = RP_ERROR_INIT;
	rp_reader_init(&r, b.data, b.len);
	assert_true(rp_reader_u16(&r, "a", &a) && rp_reader_u32(&r, "c", &c) && rp_reader_u64(&r, "d", &d));
	assert_int_equal(a, 0x0102);
	assert_int_equal(c, 0x03040506);
	assert_true(d == 0x0708090a0b0c0d0eULL);
	assert_int_equal(rp_reader_finish(&r, "message", &err), 0);
	rp_reader_init(&r, b.data, b.len - 1);
	assert_true(rp_reader_u16(&r, "a", &a));
	assert_true(rp_reader_u32(&r, "c", &c));
	assert_false(rp_reader_u64(&r, "length field", &d));
	assert_false(rp_reader_u8(&r, "later", (uint8_t *)&a));
	assert_int_equal(rp_reader_finish(&r, "message", &err), -1);
	assert_string_equal(err.message, "message is truncated: no room for length field");
	rp_reader_init(&r, b.data, b.len);
	assert_true(rp_reader_u16(&r, "a", &a));
	assert_int_equal(rp_reader_finish(&r, "message", &err), -1);
	assert_non_null(strstr(err.message, "12 unexpected trailing bytes"));
	rp_buf_free(&b);
}

/* --- crypto --- */

static void sha256_streaming_matches_known_vector(void **state)
{
	(void)state;
	/* FIPS 180-2 test vector "abc". */
	static const char *expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	rp_sha256 h;
	uint8_t out[RP_SHA256_LEN];
	assert_int_equal(rp_sha256_init(&h, NULL), 0);
	rp_sha256_update(&h, "a", 1);
	rp_sha256_update(&h, "bc", 2);
	assert_int_equal(rp_sha256_final(&h, out, NULL), 0);
	rp_sha256_free(&h);
	_cleanup_free_ char *hex = rp_hex_encode(out, sizeof(out));
	assert_string_equal(hex, expected);
	rp_sha256_buf("abc", 3, out);
	_cleanup_free_ char *hex2 = rp_hex_encode(out, sizeof(out));
	assert_string_equal(hex2, expected);
}

static void ecdsa_sign_verify_and_tamper(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_key_ rp_key *key = rp_key_generate_p256(&err);
	_cleanup_key_ rp_key *other = rp_key_generate_p256(&err);
	assert_non_null(key);
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t sig_len = 0;
	assert_int_equal(rp_ecdsa_sign(key, "message", 7, sig, &sig_len, &err), 0);
	assert_true(sig_len > 8 && sig_len <= RP_ECDSA_SIG_MAX);
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, sig, sig_len, &err), 0);
	assert_int_equal(rp_ecdsa_verify(key, "messagf", 7, sig, sig_len, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_int_equal(rp_ecdsa_verify(other, "message", 7, sig, sig_len, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	sig[sig_len / 2] ^= 1;
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, sig, sig_len, &err), -1);
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, sig, 0, &err), -1);
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, sig, 200, &err), -1);
}

static void key_files_round_trip_and_key_id(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char priv[512], pub[512];
	snprintf(priv, sizeof(priv), "%s/k.key", tmpdir);
	snprintf(pub, sizeof(pub), "%s/k.pub", tmpdir);
	_cleanup_key_ rp_key *key = rp_key_generate_p256(&err);
	assert_int_equal(rp_key_save_private_pem(key, priv, &err), 0);
	assert_int_equal(rp_key_save_public_pem(key, pub, &err), 0);
	struct stat st;
	assert_int_equal(stat(priv, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	_cleanup_key_ rp_key *loaded = rp_key_load_private_pem(priv, &err);
	_cleanup_key_ rp_key *loaded_pub = rp_key_load_public_pem(pub, &err);
	assert_non_null(loaded);
	assert_non_null(loaded_pub);
	uint8_t id1[RP_KEY_ID_LEN], id2[RP_KEY_ID_LEN], id3[RP_KEY_ID_LEN];
	assert_int_equal(rp_key_id(key, id1, &err), 0);
	assert_int_equal(rp_key_id(loaded, id2, &err), 0);
	assert_int_equal(rp_key_id(loaded_pub, id3, &err), 0);
	assert_memory_equal(id1, id2, sizeof(id1));
	assert_memory_equal(id1, id3, sizeof(id1));
	/* The key ID is SHA-256 of the DER SubjectPublicKeyInfo. */
	_cleanup_free_ uint8_t *der = NULL;
	size_t der_len = 0;
	assert_int_equal(rp_key_public_der(key, &der, &der_len, &err), 0);
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(der, der_len, digest);
	assert_memory_equal(digest, id1, sizeof(digest));
	_cleanup_key_ rp_key *from_der = rp_key_from_public_der(der, der_len, &err);
	assert_non_null(from_der);
	assert_null(rp_key_from_public_der(der, der_len - 1, &err));
	/* A private key is not a public key file. */
	assert_null(rp_key_load_public_pem(priv, &err));
}

/* A P-256 SubjectPublicKeyInfo whose point is the point at infinity: with it, a forged signature
 * over any message would verify. Both crypto backends must refuse to load it. */
static void infinity_public_key_is_refused(void **state)
{
	(void)state;
	static const uint8_t der[] = {0x30, 0x19, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
	                              0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
	                              0x07, 0x03, 0x02, 0x00, 0x00};
	rp_error e = RP_ERROR_INIT;
	rp_key *k = rp_key_from_public_der(der, sizeof(der), &e);
	assert_null(k);
	assert_int_not_equal(e.code, RP_OK);
	_cleanup_free_ char *b64 = rp_base64_encode(der, sizeof(der));
	_cleanup_free_ char *pem = xasprintf("-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n", b64);
	rp_error e2 = RP_ERROR_INIT;
	assert_null(rp_key_from_public_pem(pem, strlen(pem), &e2));
	assert_int_not_equal(e2.code, RP_OK);
}

/* Needs OpenSSL to make the P-384 key; test_crypto_mbedtls.c covers the mbedTLS backend. */
#ifndef RP_CRYPTO_MBEDTLS
static void non_p256_keys_are_refused(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_pkey_ EVP_PKEY *p384 = EVP_EC_gen("P-384");
	assert_non_null(p384);
	assert_false(rp_key_is_p256(p384));
	char path[512];
	snprintf(path, sizeof(path), "%s/p384.pub", tmpdir);
	/* Save bypasses the curve check on purpose: only loading enforces P-256. */
	assert_int_equal(rp_key_save_public_pem(p384, path, &err), 0);
	assert_null(rp_key_load_public_pem(path, &err));
	assert_int_equal(err.code, RP_E_UNSUPPORTED);
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t sig_len;
	assert_int_equal(rp_ecdsa_sign(p384, "m", 1, sig, &sig_len, &err), -1);
	assert_int_equal(err.code, RP_E_UNSUPPORTED);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_prefix_builds_chain),
		cmocka_unit_test(error_errno_maps_codes),
		cmocka_unit_test(error_null_is_tolerated_and_long_chain_truncates),
		cmocka_unit_test(parse_u64_bounds),
		cmocka_unit_test(parse_i64_and_size),
		cmocka_unit_test(hex_round_trip_and_strictness),
		cmocka_unit_test(base64_round_trip_and_strictness),
		cmocka_unit_test(guid_validation),
		cmocka_unit_test(json_rejects_duplicates_and_unknown_keys),
		cmocka_unit_test(json_typed_getters),
		cmocka_unit_test(atomic_write_replaces_and_leaves_no_temp),
		cmocka_unit_test(read_file_enforces_limit_and_type),
		cmocka_unit_test(mkdir_p_and_remove_tree),
		cmocka_unit_test(reader_rejects_short_and_trailing),
		cmocka_unit_test(sha256_streaming_matches_known_vector),
		cmocka_unit_test(ecdsa_sign_verify_and_tamper),
		cmocka_unit_test(key_files_round_trip_and_key_id),
		cmocka_unit_test(infinity_public_key_is_refused),
#ifndef RP_CRYPTO_MBEDTLS
		cmocka_unit_test(non_p256_keys_are_refused),
#endif
	};
	return cmocka_run_group_tests_name("common", tests, make_tmpdir, remove_tmpdir);
}
