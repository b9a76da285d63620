/* libFuzzer target: device identity keys as a maker registers them (POST .../devices, bulk CSV
 * rows) are hostile input, and the service parses the common form by hand (devkey.c). Whatever the
 * bytes: devkey_parse returns an ID and canonical PEM or an error saying why; the hand-parsed fast
 * path of identity_key_from_pem agrees with OpenSSL's generic decoder where both decode the bytes;
 * and a key that registers decodes again from its canonical PEM to the same device ID. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/crypto.h"
#include "common/macros.h"
#include "service/devkey.h"
#include "service/identity_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *pem = (const char *)data;
	rp_error err = RP_ERROR_INIT;
	char id[DEVKEY_ID_HEX_LEN + 1];
	char *canonical = NULL;
	if (devkey_parse(pem, size, id, &canonical, &err) < 0) {
		if (!rp_error_is_set(&err))
			__builtin_trap(); /* a refusal must always say why */
	} else {
		/* The canonical form must register as the same device. */
		char id2[DEVKEY_ID_HEX_LEN + 1];
		char *again = NULL;
		rp_error e2 = RP_ERROR_INIT;
		if (devkey_parse(canonical, strlen(canonical), id2, &again, &e2) < 0 || strcmp(id, id2) != 0 ||
		    strcmp(canonical, again) != 0)
			__builtin_trap();
		free(again);
	}
	free(canonical);

	rp_error_clear(&err);
	EVP_PKEY *fast = identity_key_from_pem(pem, size, &err);
	rp_error e3 = RP_ERROR_INIT;
	EVP_PKEY *generic = rp_key_from_public_pem(pem, size, &e3);
	if (!fast && !rp_error_is_set(&err))
		__builtin_trap();
	/* Where both decode the bytes they must agree on the key (the fast path may be more lenient
	 * about the PEM armour, never about the key). */
	if (fast && generic && EVP_PKEY_eq(fast, generic) != 1)
		__builtin_trap();
	EVP_PKEY_free(fast);
	EVP_PKEY_free(generic);
	ERR_clear_error();
	return 0;
}
