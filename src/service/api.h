/* The API layer of rampartd, independent of the HTTP library: a request comes in as method, raw
 * path, query, headers and body; api_dispatch() matches it against the route table (routes.c),
 * authenticates the bearer token, checks the caller's role, parses the body, runs the handler in
 * one store transaction together with its audit entry (a change is authorised before it waits for
 * the writer lock: see struct api_route), and fills a response. server.c adapts
 * libmicrohttpd to this; the unit and fuzz tests call it directly. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "common/error.h"
#include "service/attest_nonce.h"
#include "service/store.h"

#define API_JSON_BODY_MAX (1024 * 1024)
/* JSON bodies of routes anyone can reach without a token (attestation, the device API before its
 * certificate is checked): room for the largest evidence (ATTEST_EVIDENCE_B64_MAX plus two CSRs,
 * under 100 KiB) and a full update-status report (UPDATE_REPORT_STORED_MAX, 256 KiB as stored,
 * with half as much again for spacing), so an anonymous connection cannot make the server buffer
 * a mebibyte. */
#define API_TOKENLESS_JSON_BODY_MAX (384 * 1024)
#define API_DEFAULT_IMAGE_MAX (64ull * 1024 * 1024)
#define API_MAX_PARAMS 4

/* Server-wide state the handlers share. */
struct api_ctx {
	struct store *store;
	char *state_dir;
	uint64_t max_image_size;
	pthread_mutex_t ca_lock; /* tenant CA directories: one writer at a time */
	int64_t (*clock)(void);  /* seconds since the epoch; tests may replace it */
	struct attest_nonce_key nonce_key; /* MACs attestation nonces (attest_nonce.h) */
};

enum api_access {
	API_PUBLIC,            /* no token */
	API_AUTHENTICATED,     /* any valid token */
	API_SERVICE_ADMIN,     /* the service administrator */
	API_TENANT_READER,     /* any role in {tenant_id} */
	API_TENANT_CONTRIBUTOR,
	API_TENANT_ADMINISTRATOR,
	API_DEVICE, /* mutual TLS with the device-API certificate from attestation (device_auth.h) */
};

enum api_body { API_BODY_NONE, API_BODY_JSON, API_BODY_BINARY };

struct api_request {
	const char *method;
	struct {
		const char *name;
		char *value; /* percent-decoded, validated UTF-8 without control characters */
	} params[API_MAX_PARAMS];
	size_t nparams;
	const char *query;  /* raw, without '?', or NULL */
	const uint8_t *body;
	size_t body_len;
	json_t *json;       /* the body when the route takes JSON: always an object */
	struct store_principal who;
	enum store_role role;  /* in tenant_id, when the route has one */
	const char *tenant_id; /* the {tenant_id} parameter, or NULL */
	char device_id[65];    /* API_DEVICE routes: the authenticated device, and its tenant */
	char device_tenant[37];
	int64_t now;
	/* What the route's prepare step (struct api_route) handed to its handler; PREPARED is freed
	 * with PREPARED_FREE when the request ends. */
	void *prepared;
	void (*prepared_free)(void *prepared);
};

struct api_response {
	int status;
	json_t *json;          /* JSON body, or */
	uint8_t *raw;          /* a raw body (malloc'd) with its type */
	size_t raw_len;
	const char *content_type;
	char *file_path;       /* or a file to send (malloc'd path), e.g. a blob */
	char *audit_target;    /* what the change was about (malloc'd), for the audit log */
	char location[256];    /* Location header for 201 responses, or "" */
	/* Work outside the database that must follow only a durable change (publishing update
	 * metadata, storing a signed document): api_dispatch runs it once the request's transaction
	 * has committed, never after a rollback. A failure becomes the answer (the change stays
	 * saved, and the message says so). ARG is freed with FREE_ARG by api_response_free. */
	int (*after_commit)(struct api_ctx *ctx, struct api_response *res, void *arg, rp_error *err);
	void *after_commit_arg;
	void (*after_commit_free)(void *arg);
};

/* Set RES's after-commit step (see struct api_response); replaces and frees any earlier one. */
void api_after_commit(struct api_response *res,
                      int (*fn)(struct api_ctx *ctx, struct api_response *res, void *arg, rp_error *err), void *arg,
                      void (*free_arg)(void *arg));

typedef int (*api_handler)(struct api_ctx *ctx, struct api_request *req, struct api_response *res, rp_error *err);

/* A change is decided in two steps, so that no request holds the store's writer lock before it is
 * known to be allowed, nor for slow work: the caller is authenticated and authorised on a read
 * snapshot (and refused there), then the route's prepare step, if any, runs outside any
 * transaction (it may open read transactions of its own) and leaves its results in
 * req->prepared; only then does the write transaction start, in which the caller is
 * authenticated and authorised again (the token or role may have changed meanwhile) before the
 * handler runs. Whatever prepare leaves outside the store must be harmless if the change is never
 * committed (a content-addressed blob). */
struct api_route {
	const char *method;
	const char *path; /* "/v1/tenants/{tenant_id}/products/{product}" */
	api_handler handler;
	enum api_access access;
	enum api_body body;
	const char *action; /* audit action for changes ("product.create"); NULL for reads */
	api_handler prepare; /* optional, routes with an action only: see above */
};

/* The one route table (routes.c): the server serves exactly these, `rampartd routes` prints them. */
extern const struct api_route api_routes[];
extern const size_t api_routes_count;

/* Handle one request; never fails: errors become error responses. */
void api_dispatch(struct api_ctx *ctx, const char *method, const char *raw_path, const char *query,
                  const char *authorization, const char *content_type, const uint8_t *body, size_t body_len,
                  struct api_response *res);
void api_response_free(struct api_response *res);
/* Whether a request may send its body, decided from its request line and headers alone: false
 * (RES holds the answer; the body is never read) when no route serves it, or when its route takes
 * a large binary body (an image upload) and the caller is not authenticated or not allowed. An
 * anonymous client must not make the server buffer up to the upload limit. *BINARY_BODY: the
 * route takes a binary body (the server's upload limit applies); otherwise *JSON_MAX is the most
 * the route's JSON body may hold (API_JSON_BODY_MAX, or API_TOKENLESS_JSON_BODY_MAX for routes
 * without a token). */
bool api_admit(struct api_ctx *ctx, const char *method, const char *raw_path, const char *authorization,
               bool *binary_body, size_t *json_max, struct api_response *res);

/* HTTP status for an error code; UNAUTHENTICATED selects 401 over 403 for RP_E_PERMISSION. */
int api_status_for(enum rp_errc code, bool unauthenticated);
/* {"error": {"code": ..., "message": ...}} */
json_t *api_error_json(const rp_error *err);

/* ---- helpers for handlers (api.c) ---- */

/* The value of path parameter NAME; aborts if the route has none (a bug in the route table). */
const char *api_param(const struct api_request *req, const char *name);
/* A query parameter, percent-decoded into a malloc'd string; NULL when absent. Fails on a
 * malformed value. */
int api_query(const struct api_request *req, const char *name, char **out, rp_error *err) RP_MUST_CHECK;
/* limit and page_token. */
int api_page(const struct api_request *req, struct store_page *page, rp_error *err) RP_MUST_CHECK;
/* {"items": ITEMS, "next_page_token": ...}; takes ITEMS. */
void api_reply_list(struct api_response *res, json_t *items, int64_t next);
/* STATUS with a JSON body; takes BODY. */
void api_reply_json(struct api_response *res, int status, json_t *body);
void api_set_target(struct api_response *res, const char *fmt, ...) RP_PRINTF(2, 3);
/* A new random token "rpt_<64 hex>" (TOKEN_LEN + 1 bytes) and its SHA-256. */
#define API_TOKEN_LEN (4 + 64)
int api_token_new(char token[API_TOKEN_LEN + 1], uint8_t hash[32], rp_error *err) RP_MUST_CHECK;
