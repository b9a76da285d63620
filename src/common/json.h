/* Strict JSON helpers over jansson for untrusted documents: bounded size, no duplicate keys,
 * no NUL in strings, unknown keys refused, every getter type-checked with a precise error. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "common/error.h"

/* jansson provides json_decrefp() for its own json_auto_t. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Parse LEN bytes (at most MAX_LEN) into a JSON value; WHAT names the document in errors. */
json_t *rp_json_parse(const char *buf, size_t len, size_t max_len, const char *what, rp_error *err);
json_t *rp_json_load_file(const char *path, size_t max_len, rp_error *err);

/* Refuse keys of OBJ not listed in ALLOWED (NULL-terminated). WHAT names the object in errors. */
int rp_json_check_keys(json_t *obj, const char *const *allowed, const char *what, rp_error *err) RP_MUST_CHECK;

/* Getters: a missing key is an error when REQUIRED, otherwise leaves *out unchanged and returns 0.
 * A present key of the wrong type is always an error. Returns 1 when the key was found. */
int rp_json_get_string(json_t *obj, const char *key, bool required, const char **out, rp_error *err) RP_MUST_CHECK;
int rp_json_get_bool(json_t *obj, const char *key, bool required, bool *out, rp_error *err) RP_MUST_CHECK;
int rp_json_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max, int64_t *out,
                    rp_error *err) RP_MUST_CHECK;
int rp_json_get_object(json_t *obj, const char *key, bool required, json_t **out, rp_error *err) RP_MUST_CHECK;
int rp_json_get_array(json_t *obj, const char *key, bool required, json_t **out, rp_error *err) RP_MUST_CHECK;

/* Compact output with sorted keys; malloc'd, never NULL. */
char *rp_json_dump(const json_t *value);
/* Name of a JSON value's type for error messages ("string", "array", ...). */
const char *rp_json_type_name(const json_t *value);
