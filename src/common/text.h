/* Text checks shared by every parser of untrusted strings. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True when S[0..len) is well-formed UTF-8 with no control characters: no C0 or C1 controls or
 * DEL (terminal escapes, NUL), no overlong forms, no surrogates, nothing beyond U+10FFFF. */
bool rp_text_is_printable_utf8(const void *s, size_t len);
/* Make untrusted text safe to print on a terminal, in place: every C0 control, DEL, C1 control
 * (U+0080..U+009F, which some terminals obey as escape sequences) and byte that is not part of
 * well-formed UTF-8 becomes '?'. KEEP_LINES keeps '\n' and '\t' (logs); without it they are
 * replaced too (table cells, one-line messages). Other UTF-8 text is kept. Returns S. */
char *rp_text_make_printable(char *s, bool keep_lines);
