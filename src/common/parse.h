/* Bounded integer parsing: decimal only, whole string, range-checked. Never atoi. */
#pragma once

#include <stdint.h>
#include "common/error.h"

int rp_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, rp_error *err) RP_MUST_CHECK;
int rp_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, rp_error *err) RP_MUST_CHECK;
int rp_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out, rp_error *err) RP_MUST_CHECK;
/* Sizes with an optional K/M/G suffix (powers of 1024): "64M" -> 67108864. */
int rp_parse_size(const char *s, uint64_t max, uint64_t *out, rp_error *err) RP_MUST_CHECK;
