/* The mbedTLS backend of crypto.h (crypto_mbedtls.c): the whole contract, and interoperability
 * with OpenSSL through the openssl command-line tool, so keys, key IDs and signatures cross
 * between the device update path and the service in both directions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/guid.h"
#include "common/xalloc.h"

#ifndef RP_CRYPTO_MBEDTLS
#error "test_crypto_mbedtls.c must be built against common_mbed_dep"
#endif

static char tmpdir[256];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rampart-test-mbedtls-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	return rp_remove_tree(tmpdir, &err);
}

/* Runs a shell command in TMPDIR; true when it exits 0. Commands are fixed strings built here. */
static bool sh(const char *fmt, ...) RP_PRINTF(1, 2);
static bool sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	char full[2400];
	snprintf(full, sizeof(full), "cd '%s' && { %s ; } 2>>openssl.log", tmpdir, cmd);
	int st = system(full);
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static char *tpath(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static uint8_t *read_all(const char *name, size_t *len)
{
	_cleanup_free_ char *p = tpath(name);
	uint8_t *data = NULL;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_read_file(p, 1 << 20, &data, len, &err), 0);
	return data;
}

static void write_all(const char *name, const void *data, size_t len)
{
	_cleanup_free_ char *p = tpath(name);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_write_file_atomic(p, data, len, 0644, &err), 0);
}

static void assert_hex(const uint8_t d[RP_SHA256_LEN], const char *expected)
{
	_cleanup_free_ char *hex = rp_hex_encode(d, RP_SHA256_LEN);
	assert_string_equal(hex, expected);
}

/* --- SHA-256 --- */

static void sha256_known_vectors(void **state)
{
	(void)state;
	uint8_t out[RP_SHA256_LEN];
	rp_sha256_buf("", 0, out);
	assert_hex(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	rp_sha256_buf("abc", 3, out);
	assert_hex(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	rp_sha256_buf(two_blocks, strlen(two_blocks), out);
	assert_hex(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

	/* One million 'a', streamed in uneven pieces, and the same bytes as a file. */
	_cleanup_free_ char *a = xmalloc(1000000);
	memset(a, 'a', 1000000);
	rp_sha256 h;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_sha256_init(&h, &err), 0);
	for (size_t off = 0, step = 1; off < 1000000; off += step, step = step * 3 % 9973 + 1)
		rp_sha256_update(&h, a + off, off + step > 1000000 ? 1000000 - off : step);
	assert_int_equal(rp_sha256_final(&h, out, &err), 0);
	rp_sha256_free(&h);
	assert_hex(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	write_all("million", a, 1000000);
	_cleanup_free_ char *p = tpath("million");
	uint64_t size = 0;
	memset(out, 0, sizeof(out));
	assert_int_equal(rp_sha256_file(p, out, &size, &err), 0);
	assert_int_equal(size, 1000000);
	assert_hex(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	_cleanup_free_ char *missing = tpath("missing");
	assert_int_equal(rp_sha256_file(missing, out, NULL, &err), -1);
	assert_int_equal(err.code, RP_E_NOT_FOUND);
}

/* --- keys --- */

static void key_files_round_trip_and_key_id(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *priv = tpath("k.key");
	_cleanup_free_ char *pub = tpath("k.pub");
	_cleanup_key_ rp_key *key = rp_key_generate_p256(&err);
	assert_non_null(key);
	assert_true(rp_key_is_p256(key));
	assert_int_equal(rp_key_save_private_pem(key, priv, &err), 0);
	assert_int_equal(rp_key_save_public_pem(key, pub, &err), 0);
	struct stat st;
	assert_int_equal(stat(priv, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	size_t len = 0;
	_cleanup_free_ uint8_t *priv_text = read_all("k.key", &len);
	assert_true(len > 60 && memcmp(priv_text, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);

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

	/* The key ID is SHA-256 of the 91-byte DER SubjectPublicKeyInfo (named curve, uncompressed). */
	_cleanup_free_ uint8_t *der = NULL;
	size_t der_len = 0;
	assert_int_equal(rp_key_public_der(key, &der, &der_len, &err), 0);
	assert_int_equal(der_len, 91);
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(der, der_len, digest);
	assert_memory_equal(digest, id1, sizeof(digest));
	_cleanup_free_ char *id_hex = rp_key_id_hex(key, &err);
	_cleanup_free_ char *want_hex = rp_hex_encode(id1, sizeof(id1));
	assert_string_equal(id_hex, want_hex);

	_cleanup_key_ rp_key *from_der = rp_key_from_public_der(der, der_len, &err);
	assert_non_null(from_der);
	assert_null(rp_key_from_public_der(der, der_len - 1, &err));
	assert_int_equal(err.code, RP_E_CRYPTO);
	_cleanup_free_ uint8_t *longer = xmalloc(der_len + 1);
	memcpy(longer, der, der_len);
	longer[der_len] = 0;
	assert_null(rp_key_from_public_der(longer, der_len + 1, &err));
	assert_int_equal(err.code, RP_E_INVALID);

	/* The PEM string and the saved file agree, and the PEM parses back from memory. */
	_cleanup_free_ char *pem = rp_key_public_pem(key, &err);
	_cleanup_free_ uint8_t *pub_text = read_all("k.pub", &len);
	assert_int_equal(strlen(pem), len);
	assert_memory_equal(pem, pub_text, len);
	_cleanup_key_ rp_key *from_pem = rp_key_from_public_pem(pem, strlen(pem), &err);
	assert_non_null(from_pem);

	/* A private key file is not a public key, a public key is not a private key, nor is garbage. */
	assert_null(rp_key_load_public_pem(priv, &err));
	assert_null(rp_key_load_private_pem(pub, &err));
	assert_null(rp_key_from_public_pem("hello", 5, &err));
	assert_int_equal(err.code, RP_E_CRYPTO);
	/* Raw DER is not PEM. */
	write_all("k.der", der, der_len);
	_cleanup_free_ char *der_path = tpath("k.der");
	assert_null(rp_key_load_public_pem(der_path, &err));
	assert_null(rp_key_load_private_pem(der_path, &err));
	_cleanup_free_ char *missing = tpath("missing.pub");
	assert_null(rp_key_load_public_pem(missing, &err));
	assert_int_equal(err.code, RP_E_NOT_FOUND);
}

static void non_p256_keys_are_refused(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	assert_true(sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key"));
	assert_true(sh("openssl pkey -in p384.key -pubout -out p384.pub"));
	assert_true(sh("openssl pkey -in p384.key -pubout -outform DER -out p384.der"));
	assert_true(sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key"));
	assert_true(sh("openssl pkey -in rsa.key -pubout -out rsa.pub"));
	assert_true(sh("openssl pkey -in rsa.key -pubout -outform DER -out rsa.der"));
	assert_true(sh("openssl genpkey -algorithm ED25519 -out ed.key"));
	assert_true(sh("openssl pkey -in ed.key -pubout -out ed.pub"));
	assert_true(sh("openssl pkey -in ed.key -pubout -outform DER -out ed.der"));
	static const char *const names[] = {"p384", "rsa", "ed"};
	for (size_t i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%s.key", names[i]);
		_cleanup_free_ char *k = tpath(name);
		rp_error_clear(&err);
		assert_null(rp_key_load_private_pem(k, &err));
		assert_int_equal(err.code, RP_E_UNSUPPORTED);
		assert_non_null(strstr(err.message, "only P-256 is accepted"));

		snprintf(name, sizeof(name), "%s.pub", names[i]);
		_cleanup_free_ char *p = tpath(name);
		rp_error_clear(&err);
		assert_null(rp_key_load_public_pem(p, &err));
		assert_int_equal(err.code, RP_E_UNSUPPORTED);

		snprintf(name, sizeof(name), "%s.der", names[i]);
		size_t len = 0;
		_cleanup_free_ uint8_t *der = read_all(name, &len);
		rp_error_clear(&err);
		assert_null(rp_key_from_public_der(der, len, &err));
		assert_int_equal(err.code, RP_E_UNSUPPORTED);
	}
	/* P-256 keys in forms mbedTLS 2.28 cannot re-encode identically (compressed point, explicit
	 * curve parameters) are refused rather than given a key ID OpenSSL would not compute. */
	assert_true(sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key"));
	assert_true(sh("openssl ec -in p256.key -conv_form compressed -pubout -out compressed.pub"));
	assert_true(sh("openssl ec -in p256.key -param_enc explicit -pubout -out explicit.pub"));
	static const char *const odd[] = {"compressed.pub", "explicit.pub"};
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *p = tpath(odd[i]);
		rp_error_clear(&err);
		assert_null(rp_key_load_public_pem(p, &err));
		assert_true(err.code == RP_E_UNSUPPORTED || err.code == RP_E_CRYPTO);
	}
	/* A certificate for a P-384 key is refused like the bare key. */
	assert_true(sh("openssl req -x509 -new -key p384.key -subj /CN=p384 -days 1 -out p384.crt"));
	_cleanup_free_ char *crt = tpath("p384.crt");
	assert_null(rp_key_load_public_pem(crt, &err));
	assert_int_equal(err.code, RP_E_UNSUPPORTED);
}

/* --- ECDSA --- */

static void ecdsa_sign_verify_and_tamper(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_key_ rp_key *key = rp_key_generate_p256(&err);
	_cleanup_key_ rp_key *other = rp_key_generate_p256(&err);
	assert_non_null(key);
	assert_non_null(other);
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t sig_len = 0;
	assert_int_equal(rp_ecdsa_sign(key, "message", 7, sig, &sig_len, &err), 0);
	assert_true(sig_len > 8 && sig_len <= RP_ECDSA_SIG_MAX);
	assert_int_equal(sig[0], 0x30);
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, sig, sig_len, &err), 0);
	assert_int_equal(rp_ecdsa_verify(key, "messagf", 7, sig, sig_len, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_int_equal(rp_ecdsa_verify(other, "message", 7, sig, sig_len, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);

	/* The digest forms agree with the message forms. */
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf("message", 7, digest);
	assert_int_equal(rp_ecdsa_verify_digest(key, digest, sig, sig_len, &err), 0);
	uint8_t sig2[RP_ECDSA_SIG_MAX];
	size_t sig2_len = 0;
	assert_int_equal(rp_ecdsa_sign_digest(key, digest, sig2, &sig2_len, &err), 0);
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, sig2, sig2_len, &err), 0);

	/* Trailing bytes and a non-minimal DER length are refused, though r and s are unchanged. */
	uint8_t longer[RP_ECDSA_SIG_MAX + 1];
	memcpy(longer, sig, sig_len);
	longer[sig_len] = 0;
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, longer, sig_len + 1, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	uint8_t padded[RP_ECDSA_SIG_MAX + 1];
	padded[0] = 0x30;
	padded[1] = 0x81; /* long form for a length below 128 */
	memcpy(padded + 2, sig + 1, sig_len - 1);
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, padded, sig_len + 1, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	/* All-zero r and s. */
	static const uint8_t zeros[] = {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00};
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, zeros, sizeof(zeros), &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);

	for (size_t i = 0; i < sig_len; i++) {
		sig[i] ^= 0x01;
		rp_error_clear(&err);
		assert_int_equal(rp_ecdsa_verify(key, "message", 7, sig, sig_len, &err), -1);
		assert_int_equal(err.code, RP_E_VERIFY);
		sig[i] ^= 0x01;
	}
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, sig, 0, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_int_equal(rp_ecdsa_verify(key, "message", 7, sig, 200, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);

	/* A public key cannot sign. */
	_cleanup_free_ uint8_t *der = NULL;
	size_t der_len = 0;
	assert_int_equal(rp_key_public_der(key, &der, &der_len, &err), 0);
	_cleanup_key_ rp_key *pub = rp_key_from_public_der(der, der_len, &err);
	assert_non_null(pub);
	assert_int_equal(rp_ecdsa_sign(pub, "message", 7, sig2, &sig2_len, &err), -1);
	assert_int_equal(err.code, RP_E_CRYPTO);
	assert_int_equal(rp_ecdsa_verify(pub, "message", 7, sig, sig_len, &err), 0);
}

/* --- interoperability with OpenSSL --- */

static void openssl_keys_load_and_key_ids_match(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	/* genpkey writes PKCS#8 "PRIVATE KEY"; `openssl ec` rewrites it as SEC1 "EC PRIVATE KEY". */
	assert_true(sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out o.key"));
	assert_true(sh("openssl ec -in o.key -out o-sec1.key"));
	assert_true(sh("grep -q 'BEGIN EC PRIVATE KEY' o-sec1.key"));
	assert_true(sh("openssl pkey -in o.key -pubout -out o.pub"));
	assert_true(sh("openssl pkey -in o.key -pubout -outform DER -out o.der"));
	assert_true(sh("openssl req -x509 -new -key o.key -subj /CN=rampart-test -days 1 -out o.crt"));
	size_t der_len = 0;
	_cleanup_free_ uint8_t *der = read_all("o.der", &der_len);
	uint8_t want[RP_KEY_ID_LEN];
	rp_sha256_buf(der, der_len, want);

	static const char *const files[] = {"o.key", "o-sec1.key", "o.pub", "o.crt"};
	for (size_t i = 0; i < 4; i++) {
		_cleanup_free_ char *p = tpath(files[i]);
		_cleanup_key_ rp_key *k = i < 2 ? rp_key_load_private_pem(p, &err) : rp_key_load_public_pem(p, &err);
		if (!k)
			fail_msg("%s: %s", files[i], err.message);
		uint8_t id[RP_KEY_ID_LEN];
		assert_int_equal(rp_key_id(k, id, &err), 0);
		assert_memory_equal(id, want, sizeof(id));
		/* Our SubjectPublicKeyInfo is byte-identical to OpenSSL's. */
		_cleanup_free_ uint8_t *ours = NULL;
		size_t ours_len = 0;
		assert_int_equal(rp_key_public_der(k, &ours, &ours_len, &err), 0);
		assert_int_equal(ours_len, der_len);
		assert_memory_equal(ours, der, der_len);
	}
	/* The public PEM we write is byte-identical to OpenSSL's too. */
	_cleanup_free_ char *pub = tpath("o.pub");
	_cleanup_key_ rp_key *k = rp_key_load_public_pem(pub, &err);
	assert_non_null(k);
	_cleanup_free_ char *pem = rp_key_public_pem(k, &err);
	size_t pem_len = 0;
	_cleanup_free_ uint8_t *theirs = read_all("o.pub", &pem_len);
	assert_int_equal(strlen(pem), pem_len);
	assert_memory_equal(pem, theirs, pem_len);
}

static void mbedtls_keys_are_read_by_openssl(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_key_ rp_key *key = rp_key_generate_p256(&err);
	assert_non_null(key);
	_cleanup_free_ char *priv = tpath("m.key");
	_cleanup_free_ char *pub = tpath("m.pub");
	assert_int_equal(rp_key_save_private_pem(key, priv, &err), 0);
	assert_int_equal(rp_key_save_public_pem(key, pub, &err), 0);
	/* OpenSSL reads our PKCS#8 file, its key passes OpenSSL's consistency check, and the public
	 * key OpenSSL derives from it is ours. */
	assert_true(sh("openssl pkey -in m.key -check -noout"));
	assert_true(sh("openssl pkey -in m.key -pubout -outform DER -out m-from-priv.der"));
	assert_true(sh("openssl pkey -pubin -in m.pub -outform DER -out m-from-pub.der"));
	uint8_t id[RP_KEY_ID_LEN], digest[RP_SHA256_LEN];
	assert_int_equal(rp_key_id(key, id, &err), 0);
	static const char *const ders[] = {"m-from-priv.der", "m-from-pub.der"};
	for (size_t i = 0; i < 2; i++) {
		size_t len = 0;
		_cleanup_free_ uint8_t *der = read_all(ders[i], &len);
		rp_sha256_buf(der, len, digest);
		assert_memory_equal(digest, id, sizeof(id));
	}
}

static void signatures_cross_between_backends(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	static const char msg[] = "rampart os-bundle 1.2.3\n";
	write_all("msg", msg, sizeof(msg) - 1);
	write_all("msg-tampered", "rampart os-bundle 1.2.4\n", sizeof(msg) - 1);

	/* OpenSSL signs; the mbedTLS backend verifies. */
	assert_true(sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out s.key"));
	assert_true(sh("openssl pkey -in s.key -pubout -out s.pub"));
	_cleanup_free_ char *pub_path = tpath("s.pub");
	_cleanup_key_ rp_key *pub = rp_key_load_public_pem(pub_path, &err);
	assert_non_null(pub);
	for (int round = 0; round < 8; round++) {
		assert_true(sh("openssl dgst -sha256 -sign s.key -out o.sig msg"));
		size_t sig_len = 0;
		_cleanup_free_ uint8_t *sig = read_all("o.sig", &sig_len);
		assert_int_equal(rp_ecdsa_verify(pub, msg, sizeof(msg) - 1, sig, sig_len, &err), 0);
		assert_int_equal(rp_ecdsa_verify(pub, "rampart os-bundle 1.2.4\n", sizeof(msg) - 1, sig, sig_len, &err),
		                 -1);
		assert_int_equal(err.code, RP_E_VERIFY);
	}

	/* The mbedTLS backend signs with the OpenSSL-made key; openssl verifies, and refuses the
	 * signature for other bytes. */
	_cleanup_free_ char *key_path = tpath("s.key");
	_cleanup_key_ rp_key *key = rp_key_load_private_pem(key_path, &err);
	assert_non_null(key);
	for (int round = 0; round < 8; round++) {
		uint8_t sig[RP_ECDSA_SIG_MAX];
		size_t sig_len = 0;
		char msg_n[64];
		int n = snprintf(msg_n, sizeof(msg_n), "message %d", round);
		write_all("msg-n", msg_n, (size_t)n);
		assert_int_equal(rp_ecdsa_sign(key, msg_n, (size_t)n, sig, &sig_len, &err), 0);
		write_all("m.sig", sig, sig_len);
		assert_true(sh("openssl dgst -sha256 -verify s.pub -signature m.sig msg-n >/dev/null"));
		assert_false(sh("openssl dgst -sha256 -verify s.pub -signature m.sig msg >/dev/null"));
	}

	/* And with a key the mbedTLS backend generated and saved. */
	_cleanup_key_ rp_key *mkey = rp_key_generate_p256(&err);
	_cleanup_free_ char *mpub = tpath("gen.pub");
	assert_int_equal(rp_key_save_public_pem(mkey, mpub, &err), 0);
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t sig_len = 0;
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(msg, sizeof(msg) - 1, digest);
	assert_int_equal(rp_ecdsa_sign_digest(mkey, digest, sig, &sig_len, &err), 0);
	write_all("gen.sig", sig, sig_len);
	assert_true(sh("openssl dgst -sha256 -verify gen.pub -signature gen.sig msg >/dev/null"));
	assert_false(sh("openssl dgst -sha256 -verify gen.pub -signature gen.sig msg-tampered >/dev/null"));
}

/* --- random numbers --- */

static void random_bytes_differ_and_survive_fork(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	uint8_t a[64], b[64];
	assert_int_equal(rp_random_bytes(a, sizeof(a), &err), 0);
	assert_int_equal(rp_random_bytes(b, sizeof(b), &err), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	/* More than one DRBG request's worth in one call. */
	_cleanup_free_ uint8_t *big = xcalloc(1, 5000);
	assert_int_equal(rp_random_bytes(big, 5000, &err), 0);
	static const uint8_t zero[64];
	assert_memory_not_equal(big + 4900, zero, 64);

	/* After fork, parent and child must not draw the same bytes from the inherited state. */
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t c[32];
		int ok = rp_random_bytes(c, sizeof(c), NULL) == 0 && write(fds[1], c, sizeof(c)) == (ssize_t)sizeof(c);
		_exit(ok ? 0 : 1);
	}
	close(fds[1]);
	uint8_t mine[32], theirs[32];
	assert_int_equal(rp_random_bytes(mine, sizeof(mine), &err), 0);
	assert_int_equal(rp_read_full(fds[0], theirs, sizeof(theirs)), (ssize_t)sizeof(theirs));
	close(fds[0]);
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_memory_not_equal(mine, theirs, sizeof(mine));

	char guid[RP_GUID_STRLEN + 1], guid2[RP_GUID_STRLEN + 1];
	assert_int_equal(rp_guid_generate(guid, &err), 0);
	assert_int_equal(rp_guid_generate(guid2, &err), 0);
	assert_string_not_equal(guid, guid2);
	assert_int_equal(guid[14], '4');
}

static void memeq_consttime_compares(void **state)
{
	(void)state;
	assert_true(rp_memeq_consttime("abcd", "abcd", 4));
	assert_false(rp_memeq_consttime("abcd", "abce", 4));
	assert_false(rp_memeq_consttime("xbcd", "abcd", 4));
	assert_true(rp_memeq_consttime("a", "b", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sha256_known_vectors),
		cmocka_unit_test(key_files_round_trip_and_key_id),
		cmocka_unit_test(non_p256_keys_are_refused),
		cmocka_unit_test(ecdsa_sign_verify_and_tamper),
		cmocka_unit_test(openssl_keys_load_and_key_ids_match),
		cmocka_unit_test(mbedtls_keys_are_read_by_openssl),
		cmocka_unit_test(signatures_cross_between_backends),
		cmocka_unit_test(random_bytes_differ_and_survive_fork),
		cmocka_unit_test(memeq_consttime_compares),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
