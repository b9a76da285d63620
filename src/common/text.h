/* Text checks shared by every parser of untrusted strings. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True when S[0..len) is well-formed UTF-8 with no control characters: no C0 or C1 controls or
 * DEL (terminal escapes, NUL), no overlong forms, no surrogates, nothing beyond U+10FFFF. */
bool rp_text_is_printable_utf8(const void *s, size_t len);
