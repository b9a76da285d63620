/* Length-checked binary reading and writing (big-endian), for formats and IPC messages.
 * A reader never reads past its end: every getter fails once and stays failed, so a parser can
 * check rp_reader_ok() after a run of getters and name the first field that was short. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

typedef struct rp_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;
	const char *failed_field; /* first field that could not be read, or NULL */
} rp_reader;

void rp_reader_init(rp_reader *r, const void *data, size_t len);
bool rp_reader_u8(rp_reader *r, const char *field, uint8_t *out);
bool rp_reader_u16(rp_reader *r, const char *field, uint16_t *out);
bool rp_reader_u32(rp_reader *r, const char *field, uint32_t *out);
bool rp_reader_u64(rp_reader *r, const char *field, uint64_t *out);
bool rp_reader_bytes(rp_reader *r, const char *field, void *out, size_t n);
/* Borrow N bytes in place. */
bool rp_reader_view(rp_reader *r, const char *field, const uint8_t **out, size_t n);
size_t rp_reader_remaining(const rp_reader *r);
bool rp_reader_ok(const rp_reader *r);
/* Fails (RP_E_INVALID) if a getter failed or bytes remain unread; WHAT names the message. */
int rp_reader_finish(const rp_reader *r, const char *what, rp_error *err) RP_MUST_CHECK;

typedef struct rp_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} rp_buf;

void rp_buf_init(rp_buf *b);
void rp_buf_free(rp_buf *b);
void rp_buf_append(rp_buf *b, const void *data, size_t n);
void rp_buf_u8(rp_buf *b, uint8_t v);
void rp_buf_u16(rp_buf *b, uint16_t v);
void rp_buf_u32(rp_buf *b, uint32_t v);
void rp_buf_u64(rp_buf *b, uint64_t v);

static inline void rp_put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static inline uint32_t rp_get_u32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void rp_put_u64be(uint8_t *p, uint64_t v)
{
	rp_put_u32be(p, (uint32_t)(v >> 32));
	rp_put_u32be(p + 4, (uint32_t)v);
}
static inline uint64_t rp_get_u64be(const uint8_t *p)
{
	return (uint64_t)rp_get_u32be(p) << 32 | rp_get_u32be(p + 4);
}
