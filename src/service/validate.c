/* Validation of externally supplied names and text (see validate.h). */
#include "service/validate.h"

#include <stdint.h>
#include <string.h>
#include "common/guid.h"


static int check_text(const char *s, const char *what, size_t min, size_t max, rp_error *err)
{
	size_t len = strnlen(s, max + 1);
	if (len < min)
		return rp_error_set(err, RP_E_INVALID, "%s must not be empty", what);
	if (len > max)
		return rp_error_set(err, RP_E_INVALID, "%s is longer than %zu bytes", what, max);
	if (!rp_text_is_printable_utf8(s, len))
		return rp_error_set(err, RP_E_INVALID, "%s must be UTF-8 text without control characters", what);
	return 0;
}

int validate_name(const char *s, const char *what, rp_error *err)
{
	if (check_text(s, what, 1, VALIDATE_NAME_MAX, err) < 0)
		return -1;
	size_t len = strlen(s);
	if (s[0] == ' ' || s[len - 1] == ' ')
		return rp_error_set(err, RP_E_INVALID, "%s must not start or end with a space", what);
	/* A name that looks like an ID would make "ID or name" lookups ambiguous. */
	if (rp_guid_is_valid(s))
		return rp_error_set(err, RP_E_INVALID, "%s must not have the form of an ID", what);
	return 0;
}

int validate_description(const char *s, const char *what, rp_error *err)
{
	return check_text(s, what, 0, VALIDATE_DESCRIPTION_MAX, err);
}

int validate_user(const char *s, rp_error *err)
{
	size_t len = strnlen(s, VALIDATE_USER_MAX + 1);
	bool ok = len >= 1 && len <= VALIDATE_USER_MAX;
	for (size_t i = 0; ok && i < len; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		ok = alnum || (i > 0 && strchr("._@+-", c) != NULL);
	}
	if (!ok)
		return rp_error_set(err, RP_E_INVALID,
		                    "user name must be 1..%d characters of letters, digits and ._@+- "
		                    "starting with a letter or digit",
		                    VALIDATE_USER_MAX);
	return 0;
}

bool validate_hex64(const char *s)
{
	if (strnlen(s, 65) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}
