/* The device agent's HTTPS client (libcurl): JSON POSTs to the service with the service's CA
 * pinned (no system trust store), an optional client certificate for the device API, bounded
 * response size and time. */
#pragma once

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
/* "code: message" of a service error body, or a generic text (malloc'd). */
char *agent_http_error_text(json_t *reply, int status);
