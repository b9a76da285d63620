/* HTTP/1.1 response reader of the update client: http-parser does the syntax and framing, this
 * adds the caps that stop the endless-data attack (TUF specification, section 1.5.2) before a
 * byte reaches the caller, and decides whether the connection can be reused. */
#include "device/update/update_http.h"

#include <limits.h>
#include <string.h>

static int on_headers_complete(http_parser *p)
{
	struct update_http_response *r = p->data;
	r->status = p->status_code;
	if (r->status / 100 == 1) {
		/* An interim answer (100 Continue): the real one follows. It has no body (1 tells
		 * http-parser so), and only a few are accepted. */
		if (++r->interim > UPDATE_HTTP_INTERIM_MAX)
			return -1;
		return 1;
	}
	r->head_done = true;
	if (r->ops->on_head && r->ops->on_head(r->ud, r) < 0) {
		r->aborted = true;
		return -1;
	}
	/* A length above the cap is refused before any byte of the body is taken. */
	if (!r->discard && p->content_length != ULLONG_MAX && p->content_length > r->cap) {
		r->announced_over = true;
		return -1;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct update_http_response *r = p->data;
	if (r->discard) {
		r->body_len += n;
		if (r->body_len > UPDATE_HTTP_DISCARD_MAX) {
			/* A long error page: its status is all we need; the connection is dropped. */
			r->done = true;
			r->keep_alive = false;
			http_parser_pause(p, 1);
		}
		return 0;
	}
	if (n > r->cap - r->body_len) {
		r->over = true;
		return -1;
	}
	if (r->ops->on_body && r->ops->on_body(r->ud, (const uint8_t *)at, n) < 0) {
		r->aborted = true;
		return -1;
	}
	r->body_len += n;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct update_http_response *r = p->data;
	if (!r->head_done) {
		r->status = 0; /* after an interim answer: wait for the final one */
		return 0;
	}
	r->done = true;
	r->keep_alive = http_should_keep_alive(p) != 0;
	/* Stop here: anything after this response was not asked for. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void update_http_response_init(struct update_http_response *r, const struct update_http_ops *ops, void *ud,
                               uint64_t cap)
{
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->parser, HTTP_RESPONSE);
	r->parser.data = r;
	r->ops = ops;
	r->ud = ud;
	r->cap = cap;
}

static int failed(struct update_http_response *r)
{
	r->http_err = HTTP_PARSER_ERRNO(&r->parser);
	if (!r->over && !r->announced_over && !r->aborted)
		r->malformed = true;
	r->keep_alive = false;
	return -1;
}

int update_http_feed(struct update_http_response *r, const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0; /* a zero length means end of stream to http-parser: that is update_http_eof */
	if (r->malformed || r->over || r->announced_over || r->aborted)
		return -1;
	if (r->done) {
		r->keep_alive = false;
		return 0;
	}
	r->started = true;
	/* The body cap counts body bytes only: bound the whole response on the wire as well. */
	uint64_t wire_max = r->cap > (UINT64_MAX - UPDATE_HTTP_OVERHEAD_MAX) / 2 ? UINT64_MAX
	                                                                         : 2 * r->cap + UPDATE_HTTP_OVERHEAD_MAX;
	if (n > wire_max - r->wire_len) {
		r->over = true;
		r->keep_alive = false;
		return -1;
	}
	r->wire_len += n;
	size_t used = http_parser_execute(&r->parser, &settings, (const char *)p, n);
	if (r->done) {
		if (used < n)
			r->keep_alive = false;
		return 0;
	}
	if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK)
		return failed(r);
	if (r->parser.upgrade || used != n) {
		/* A protocol switch is nothing the update client asked for. */
		r->parser.http_errno = HPE_UNKNOWN;
		return failed(r);
	}
	return 0;
}

int update_http_eof(struct update_http_response *r)
{
	if (r->done) {
		r->keep_alive = false;
		return 0;
	}
	if (!r->started || r->malformed || r->over || r->announced_over || r->aborted)
		return -1;
	/* Ends a body that runs until the close; any other framing cut short is an error. */
	(void)http_parser_execute(&r->parser, &settings, NULL, 0);
	r->keep_alive = false;
	if (r->done)
		return 0;
	r->http_err = HTTP_PARSER_ERRNO(&r->parser);
	return -1;
}
