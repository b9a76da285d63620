/* Bounded integer parsing (see parse.h). */
#include "common/parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int digits_only(const char *s, size_t start)
{
	if (!s[start])
		return 0;
	for (size_t i = start; s[i]; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int rp_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, rp_error *err)
{
	if (!s || !digits_only(s, 0))
		return rp_error_set(err, RP_E_INVALID, "'%s' is not a non-negative decimal integer", s ? s : "(null)");
	errno = 0;
	unsigned long long v = strtoull(s, NULL, 10);
	if (errno == ERANGE || v < min || v > max)
		return rp_error_set(err, RP_E_INVALID, "%s is out of range [%" PRIu64 ", %" PRIu64 "]", s, min, max);
	*out = (uint64_t)v;
	return 0;
}

int rp_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, rp_error *err)
{
	if (!s || !digits_only(s, s[0] == '-' ? 1 : 0))
		return rp_error_set(err, RP_E_INVALID, "'%s' is not a decimal integer", s ? s : "(null)");
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	if (errno == ERANGE || v < min || v > max)
		return rp_error_set(err, RP_E_INVALID, "%s is out of range [%" PRId64 ", %" PRId64 "]", s, min, max);
	*out = (int64_t)v;
	return 0;
}

int rp_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out, rp_error *err)
{
	uint64_t v;
	if (rp_parse_u64(s, min, max, &v, err) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int rp_parse_size(const char *s, uint64_t max, uint64_t *out, rp_error *err)
{
	if (!s || !*s)
		return rp_error_set(err, RP_E_INVALID, "empty size");
	size_t len = strlen(s);
	uint64_t mult = 1;
	char last = s[len - 1];
	if (last == 'K' || last == 'k')
		mult = 1024;
	else if (last == 'M' || last == 'm')
		mult = 1024 * 1024;
	else if (last == 'G' || last == 'g')
		mult = 1024ULL * 1024 * 1024;
	char num[32];
	size_t nlen = mult == 1 ? len : len - 1;
	if (nlen == 0 || nlen >= sizeof(num))
		return rp_error_set(err, RP_E_INVALID, "'%s' is not a size", s);
	memcpy(num, s, nlen);
	num[nlen] = '\0';
	uint64_t v;
	if (rp_parse_u64(num, 0, UINT64_MAX / mult, &v, err) < 0)
		return rp_error_prefix(err, "size '%s'", s);
	if (v * mult > max)
		return rp_error_set(err, RP_E_INVALID, "size %s is larger than the maximum %" PRIu64, s, max);
	*out = v * mult;
	return 0;
}
