/* Text checks for names, descriptions and metadata strings that reach logs, terminals and
 * databases. */
#include "common/text.h"

#include <stdint.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at P (at most AVAIL bytes) that is not a C1 control,
 * or 0. */
static size_t utf8_printable_len(const unsigned char *p, size_t avail)
{
	unsigned c = p[0];
	size_t n;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf)
		n = 1, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 2, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 3, cp = c & 0x07;
	else
		return 0;
	if (avail <= n)
		return 0;
	for (size_t k = 1; k <= n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF, and C1 controls. */
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n + 1;
}

char *rp_text_make_printable(char *s, bool keep_lines)
{
	unsigned char *p = (unsigned char *)s;
	size_t len = strlen(s), i = 0, o = 0;
	while (i < len) {
		unsigned c = p[i];
		if (c >= 0x20 && c < 0x7f) {
			p[o++] = p[i++];
		} else if (c == '\n' || c == '\t') {
			p[o++] = keep_lines ? p[i] : '?';
			i++;
		} else if (c < 0x80) {
			p[o++] = '?';
			i++;
		} else {
			size_t n = utf8_printable_len(p + i, len - i);
			if (n) {
				memmove(p + o, p + i, n);
				o += n;
				i += n;
			} else {
				/* A C1 control's two bytes become one '?'; any other stray byte, one. */
				bool c1 = c == 0xc2 && len - i > 1 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f;
				p[o++] = '?';
				i += c1 ? 2 : 1;
			}
		}
	}
	p[o] = '\0';
	return s;
}

bool rp_text_is_printable_utf8(const void *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		unsigned c = p[i];
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			i++;
			continue;
		}
		size_t n = utf8_printable_len(p + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}
