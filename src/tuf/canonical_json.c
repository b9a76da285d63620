/* OLPC canonical JSON encoder over jansson values (see canonical_json.h). */
#include "tuf/canonical_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/xalloc.h"

static void put_string(rp_buf *b, const char *s, size_t len)
{
	/* Canonical JSON escapes only the quote and the backslash; every other byte (newlines in
	 * PEM keys included) is written as is, so both sides hash exactly the same bytes. */
	rp_buf_u8(b, '"');
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			rp_buf_append(b, s + start, i - start);
			rp_buf_u8(b, '\\');
			start = i;
		}
	}
	rp_buf_append(b, s + start, len - start);
	rp_buf_u8(b, '"');
}

static int cmp_keys(const void *a, const void *b)
{
	/* strcmp orders UTF-8 by code point, the order canonical JSON asks for. */
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int encode(const json_t *v, rp_buf *b, int depth, rp_error *err)
{
	if (depth > CANONICAL_JSON_MAX_DEPTH)
		return rp_error_set(err, RP_E_INVALID, "JSON is nested deeper than %d levels", CANONICAL_JSON_MAX_DEPTH);
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		size_t n = json_object_size(v);
		_cleanup_free_ const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
		size_t i = 0;
		const char *key;
		json_t *value;
		json_object_foreach((json_t *)v, key, value) keys[i++] = key;
		qsort(keys, n, sizeof(*keys), cmp_keys);
		rp_buf_u8(b, '{');
		for (i = 0; i < n; i++) {
			if (i)
				rp_buf_u8(b, ',');
			put_string(b, keys[i], strlen(keys[i]));
			rp_buf_u8(b, ':');
			if (encode(json_object_get(v, keys[i]), b, depth + 1, err) < 0)
				return -1;
		}
		rp_buf_u8(b, '}');
		return 0;
	}
	case JSON_ARRAY:
		rp_buf_u8(b, '[');
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				rp_buf_u8(b, ',');
			if (encode(json_array_get(v, i), b, depth + 1, err) < 0)
				return -1;
		}
		rp_buf_u8(b, ']');
		return 0;
	case JSON_STRING:
		put_string(b, json_string_value(v), json_string_length(v));
		return 0;
	case JSON_INTEGER: {
		char num[32];
		int n = snprintf(num, sizeof(num), "%" PRId64, (int64_t)json_integer_value(v));
		rp_buf_append(b, num, (size_t)n);
		return 0;
	}
	case JSON_REAL:
		/* Floats have no single textual form, so two encoders could disagree on the bytes. */
		return rp_error_set(err, RP_E_INVALID, "canonical JSON has no floating-point numbers; use integers");
	case JSON_TRUE:
		rp_buf_append(b, "true", 4);
		return 0;
	case JSON_FALSE:
		rp_buf_append(b, "false", 5);
		return 0;
	case JSON_NULL:
		rp_buf_append(b, "null", 4);
		return 0;
	}
	return rp_error_set(err, RP_E_INVALID, "unknown JSON value type");
}

int canonical_json_encode(const json_t *value, char **out, size_t *len, rp_error *err)
{
	rp_buf b;
	rp_buf_init(&b);
	if (!value || encode(value, &b, 0, err) < 0) {
		if (!value)
			rp_error_set(err, RP_E_INTERNAL, "no JSON value to encode");
		rp_buf_free(&b);
		return -1;
	}
	rp_buf_u8(&b, 0);
	*out = (char *)b.data;
	*len = b.len - 1;
	return 0;
}
