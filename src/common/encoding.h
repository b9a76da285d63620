/* Hex and base64 codecs. Decoders are strict: they reject anything that is not canonical. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

/* Lowercase hex; returns a malloc'd NUL-terminated string. */
char *rp_hex_encode(const uint8_t *data, size_t len) __attribute__((returns_nonnull));
/* Decode exactly OUT_LEN bytes (2 * OUT_LEN hex digits, either case). */
int rp_hex_decode(const char *hex, uint8_t *out, size_t out_len, rp_error *err) RP_MUST_CHECK;
/* Decode any even-length hex string into a malloc'd buffer. */
int rp_hex_decode_alloc(const char *hex, uint8_t **out, size_t *out_len, rp_error *err) RP_MUST_CHECK;

/* Standard base64 with padding, no line breaks. */
char *rp_base64_encode(const uint8_t *data, size_t len) __attribute__((returns_nonnull));
int rp_base64_decode(const char *text, size_t text_len, uint8_t **out, size_t *out_len, rp_error *err) RP_MUST_CHECK;
