/* Length-checked binary reader and growable writer (see bytes.h). */
#include "common/bytes.h"

#include <string.h>
#include "common/xalloc.h"

void rp_reader_init(rp_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
	r->failed_field = NULL;
}

static bool take(rp_reader *r, const char *field, size_t n, const uint8_t **p)
{
	if (r->failed_field)
		return false;
	if (n > r->len - r->pos) {
		r->failed_field = field;
		return false;
	}
	*p = r->data + r->pos;
	r->pos += n;
	return true;
}

bool rp_reader_u8(rp_reader *r, const char *field, uint8_t *out)
{
	const uint8_t *p;
	if (!take(r, field, 1, &p))
		return false;
	*out = p[0];
	return true;
}

bool rp_reader_u16(rp_reader *r, const char *field, uint16_t *out)
{
	const uint8_t *p;
	if (!take(r, field, 2, &p))
		return false;
	*out = (uint16_t)(p[0] << 8 | p[1]);
	return true;
}

bool rp_reader_u32(rp_reader *r, const char *field, uint32_t *out)
{
	const uint8_t *p;
	if (!take(r, field, 4, &p))
		return false;
	*out = rp_get_u32be(p);
	return true;
}

bool rp_reader_u64(rp_reader *r, const char *field, uint64_t *out)
{
	const uint8_t *p;
	if (!take(r, field, 8, &p))
		return false;
	*out = rp_get_u64be(p);
	return true;
}

bool rp_reader_bytes(rp_reader *r, const char *field, void *out, size_t n)
{
	const uint8_t *p;
	if (!take(r, field, n, &p))
		return false;
	if (n)
		memcpy(out, p, n);
	return true;
}

bool rp_reader_view(rp_reader *r, const char *field, const uint8_t **out, size_t n)
{
	return take(r, field, n, out);
}

size_t rp_reader_remaining(const rp_reader *r) { return r->len - r->pos; }
bool rp_reader_ok(const rp_reader *r) { return r->failed_field == NULL; }

int rp_reader_finish(const rp_reader *r, const char *what, rp_error *err)
{
	if (r->failed_field)
		return rp_error_set(err, RP_E_INVALID, "%s is truncated: no room for %s", what, r->failed_field);
	if (r->pos != r->len)
		return rp_error_set(err, RP_E_INVALID, "%s has %zu unexpected trailing bytes", what, r->len - r->pos);
	return 0;
}

void rp_buf_init(rp_buf *b) { memset(b, 0, sizeof(*b)); }

void rp_buf_free(rp_buf *b)
{
	free(b->data);
	rp_buf_init(b);
}

void rp_buf_append(rp_buf *b, const void *data, size_t n)
{
	if (n > SIZE_MAX - b->len)
		rp_abort("buffer size overflow");
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n)
			cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
}

void rp_buf_u8(rp_buf *b, uint8_t v) { rp_buf_append(b, &v, 1); }
void rp_buf_u16(rp_buf *b, uint16_t v)
{
	uint8_t p[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	rp_buf_append(b, p, 2);
}
void rp_buf_u32(rp_buf *b, uint32_t v)
{
	uint8_t p[4];
	rp_put_u32be(p, v);
	rp_buf_append(b, p, 4);
}
void rp_buf_u64(rp_buf *b, uint64_t v)
{
	uint8_t p[8];
	rp_put_u64be(p, v);
	rp_buf_append(b, p, 8);
}
