/* Hex (see encoding.h). Base64 is in encoding_base64.c, apart, so that programs which need only
 * hex (the peripheral broker) do not link libcrypto. */
#include "common/encoding.h"

#include <string.h>

#include "common/xalloc.h"

char *rp_hex_encode(const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *out = xmalloc(len * 2 + 1);
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0xf];
	}
	out[len * 2] = '\0';
	return out;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int rp_hex_decode(const char *hex, uint8_t *out, size_t out_len, rp_error *err)
{
	size_t len = strlen(hex);
	if (len != out_len * 2)
		return rp_error_set(err, RP_E_INVALID, "expected %zu hex digits, got %zu", out_len * 2, len);
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return rp_error_set(err, RP_E_INVALID, "invalid hex digit at position %zu", hi < 0 ? 2 * i : 2 * i + 1);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int rp_hex_decode_alloc(const char *hex, uint8_t **out, size_t *out_len, rp_error *err)
{
	size_t len = strlen(hex);
	if (len % 2)
		return rp_error_set(err, RP_E_INVALID, "hex string has an odd number of digits");
	_cleanup_free_ uint8_t *buf = xmalloc(len / 2 + 1);
	if (rp_hex_decode(hex, buf, len / 2, err) < 0)
		return -1;
	*out = steal_ptr(buf);
	*out_len = len / 2;
	return 0;
}
