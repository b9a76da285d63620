/* GUIDs (component IDs, tenant IDs, image IDs) in the canonical 8-4-4-4-12 hex form. */
#pragma once

#include <stdbool.h>
#include "common/error.h"

#define RP_GUID_STRLEN 36

/* True when S is exactly 36 characters of 8-4-4-4-12 hex digits. */
bool rp_guid_is_valid(const char *s);
/* Validate and copy in lowercase form to OUT (37 bytes). */
int rp_guid_normalize(const char *s, char out[RP_GUID_STRLEN + 1], rp_error *err) RP_MUST_CHECK;
/* A random (version 4) GUID, lowercase. */
int rp_guid_generate(char out[RP_GUID_STRLEN + 1], rp_error *err) RP_MUST_CHECK;
