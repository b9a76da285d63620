/* RFC 3339 UTC timestamps ("2026-01-31T12:00:00Z") as the API writes and accepts them. */
#pragma once

#include <stdint.h>
#include "common/error.h"

#define TIMEUTIL_RFC3339_LEN 32

void timeutil_format(int64_t t, char out[TIMEUTIL_RFC3339_LEN]);
/* Accepts exactly YYYY-MM-DDTHH:MM:SSZ. */
int timeutil_parse(const char *s, int64_t *out, rp_error *err) RP_MUST_CHECK;
