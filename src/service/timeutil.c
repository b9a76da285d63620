/* RFC 3339 UTC timestamps for the API (one fixed form, so clients need not guess). */
#include "service/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void timeutil_format(int64_t t, char out[TIMEUTIL_RFC3339_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, TIMEUTIL_RFC3339_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, TIMEUTIL_RFC3339_LEN, "1970-01-01T00:00:00Z");
}

int timeutil_parse(const char *s, int64_t *out, rp_error *err)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = (strlen(s) == 20) ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	if (!end || *end != '\0')
		return rp_error_set(err, RP_E_INVALID, "time \"%.40s\" is not of the form 2026-01-31T12:00:00Z", s);
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return rp_error_set(err, RP_E_INVALID, "time \"%.40s\" is out of range", s);
	*out = (int64_t)t;
	return 0;
}
