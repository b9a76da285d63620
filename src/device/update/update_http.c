/* HTTP/1.1 response reader of the update client: http-parser does the syntax and framing, this
 * adds the caps that stop the endless-data attack (TUF specification, section 1.5.2) before a
 * byte reaches the caller, and decides whether the connection can be reused. */
#include "device/update/update_http.h"

#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "common/parse.h"

enum { FIELD_OTHER, FIELD_CONTENT_RANGE, FIELD_CONTENT_TYPE };

static int on_message_begin(http_parser *p)
{
	struct update_http_response *r = p->data;
	/* Each answer (an interim one too) starts with no header fields seen. */
	r->content_range[0] = 0;
	r->content_range_len = 0;
	r->content_range_count = 0;
	r->content_range_long = false;
	r->multipart = false;
	r->field_len = 0;
	r->field_long = false;
	r->in_value = false;
	r->field_kind = FIELD_OTHER;
	r->ctype_len = 0;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct update_http_response *r = p->data;
	if (r->in_value) {
		/* A new field: the previous value is complete. */
		r->in_value = false;
		r->field_len = 0;
		r->field_long = false;
	}
	if (n > UPDATE_HTTP_FIELD_MAX - r->field_len) {
		r->field_long = true;
		return 0;
	}
	memcpy(r->field + r->field_len, at, n);
	r->field_len += n;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct update_http_response *r = p->data;
	if (!r->in_value) {
		r->in_value = true;
		r->field[r->field_len] = 0;
		r->field_kind = FIELD_OTHER;
		if (!r->field_long && strcasecmp(r->field, "Content-Range") == 0) {
			r->field_kind = FIELD_CONTENT_RANGE;
			r->content_range_count++;
		} else if (!r->field_long && strcasecmp(r->field, "Content-Type") == 0) {
			r->field_kind = FIELD_CONTENT_TYPE;
			r->ctype_len = 0;
		}
	}
	if (r->field_kind == FIELD_CONTENT_RANGE && r->content_range_count == 1) {
		if (n > UPDATE_HTTP_CONTENT_RANGE_MAX - r->content_range_len) {
			r->content_range_long = true;
			n = UPDATE_HTTP_CONTENT_RANGE_MAX - r->content_range_len;
		}
		memcpy(r->content_range + r->content_range_len, at, n);
		r->content_range_len += n;
		r->content_range[r->content_range_len] = 0;
	} else if (r->field_kind == FIELD_CONTENT_TYPE) {
		/* Only its start matters: "multipart/". */
		size_t room = sizeof(r->ctype) - 1 - r->ctype_len;
		size_t k = n < room ? n : room;
		memcpy(r->ctype + r->ctype_len, at, k);
		r->ctype_len += k;
		r->ctype[r->ctype_len] = 0;
		r->multipart = strncasecmp(r->ctype, "multipart/", 10) == 0;
	}
	return 0;
}

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
	.on_message_begin = on_message_begin,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
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

static bool ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* One number of a Content-Range: 1 to 20 digits, within uint64_t. */
static int range_number(const char *p, size_t n, const char *what, uint64_t *out, rp_error *err)
{
	char num[21];
	if (n == 0 || n >= sizeof(num))
		return rp_error_set(err, RP_E_INVALID, "its %s is %s", what, n == 0 ? "missing" : "too long");
	memcpy(num, p, n);
	num[n] = 0;
	if (rp_parse_u64(num, 0, UINT64_MAX, out, NULL) < 0)
		return rp_error_set(err, RP_E_INVALID, "its %s is not a decimal number", what);
	return 0;
}

int update_http_content_range_parse(const char *v, size_t len, struct update_http_range *out, rp_error *err)
{
	memset(out, 0, sizeof(*out));
	while (len > 0 && ows(v[0])) {
		v++;
		len--;
	}
	while (len > 0 && ows(v[len - 1]))
		len--;
	if (len == 0)
		return rp_error_set(err, RP_E_INVALID, "it is empty");
	if (len > UPDATE_HTTP_CONTENT_RANGE_MAX)
		return rp_error_set(err, RP_E_INVALID, "it is longer than %u bytes", UPDATE_HTTP_CONTENT_RANGE_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return rp_error_set(err, RP_E_INVALID, "it holds a byte that is not printable ASCII");
	if (len < 6 || strncasecmp(v, "bytes ", 6) != 0)
		return rp_error_set(err, RP_E_INVALID, "it is not a byte range (\"bytes FIRST-LAST/LENGTH\")");
	const char *p = v + 6, *end = v + len;
	if (p < end && *p == '*')
		return rp_error_set(err, RP_E_INVALID, "it names no range (\"bytes *\" answers an unsatisfiable one)");
	const char *dash = memchr(p, '-', (size_t)(end - p));
	if (!dash)
		return rp_error_set(err, RP_E_INVALID, "it has no FIRST-LAST range");
	const char *slash = memchr(dash, '/', (size_t)(end - dash));
	if (!slash)
		return rp_error_set(err, RP_E_INVALID, "it has no /LENGTH");
	if (range_number(p, (size_t)(dash - p), "first byte", &out->first, err) < 0 ||
	    range_number(dash + 1, (size_t)(slash - dash - 1), "last byte", &out->last, err) < 0)
		return -1;
	if (slash + 2 == end && slash[1] == '*') {
		out->complete_known = false;
	} else {
		if (range_number(slash + 1, (size_t)(end - slash - 1), "length", &out->complete, err) < 0)
			return -1;
		out->complete_known = true;
	}
	if (out->first > out->last)
		return rp_error_set(err, RP_E_INVALID, "its first byte %" PRIu64 " is past its last byte %" PRIu64,
		                    out->first, out->last);
	if (out->complete_known && out->last >= out->complete)
		return rp_error_set(err, RP_E_INVALID, "its last byte %" PRIu64 " is not within the length %" PRIu64,
		                    out->last, out->complete);
	return 0;
}
