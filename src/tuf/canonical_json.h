/* OLPC canonical JSON (the encoding TUF signs): sorted keys, no whitespace, integers only, and
 * only '\' and '"' escaped inside strings. Signatures are made and checked over these bytes. */
#pragma once

#include <stddef.h>
#include <jansson.h>
#include "common/error.h"

/* Deepest nesting the encoder accepts; TUF metadata needs about 6 levels. */
#define CANONICAL_JSON_MAX_DEPTH 32

/* Encode VALUE; *out is malloc'd and NUL-terminated (the NUL is not counted in *len).
 * Fails with RP_E_INVALID for floating-point numbers (canonical JSON has none) or for
 * nesting deeper than CANONICAL_JSON_MAX_DEPTH. */
int canonical_json_encode(const json_t *value, char **out, size_t *len, rp_error *err) RP_MUST_CHECK;
