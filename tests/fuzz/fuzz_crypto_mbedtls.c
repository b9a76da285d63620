/* libFuzzer target for the mbedTLS backend's parsers of outside bytes (common/crypto_mbedtls.c,
 * common/encoding_base64.c built with RP_CRYPTO_MBEDTLS): public keys as DER and PEM (or a
 * certificate), DER signatures, base64. The first byte picks the parser. Besides "never crash,
 * never leak": every refusal says why, an accepted key is P-256 and survives a DER round trip
 * with the same key ID, and no input verifies under a key nobody holds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rp_key *fuzz_key(void)
{
	static rp_key *key;
	if (!key) {
		rp_error err = RP_ERROR_INIT;
		key = rp_key_generate_p256(&err);
		if (!key)
			abort();
	}
	return key;
}

static void refused(const rp_error *err)
{
	if (!err->message[0] || err->code == RP_OK)
		abort();
}

static void check_key(rp_key *key)
{
	rp_error err = RP_ERROR_INIT;
	if (!rp_key_is_p256(key))
		abort();
	uint8_t *der = NULL;
	size_t len = 0;
	uint8_t id1[RP_KEY_ID_LEN], id2[RP_KEY_ID_LEN];
	if (rp_key_public_der(key, &der, &len, &err) < 0 || rp_key_id(key, id1, &err) < 0)
		abort();
	rp_key *again = rp_key_from_public_der(der, len, &err);
	free(der);
	if (!again || rp_key_id(again, id2, &err) < 0 || memcmp(id1, id2, sizeof(id1)) != 0)
		abort();
	/* Signing needs the private key, which no public key carries. */
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t sig_len = 0;
	if (rp_ecdsa_sign(key, "m", 1, sig, &sig_len, &err) == 0)
		abort();
	rp_key_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	rp_error err = RP_ERROR_INIT;
	switch (mode % 4) {
	case 0:
	case 1: {
		rp_key *key = mode % 4 == 0 ? rp_key_from_public_der(data, size, &err)
		                            : rp_key_from_public_pem((const char *)data, size, &err);
		if (!key) {
			refused(&err);
			return 0;
		}
		check_key(key);
		rp_key_free(key);
		return 0;
	}
	case 2: {
		uint8_t digest[RP_SHA256_LEN];
		rp_sha256_buf("rampart fuzz", 12, digest);
		if (rp_ecdsa_verify_digest(fuzz_key(), digest, data, size, &err) == 0)
			abort();
		if (err.code != RP_E_VERIFY)
			abort();
		return 0;
	}
	default: {
		uint8_t *out = NULL;
		size_t out_len = 0;
		if (rp_base64_decode((const char *)data, size, &out, &out_len, &err) < 0) {
			refused(&err);
			return 0;
		}
		/* Strict base64: four characters carry three bytes, less one per '='. */
		size_t pad = (size >= 1 && data[size - 1] == '=') + (size >= 2 && data[size - 2] == '=');
		if (out_len != size / 4 * 3 - pad)
			abort();
		free(out);
		return 0;
	}
	}
}
