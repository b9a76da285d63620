/* The HTTPS server of rampartd (see server.h). libmicrohttpd parses HTTP and runs TLS; this file
 * only collects bounded bodies, calls api_dispatch() and queues responses. A body is limited
 * before it is buffered (Content-Length checked on the first call, streamed bodies cut at the
 * limit), so a client cannot make the server hold more than the route allows. The URL reaches the
 * API layer still percent-encoded (a pass-through unescaper), so a %2F inside a name cannot be
 * mistaken for a path separator. */
#include "service/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "service/channel_binding.h"
#include "service/device_auth.h"
#include "service/tls_key.h"

struct server {
	struct MHD_Daemon *daemon;
	struct api_ctx *api;
	char *cert_pem, *key_pem;
	struct tls_key *tls_key; /* a P-256 key signing through libcrypto; NULL: GnuTLS has the PEM */
	uint64_t max_image_size;
};

/* TLS 1.2 and 1.3 only, AEAD ciphers and forward-secret ECDHE only: no CBC, no static-RSA or
 * finite-field key exchange. The client's preference order decides among what is left. */
#define TLS_SERVER_PRIORITIES                                                                          \
	"SECURE256:SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:"                \
	"+CHACHA20-POLY1305:+AES-128-GCM:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

/* Per-request state across the handler's calls. */
struct pending {
	uint8_t *body;
	size_t len, cap;
	uint64_t limit;
	bool too_big;
	bool answered; /* refused from its headers alone (api_admit) */
};

static struct MHD_Response *buffer_response(const void *data, size_t len, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (r && type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	return r;
}

static enum MHD_Result queue(struct MHD_Connection *conn, int status, struct MHD_Response *r)
{
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *conn, enum rp_errc code, const char *msg)
{
	rp_error err = RP_ERROR_INIT;
	rp_error_set(&err, code, "%s", msg);
	json_t *j = api_error_json(&err);
	_cleanup_free_ char *text = rp_json_dump(j);
	json_decref(j);
	return queue(conn, api_status_for(code, false), buffer_response(text, strlen(text), "application/json"));
}

/* Offset N of "bytes=N-", the only range form the update client sends to resume a download;
 * 0 for anything else (the whole file is sent, which RFC 9110 allows). */
static uint64_t range_start(const char *range, uint64_t size)
{
	if (!range || strncmp(range, "bytes=", 6) != 0)
		return 0;
	uint64_t off = 0;
	const char *p = range + 6;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (off > (UINT64_MAX - 9) / 10)
			return 0;
		off = off * 10 + (uint64_t)(*p - '0');
	}
	if (p == range + 6 || strcmp(p, "-") != 0 || off >= size)
		return 0;
	return off;
}

static struct MHD_Response *file_response(const char *path, const char *type, const char *range, int *status)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	uint64_t size = (uint64_t)st.st_size, off = range_start(range, size);
	/* MHD owns fd from here and closes it. */
	struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(size - off, fd, off);
	if (!r) {
		close(fd);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (off > 0) {
		char cr[80];
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)off, (unsigned long long)(size - 1),
		         (unsigned long long)size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		*status = MHD_HTTP_PARTIAL_CONTENT;
	}
	return r;
}

struct query_builder {
	char *buf;
	size_t len;
};

/* Rebuild the raw query string ("a=b&c") from MHD's argument list, still percent-encoded. */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct query_builder *q = cls;
	char *next = xasprintf("%s%s%s%s%s", q->buf ? q->buf : "", q->buf ? "&" : "", key, value ? "=" : "",
	                       value ? value : "");
	free(q->buf);
	q->buf = next;
	return MHD_YES;
}

static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls, (void)c;
	return strlen(s);
}

/* Queue the API's answer RES (freed here). */
static enum MHD_Result respond(struct MHD_Connection *conn, struct api_response *res)
{
	struct MHD_Response *r;
	int file_status = 0;
	if (res->file_path) {
		r = file_response(res->file_path, res->content_type,
		                  MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE), &file_status);
		if (!r) {
			api_response_free(res);
			return queue_error(conn, RP_E_NOT_FOUND, "the blob is recorded but its file is missing");
		}
	} else if (res->raw) {
		r = buffer_response(res->raw, res->raw_len, res->content_type);
	} else if (res->json) {
		_cleanup_free_ char *text = rp_json_dump(res->json);
		r = buffer_response(text, strlen(text), "application/json");
	} else {
		r = buffer_response("", 0, NULL);
	}
	if (r && res->location[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, res->location);
	int status = file_status ? file_status : res->status ? res->status : 200;
	api_response_free(res);
	return queue(conn, status, r);
}

static enum MHD_Result dispatch(struct server *srv, struct MHD_Connection *conn, const char *url, const char *method,
                                struct pending *p)
{
	struct query_builder q = {0};
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
	struct api_response res;
	const gnutls_datum_t *peer = NULL;
	unsigned npeer = 0;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci && ci->tls_session)
		peer = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &npeer);
	device_auth_set_peer(peer && npeer > 0 ? peer[0].data : NULL, peer && npeer > 0 ? peer[0].size : 0);
	const union MHD_ConnectionInfo *sc = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	channel_binding_set(ci ? ci->tls_session : NULL, sc ? sc->socket_context : NULL);
	api_dispatch(srv->api, method, url, q.buf,
	             MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
	             MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE), p->body, p->len,
	             &res);
	device_auth_set_peer(NULL, 0);
	channel_binding_set(NULL, NULL);
	free(q.buf);
	return respond(conn, &res);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct server *srv = cls;
	struct pending *p = *con_cls;
	if (!p) {
		p = xcalloc(1, sizeof(*p));
		*con_cls = p;
		/* Route and, for uploads, the caller are checked before any body byte is accepted. */
		struct api_response early;
		bool binary = false;
		size_t json_max = API_JSON_BODY_MAX;
		if (!api_admit(srv->api, method, url,
		               MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), &binary,
		               &json_max, &early)) {
			p->answered = true;
			return respond(conn, &early); /* an early response: MHD closes instead of reading the body */
		}
		api_response_free(&early);
		p->limit = binary ? srv->max_image_size : json_max;
		const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen) {
			char *end = NULL;
			errno = 0;
			unsigned long long n = strtoull(clen, &end, 10);
			if (errno == 0 && end && *end == '\0' && n > p->limit)
				p->too_big = true;
		}
		if (p->too_big) {
			char msg[128];
			snprintf(msg, sizeof(msg), "the request body is over the limit of %llu bytes",
			         (unsigned long long)p->limit);
			/* An early response: MHD closes the connection instead of reading the body. */
			return queue_error(conn, RP_E_LIMIT, msg);
		}
		return MHD_YES;
	}
	if (p->answered) {
		*upload_data_size = 0; /* refused before its body: whatever still arrives is dropped */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!p->too_big) {
			if ((uint64_t)p->len + *upload_data_size > p->limit) {
				p->too_big = true;
				free(p->body);
				p->body = NULL;
				p->len = p->cap = 0;
			} else {
				if (p->len + *upload_data_size > p->cap) {
					p->cap = (p->len + *upload_data_size) * 2;
					if (p->cap > p->limit)
						p->cap = (size_t)p->limit;
					p->body = xrealloc(p->body, p->cap);
				}
				memcpy(p->body + p->len, upload_data, *upload_data_size);
				p->len += *upload_data_size;
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (p->too_big) {
		char msg[128];
		snprintf(msg, sizeof(msg), "the request body is over the limit of %llu bytes", (unsigned long long)p->limit);
		return queue_error(conn, RP_E_LIMIT, msg);
	}
	return dispatch(srv, conn, url, method, p);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)conn, (void)toe;
	struct pending *p = *con_cls;
	if (p) {
		free(p->body);
		free(p);
		*con_cls = NULL;
	}
}

/* Each connection's state for evidence bound to it (channel_binding.h), from accept to close. */
static void connection_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
	(void)conn;
	struct server *srv = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct channel *ch = xcalloc(1, sizeof(*ch));
		ch->opened_at = srv->api->clock();
		*socket_context = ch;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		free(*socket_context);
		*socket_context = NULL;
	}
}

RP_PRINTF(2, 0) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	rp_log_event(RP_LOG_WARNING, "http.server", "%s", msg);
}

static char *read_pem(const char *path, rp_error *err)
{
	uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, 64 * 1024, &data, &len, err) < 0)
		return NULL;
	return (char *)data;
}

struct server *server_start(struct api_ctx *ctx, const struct config *cfg, const char *cert_path,
                            const char *key_path, rp_error *err)
{
	_cleanup_free_ char *host = NULL;
	uint16_t port;
	if (config_split_listen(cfg->listen, &host, &port, err) < 0)
		return NULL;
	/* Request threads allocate and free a few hundred KiB per TLS handshake and attestation; with
	 * glibc's default 128 KiB trim threshold each thread's arena was shrunk (madvise) and grown
	 * again on every request, ~4 % of the service's CPU under attestation load. */
	mallopt(M_TRIM_THRESHOLD, 4 << 20);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	/* ITC lets server_stop() quiesce the daemon (stop accepting) before it stops. poll(), not
	 * epoll: with TLS, libmicrohttpd's epoll mode retries reads that find nothing during every
	 * handshake; poll() cut the service's CPU per attestation by about a third (docs/benchmarks.md). */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_ITC;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		flags |= MHD_USE_IPv6;
	} else {
		return rp_error_set(err, RP_E_INVALID, "listen address \"%s\" must be an IP address", host), NULL;
	}

	struct server *srv = xcalloc(1, sizeof(*srv));
	srv->api = ctx;
	srv->max_image_size = cfg->max_image_size;
	srv->cert_pem = read_pem(cert_path, err);
	srv->key_pem = srv->cert_pem ? read_pem(key_path, err) : NULL;
	if (!srv->key_pem) {
		server_stop(srv);
		rp_error_prefix(err, "loading the TLS certificate");
		return NULL;
	}
	rp_error key_err = RP_ERROR_INIT;
	srv->tls_key = tls_key_load(srv->cert_pem, srv->key_pem, &key_err);
	if (!srv->tls_key && key_err.code != RP_E_UNSUPPORTED) {
		*err = key_err;
		server_stop(srv);
		rp_error_prefix(err, "loading the TLS certificate");
		return NULL;
	}
	tls_key_serve(srv->tls_key);
	if (srv->tls_key) { /* libcrypto holds the key now: no second copy in memory */
		explicit_bzero(srv->key_pem, strlen(srv->key_pem));
		free(srv->key_pem);
		srv->key_pem = NULL;
	}
	srv->daemon = MHD_start_daemon(
		flags, port, NULL, NULL, handler, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		/* Either the PEM pair for GnuTLS, or (P-256) the chain and a key that signs through
		 * libcrypto, handed out by the callback; libmicrohttpd takes the pair when both are set. */
		MHD_OPTION_HTTPS_MEM_KEY, srv->key_pem, MHD_OPTION_HTTPS_MEM_CERT,
		srv->tls_key ? NULL : srv->cert_pem, MHD_OPTION_HTTPS_CERT_CALLBACK, srv->tls_key ? tls_key_retrieve : NULL,
		/* A trust list makes the TLS layer ASK for (never require) a client certificate; the
		 * device API verifies it against the tenant CA itself (device_auth.c). */
		MHD_OPTION_HTTPS_MEM_TRUST, srv->cert_pem,
		MHD_OPTION_HTTPS_PRIORITIES, TLS_SERVER_PRIORITIES,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)0,
		MHD_OPTION_NOTIFY_COMPLETED, completed, srv, MHD_OPTION_NOTIFY_CONNECTION, connection_notify, srv,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, srv,
		MHD_OPTION_END);
	if (!srv->daemon) {
		server_stop(srv);
		rp_error_set(err, RP_E_IO, "could not serve on %s (address in use, or the TLS key or certificate was refused)",
		             cfg->listen);
		return NULL;
	}
	return srv;
}

void server_stop(struct server *srv)
{
	if (!srv)
		return;
	if (srv->daemon) {
		/* Stop accepting, then give requests in flight up to 5 s to finish and be answered;
		 * idle keep-alive connections are simply closed after that. */
		MHD_socket lfd = MHD_quiesce_daemon(srv->daemon);
		for (int i = 0; i < 50; i++) {
			const union MHD_DaemonInfo *info =
				MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
			if (!info || info->num_connections == 0)
				break;
			struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		MHD_stop_daemon(srv->daemon);
		if (lfd != MHD_INVALID_SOCKET)
			close(lfd);
	}
	tls_key_free(srv->tls_key); /* after the daemon: no session uses it any more */
	if (srv->key_pem)
		explicit_bzero(srv->key_pem, strlen(srv->key_pem));
	free(srv->key_pem);
	free(srv->cert_pem);
	free(srv);
}
