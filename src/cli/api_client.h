/* A small libcurl client for rampartd's /v1 JSON API: bearer token, pinned service CA, bounded
 * responses, streaming uploads/downloads with an optional progress bar, and HTTP failures mapped
 * to rp_error codes (so the CLI's exit statuses stay stable) carrying the server's message. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "common/error.h"

#define API_CLIENT_MAX_RESPONSE (16u * 1024 * 1024)
#define API_CLIENT_MAX_DOWNLOAD (UINT64_C(4) * 1024 * 1024 * 1024)

typedef struct api_client api_client;

struct api_client_options {
	const char *base_url;      /* https://host[:port][/prefix]; http:// only for loopback hosts */
	const char *token;         /* bearer token, or NULL */
	const char *ca_pem;        /* trust only these PEM certificates for the service, or NULL (system store) */
	bool insecure_skip_verify; /* no TLS verification at all (caller warns the user) */
	bool progress;             /* draw a progress bar on stderr for uploads and downloads */
};

api_client *api_client_new(const struct api_client_options *opts, rp_error *err);
void api_client_free(api_client *c);
RP_DEFINE_CLEANUP(api_client, api_client_free)
#define _cleanup_api_client_ _cleanup_(api_client_freep)

/* Build a request path: every %s argument is percent-encoded as one path segment or query value,
 * so names with '/', '?', quotes or spaces cannot change which resource is addressed. Only %s and
 * %% are understood. */
char *api_path(const char *fmt, ...) RP_PRINTF(1, 2);
/* Percent-encode everything but RFC 3986 unreserved characters. */
char *api_escape(const char *s);

/* Send METHOD PATH with BODY as JSON (may be NULL). On 2xx, *out gets the parsed response body
 * (json null when the body is empty); OUT may be NULL to ignore it. */
int api_client_call(api_client *c, const char *method, const char *path, const json_t *body, json_t **out,
                    rp_error *err) RP_MUST_CHECK;
/* Size of the body of the last api_client_call's response (for limits across several calls). */
size_t api_client_last_response_bytes(const api_client *c);
/* Stream the file FILE_PATH as the request body (CONTENT_TYPE) and parse the JSON response. */
int api_client_upload(api_client *c, const char *method, const char *path, const char *file_path,
                      const char *content_type, json_t **out, rp_error *err) RP_MUST_CHECK;

struct api_download_result {
	uint64_t size;
	char sha256_hex[65];
};
struct api_download {
	const char *method;          /* NULL: GET */
	const json_t *body;          /* JSON request body, or NULL */
	const char *dest_path;       /* file (written beside, then renamed into place, mode 0644), or "-" for stdout
	                              * (held in an unnamed temporary file until verified when expected_sha256 is set) */
	uint64_t max_bytes;          /* RP_E_LIMIT past this */
	const char *expected_sha256; /* 64 hex: refuse (RP_E_VERIFY) and keep nothing if the bytes differ; or NULL */
};
/* Fetch PATH's response body into a file. RESULT may be NULL. */
int api_client_download(api_client *c, const char *path, const struct api_download *d,
                        struct api_download_result *result, rp_error *err) RP_MUST_CHECK;

/* Map an HTTP status to an error code (exposed for unit tests). */
enum rp_errc api_status_code(long http_status);
/* Build the error for a non-2xx response from its status and body ({"error":{"code","message"}}). */
void api_error_from_response(long http_status, const char *body, size_t len, rp_error *err);
