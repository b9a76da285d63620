/* HTTP/1.1 response reader of the update client: status, framing (Content-Length, chunked, until
 * close) and the body cap, over bytes handed to it by the transport, so it is fuzzed without
 * sockets. Parsing is http-parser's; this file adds the bounds and the keep-alive decision. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <http_parser.h>

/* A body the caller does not want (an error page) is read to keep the connection, up to this. */
#define UPDATE_HTTP_DISCARD_MAX (64u * 1024)
/* Interim answers (1xx) accepted before the real one; more is a server stalling the client. */
#define UPDATE_HTTP_INTERIM_MAX 4
/* Everything a response may take on the wire besides twice its body cap: status lines, headers,
 * chunk framing. Caps bytes that are not body bytes (headers of endless interim answers, chunk
 * extensions), which the body cap alone would never count. */
#define UPDATE_HTTP_OVERHEAD_MAX (1024u * 1024)

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
