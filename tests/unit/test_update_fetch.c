/* Unit tests for the update client's HTTP transport bounds: size caps (endless data), Range
 * resume, servers that ignore Range, 404, and the https CA requirement. A one-shot HTTP server
 * thread on 127.0.0.1 plays each canned response. */
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
#include <unistd.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "device/update/update_client.h"
#include "device/update/update_fetch.h"

enum mode { M_OK, M_ENDLESS, M_BIG_LENGTH, M_RANGE, M_IGNORE_RANGE, M_NOT_FOUND, M_FORBIDDEN };

struct server {
	int lfd;
	int port;
	enum mode mode;
	char body[256];
	size_t body_len;
	char request[4096];
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
	    cmocka_unit_test(test_file_endless), cmocka_unit_test(test_file_error_body_not_kept),
	    cmocka_unit_test(test_https_needs_ca),
	    cmocka_unit_test(test_next_check_delay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
