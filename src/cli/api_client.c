/* libcurl client for rampartd's JSON API (see api_client.h). Defends the user's token: no
 * redirects are followed (a redirect could carry the Authorization header elsewhere), only
 * https (or http to loopback) is spoken, and the service's certificate is checked against the CA
 * the user pinned at login. Defends the CLI against a hostile or broken server: responses are
 * bounded, and server text is stripped of control characters before it reaches a terminal. */
#include "cli/api_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/text.h"
#include "common/xalloc.h"

#ifndef RAMPART_VERSION
#define RAMPART_VERSION "dev"
#endif

struct api_client {
	CURL *curl;
	char *base_url; /* without trailing '/' */
	char *auth_header;
	char *ca_pem;
	bool insecure;
	bool progress;
	bool plain_http; /* loopback only (check_base_url) */
	size_t last_response_len;
};

/* ---- paths ------------------------------------------------------------------------------ */

char *api_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s);
	char *out = xmalloc(len * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		    ch == '.' || ch == '_' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return out;
}

char *api_path(const char *fmt, ...)
{
	rp_buf b;
	rp_buf_init(&b);
	va_list ap;
	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			rp_buf_append(&b, p, 1);
			continue;
		}
		p++;
		if (*p == '%') {
			rp_buf_append(&b, "%", 1);
		} else if (*p == 's') {
			const char *arg = va_arg(ap, const char *);
			char *esc = api_escape(arg ? arg : "");
			rp_buf_append(&b, esc, strlen(esc));
			free(esc);
		} else {
			rp_abort("api_path: only %s and %% are supported");
		}
	}
	va_end(ap);
	rp_buf_append(&b, "", 1);
	return (char *)b.data;
}

/* ---- errors ----------------------------------------------------------------------------- */

enum rp_errc api_status_code(long status)
{
	switch (status) {
	case 400:
	case 415: return RP_E_INVALID;
	case 422: return RP_E_VERIFY;
	case 401:
	case 403: return RP_E_PERMISSION;
	case 404:
	case 410: return RP_E_NOT_FOUND;
	case 409:
	case 412: return RP_E_CONFLICT;
	case 413: return RP_E_LIMIT;
	case 429: return RP_E_UNAVAILABLE;
	default: break;
	}
	if (status >= 500)
		return RP_E_UNAVAILABLE;
	if (status >= 400)
		return RP_E_INVALID;
	return RP_E_INTERNAL; /* 1xx/3xx: we follow no redirects, so this is a misconfigured URL */
}

static const char *status_hint(long status)
{
	switch (status) {
	case 401: return " (check the token: run 'rampart login' again or pass --token)";
	case 403: return " (your token's role does not allow this; ask an Administrator of the tenant)";
	case 413: return " (the request is larger than the service accepts)";
	case 429: return " (the service is busy; retry later)";
	default: return status >= 500 ? " (a service-side failure; retry, or check rampartd's log)" : "";
	}
}

/* The service names its error code; within a 4xx status it is more precise than the status
 * (422 may be a failed signature check or an expired object). 5xx stays "unavailable". */
static enum rp_errc code_from_name(const char *name, enum rp_errc fallback)
{
	static const struct {
		const char *name;
		enum rp_errc code;
	} names[] = {
		{"invalid", RP_E_INVALID},          {"not-found", RP_E_NOT_FOUND},   {"exists", RP_E_EXISTS},
		{"conflict", RP_E_CONFLICT},        {"permission", RP_E_PERMISSION}, {"verification-failed", RP_E_VERIFY},
		{"limit", RP_E_LIMIT},              {"unsupported", RP_E_UNSUPPORTED}, {"expired", RP_E_EXPIRED},
		{"unavailable", RP_E_UNAVAILABLE},
	};
	if (!name)
		return fallback;
	for (size_t i = 0; i < RP_ARRAY_SIZE(names); i++)
		if (strcmp(name, names[i].name) == 0)
			return names[i].code;
	return fallback;
}

void api_error_from_response(long status, const char *body, size_t len, rp_error *err)
{
	enum rp_errc code = api_status_code(status);
	if (status >= 300 && status < 400) {
		rp_error_set(err, RP_E_INVALID,
		             "the service answered with a redirect (HTTP %ld), which is not followed; check the service URL",
		             status);
		return;
	}
	rp_error jerr = RP_ERROR_INIT;
	_cleanup_json_ json_t *doc = body && len ? rp_json_parse(body, len, 64 * 1024, "error response", &jerr) : NULL;
	json_t *error = doc ? json_object_get(doc, "error") : NULL;
	const char *scode = json_string_value(json_object_get(error, "code"));
	const char *smsg = json_string_value(json_object_get(error, "message"));
	if (status >= 400 && status < 500)
		code = code_from_name(scode, code);
	if (smsg) {
		_cleanup_free_ char *m = xstrndup(smsg, 1024);
		_cleanup_free_ char *c = xstrndup(scode ? scode : "error", 64);
		/* Server text goes to a terminal: it must not move the cursor or rewrite earlier output. */
		rp_text_make_printable(m, false);
		rp_text_make_printable(c, false);
		rp_error_set(err, code, "%s [HTTP %ld %s]%s", m, status, c, status_hint(status));
	} else {
		rp_error_set(err, code, "the service answered HTTP %ld without an error message%s", status,
		             status_hint(status));
	}
}

/* ---- transfers -------------------------------------------------------------------------- */

struct progress {
	bool enabled;
	bool drawn;
	int last_permille;
	curl_off_t last_now;
};

static void format_size(char *buf, size_t n, curl_off_t v)
{
	if (v >= 1024 * 1024)
		snprintf(buf, n, "%.1f MiB", (double)v / (1024.0 * 1024.0));
	else if (v >= 1024)
		snprintf(buf, n, "%.1f KiB", (double)v / 1024.0);
	else
		snprintf(buf, n, "%lld B", (long long)v);
}

static void progress_draw(struct progress *p, curl_off_t now, curl_off_t total)
{
	char a[32], b[32];
	format_size(a, sizeof(a), now);
	if (total > 0) {
		int permille = (int)(now * 1000 / total);
		if (permille > 1000)
			permille = 1000;
		if (p->drawn && permille == p->last_permille)
			return;
		p->last_permille = permille;
		format_size(b, sizeof(b), total);
		char bar[31];
		int fill = permille * 30 / 1000;
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %3d%%  %s / %s   ", bar, permille / 10, a, b);
	} else {
		if (p->drawn && now - p->last_now < 256 * 1024)
			return;
		p->last_now = now;
		fprintf(stderr, "\r%s   ", a);
	}
	p->drawn = true;
	fflush(stderr);
}

static int xferinfo(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct progress *p = userdata;
	if (!p->enabled)
		return 0;
	/* An upload's bar stays on the upload: the small JSON reply after it is not progress. */
	if (ultotal > 0)
		progress_draw(p, ulnow, ultotal);
	else if (dlnow > 0)
		progress_draw(p, dlnow, dltotal);
	return 0;
}

static void progress_end(struct progress *p)
{
	if (p->drawn)
		fputc('\n', stderr);
	p->drawn = false;
}

struct sink {
	CURL *curl;
	rp_buf mem;       /* JSON responses and error bodies */
	size_t mem_limit;
	int fd;           /* download target for 2xx bodies, or -1 */
	uint64_t written;
	uint64_t max_bytes;
	rp_sha256 hash;
	bool hashing;
	bool over_limit;
	int write_errno;
};

static size_t sink_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	long status = 0;
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
	if (s->fd >= 0 && status >= 200 && status < 300) {
		if (s->written + n > s->max_bytes) {
			s->over_limit = true;
			return 0;
		}
		if (rp_write_full(s->fd, data, n) < 0) {
			s->write_errno = errno;
			return 0;
		}
		if (s->hashing)
			rp_sha256_update(&s->hash, data, n);
		s->written += n;
		return n;
	}
	if (s->mem.len + n > s->mem_limit) {
		s->over_limit = true;
		return 0;
	}
	rp_buf_append(&s->mem, data, n);
	return n;
}

struct source {
	int fd;
	int read_errno;
};

static size_t source_read(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct source *src = userdata;
	ssize_t n = rp_read_full(src->fd, buf, size * nitems);
	if (n < 0) {
		src->read_errno = errno;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)n;
}

/* Only an address that cannot leave the machine: an IPv4 literal in 127.0.0.0/8, the IPv6 literal
 * ::1, or the name "localhost" (which libcurl resolves to loopback itself). A name that merely
 * starts with "127." (127.attacker.example) is a DNS name like any other. */
static bool host_is_loopback(const char *host)
{
	if (strcmp(host, "localhost") == 0)
		return true;
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	size_t len = strlen(host);
	if (len < 2 || host[0] != '[' || host[len - 1] != ']' || len - 2 >= INET6_ADDRSTRLEN)
		return false;
	char inner[INET6_ADDRSTRLEN];
	memcpy(inner, host + 1, len - 2);
	inner[len - 2] = '\0';
	struct in6_addr a6;
	return inet_pton(AF_INET6, inner, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static int check_base_url(const char *url, bool *plain_http, rp_error *err)
{
	*plain_http = false;
	CURLU *u = curl_url();
	if (!u)
		rp_abort("curl_url");
	char *scheme = NULL, *host = NULL, *query = NULL, *userinfo = NULL;
	int r = 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		r = rp_error_set(err, RP_E_INVALID, "service URL '%.200s' is not a valid URL (expected https://HOST:PORT)",
		                 url);
	} else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	           curl_url_get(u, CURLUPART_USER, &userinfo, 0) == CURLUE_OK) {
		r = rp_error_set(err, RP_E_INVALID, "service URL '%.200s' must not carry a query or user name", url);
	} else if (strcmp(scheme, "https") == 0) {
		r = 0;
	} else if (strcmp(scheme, "http") == 0) {
		*plain_http = true;
		/* A bearer token in clear text is only acceptable when it never leaves the machine. */
		if (!host_is_loopback(host))
			r = rp_error_set(err, RP_E_INVALID,
			                 "service URL '%.200s' uses plain http to a non-loopback host, which would send "
			                 "the token in clear text; use https://",
			                 url);
	} else {
		r = rp_error_set(err, RP_E_INVALID, "service URL '%.200s' must start with https://", url);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(query);
	curl_free(userinfo);
	curl_url_cleanup(u);
	return r;
}

static bool curl_ready;

static void global_cleanup(void)
{
	curl_global_cleanup();
}

api_client *api_client_new(const struct api_client_options *opts, rp_error *err)
{
	if (!opts->base_url || !*opts->base_url) {
		rp_error_set(err, RP_E_INVALID,
		             "no service URL: run 'rampart login --service https://HOST:PORT' or pass --service");
		return NULL;
	}
	bool plain_http = false;
	if (check_base_url(opts->base_url, &plain_http, err) < 0)
		return NULL;
	if (opts->token && strpbrk(opts->token, "\r\n")) {
		rp_error_set(err, RP_E_INVALID, "the API token contains a line break; check how it was copied");
		return NULL;
	}
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			rp_error_set(err, RP_E_INTERNAL, "libcurl failed to initialise");
			return NULL;
		}
		atexit(global_cleanup);
		curl_ready = true;
	}
	api_client *c = xcalloc(1, sizeof(*c));
	c->curl = curl_easy_init();
	if (!c->curl)
		rp_abort("curl_easy_init");
	c->base_url = xstrdup(opts->base_url);
	size_t blen = strlen(c->base_url);
	while (blen > 0 && c->base_url[blen - 1] == '/')
		c->base_url[--blen] = '\0';
	if (opts->token && *opts->token)
		c->auth_header = xasprintf("Authorization: Bearer %s", opts->token);
	c->ca_pem = opts->ca_pem ? xstrdup(opts->ca_pem) : NULL;
	c->insecure = opts->insecure_skip_verify;
	c->progress = opts->progress;
	c->plain_http = plain_http;
	return c;
}

void api_client_free(api_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c->base_url);
	if (c->auth_header)
		explicit_bzero(c->auth_header, strlen(c->auth_header));
	free(c->auth_header);
	free(c->ca_pem);
	free(c);
}

static struct curl_slist *prepare(api_client *c, const char *method, const char *path, const char *content_type,
                                  bool expect_continue, char *errbuf)
{
	CURL *h = c->curl;
	curl_easy_reset(h);
	_cleanup_free_ char *url = xasprintf("%s%s", c->base_url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
	/* A stalled peer must not hang a script forever: abort below 1 byte/s for 60 s. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "rampart/" RAMPART_VERSION);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	/* Plain http is allowed only because it stays on this machine: a proxy from the environment
	 * (http_proxy, ALL_PROXY) would carry the bearer token across the network in clear text. */
	if (c->plain_http)
		curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (c->ca_pem) {
		/* Trust exactly the pinned CA, not the system store as well. */
		struct curl_blob blob = {.data = c->ca_pem, .len = strlen(c->ca_pem), .flags = CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	}
	struct curl_slist *headers = NULL;
	headers = curl_slist_append(headers, "Accept: application/json");
	if (content_type) {
		_cleanup_free_ char *ct = xasprintf("Content-Type: %s", content_type);
		headers = curl_slist_append(headers, ct);
	}
	/* Small JSON bodies go at once; an upload waits for "100 Continue" so that a refusal (413, 401)
	 * arrives before megabytes are sent into a closing connection. */
	headers = curl_slist_append(headers, expect_continue ? "Expect: 100-continue" : "Expect:");
	if (c->auth_header)
		headers = curl_slist_append(headers, c->auth_header);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	return headers;
}

static int transport_error(api_client *c, CURLcode rc, const char *errbuf, const struct sink *s, rp_error *err)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return rp_error_set(err, RP_E_VERIFY,
		                    "the service at %s could not be verified (%s); give the CA that signed its TLS "
		                    "certificate with 'rampart login --ca-cert FILE' (a rampartd without a configured "
		                    "certificate makes a self-signed one: STATE_DIR/tls/cert.pem)",
		                    c->base_url, detail);
	case CURLE_WRITE_ERROR:
		if (s->over_limit)
			return rp_error_set(err, RP_E_LIMIT, "the service's response is larger than the limit of %llu bytes",
			                    (unsigned long long)(s->fd >= 0 ? s->max_bytes : s->mem_limit));
		if (s->write_errno)
			return rp_error_set_errno(err, s->write_errno, "writing the downloaded data");
		break;
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_READ_ERROR:
		return rp_error_set(err, RP_E_IO, "reading the file to upload failed");
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return rp_error_set(err, RP_E_INVALID, "the service URL %s cannot be used (%s)", c->base_url, detail);
	default: break;
	}
	return rp_error_set(err, RP_E_UNAVAILABLE,
	                    "could not reach the service at %s (%s); check that rampartd is running and the URL "
	                    "('rampart login --service URL')",
	                    c->base_url, detail);
}

/* Perform the prepared request; on non-2xx build the error from the buffered body. */
static int perform(api_client *c, struct sink *s, struct progress *p, char *errbuf, long *status, rp_error *err)
{
	CURL *h = c->curl;
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	if (p->enabled) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, p);
	}
	CURLcode rc = curl_easy_perform(h);
	progress_end(p);
	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (rc != CURLE_OK)
		return transport_error(c, rc, errbuf, s, err);
	if (*status < 200 || *status >= 300) {
		api_error_from_response(*status, (const char *)s->mem.data, s->mem.len, err);
		return -1;
	}
	return 0;
}

static int parse_body(const struct sink *s, json_t **out, rp_error *err)
{
	if (!out)
		return 0;
	if (s->mem.len == 0) {
		*out = json_null();
		return 0;
	}
	*out = rp_json_parse((const char *)s->mem.data, s->mem.len, API_CLIENT_MAX_RESPONSE, "the service's response",
	                     err);
	return *out ? 0 : -1;
}

int api_client_call(api_client *c, const char *method, const char *path, const json_t *body, json_t **out,
                    rp_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	_cleanup_free_ char *payload = NULL;
	if (body) {
		payload = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!payload)
			return rp_error_set(err, RP_E_INVALID, "the request cannot be encoded as JSON (invalid UTF-8?)");
	}
	struct curl_slist *headers = prepare(c, method, path, payload ? "application/json" : NULL, false, errbuf);
	if (payload) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	struct sink s = {.curl = c->curl, .mem_limit = API_CLIENT_MAX_RESPONSE, .fd = -1};
	rp_buf_init(&s.mem);
	struct progress p = {.enabled = false};
	long status = 0;
	int r = perform(c, &s, &p, errbuf, &status, err);
	curl_slist_free_all(headers);
	c->last_response_len = s.mem.len;
	if (r == 0)
		r = parse_body(&s, out, err);
	rp_buf_free(&s.mem);
	return r;
}

size_t api_client_last_response_bytes(const api_client *c)
{
	return c->last_response_len;
}

int api_client_upload(api_client *c, const char *method, const char *path, const char *file_path,
                      const char *content_type, json_t **out, rp_error *err)
{
	_cleanup_close_ int fd = open(file_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening %s", file_path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rp_error_set_errno(err, errno, "examining %s", file_path);
	if (!S_ISREG(st.st_mode))
		return rp_error_set(err, RP_E_INVALID, "%s is not a regular file", file_path);
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = prepare(c, method, path, content_type, true, errbuf);
	struct source src = {.fd = fd};
	curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, source_read);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, &src);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
	struct sink s = {.curl = c->curl, .mem_limit = API_CLIENT_MAX_RESPONSE, .fd = -1};
	rp_buf_init(&s.mem);
	struct progress p = {.enabled = c->progress};
	long status = 0;
	int r = perform(c, &s, &p, errbuf, &status, err);
	curl_slist_free_all(headers);
	if (r < 0 && src.read_errno)
		rp_error_set_errno(err, src.read_errno, "reading %s", file_path);
	if (r == 0)
		r = parse_body(&s, out, err);
	rp_buf_free(&s.mem);
	return r;
}

/* A temporary file next to DEST so that the final rename is atomic. */
static int open_temp_beside(const char *dest, char **tmp_out, rp_error *err)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		uint8_t rnd[6];
		if (rp_random_bytes(rnd, sizeof(rnd), err) < 0)
			return -1;
		_cleanup_free_ char *hex = rp_hex_encode(rnd, sizeof(rnd));
		char *tmp = xasprintf("%s.part-%s", dest, hex);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd >= 0) {
			*tmp_out = tmp;
			return fd;
		}
		int e = errno;
		free(tmp);
		if (e != EEXIST)
			return rp_error_set_errno(err, e, "creating a temporary file beside %s", dest);
	}
	return rp_error_set(err, RP_E_IO, "could not create a unique temporary file beside %s", dest);
}

/* An unnamed file in $TMPDIR (or /tmp) to hold a download until it is verified: O_TMPFILE, or a
 * named file removed at once where the file system lacks it. */
static int open_unnamed_temp(rp_error *err)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return rp_error_set_errno(err, errno, "creating a temporary file in %s (set TMPDIR)", dir);
	_cleanup_free_ char *tmpl = xasprintf("%s/rampart-download-XXXXXX", dir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "creating a temporary file in %s (set TMPDIR)", dir);
	unlink(tmpl);
	return fd;
}

/* Copy the verified download held in FD to standard output. */
static int copy_to_stdout(int fd, rp_error *err)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return rp_error_set_errno(err, errno, "rewinding the downloaded data");
	char buf[64 * 1024];
	for (;;) {
		ssize_t n = rp_read_full(fd, buf, sizeof(buf));
		if (n < 0)
			return rp_error_set_errno(err, errno, "reading the downloaded data");
		if (n == 0)
			return 0;
		if (rp_write_full(STDOUT_FILENO, buf, (size_t)n) < 0)
			return rp_error_set_errno(err, errno, "writing the download to standard output");
	}
}

int api_client_download(api_client *c, const char *path, const struct api_download *d,
                        struct api_download_result *result, rp_error *err)
{
	const char *method = d->method ? d->method : "GET";
	bool to_stdout = strcmp(d->dest_path, "-") == 0;
	/* Bytes with an expected hash reach standard output only once verified: a consumer of a pipe
	 * (| sh, | tar x) must never act on a substituted image. */
	bool hold = to_stdout && d->expected_sha256;
	if (d->expected_sha256 && (strlen(d->expected_sha256) != 64 ||
	                           strspn(d->expected_sha256, "0123456789abcdefABCDEF") != 64))
		return rp_error_set(err, RP_E_INVALID, "the expected SHA-256 is not 64 hexadecimal digits");
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	if (!to_stdout)
		fd = open_temp_beside(d->dest_path, &tmp, err);
	else if (hold)
		fd = open_unnamed_temp(err);
	if ((!to_stdout || hold) && fd < 0)
		return -1;
	_cleanup_free_ char *payload = NULL;
	if (d->body) {
		payload = json_dumps(d->body, JSON_COMPACT);
		if (!payload)
			return rp_error_set(err, RP_E_INVALID, "the request cannot be encoded as JSON (invalid UTF-8?)");
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = prepare(c, method, path, payload ? "application/json" : NULL, false, errbuf);
	if (payload) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
	}
	struct sink s = {.curl = c->curl, .mem_limit = 64 * 1024, .fd = fd >= 0 ? fd : STDOUT_FILENO,
	                 .max_bytes = d->max_bytes};
	rp_buf_init(&s.mem);
	int r = 0;
	if (rp_sha256_init(&s.hash, err) < 0)
		r = -1;
	s.hashing = r == 0;
	struct progress p = {.enabled = c->progress && !to_stdout};
	long status = 0;
	if (r == 0)
		r = perform(c, &s, &p, errbuf, &status, err);
	curl_slist_free_all(headers);
	rp_buf_free(&s.mem);
	uint8_t digest[RP_SHA256_LEN];
	if (s.hashing) {
		if (r == 0 && rp_sha256_final(&s.hash, digest, err) < 0)
			r = -1;
		rp_sha256_free(&s.hash);
	}
	_cleanup_free_ char *hex = r == 0 ? rp_hex_encode(digest, sizeof(digest)) : NULL;
	/* Check before the rename, so a corrupted or substituted download never takes the file's name. */
	if (r == 0 && d->expected_sha256 && strcasecmp(hex, d->expected_sha256) != 0)
		r = rp_error_set(err, RP_E_VERIFY, "the downloaded bytes have SHA-256 %s, not the expected %s; %s", hex,
		                 d->expected_sha256,
		                 to_stdout ? "nothing was written to standard output" : "nothing was kept");
	if (r == 0 && hold)
		r = copy_to_stdout(fd, err);
	if (r == 0 && !to_stdout) {
		if (fsync(fd) < 0 || close(steal_fd(fd)) < 0)
			r = rp_error_set_errno(err, errno, "writing %s", tmp);
		else if (rename(tmp, d->dest_path) < 0)
			r = rp_error_set_errno(err, errno, "renaming %s to %s", tmp, d->dest_path);
	}
	if (r < 0) {
		if (tmp)
			unlink(tmp);
		return -1;
	}
	if (result) {
		result->size = s.written;
		snprintf(result->sha256_hex, sizeof(result->sha256_hex), "%s", hex);
	}
	return 0;
}
