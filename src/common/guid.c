/* GUID helpers (see guid.h). */
#include "common/guid.h"

#include <ctype.h>
#include <string.h>

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
