/* HTTPS for the device agent (see agent_http.h). */
#include "device/agent/agent_http.h"

#include <string.h>
#include <curl/curl.h>

#include "common/bytes.h"
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

int agent_http_post_json(const struct agent_http *h, const char *path, json_t *body, json_t **out, rp_error *err)
{
	*out = NULL;
	CURL *c = curl_easy_init();
	if (!c)
		return rp_error_set(err, RP_E_INTERNAL, "libcurl could not start");
	_cleanup_free_ char *url = xasprintf("%s%s", h->base_url, path);
	_cleanup_free_ char *payload = rp_json_dump(body);
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink s = {.overflow = false};
	rp_buf_init(&s.buf);
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout_seconds > 0 ? h->timeout_seconds : 60L);
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
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	int ret = -1;
	if (s.overflow)
		rp_error_set(err, RP_E_LIMIT, "POST %s: the response is larger than %d bytes", url, AGENT_HTTP_RESPONSE_MAX);
	else if (rc != CURLE_OK)
		rp_error_set(err, RP_E_UNAVAILABLE, "POST %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (!(*out = rp_json_parse((const char *)s.buf.data, s.buf.len, AGENT_HTTP_RESPONSE_MAX, "service response",
	                                err)))
		rp_error_prefix(err, "POST %s (HTTP %ld)", url, status);
	else
		ret = (int)status;
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
