/* OpenSSL's reasons in the error chain. Kept apart from error.c so that programs which do no
 * cryptography (the application manager daemon) link without libcrypto. */
#include <stdarg.h>
#include <openssl/err.h>

#include "common/error.h"
#include "common/error_internal.h"

int rp_error_set_openssl(rp_error *err, const char *fmt, ...)
{
	unsigned long e = ERR_peek_last_error();
	char reason[256] = "unknown OpenSSL error";
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	rp_error_vformat(err, fmt, ap);
	va_end(ap);
	err->code = RP_E_CRYPTO;
	err->sys_errno = 0;
	rp_error_append(err, ": ");
	rp_error_append(err, reason);
	return -1;
}
