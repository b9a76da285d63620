/* GUID helpers (see guid.h). */
#include "common/guid.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <openssl/rand.h>

bool rp_guid_is_valid(const char *s)
{
	if (!s || strlen(s) != RP_GUID_STRLEN)
		return false;
	for (size_t i = 0; i < RP_GUID_STRLEN; i++) {
		bool dash = (i == 8 || i == 13 || i == 18 || i == 23);
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

int rp_guid_normalize(const char *s, char out[RP_GUID_STRLEN + 1], rp_error *err)
{
	if (!rp_guid_is_valid(s))
		return rp_error_set(err, RP_E_INVALID,
		                    "'%.64s' is not a GUID (expected 8-4-4-4-12 hex digits, e.g. "
		                    "1689d8b2-c835-2e27-27ad-e894d6d15fa9)",
		                    s ? s : "");
	for (size_t i = 0; i <= RP_GUID_STRLEN; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	return 0;
}

int rp_guid_generate(char out[RP_GUID_STRLEN + 1], rp_error *err)
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return rp_error_set_openssl(err, "generating a GUID");
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, RP_GUID_STRLEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
	         b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}
