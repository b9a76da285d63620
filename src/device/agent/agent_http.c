/* HTTPS for the device agent (see agent_http.h). */
#include "device/agent/agent_http.h"

#include <string.h>
#include <curl/curl.h>
#include <openssl/ssl.h>

#include "attest/evidence.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "device/agent/agent_tls.h"

struct sink {
	rp_buf buf;
	bool overflow;
};

static size_t sink_write(char *data, size_t size, size_t n, void *userdata)
{
	struct sink *s = userdata;
	size_t len = size * n;
	if (s->buf.len + len > AGENT_HTTP_RESPONSE_MAX) {
		s->overflow = true;
		return 0; /* aborts the transfer: a service never sends this much */
	}
	rp_buf_append(&s->buf, data, len);
	return len;
}

/* A transfer's handle with the agent's TLS policy; the caller adds the body and performs it. */
static CURL *handle_new(const struct agent_http *h, const char *url, char errbuf[CURL_ERROR_SIZE],
                        struct curl_slist *headers, struct sink *s)
{
	CURL *c = curl_easy_init();
	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout_seconds > 0 ? h->timeout_seconds : 60L);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	/* Pinned: only the service's CA, never the system store. */
	curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_TLS13_CIPHERS, AGENT_TLS13_CIPHERS);
	curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, AGENT_TLS12_CIPHERS);
	if (h->cert_file) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, h->cert_file);
		curl_easy_setopt(c, CURLOPT_SSLKEY, h->key_file);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	return c;
}

/* The status and parsed reply of a finished transfer (see agent_http_post_json). */
static int finish(CURL *c, CURLcode rc, const char *url, const char *errbuf, struct sink *s, json_t **out,
                  rp_error *err)
{
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	int ret = -1;
	if (s->overflow)
		rp_error_set(err, RP_E_LIMIT, "POST %s: the response is larger than %d bytes", url, AGENT_HTTP_RESPONSE_MAX);
	else if (rc != CURLE_OK)
		rp_error_set(err, RP_E_UNAVAILABLE, "POST %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (!(*out = rp_json_parse((const char *)s->buf.data, s->buf.len, AGENT_HTTP_RESPONSE_MAX,
	                                "service response", err)))
		rp_error_prefix(err, "POST %s (HTTP %ld)", url, status);
	else
		ret = (int)status;
	return ret;
}

static struct curl_slist *json_headers(void)
{
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	return curl_slist_append(headers, "Accept: application/json");
}

int agent_http_post_json(const struct agent_http *h, const char *path, json_t *body, json_t **out, rp_error *err)
{
	*out = NULL;
	_cleanup_free_ char *url = xasprintf("%s%s", h->base_url, path);
	_cleanup_free_ char *payload = rp_json_dump(body);
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink s = {.overflow = false};
	rp_buf_init(&s.buf);
	struct curl_slist *headers = json_headers();
	CURL *c = handle_new(h, url, errbuf, headers, &s);
	int ret = -1;
	if (!c) {
		rp_error_set(err, RP_E_INTERNAL, "libcurl could not start");
	} else {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
		ret = finish(c, curl_easy_perform(c), url, errbuf, &s, out, err);
		curl_easy_cleanup(c);
	}
	curl_slist_free_all(headers);
	rp_buf_free(&s.buf);
	return ret;
}

/* The body of a bound request, made at libcurl's first read, when the connection is up. */
struct bound_upload {
	CURL *c;
	agent_http_bound_body *build;
	void *arg;
	char *payload;
	size_t len, off;
	bool failed;
	rp_error err;
};

static int connection_exporter(CURL *c, uint8_t nonce[EVIDENCE_NONCE_LEN], rp_error *err)
{
	struct curl_tlssessioninfo *info = NULL;
	if (curl_easy_getinfo(c, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || !info || !info->internals)
		return rp_error_set(err, RP_E_INTERNAL, "libcurl did not expose the TLS connection");
	if (info->backend != CURLSSLBACKEND_OPENSSL)
		return rp_error_set(err, RP_E_UNSUPPORTED, "libcurl runs on another TLS library than OpenSSL's libssl");
	SSL *ssl = info->internals;
	/* TLS 1.3 only: the service refuses a TLS 1.2 exporter value. */
	if (SSL_version(ssl) != TLS1_3_VERSION)
		return rp_error_set(err, RP_E_UNSUPPORTED,
		                    "the service negotiated %s; attestation binds its evidence to a TLS 1.3 connection",
		                    SSL_get_version(ssl));
	static const char label[] = EVIDENCE_TLS_EXPORTER_LABEL;
	if (SSL_export_keying_material(ssl, nonce, EVIDENCE_NONCE_LEN, label, sizeof(label) - 1, NULL, 0, 0) != 1)
		return rp_error_set_openssl(err, "deriving the connection's TLS exporter value");
	return 0;
}

static size_t bound_read(char *buf, size_t size, size_t n, void *userdata)
{
	struct bound_upload *u = userdata;
	if (!u->payload) {
		uint8_t nonce[EVIDENCE_NONCE_LEN];
		if (u->failed || connection_exporter(u->c, nonce, &u->err) < 0 ||
		    !(u->payload = u->build(u->arg, nonce, &u->err))) {
			u->failed = true;
			return CURL_READFUNC_ABORT;
		}
		u->len = strlen(u->payload);
	}
	size_t take = u->len - u->off < size * n ? u->len - u->off : size * n;
	memcpy(buf, u->payload + u->off, take);
	u->off += take;
	return take;
}

int agent_http_post_bound(const struct agent_http *h, const char *path, agent_http_bound_body *build, void *arg,
                          json_t **out, rp_error *err)
{
	*out = NULL;
	_cleanup_free_ char *url = xasprintf("%s%s", h->base_url, path);
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink s = {.overflow = false};
	rp_buf_init(&s.buf);
	/* The length is unknown until the connection is up: chunked, without waiting for a
	 * 100-continue the service does not need. */
	struct curl_slist *headers = json_headers();
	headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
	headers = curl_slist_append(headers, "Expect:");
	struct bound_upload u = {.build = build, .arg = arg, .err = RP_ERROR_INIT};
	CURL *c = u.c = handle_new(h, url, errbuf, headers, &s);
	int ret = -1;
	if (!c) {
		rp_error_set(err, RP_E_INTERNAL, "libcurl could not start");
	} else {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, bound_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &u);
		CURLcode rc = curl_easy_perform(c);
		if (u.failed) {
			*err = u.err;
			rp_error_prefix(err, "POST %s", url);
		} else {
			ret = finish(c, rc, url, errbuf, &s, out, err);
		}
		curl_easy_cleanup(c);
	}
	free(u.payload);
	curl_slist_free_all(headers);
	rp_buf_free(&s.buf);
	return ret;
}

char *agent_http_error_text(json_t *reply, int status)
{
	json_t *e = reply ? json_object_get(reply, "error") : NULL;
	const char *msg = e ? json_string_value(json_object_get(e, "message")) : NULL;
	const char *code = e ? json_string_value(json_object_get(e, "code")) : NULL;
	if (msg)
		return xasprintf("HTTP %d %s: %s", status, code ? code : "error", msg);
	return xasprintf("HTTP %d without an error message", status);
}
