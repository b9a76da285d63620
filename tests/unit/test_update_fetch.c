/* Unit tests for the update client's HTTP transport bounds: size caps (endless data), Range
 * resume, servers that ignore Range, 404, chunked bodies, redirects, the kept-alive connection,
 * and https: the CA requirement, the pinned CA, mutual TLS and the iPAddress SAN check. A one-shot
 * HTTP server thread on 127.0.0.1 plays each canned response; an mbedTLS server thread plays the
 * TLS peer with certificates made by the openssl tool. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "device/update/update_client.h"
#include "device/update/update_fetch.h"
#include "device/update/update_http.h"

enum mode {
	M_OK, M_ENDLESS, M_BIG_LENGTH, M_RANGE, M_IGNORE_RANGE, M_NOT_FOUND, M_FORBIDDEN, M_CHUNKED, M_REDIRECT,
	M_RANGE_HEADERS, /* a 206 with the header lines in range_headers and the body from the asked offset */
};

struct server {
	int lfd;
	int port;
	enum mode mode;
	char body[256];
	size_t body_len;
	char request[4096];
	const char *range_headers;
	pthread_t thread;
};

static void send_all(int fd, const void *p, size_t n)
{
	if (rp_write_full(fd, p, n) < 0) {
		/* the client may hang up first (that is the point of a cap) */
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t got = 0;
	while (got < sizeof(s->request) - 1) {
		ssize_t n = read(fd, s->request + got, sizeof(s->request) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		s->request[got] = 0;
		if (strstr(s->request, "\r\n\r\n"))
			break;
	}
	char hdr[256];
	switch (s->mode) {
	case M_OK:
	case M_IGNORE_RANGE:
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", s->body_len);
		send_all(fd, hdr, strlen(hdr));
		send_all(fd, s->body, s->body_len);
		break;
	case M_ENDLESS: {
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
		send_all(fd, hdr, strlen(hdr));
		char junk[1024];
		memset(junk, 'x', sizeof(junk));
		for (int i = 0; i < 256; i++)
			send_all(fd, junk, sizeof(junk));
		break;
	}
	case M_BIG_LENGTH:
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n");
		send_all(fd, hdr, strlen(hdr));
		break;
	case M_RANGE: {
		const char *r = strstr(s->request, "Range: bytes=");
		size_t from = r ? strtoul(r + 13, NULL, 10) : 0;
		if (from > s->body_len)
			from = s->body_len;
		snprintf(hdr, sizeof(hdr),
		         "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %zu-%zu/%zu\r\nContent-Length: %zu\r\n"
		         "Connection: close\r\n\r\n",
		         from, s->body_len - 1, s->body_len, s->body_len - from);
		send_all(fd, hdr, strlen(hdr));
		send_all(fd, s->body + from, s->body_len - from);
		break;
	}
	case M_RANGE_HEADERS: {
		const char *r = strstr(s->request, "Range: bytes=");
		size_t from = r ? strtoul(r + 13, NULL, 10) : 0;
		if (from > s->body_len)
			from = s->body_len;
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 206 Partial Content\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
		         s->range_headers, s->body_len - from);
		send_all(fd, hdr, strlen(hdr));
		send_all(fd, s->body + from, s->body_len - from);
		break;
	}
	case M_FORBIDDEN:
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 403 Forbidden\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		         s->body_len);
		send_all(fd, hdr, strlen(hdr));
		send_all(fd, s->body, s->body_len);
		break;
	case M_NOT_FOUND:
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		send_all(fd, hdr, strlen(hdr));
		break;
	case M_CHUNKED:
		/* The body in chunks of 3 bytes, each chunk in its own write. */
		snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
		send_all(fd, hdr, strlen(hdr));
		for (size_t off = 0; off < s->body_len; off += 3) {
			size_t n = s->body_len - off < 3 ? s->body_len - off : 3;
			snprintf(hdr, sizeof(hdr), "%zx\r\n%.*s\r\n", n, (int)n, s->body + off);
			send_all(fd, hdr, strlen(hdr));
		}
		send_all(fd, "0\r\n\r\n", 5);
		break;
	case M_REDIRECT:
		snprintf(hdr, sizeof(hdr),
		         "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/elsewhere\r\nContent-Length: 0\r\n"
		         "Connection: close\r\n\r\n",
		         s->port);
		send_all(fd, hdr, strlen(hdr));
		break;
	}
	shutdown(fd, SHUT_WR);
	close(fd);
	return NULL;
}

static void server_start(struct server *s, enum mode mode, const char *body)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	snprintf(s->body, sizeof(s->body), "%s", body);
	s->body_len = strlen(s->body);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->lfd);
}

static char *url_of(const struct server *s)
{
	return xasprintf("http://127.0.0.1:%d/blob", s->port);
}

static void fetch_cfg(struct update_fetch_config *cfg)
{
	update_fetch_config_default(cfg);
	cfg->low_speed_time = 5;
	cfg->connect_timeout = 5;
}

static void test_buffer_within_bound(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, M_OK, "hello world");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	uint8_t *data = NULL;
	size_t len = 0;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(update_fetch_buffer(&cfg, url, 64, &data, &len, &err), 0);
	assert_int_equal(len, 11);
	assert_memory_equal(data, "hello world", 11);
	assert_int_equal(cfg.bytes_received, 11);
	free(data);
	update_fetch_close(&cfg);
	server_stop(&s);
}

static void test_buffer_endless_data(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, M_ENDLESS, "");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	uint8_t *data = NULL;
	size_t len = 0;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(update_fetch_buffer(&cfg, url, 4096, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	assert_null(data);
	assert_true(cfg.bytes_received <= 4096);
	update_fetch_close(&cfg);
	server_stop(&s);
}

static void test_buffer_announced_too_long(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, M_BIG_LENGTH, "");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	uint8_t *data = NULL;
	size_t len = 0;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(update_fetch_buffer(&cfg, url, 4096, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	update_fetch_close(&cfg);
	server_stop(&s);
}

static void test_not_found(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, M_NOT_FOUND, "");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	uint8_t *data = NULL;
	size_t len = 0;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(update_fetch_buffer(&cfg, url, 4096, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_NOT_FOUND);
	update_fetch_close(&cfg);
	server_stop(&s);
}

static char *tmp_file(const char *content)
{
	char tmpl[] = "/tmp/rampart-update-test-XXXXXX";
	int fd = mkostemp(tmpl, O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(rp_write_full(fd, content, strlen(content)), 0);
	close(fd);
	return xstrdup(tmpl);
}

static void check_file(const char *path, const char *want)
{
	uint8_t *data = NULL;
	size_t len;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_read_file(path, 4096, &data, &len, &err), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(data, want, len);
	free(data);
}

static void test_file_resume(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, M_RANGE, "0123456789abcdef");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	_cleanup_free_ char *path = tmp_file("0123456");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(update_fetch_file(&cfg, url, path, 16, &err), 0);
	assert_non_null(strstr(s.request, "Range: bytes=7-"));
	assert_int_equal(cfg.bytes_received, 9); /* only the missing bytes moved */
	check_file(path, "0123456789abcdef");
	unlink(path);
	update_fetch_close(&cfg);
	server_stop(&s);
}

static void test_file_range_ignored(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, M_IGNORE_RANGE, "0123456789abcdef");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	_cleanup_free_ char *path = tmp_file("01234");
	rp_error err = RP_ERROR_INIT;
	/* A 200 answer to a Range request carries the whole blob: taken from the start. */
	assert_int_equal(update_fetch_file(&cfg, url, path, 16, &err), 0);
	check_file(path, "0123456789abcdef");
	unlink(path);
	update_fetch_close(&cfg);
	server_stop(&s);
}

/* A 206 that is not exactly the range asked for ("bytes=7-" of 16 bytes) is refused, the error
 * names the Content-Range problem, and the partial file is emptied so that the next attempt starts
 * from zero instead of appending another range's bytes. */
static void wrong_range_case(const char *prefix, const char *headers, const char *want_msg)
{
	struct server s;
	server_start(&s, M_RANGE_HEADERS, "0123456789abcdef");
	s.range_headers = headers;
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	_cleanup_free_ char *path = tmp_file(prefix);
	rp_error err = RP_ERROR_INIT;
	uint8_t got[RP_SHA256_LEN];
	assert_int_equal(update_fetch_file_hashed(&cfg, url, path, 16, got, &err), -1);
	if (!strstr(err.message, want_msg))
		fail_msg("'%s' does not name '%s'", err.message, want_msg);
	assert_int_equal(err.code, RP_E_UNAVAILABLE);
	check_file(path, "");
	unlink(path);
	update_fetch_close(&cfg);
	server_stop(&s);
}

static void test_file_resume_wrong_content_range(void **state)
{
	(void)state;
	wrong_range_case("0123456", "Content-Range: bytes 3-15/16\r\n", "starts at byte 3, not 7");
	wrong_range_case("0123456", "Content-Range: bytes 7-15/17\r\n", "length 17 is not the 16 bytes signed");
	wrong_range_case("0123456", "Content-Range: bytes 7-14/16\r\n", "ends at byte 14, not at the last byte 15");
	wrong_range_case("0123456", "Content-Range: bytes 7-15/*\r\n", "gives no length");
	wrong_range_case("0123456", "", "has no Content-Range");
	wrong_range_case("0123456", "Content-Range: bytes 7-15/16\r\nContent-Range: bytes 7-15/16\r\n",
	                 "2 Content-Range fields");
	wrong_range_case("0123456", "Content-Range: bytes */16\r\n", "unusable Content-Range");
	wrong_range_case("0123456", "Content-Range: items 7-15/16\r\n", "not a byte range");
	wrong_range_case("0123456", "Content-Type: multipart/byteranges; boundary=x\r\n", "multipart");
	/* No Range asked (nothing on disk yet): a 206 is no answer to that. */
	wrong_range_case("", "Content-Range: bytes 0-15/16\r\n", "request without Range");
	/* The right one, spelled as a server may: the unit in capitals, spaces around the value. */
	struct server s;
	server_start(&s, M_RANGE_HEADERS, "0123456789abcdef");
	s.range_headers = "content-range:  BYTES 7-15/16 \r\n";
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	_cleanup_free_ char *path = tmp_file("0123456");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(update_fetch_file(&cfg, url, path, 16, &err), 0);
	check_file(path, "0123456789abcdef");
	unlink(path);
	update_fetch_close(&cfg);
	server_stop(&s);
}

static void test_content_range_parse(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		int rc;
		uint64_t first, last, complete;
		bool known;
	} cases[] = {
	    {"bytes 7-15/16", 0, 7, 15, 16, true},
	    {" \tBytes 0-0/1\t ", 0, 0, 0, 1, true},
	    {"bytes 5-9/*", 0, 5, 9, 0, false},
	    {"bytes 0-18446744073709551614/18446744073709551615", 0, 0, UINT64_MAX - 1, UINT64_MAX, true},
	    {"bytes 0-18446744073709551615/18446744073709551616", -1, 0, 0, 0, false},
	    {"bytes 000000000000000000007-15/16", -1, 0, 0, 0, false}, /* 21 digits */
	    {"bytes 9-7/16", -1, 0, 0, 0, false},
	    {"bytes 7-16/16", -1, 0, 0, 0, false},
	    {"bytes */16", -1, 0, 0, 0, false},
	    {"bytes=7-15/16", -1, 0, 0, 0, false},
	    {"bytes  7-15/16", -1, 0, 0, 0, false},
	    {"bytes -7-15/16", -1, 0, 0, 0, false},
	    {"bytes +7-15/16", -1, 0, 0, 0, false},
	    {"bytes 7-+15/16", -1, 0, 0, 0, false},
	    {"bytes 7-15/16, 0-1/16", -1, 0, 0, 0, false},
	    {"bytes 7-15", -1, 0, 0, 0, false},
	    {"bytes 7/16", -1, 0, 0, 0, false},
	    {"bytes -15/16", -1, 0, 0, 0, false},
	    {"bytes 7-/16", -1, 0, 0, 0, false},
	    {"bytes 7-15/", -1, 0, 0, 0, false},
	    {"bytes 0x7-15/16", -1, 0, 0, 0, false},
	    {"bytes 7-15/16/16", -1, 0, 0, 0, false},
	    {"bytes", -1, 0, 0, 0, false},
	    {"", -1, 0, 0, 0, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct update_http_range rg;
		rp_error err = RP_ERROR_INIT;
		int rc = update_http_content_range_parse(cases[i].v, strlen(cases[i].v), &rg, &err);
		if (rc != cases[i].rc)
			fail_msg("'%s': %d, expected %d (%s)", cases[i].v, rc, cases[i].rc, err.message);
		if (rc == 0) {
			assert_int_equal(rg.first, cases[i].first);
			assert_int_equal(rg.last, cases[i].last);
			assert_int_equal(rg.complete_known, cases[i].known);
			if (cases[i].known)
				assert_int_equal(rg.complete, cases[i].complete);
		} else {
			assert_true(err.message[0] != 0);
		}
	}
	/* A control byte inside the value is refused, and the length counts, not a NUL. */
	struct update_http_range rg;
	assert_int_equal(update_http_content_range_parse("bytes 7-15/16\x01", 14, &rg, NULL), -1);
	assert_int_equal(update_http_content_range_parse("bytes 7-15/16XYZ", 13, &rg, NULL), 0);
	assert_int_equal(rg.complete, 16);
}

/* The digest taken while downloading covers the whole file: the prefix found on disk (hashed once
 * when resuming, whatever it holds), and a restart from zero when the server ignores the Range. */
static void hashed_case(enum mode mode, const char *prefix, const char *want_file)
{
	struct server s;
	server_start(&s, mode, "0123456789abcdef");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	_cleanup_free_ char *path = tmp_file(prefix);
	rp_error err = RP_ERROR_INIT;
	uint8_t got[RP_SHA256_LEN], want[RP_SHA256_LEN];
	assert_int_equal(update_fetch_file_hashed(&cfg, url, path, 16, got, &err), 0);
	check_file(path, want_file);
	rp_sha256_buf(want_file, strlen(want_file), want);
	assert_memory_equal(got, want, RP_SHA256_LEN);
	unlink(path);
	update_fetch_close(&cfg);
	server_stop(&s);
}

static void test_file_hashed_while_downloading(void **state)
{
	(void)state;
	hashed_case(M_OK, "", "0123456789abcdef");
	hashed_case(M_RANGE, "0123456", "0123456789abcdef");
	/* Wrong bytes left from an earlier response: the digest is the file's, so the caller's check
	 * against the signed hash refuses it. */
	hashed_case(M_RANGE, "XXXXXXX", "XXXXXXX789abcdef");
	hashed_case(M_IGNORE_RANGE, "XXXXX", "0123456789abcdef");
}

static void test_file_endless(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, M_ENDLESS, "");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	_cleanup_free_ char *path = tmp_file("");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(update_fetch_file(&cfg, url, path, 100, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	check_file(path, "");
	unlink(path);
	update_fetch_close(&cfg);
	server_stop(&s);
}

static void test_file_error_body_not_kept(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, M_FORBIDDEN, "{\"error\":\"no\"}");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	_cleanup_free_ char *path = tmp_file("0123");
	rp_error err = RP_ERROR_INIT;
	/* An error page must never become part of a resumable download. */
	assert_int_equal(update_fetch_file(&cfg, url, path, 16, &err), -1);
	assert_int_equal(err.code, RP_E_UNAVAILABLE);
	check_file(path, "0123");
	unlink(path);
	update_fetch_close(&cfg);
	server_stop(&s);
}

/* The response reader alone (update_http.c), fed bytes as a hostile server would send them. */
struct collected {
	char body[64];
	size_t len;
};

static int collect_body(void *ud, const uint8_t *p, size_t n)
{
	struct collected *c = ud;
	if (n > sizeof(c->body) - c->len)
		return -1;
	memcpy(c->body + c->len, p, n);
	c->len += n;
	return 0;
}

static const struct update_http_ops collect_ops = {.on_body = collect_body};

static void test_content_range_kept_from_final_answer(void **state)
{
	(void)state;
	/* Fed a byte at a time (a header name and value split anywhere); the interim answer's field
	 * is forgotten. */
	static const char resp[] = "HTTP/1.1 100 Continue\r\nContent-Range: bytes 0-0/1\r\n\r\n"
	                           "HTTP/1.1 206 Partial Content\r\nX-Content-Range: bytes 1-1/2\r\n"
	                           "CONTENT-RANGE: bytes 7-15/16\r\nContent-Length: 9\r\n\r\n789abcdef";
	struct update_http_response r;
	struct collected c = {0};
	update_http_response_init(&r, &collect_ops, &c, 16);
	for (size_t i = 0; i + 1 < sizeof(resp) && !r.done; i++)
		assert_int_equal(update_http_feed(&r, (const uint8_t *)resp + i, 1), 0);
	assert_true(r.done);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.content_range_count, 1);
	assert_string_equal(r.content_range, "bytes 7-15/16");
	assert_false(r.multipart);
}

static void test_interim_answers_are_bounded(void **state)
{
	(void)state;
	/* Endless "100 Continue" answers carry no body byte, so only a bound on interim answers and
	 * on the bytes on the wire stops them (slow retrieval cannot: they arrive at full speed). */
	struct update_http_response r;
	struct collected c = {0};
	update_http_response_init(&r, &collect_ops, &c, 16);
	static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
	int rc = 0;
	for (int i = 0; i < 1000 && rc == 0 && !r.done; i++)
		rc = update_http_feed(&r, (const uint8_t *)interim, sizeof(interim) - 1);
	assert_int_equal(rc, -1);
	assert_false(r.done);
	assert_true(r.interim <= UPDATE_HTTP_INTERIM_MAX + 1);
}

static void test_interim_answer_body_never_reaches_caller(void **state)
{
	(void)state;
	/* A 1xx answer has no body: bytes after its head are the next status line, never body. */
	static const char resp[] = "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nEVIL!"
	                           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct update_http_response r;
	struct collected c = {0};
	update_http_response_init(&r, &collect_ops, &c, 16);
	(void)update_http_feed(&r, (const uint8_t *)resp, sizeof(resp) - 1);
	assert_null(memmem(c.body, c.len, "EVIL", 4));
}

static void test_wire_bytes_are_bounded(void **state)
{
	(void)state;
	/* Chunk extensions are framing, not body: one body byte per 70 KB chunk line would let a
	 * server stream forever within the body cap. The response stops at twice its cap plus
	 * UPDATE_HTTP_OVERHEAD_MAX on the wire. */
	const uint64_t cap = 1024 * 1024;
	struct update_http_response r;
	struct collected c = {0};
	update_http_response_init(&r, &collect_ops, &c, cap);
	static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	assert_int_equal(update_http_feed(&r, (const uint8_t *)head, sizeof(head) - 1), 0);
	const size_t ext_len = 70000;
	_cleanup_free_ char *chunk = xmalloc(ext_len + 16);
	memcpy(chunk, "1;", 2);
	memset(chunk + 2, 'x', ext_len);
	memcpy(chunk + 2 + ext_len, "\r\nA\r\n", 6);
	int rc = 0;
	for (int i = 0; i < 200 && rc == 0; i++)
		rc = update_http_feed(&r, (const uint8_t *)chunk, ext_len + 8);
	/* Stopped by http-parser's limit on chunk lines or by the wire bound, whichever comes first. */
	assert_int_equal(rc, -1);
	assert_true(r.over || r.malformed);
	assert_true(r.wire_len <= 2 * cap + UPDATE_HTTP_OVERHEAD_MAX);
	assert_true(c.len < 64);
}

static void test_partial_path_must_be_own_regular_file(void **state)
{
	(void)state;
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	rp_error err = RP_ERROR_INIT;
	/* A FIFO in place of the partial download must neither block nor be written. */
	_cleanup_free_ char *fifo = tmp_file("");
	unlink(fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(update_fetch_file(&cfg, "http://127.0.0.1:9/x", fifo, 16, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
	unlink(fifo);
	/* A hard link to another file must not be truncated through the download. */
	_cleanup_free_ char *victim = tmp_file("precious");
	_cleanup_free_ char *link_path = xasprintf("%s.part", victim);
	assert_int_equal(link(victim, link_path), 0);
	rp_error err2 = RP_ERROR_INIT;
	assert_int_equal(update_fetch_file(&cfg, "http://127.0.0.1:9/x", link_path, 4, &err2), -1);
	assert_int_equal(err2.code, RP_E_INVALID);
	check_file(victim, "precious");
	unlink(link_path);
	unlink(victim);
	update_fetch_close(&cfg);
}

static void test_https_needs_ca(void **state)
{
	(void)state;
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	uint8_t *data = NULL;
	size_t len;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(update_fetch_buffer(&cfg, "https://127.0.0.1:1/x", 10, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
	assert_int_equal(update_fetch_buffer(&cfg, "file:///etc/passwd", 10, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
}

static void test_chunked_body(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, M_CHUNKED, "a chunked body of some length");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	uint8_t *data = NULL;
	size_t len = 0;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(update_fetch_buffer(&cfg, url, 64, &data, &len, &err), 0);
	assert_int_equal(len, strlen("a chunked body of some length"));
	assert_memory_equal(data, "a chunked body of some length", len);
	assert_int_equal(cfg.bytes_received, len);
	free(data);
	update_fetch_close(&cfg);
	server_stop(&s);

	/* The cap holds whatever the framing: chunks past it are refused. */
	server_start(&s, M_CHUNKED, "a chunked body of some length");
	_cleanup_free_ char *url2 = url_of(&s);
	data = NULL;
	assert_int_equal(update_fetch_buffer(&cfg, url2, 10, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	assert_null(data);
	update_fetch_close(&cfg);
	server_stop(&s);
}

static void test_redirect_not_followed(void **state)
{
	(void)state;
	struct server s;
	server_start(&s, M_REDIRECT, "");
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = url_of(&s);
	uint8_t *data = NULL;
	size_t len = 0;
	rp_error err = RP_ERROR_INIT;
	/* A redirect is an error answer: the update client only talks to the URLs it was given. */
	assert_int_equal(update_fetch_buffer(&cfg, url, 64, &data, &len, &err), -1);
	assert_int_equal(err.code, RP_E_UNAVAILABLE);
	assert_non_null(strstr(err.message, "HTTP status 302"));
	assert_null(data);
	assert_int_equal(cfg.requests, 1);
	update_fetch_close(&cfg);
	server_stop(&s);
}

/* A kept-alive server: answers ANSWER_FIRST requests on its first connection, then reads one more
 * request and hangs up without answering (a server closing an idle connection just as the client
 * reuses it), then answers everything on a second connection. */
struct ka_server {
	int lfd;
	int port;
	int answer_first;
	int accepts;
	int answered;
	pthread_t thread;
};

static bool read_request(int fd)
{
	char req[2048];
	size_t got = 0;
	while (got < sizeof(req) - 1) {
		ssize_t n = read(fd, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n"))
			return true;
	}
	return false;
}

static void *ka_serve(void *arg)
{
	struct ka_server *k = arg;
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	for (int conn = 0; conn < 2; conn++) {
		int fd = accept4(k->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return NULL;
		__atomic_fetch_add(&k->accepts, 1, __ATOMIC_SEQ_CST);
		for (int i = 0; i < 8 && read_request(fd); i++) {
			if (conn == 0 && i == k->answer_first)
				break; /* hang up on this request */
			send_all(fd, reply, sizeof(reply) - 1);
			k->answered++;
		}
		close(fd);
	}
	return NULL;
}

static void test_keepalive_reuse_and_reconnect(void **state)
{
	(void)state;
	struct ka_server k = {.answer_first = 2};
	k.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(k.lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(k.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	assert_int_equal(getsockname(k.lfd, (struct sockaddr *)&a, &al), 0);
	k.port = ntohs(a.sin_port);
	assert_int_equal(listen(k.lfd, 4), 0);
	assert_int_equal(pthread_create(&k.thread, NULL, ka_serve, &k), 0);
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/x", k.port);
	for (int i = 0; i < 4; i++) {
		uint8_t *data = NULL;
		size_t len = 0;
		rp_error err = RP_ERROR_INIT;
		assert_int_equal(update_fetch_buffer(&cfg, url, 64, &data, &len, &err), 0);
		assert_int_equal(len, 5);
		assert_memory_equal(data, "hello", 5);
		free(data);
		if (i == 1)
			assert_int_equal(__atomic_load_n(&k.accepts, __ATOMIC_SEQ_CST), 1); /* two requests, one connection */
	}
	/* The third request found the kept connection closed and went again on a new one, unseen by
	 * the caller; the fourth reused that one. */
	assert_int_equal(cfg.requests, 4);
	assert_int_equal(cfg.bytes_received, 20);
	update_fetch_close(&cfg); /* the server's second connection ends */
	pthread_join(k.thread, NULL);
	assert_int_equal(k.accepts, 2);
	assert_int_equal(k.answered, 4);
	close(k.lfd);
}

/* Certificates for the TLS tests, made once by the openssl tool in a temporary directory. */
static char tls_dir[64];

static void tls_make_cert(const char *name, const char *san)
{
	_cleanup_free_ char *cmd = xasprintf(
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s/%s.key -out %s/%s.crt "
	    "-days 2 -subj /CN=%s -addext 'subjectAltName=%s' 2>/dev/null",
	    tls_dir, name, tls_dir, name, name, san);
	assert_int_equal(system(cmd), 0);
}

static int tls_setup_group(void **state)
{
	(void)state;
	snprintf(tls_dir, sizeof(tls_dir), "/tmp/rampart-fetch-tls-XXXXXX");
	if (!mkdtemp(tls_dir))
		return -1;
	tls_make_cert("ipsan", "IP:127.0.0.1");
	tls_make_cert("ip6san", "IP:::1,IP:127.0.0.2");
	tls_make_cert("dnsonly", "DNS:localhost");
	tls_make_cert("otherip", "IP:127.0.0.2,DNS:127.0.0.1");
	tls_make_cert("client", "DNS:device");
	tls_make_cert("stranger", "IP:127.0.0.1");
	_cleanup_free_ char *cmd = xasprintf("openssl ec -in %s/client.key -out %s/client-sec1.key 2>/dev/null", tls_dir,
	                                     tls_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int tls_teardown_group(void **state)
{
	(void)state;
	_cleanup_free_ char *cmd = xasprintf("rm -rf %s", tls_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *tls_path(const char *file)
{
	return xasprintf("%s/%s", tls_dir, file);
}

/* An mbedTLS server for one connection: presents NAME's certificate, asks for a client
 * certificate issued by (here: equal to) client.crt when REQUIRE_CLIENT, answers "hello". */
struct tls_server {
	int lfd;
	int port;
	const char *name;
	bool require_client;
	bool handshake_ok;
	bool client_cert_seen;
	pthread_t thread;
};

static void *tls_serve(void *arg)
{
	struct tls_server *t = arg;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt crt, client_ca;
	mbedtls_pk_context key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_net_context net = {.fd = -1};
	mbedtls_ssl_init(&ssl);
	mbedtls_ssl_config_init(&conf);
	mbedtls_x509_crt_init(&crt);
	mbedtls_x509_crt_init(&client_ca);
	mbedtls_pk_init(&key);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	_cleanup_free_ char *crt_path = xasprintf("%s/%s.crt", tls_dir, t->name);
	_cleanup_free_ char *key_path = xasprintf("%s/%s.key", tls_dir, t->name);
	_cleanup_free_ char *client_path = tls_path("client.crt");
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0 ||
	    mbedtls_x509_crt_parse_file(&crt, crt_path) != 0 || mbedtls_pk_parse_keyfile(&key, key_path, NULL) != 0 ||
	    mbedtls_x509_crt_parse_file(&client_ca, client_path) != 0 ||
	    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		goto out;
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_ca_chain(&conf, &client_ca, NULL);
	mbedtls_ssl_conf_authmode(&conf, t->require_client ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
	if (mbedtls_ssl_conf_own_cert(&conf, &crt, &key) != 0 || mbedtls_ssl_setup(&ssl, &conf) != 0)
		goto out;
	net.fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (net.fd < 0)
		goto out;
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
	if (mbedtls_ssl_handshake(&ssl) != 0)
		goto out;
	t->handshake_ok = true;
	t->client_cert_seen = mbedtls_ssl_get_peer_cert(&ssl) != NULL;
	unsigned char req[2048];
	size_t got = 0;
	while (got < sizeof(req) - 1) {
		int n = mbedtls_ssl_read(&ssl, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			goto out;
		got += (size_t)n;
		req[got] = 0;
		if (strstr((char *)req, "\r\n\r\n"))
			break;
	}
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
	(void)mbedtls_ssl_write(&ssl, (const unsigned char *)reply, sizeof(reply) - 1);
	(void)mbedtls_ssl_close_notify(&ssl);
out:
	mbedtls_net_free(&net);
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&client_ca);
	mbedtls_pk_free(&key);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return NULL;
}

/* Fetch "hello" over https from a server presenting NAME, trusting CA; returns the fetch's result
 * and leaves the error in ERR. */
static int tls_fetch_at(bool v6, const char *name, const char *ca, const char *client_key, bool require_client,
                        struct tls_server *t, rp_error *err)
{
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->require_client = require_client;
	t->lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(t->lfd >= 0);
	if (v6) {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
		assert_int_equal(bind(t->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
		socklen_t al = sizeof(a);
		assert_int_equal(getsockname(t->lfd, (struct sockaddr *)&a, &al), 0);
		t->port = ntohs(a.sin6_port);
	} else {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		assert_int_equal(bind(t->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
		socklen_t al = sizeof(a);
		assert_int_equal(getsockname(t->lfd, (struct sockaddr *)&a, &al), 0);
		t->port = ntohs(a.sin_port);
	}
	assert_int_equal(listen(t->lfd, 4), 0);
	assert_int_equal(pthread_create(&t->thread, NULL, tls_serve, t), 0);
	struct update_fetch_config cfg;
	fetch_cfg(&cfg);
	_cleanup_free_ char *ca_path = tls_path(ca);
	_cleanup_free_ char *cert_path = tls_path("client.crt");
	_cleanup_free_ char *key_path = client_key ? tls_path(client_key) : NULL;
	cfg.ca_file = ca_path;
	if (client_key) {
		cfg.client_cert = cert_path;
		cfg.client_key = key_path;
	}
	_cleanup_free_ char *url = xasprintf(v6 ? "https://[::1]:%d/x" : "https://127.0.0.1:%d/x", t->port);
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = update_fetch_buffer(&cfg, url, 64, &data, &len, err);
	if (rc == 0) {
		assert_int_equal(len, 5);
		assert_memory_equal(data, "hello", 5);
	}
	free(data);
	update_fetch_close(&cfg);
	pthread_join(t->thread, NULL);
	close(t->lfd);
	return rc;
}

static int tls_fetch(const char *name, const char *ca, const char *client_key, bool require_client,
                     struct tls_server *t, rp_error *err)
{
	return tls_fetch_at(false, name, ca, client_key, require_client, t, err);
}

static void test_https_ip_san(void **state)
{
	(void)state;
	struct tls_server t;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(tls_fetch("ipsan", "ipsan.crt", NULL, false, &t, &err), 0);
	assert_true(t.handshake_ok);
	/* Trusted by the pinned CA, but the certificate does not name 127.0.0.1 as an address (a DNS
	 * name spelling it does not count): refused. */
	assert_int_equal(tls_fetch("dnsonly", "dnsonly.crt", NULL, false, &t, &err), -1);
	assert_int_equal(err.code, RP_E_UNAVAILABLE);
	assert_non_null(strstr(err.message, "not trusted"));
	assert_false(t.handshake_ok);
	assert_int_equal(tls_fetch("otherip", "otherip.crt", NULL, false, &t, &err), -1);
	assert_int_equal(err.code, RP_E_UNAVAILABLE);
	assert_false(t.handshake_ok);
}

static void test_https_ipv6_san(void **state)
{
	(void)state;
	int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
	bool have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (probe >= 0)
		close(probe);
	if (!have_v6)
		skip(); /* no IPv6 loopback here */
	struct tls_server t;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(tls_fetch_at(true, "ip6san", "ip6san.crt", NULL, false, &t, &err), 0);
	assert_true(t.handshake_ok);
	/* A certificate naming only 127.0.0.1 does not name ::1. */
	assert_int_equal(tls_fetch_at(true, "ipsan", "ipsan.crt", NULL, false, &t, &err), -1);
	assert_int_equal(err.code, RP_E_UNAVAILABLE);
	assert_false(t.handshake_ok);
}

static void test_https_pinned_ca_only(void **state)
{
	(void)state;
	struct tls_server t;
	rp_error err = RP_ERROR_INIT;
	/* The right address, but signed by a key the pinned CA file does not hold. */
	assert_int_equal(tls_fetch("stranger", "ipsan.crt", NULL, false, &t, &err), -1);
	assert_int_equal(err.code, RP_E_UNAVAILABLE);
	assert_non_null(strstr(err.message, "not trusted"));
	assert_false(t.handshake_ok);
}

static void test_https_client_cert(void **state)
{
	(void)state;
	struct tls_server t;
	rp_error err = RP_ERROR_INIT;
	/* Mutual TLS with the key as PKCS#8 and as SEC1. */
	assert_int_equal(tls_fetch("ipsan", "ipsan.crt", "client.key", true, &t, &err), 0);
	assert_true(t.client_cert_seen);
	assert_int_equal(tls_fetch("ipsan", "ipsan.crt", "client-sec1.key", true, &t, &err), 0);
	assert_true(t.client_cert_seen);
	/* Without the device certificate the server refuses the handshake. */
	assert_int_equal(tls_fetch("ipsan", "ipsan.crt", NULL, true, &t, &err), -1);
	assert_int_equal(err.code, RP_E_UNAVAILABLE);
	assert_false(t.handshake_ok);
}

static void test_next_check_delay(void **state)
{
	(void)state;
	for (uint32_t r = 0; r < 100000; r += 997) {
		int64_t d = update_next_check_delay(r * 2654435761u);
		assert_true(d >= UPDATE_CHECK_INTERVAL_S - UPDATE_CHECK_JITTER_S);
		assert_true(d <= UPDATE_CHECK_INTERVAL_S + UPDATE_CHECK_JITTER_S);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* the canned server writes to clients that hang up */
	rp_error err = RP_ERROR_INIT;
	if (update_fetch_global_init(&err) < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buffer_within_bound), cmocka_unit_test(test_buffer_endless_data),
	    cmocka_unit_test(test_buffer_announced_too_long), cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_file_resume), cmocka_unit_test(test_file_range_ignored),
	    cmocka_unit_test(test_file_hashed_while_downloading),
	    cmocka_unit_test(test_file_resume_wrong_content_range), cmocka_unit_test(test_content_range_parse),
	    cmocka_unit_test(test_content_range_kept_from_final_answer),
	    cmocka_unit_test(test_file_endless), cmocka_unit_test(test_file_error_body_not_kept),
	    cmocka_unit_test(test_https_needs_ca),
	    cmocka_unit_test(test_interim_answers_are_bounded),
	    cmocka_unit_test(test_interim_answer_body_never_reaches_caller),
	    cmocka_unit_test(test_wire_bytes_are_bounded),
	    cmocka_unit_test(test_partial_path_must_be_own_regular_file),
	    cmocka_unit_test(test_chunked_body), cmocka_unit_test(test_redirect_not_followed),
	    cmocka_unit_test(test_keepalive_reuse_and_reconnect),
	    cmocka_unit_test(test_next_check_delay),
	};
	const struct CMUnitTest tls_tests[] = {
	    cmocka_unit_test(test_https_ip_san), cmocka_unit_test(test_https_ipv6_san),
	    cmocka_unit_test(test_https_pinned_ca_only),
	    cmocka_unit_test(test_https_client_cert),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + cmocka_run_group_tests(tls_tests, tls_setup_group, tls_teardown_group);
}
