/* Base64 (see encoding.h): the crypto library's block codec with our own strictness checks,
 * because EVP_DecodeBlock accepts padding in odd places and pads its output, and mbedTLS skips
 * whitespace. The checks run first, so both backends accept exactly the same texts. */
#include "common/encoding.h"

#include <stdint.h>
#include <string.h>
#ifdef RP_CRYPTO_MBEDTLS
#include <mbedtls/base64.h>
#else
#include <openssl/evp.h>
#endif

#include "common/macros.h"
#include "common/xalloc.h"

char *rp_base64_encode(const uint8_t *data, size_t len)
{
	if (len > (SIZE_MAX / 4) * 3 - 3 || len > INT32_MAX)
		rp_abort("base64 input too large");
	size_t out_size = 4 * ((len + 2) / 3) + 1;
	char *out = xmalloc(out_size);
#ifdef RP_CRYPTO_MBEDTLS
	size_t written = 0;
	out[0] = '\0'; /* mbedTLS writes nothing at all for empty input */
	if (mbedtls_base64_encode((unsigned char *)out, out_size, &written, data, len) != 0)
		rp_abort("base64 encoding failed");
#else
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
#endif
	return out;
}

static int is_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int rp_base64_decode(const char *text, size_t text_len, uint8_t **out, size_t *out_len, rp_error *err)
{
	if (text_len % 4 != 0)
		return rp_error_set(err, RP_E_INVALID, "base64 length %zu is not a multiple of 4", text_len);
	if (text_len > INT32_MAX)
		return rp_error_set(err, RP_E_LIMIT, "base64 text too long");
	size_t pad = 0;
	for (size_t i = 0; i < text_len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '=') {
			if (i < text_len - 2)
				return rp_error_set(err, RP_E_INVALID, "base64 padding in the middle at position %zu", i);
			pad++;
		} else if (pad || !is_b64_char(c)) {
			return rp_error_set(err, RP_E_INVALID, "invalid base64 character at position %zu", i);
		}
	}
	_cleanup_free_ uint8_t *buf = xmalloc(text_len / 4 * 3 + 1);
#ifdef RP_CRYPTO_MBEDTLS
	/* mbedTLS returns the exact length: padding is not counted. */
	size_t n = 0;
	if (text_len && mbedtls_base64_decode(buf, text_len / 4 * 3 + 1, &n, (const unsigned char *)text, text_len) != 0)
		return rp_error_set(err, RP_E_INVALID, "malformed base64");
	*out_len = n;
#else
	int n = text_len ? EVP_DecodeBlock(buf, (const unsigned char *)text, (int)text_len) : 0;
	if (n < 0 || (size_t)n < pad)
		return rp_error_set(err, RP_E_INVALID, "malformed base64");
	*out_len = (size_t)n - pad;
#endif
	*out = steal_ptr(buf);
	return 0;
}
