/* Message helpers shared by the error convention's implementation files; not for callers. */
#pragma once

#include <stdarg.h>
#include "common/error.h"

void rp_error_vformat(rp_error *err, const char *fmt, va_list ap) RP_PRINTF(2, 0);
void rp_error_append(rp_error *err, const char *suffix);
