/* libFuzzer target for capability files (common/capability.c). Besides "never crash, never leak":
 * every refusal says why, verification against an unrelated key never succeeds, and whatever is
 * accepted can be signed again and parses back to the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/capability.h"
#include "common/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *fuzz_key(void)
{
	static EVP_PKEY *key;
	if (!key) {
		rp_error err = RP_ERROR_INIT;
		key = rp_key_generate_p256(&err);
		if (!key)
			abort();
	}
	return key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_error err = RP_ERROR_INIT;
	struct capability c;
	if (capability_parse(data, size, &c, &err) < 0) {
		if (!err.message[0] || err.code == RP_OK)
			abort();
		return 0;
	}
	/* Nobody holds this key, so no input can carry a valid signature by it. */
	if (capability_verify(&c, fuzz_key(), c.device_id, c.type, c.issued_at, &err) == 0)
		abort();
	char *doc = capability_sign(&c, fuzz_key(), &err);
	if (!doc)
		abort();
	struct capability c2;
	if (capability_parse((const uint8_t *)doc, strlen(doc), &c2, &err) < 0)
		abort();
	if (strcmp(c.device_id, c2.device_id) != 0 || strcmp(c.serial, c2.serial) != 0 ||
	    c.issued_at != c2.issued_at || c.expires_at != c2.expires_at || c.ndev_keys != c2.ndev_keys)
		abort();
	rp_error_clear(&err);
	if (capability_verify(&c2, fuzz_key(), c.device_id, c.type, c.issued_at, &err) != 0)
		abort();
	capability_free(&c2);
	capability_free(&c);
	free(doc);
	return 0;
}
