/* The device agent's HTTPS client (libcurl): JSON POSTs to the service with the service's CA
 * pinned (no system trust store), an optional client certificate for the device API, bounded
 * response size and time. */
#pragma once

#include <stdint.h>
#include <jansson.h>
#include "common/error.h"

#define AGENT_HTTP_RESPONSE_MAX (256 * 1024)

struct agent_http {
	const char *base_url;  /* "https://host:port" */
	const char *ca_file;   /* PEM: the only trust anchors for the service */
	const char *cert_file; /* client certificate (mutual TLS), or NULL */
	const char *key_file;
	long timeout_seconds;
};

/* POST BODY (JSON) to base_url + PATH. Returns the HTTP status (>= 100) with *OUT the JSON
 * response (any status), or -1 on a transport error (RP_E_UNAVAILABLE) or a non-JSON reply. */
int agent_http_post_json(const struct agent_http *h, const char *path, json_t *body, json_t **out,
                         rp_error *err) RP_MUST_CHECK;
/* The body of a request bound to its connection (agent_http_post_bound): given the connection's
 * TLS 1.3 exporter value for EVIDENCE_TLS_EXPORTER_LABEL, the JSON to send (malloc'd), or NULL
 * with ERR to abort the request. */
typedef char *agent_http_bound_body(void *arg, const uint8_t nonce[32], rp_error *err);

/* As agent_http_post_json, but the body is made by BUILD once the TLS 1.3 connection is up, from
 * that connection's exporter value, and sent chunked on it (docs/protocol.md "Channel-bound
 * attestation"). A failure of BUILD is returned as its own error. */
int agent_http_post_bound(const struct agent_http *h, const char *path, agent_http_bound_body *build, void *arg,
                          json_t **out, rp_error *err) RP_MUST_CHECK;
/* "code: message" of a service error body, or a generic text (malloc'd). */
char *agent_http_error_text(json_t *reply, int status);
