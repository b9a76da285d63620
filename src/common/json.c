/* Strict JSON helpers (see json.h). */
#include "common/json.h"

#include <string.h>

#include "common/fileio.h"
#include "common/xalloc.h"

const char *rp_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

json_t *rp_json_parse(const char *buf, size_t len, size_t max_len, const char *what, rp_error *err)
{
	if (len > max_len) {
		rp_error_set(err, RP_E_LIMIT, "%s is %zu bytes, over the limit of %zu", what, len, max_len);
		return NULL;
	}
	json_error_t jerr;
	/* JSON_REJECT_DUPLICATES: two values for one key would let two parsers see different documents. */
	json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		rp_error_set(err, RP_E_INVALID, "%s is not valid JSON: %s (line %d, column %d)", what, jerr.text,
		             jerr.line, jerr.column);
		return NULL;
	}
	return v;
}

json_t *rp_json_load_file(const char *path, size_t max_len, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, max_len, &data, &len, err) < 0)
		return NULL;
	return rp_json_parse((const char *)data, len, max_len, path, err);
}

int rp_json_check_keys(json_t *obj, const char *const *allowed, const char *what, rp_error *err)
{
	if (!json_is_object(obj))
		return rp_error_set(err, RP_E_INVALID, "%s must be a JSON object, not %s", what, rp_json_type_name(obj));
	const char *key;
	json_t *value;
	json_object_foreach(obj, key, value) {
		bool known = false;
		for (size_t i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				known = true;
		if (!known)
			return rp_error_set(err, RP_E_INVALID, "%s has an unknown field \"%.64s\"", what, key);
	}
	return 0;
}

static json_t *lookup(json_t *obj, const char *key, bool required, rp_error *err, int *status)
{
	*status = 0;
	if (!json_is_object(obj)) {
		*status = rp_error_set(err, RP_E_INVALID, "expected a JSON object holding \"%s\"", key);
		return NULL;
	}
	json_t *v = json_object_get(obj, key);
	if (!v && required)
		*status = rp_error_set(err, RP_E_INVALID, "missing required field \"%s\"", key);
	return v;
}

#define TYPED_GETTER_PROLOGUE(check, type_name)                                                                        \
	int status;                                                                                                    \
	json_t *v = lookup(obj, key, required, err, &status);                                                          \
	if (!v)                                                                                                        \
		return status;                                                                                         \
	if (!(check))                                                                                                  \
		return rp_error_set(err, RP_E_INVALID, "field \"%s\" must be %s, not %s", key, type_name,              \
		                    rp_json_type_name(v));

int rp_json_get_string(json_t *obj, const char *key, bool required, const char **out, rp_error *err)
{
	TYPED_GETTER_PROLOGUE(json_is_string(v), "a string")
	if (strlen(json_string_value(v)) != json_string_length(v))
		return rp_error_set(err, RP_E_INVALID, "field \"%s\" contains a NUL character", key);
	*out = json_string_value(v);
	return 1;
}

int rp_json_get_bool(json_t *obj, const char *key, bool required, bool *out, rp_error *err)
{
	TYPED_GETTER_PROLOGUE(json_is_boolean(v), "true or false")
	*out = json_is_true(v);
	return 1;
}

int rp_json_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max, int64_t *out,
                    rp_error *err)
{
	TYPED_GETTER_PROLOGUE(json_is_integer(v), "an integer")
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return rp_error_set(err, RP_E_INVALID, "field \"%s\" is %lld, outside [%lld, %lld]", key, (long long)i,
		                    (long long)min, (long long)max);
	*out = (int64_t)i;
	return 1;
}

int rp_json_get_object(json_t *obj, const char *key, bool required, json_t **out, rp_error *err)
{
	TYPED_GETTER_PROLOGUE(json_is_object(v), "an object")
	*out = v;
	return 1;
}

int rp_json_get_array(json_t *obj, const char *key, bool required, json_t **out, rp_error *err)
{
	TYPED_GETTER_PROLOGUE(json_is_array(v), "an array")
	*out = v;
	return 1;
}

char *rp_json_dump(const json_t *value)
{
	char *s = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s)
		rp_abort("serialising JSON");
	return s;
}
