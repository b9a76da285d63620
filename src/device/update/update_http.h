/* HTTP/1.1 response reader of the update client: status, framing (Content-Length, chunked, until
 * close) and the body cap, over bytes handed to it by the transport, so it is fuzzed without
 * sockets. Parsing is http-parser's; this file adds the bounds and the keep-alive decision. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <http_parser.h>

#include "common/error.h"

/* A body the caller does not want (an error page) is read to keep the connection, up to this. */
#define UPDATE_HTTP_DISCARD_MAX (64u * 1024)
/* Interim answers (1xx) accepted before the real one; more is a server stalling the client. */
#define UPDATE_HTTP_INTERIM_MAX 4
/* Everything a response may take on the wire besides twice its body cap: status lines, headers,
 * chunk framing. Caps bytes that are not body bytes (headers of endless interim answers, chunk
 * extensions), which the body cap alone would never count. */
#define UPDATE_HTTP_OVERHEAD_MAX (1024u * 1024)
/* The longest Content-Range value kept: "bytes " and three 20-digit numbers fit with room. */
#define UPDATE_HTTP_CONTENT_RANGE_MAX 96
/* The longest header name compared (longer names are none the client looks at). */
#define UPDATE_HTTP_FIELD_MAX 32

struct update_http_response;

struct update_http_ops {
	/* The status line and headers are in (r->status). Sets r->discard for a body the caller does
	 * not keep, and may change r->cap. Returns <0 to abort the response. */
	int (*on_head)(void *ud, struct update_http_response *r);
	/* N body bytes, already within the cap. Returns <0 to abort. */
	int (*on_body)(void *ud, const uint8_t *p, size_t n);
};

struct update_http_response {
	http_parser parser;
	const struct update_http_ops *ops;
	void *ud;
	unsigned status;
	uint64_t cap;       /* body bytes accepted (not counting a discarded body) */
	uint64_t body_len;  /* body bytes passed on or discarded */
	uint64_t wire_len;  /* bytes fed, framing included (bounded: UPDATE_HTTP_OVERHEAD_MAX) */
	unsigned interim;   /* 1xx answers seen */
	bool started;       /* any byte of the response arrived */
	bool head_done;
	bool discard;
	bool done;          /* the whole message arrived */
	bool keep_alive;    /* valid when DONE: the connection may carry the next request */
	bool over;          /* the body went past CAP (endless data) */
	bool announced_over; /* Content-Length above CAP */
	bool aborted;       /* a callback refused */
	bool malformed;
	enum http_errno http_err;
	/* Headers of the final answer the client checks (a 206 against the Range it asked for); the
	 * fields of an interim answer are forgotten. */
	char content_range[UPDATE_HTTP_CONTENT_RANGE_MAX + 1]; /* NUL-terminated, as received */
	size_t content_range_len;
	unsigned content_range_count; /* Content-Range fields seen: more than one is refused */
	bool content_range_long;      /* the value was longer than UPDATE_HTTP_CONTENT_RANGE_MAX */
	bool multipart;               /* Content-Type multipart/...: a multi-range answer */
	/* Header field being read (http-parser may hand a name or value over in pieces). */
	char field[UPDATE_HTTP_FIELD_MAX + 1];
	size_t field_len;
	bool field_long;
	bool in_value;
	int field_kind;
	char ctype[16];
	size_t ctype_len;
};

/* A Content-Range answer to a byte range request (RFC 9110, section 14.4). */
struct update_http_range {
	uint64_t first, last; /* the bytes sent, both included */
	uint64_t complete;    /* the whole representation's length ... */
	bool complete_known;  /* ... unless the server sent "*" */
};

void update_http_response_init(struct update_http_response *r, const struct update_http_ops *ops, void *ud,
                               uint64_t cap);
/* Feed N received bytes. Returns 0 while the response is fine (check r->done), -1 when it must
 * stop (over, announced_over, aborted or malformed is set). Bytes past the end of the response
 * clear keep_alive: the connection is not reused. */
int update_http_feed(struct update_http_response *r, const uint8_t *p, size_t n);
/* The peer closed the connection: ends a body framed by the close. Returns 0 when the response is
 * complete, -1 when it was cut short. */
int update_http_eof(struct update_http_response *r);
/* Parse a Content-Range value strictly: "bytes FIRST-LAST/COMPLETE" (COMPLETE may be "*": not
 * known), the unit case-insensitive, one space, decimal numbers without sign (at most 20 digits,
 * within uint64_t), FIRST <= LAST < COMPLETE; optional spaces or tabs around the value. Anything else
 * (another unit, the unsatisfied-range form with "*" for the range, a list, a missing part) fails
 * with ERR naming what is wrong. */
int update_http_content_range_parse(const char *v, size_t len, struct update_http_range *out,
                                    rp_error *err) RP_MUST_CHECK;
