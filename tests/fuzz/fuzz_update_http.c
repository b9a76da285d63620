/* Fuzz target: an HTTP response as the update client reads it (update_http.c), fed in pieces
 * whose sizes the input chooses, with a small body cap, then the end of the stream; then the
 * Content-Range it kept, and the input itself, through the strict Content-Range parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "device/update/update_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint64_t bytes;
	uint8_t last;
};

static int fuzz_head(void *ud, struct update_http_response *r)
{
	(void)ud;
	r->discard = r->status != 200 && r->status != 206;
	if (r->status == 200)
		r->cap = 2048; /* as a server ignoring a Range: the cap grows to the whole blob */
	return 0;
}

static int fuzz_body(void *ud, const uint8_t *p, size_t n)
{
	struct seen *s = ud;
	s->bytes += n;
	if (n > 0)
		s->last ^= p[n - 1]; /* touch the bytes: ASan sees any read past the buffer */
	return 0;
}

static void check_range(const char *v, size_t len)
{
	struct update_http_range rg;
	rp_error err = RP_ERROR_INIT;
	if (update_http_content_range_parse(v, len, &rg, &err) < 0) {
		if (err.message[0] == 0)
			__builtin_trap(); /* every refusal says why */
		return;
	}
	if (rg.first > rg.last || (rg.complete_known && rg.last >= rg.complete))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct update_http_ops ops = {.on_head = fuzz_head, .on_body = fuzz_body};
	if (size < 1)
		return 0;
	size_t piece = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	struct seen s = {0};
	struct update_http_response r;
	update_http_response_init(&r, &ops, &s, 1024);
	size_t off = 0;
	while (off < size && !r.done) {
		size_t n = size - off < piece ? size - off : piece;
		if (update_http_feed(&r, data + off, n) < 0)
			break;
		off += n;
	}
	if (!r.done && !r.malformed && !r.over && !r.announced_over && !r.aborted)
		(void)update_http_eof(&r);
	if (s.bytes > r.cap || (!r.discard && s.bytes != r.body_len))
		__builtin_trap(); /* the cap must hold, and every byte counted */
	if (r.content_range_len > UPDATE_HTTP_CONTENT_RANGE_MAX || strlen(r.content_range) > r.content_range_len)
		__builtin_trap();
	if (r.head_done && r.content_range_count > 0)
		check_range(r.content_range, r.content_range_len);
	check_range((const char *)data, size);
	return 0;
}
