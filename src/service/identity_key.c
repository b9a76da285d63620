/* Decoding a device's registered identity key for each attestation. OpenSSL 3.0's PEM/DER decoder
 * set-up costs several times an ECDSA verification, so the common form (a named-curve P-256
 * SubjectPublicKeyInfo with an uncompressed point, the canonical form registration stores) is
 * taken apart by devkey_p256_spki and its point imported directly. */
#include "service/identity_key.h"

#include "common/crypto.h"
#include "service/devkey.h"

EVP_PKEY *identity_key_from_pem(const char *pem, size_t len, rp_error *err)
{
	uint8_t der[DEVKEY_P256_SPKI_LEN];
	if (devkey_p256_spki(pem, len, der)) {
		rp_error e = RP_ERROR_INIT;
		EVP_PKEY *key = rp_key_from_p256_point(der + DEVKEY_P256_POINT_OFFSET, &e);
		if (key)
			return key;
		rp_error_clear(&e); /* the general decoder below names what is wrong */
	}
	return rp_key_from_public_pem(pem, len, err);
}
