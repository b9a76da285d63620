/* libFuzzer target: certificate signing requests from devices are hostile input. Whatever the
 * bytes, ca_csr_check() must return a key or an error, never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <openssl/err.h>

#include "service/ca_csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *key = ca_csr_check((const char *)data, size, &err);
	if (!key && !rp_error_is_set(&err))
		__builtin_trap(); /* a refusal must always say why */
	EVP_PKEY_free(key);
	ERR_clear_error();
	return 0;
}
