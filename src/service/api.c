/* Request dispatch for rampartd's API (see api.h): route matching, bearer-token authentication,
 * role checks, strict body parsing, and the rule that a change and its audit entry commit together
 * or not at all. Refused and failed attempts at a change are audited in a transaction of their own,
 * after the attempted change was rolled back. */
#include "service/api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "service/device_auth.h"
#include "service/validate.h"

#define PATH_MAX_SEGMENTS 12
#define PATH_SEGMENT_MAX 512

int api_status_for(enum rp_errc code, bool unauthenticated)
{
	switch (code) {
	case RP_OK: return 200;
	case RP_E_INVALID: return 400;
	case RP_E_PERMISSION: return unauthenticated ? 401 : 403;
	case RP_E_NOT_FOUND: return 404;
	case RP_E_EXISTS:
	case RP_E_CONFLICT: return 409;
	case RP_E_LIMIT: return 413;
	case RP_E_UNSUPPORTED: return 415;
	case RP_E_VERIFY:
	case RP_E_EXPIRED: return 422;
	case RP_E_UNAVAILABLE: return 503;
	case RP_E_IO:
	case RP_E_CRYPTO:
	case RP_E_INTERNAL: break;
	}
	return 500;
}

json_t *api_error_json(const rp_error *err)
{
	return json_pack("{s:{s:s, s:s}}", "error", "code", rp_error_code_name(err->code), "message", err->message);
}

void api_response_free(struct api_response *res)
{
	json_decref(res->json);
	free(res->raw);
	free(res->file_path);
	free(res->audit_target);
	if (res->after_commit_free)
		res->after_commit_free(res->after_commit_arg);
	memset(res, 0, sizeof(*res));
}

void api_after_commit(struct api_response *res,
                      int (*fn)(struct api_ctx *ctx, struct api_response *res, void *arg, rp_error *err), void *arg,
                      void (*free_arg)(void *arg))
{
	if (res->after_commit_free)
		res->after_commit_free(res->after_commit_arg);
	res->after_commit = fn;
	res->after_commit_arg = arg;
	res->after_commit_free = free_arg;
}

void api_reply_json(struct api_response *res, int status, json_t *body)
{
	json_decref(res->json);
	res->status = status;
	res->json = body;
}

void api_reply_list(struct api_response *res, json_t *items, int64_t next)
{
	json_t *body = json_object();
	json_object_set_new(body, "items", items);
	if (next > 0) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)next);
		json_object_set_new(body, "next_page_token", json_string(buf));
	} else {
		json_object_set_new(body, "next_page_token", json_null());
	}
	api_reply_json(res, 200, body);
}

void api_set_target(struct api_response *res, const char *fmt, ...)
{
	free(res->audit_target);
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&res->audit_target, fmt, ap) < 0)
		rp_abort("out of memory");
	va_end(ap);
}

const char *api_param(const struct api_request *req, const char *name)
{
	for (size_t i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	rp_abort("route has no such parameter");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode SRC[0..len) (and '+' as space when FORM); refuse malformed escapes, NUL, invalid
 * UTF-8 and control characters, so a decoded value can go to the store and the log as it is. */
static int url_decode(const char *src, size_t len, bool form, char **out, const char *what, rp_error *err)
{
	if (len > PATH_SEGMENT_MAX * 3)
		return rp_error_set(err, RP_E_INVALID, "%s is too long", what);
	char *buf = xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		if (c == '%') {
			int hi = i + 2 < len ? hexval(src[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(src[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(buf);
				return rp_error_set(err, RP_E_INVALID, "%s has a malformed %%-escape", what);
			}
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && form) {
			c = ' ';
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	if (strlen(buf) != n || !rp_text_is_printable_utf8(buf, n)) {
		free(buf);
		return rp_error_set(err, RP_E_INVALID, "%s must be UTF-8 text without NUL or control characters", what);
	}
	*out = buf;
	return 0;
}

int api_query(const struct api_request *req, const char *name, char **out, rp_error *err)
{
	*out = NULL;
	if (!req->query)
		return 0;
	size_t name_len = strlen(name);
	const char *p = req->query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (len > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
			char what[80];
			snprintf(what, sizeof(what), "query parameter \"%s\"", name);
			free(*out);
			*out = NULL;
			if (url_decode(p + name_len + 1, len - name_len - 1, true, out, what, err) < 0)
				return -1;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return 0;
}

int api_page(const struct api_request *req, struct store_page *page, rp_error *err)
{
	_cleanup_free_ char *limit = NULL;
	_cleanup_free_ char *token = NULL;
	page->after = 0;
	page->limit = 100;
	if (api_query(req, "limit", &limit, err) < 0 || api_query(req, "page_token", &token, err) < 0)
		return -1;
	if (limit) {
		uint32_t v;
		if (rp_parse_u32(limit, 1, 1000, &v, err) < 0)
			return rp_error_prefix(err, "query parameter \"limit\"");
		page->limit = (int)v;
	}
	if (token) {
		uint64_t v;
		if (rp_parse_u64(token, 1, INT64_MAX, &v, err) < 0)
			return rp_error_set(err, RP_E_INVALID, "\"page_token\" is not one this service handed out");
		page->after = (int64_t)v;
	}
	return 0;
}

int api_token_new(char token[API_TOKEN_LEN + 1], uint8_t hash[32], rp_error *err)
{
	uint8_t raw[32];
	if (rp_random_bytes(raw, sizeof(raw), err) < 0)
		return -1;
	_cleanup_free_ char *hex = rp_hex_encode(raw, sizeof(raw));
	snprintf(token, API_TOKEN_LEN + 1, "rpt_%s", hex);
	rp_sha256_buf(token, API_TOKEN_LEN, hash);
	return 0;
}

/* ---- routing ---- */

struct split_path {
	const char *seg[PATH_MAX_SEGMENTS];
	size_t len[PATH_MAX_SEGMENTS];
	size_t n;
};

static int split(const char *path, struct split_path *sp, rp_error *err)
{
	sp->n = 0;
	if (path[0] != '/')
		return rp_error_set(err, RP_E_NOT_FOUND, "no such route");
	const char *p = path + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (sp->n == PATH_MAX_SEGMENTS)
			return rp_error_set(err, RP_E_NOT_FOUND, "no such route");
		sp->seg[sp->n] = p;
		sp->len[sp->n] = len;
		sp->n++;
		if (!slash)
			break;
		p = slash + 1;
	}
	return 0;
}

/* Does PATTERN match SP? Fills the parameter slots of REQ when it does. */
static bool match(const char *pattern, const struct split_path *sp, const char **names, const char **vals,
                  size_t *lens, size_t *nparams)
{
	struct split_path pp;
	rp_error ignored = RP_ERROR_INIT;
	if (split(pattern, &pp, &ignored) < 0 || pp.n != sp->n)
		return false;
	*nparams = 0;
	for (size_t i = 0; i < pp.n; i++) {
		if (pp.len[i] > 2 && pp.seg[i][0] == '{') {
			if (sp->len[i] == 0 || *nparams == API_MAX_PARAMS)
				return false;
			/* names[] point into the pattern; the closing brace is cut off by the caller. */
			names[*nparams] = pp.seg[i];
			vals[*nparams] = sp->seg[i];
			lens[*nparams] = sp->len[i];
			(*nparams)++;
			continue;
		}
		if (pp.len[i] != sp->len[i] || memcmp(pp.seg[i], sp->seg[i], pp.len[i]) != 0)
			return false;
	}
	return true;
}

/* ---- auditing ---- */

/* Record one audit entry. IN_TXN: inside the request's transaction, so the entry commits with the
 * change or not at all; a failure is returned (the caller must not commit). Otherwise in a
 * transaction of its own, and a failure is only logged (the request has already failed). */
static int audit(struct api_ctx *ctx, const struct api_request *req, const struct api_route *route,
                 const char *target, enum store_audit_result result, const rp_error *detail, bool in_txn,
                 rp_error *out_err)
{
	char detail_buf[RP_ERROR_MESSAGE_MAX + 32] = "";
	if (detail && detail->code != RP_OK)
		snprintf(detail_buf, sizeof(detail_buf), "%s: %s", rp_error_code_name(detail->code), detail->message);
	struct store_audit_entry e = {
		.time = req->now,
		.actor = req->who.user[0] ? req->who.user : "-",
		.tenant_id = req->tenant_id,
		.action = route->action,
		.target = target ? target : "",
		.result = result,
		.detail = detail_buf,
	};
	rp_error err = RP_ERROR_INIT;
	struct store *st = ctx->store;
	if (!in_txn && st->ops->begin(st, true, &err) < 0)
		goto fail;
	if (st->ops->audit_append(st, &e, &err) < 0) {
		if (!in_txn)
			st->ops->rollback(st);
		goto fail;
	}
	if (!in_txn && st->ops->commit(st, &err) < 0)
		goto fail;
	return 0;
fail:
	rp_log_event(RP_LOG_ERROR, "audit.write.failed", "could not audit %s by %s: %s", route->action, e.actor,
	             err.message);
	if (!in_txn)
		return 0;
	*out_err = err;
	/* Whatever the store said, a missing audit entry is the service's failure, not the caller's. */
	if (out_err->code != RP_E_UNAVAILABLE)
		out_err->code = RP_E_IO;
	return rp_error_prefix(out_err, "recording the audit entry, without which the change is not saved");
}

/* ---- dispatch ---- */

static void reply_error(struct api_response *res, const rp_error *err, bool unauthenticated)
{
	api_reply_json(res, api_status_for(err->code, unauthenticated), api_error_json(err));
	free(res->raw);
	res->raw = NULL;
	free(res->file_path);
	res->file_path = NULL;
}

static int authenticate(struct api_ctx *ctx, struct api_request *req, const char *authorization, rp_error *err)
{
	if (!authorization || !*authorization)
		return rp_error_set(err, RP_E_PERMISSION,
		                    "this request needs an API token: send \"Authorization: Bearer <token>\" "
		                    "(rampart login stores one)");
	if (strncmp(authorization, "Bearer ", 7) != 0)
		return rp_error_set(err, RP_E_PERMISSION, "the Authorization header must be \"Bearer <token>\"");
	const char *token = authorization + 7;
	if (strlen(token) != API_TOKEN_LEN || strncmp(token, "rpt_", 4) != 0 || !validate_hex64(token + 4))
		return rp_error_set(err, RP_E_PERMISSION, "the API token is malformed (expected rpt_ and 64 hex digits)");
	uint8_t hash[RP_SHA256_LEN];
	rp_sha256_buf(token, API_TOKEN_LEN, hash);
	/* Looked up by its hash: the service never holds a token it could leak or compare in variable time. */
	return ctx->store->ops->token_lookup(ctx->store, hash, &req->who, err);
}

static int authorize(struct api_ctx *ctx, const struct api_route *route, struct api_request *req, rp_error *err)
{
	if (route->access == API_SERVICE_ADMIN && !req->who.service_admin)
		return rp_error_set(err, RP_E_PERMISSION, "only the service administrator may do this");
	if (!req->tenant_id)
		return 0;
	if (!rp_guid_is_valid(req->tenant_id) || strpbrk(req->tenant_id, "ABCDEF"))
		return rp_error_set(err, RP_E_INVALID, "tenant ID \"%.64s\" is not a lowercase GUID", req->tenant_id);
	if (req->who.service_admin) {
		req->role = STORE_ROLE_ADMINISTRATOR;
		/* The service administrator sees every tenant, so the tenant must exist. */
		json_t *t = ctx->store->ops->tenant_get(ctx->store, req->tenant_id, err);
		if (!t)
			return -1;
		json_decref(t);
	} else if (ctx->store->ops->role_get(ctx->store, req->who.user_seq, req->tenant_id, &req->role, err) < 0) {
		return -1;
	}
	/* Without a role the tenant's existence is not revealed. */
	if (req->role == STORE_ROLE_NONE)
		return rp_error_set(err, RP_E_NOT_FOUND, "tenant %s not found", req->tenant_id);
	enum store_role need = STORE_ROLE_READER;
	if (route->access == API_TENANT_CONTRIBUTOR)
		need = STORE_ROLE_CONTRIBUTOR;
	else if (route->access == API_TENANT_ADMINISTRATOR)
		need = STORE_ROLE_ADMINISTRATOR;
	if (req->role < need)
		return rp_error_set(err, RP_E_PERMISSION, "your role in this tenant is %s; this needs %s",
		                    store_role_name(req->role), store_role_name(need));
	return 0;
}

static bool content_type_is(const char *ct, const char *want)
{
	if (!ct)
		return false;
	size_t n = strlen(want);
	return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int parse_body(const struct api_route *route, struct api_request *req, const char *content_type,
                      rp_error *err)
{
	if (route->body == API_BODY_NONE) {
		if (req->body_len > 0)
			return rp_error_set(err, RP_E_INVALID, "this request takes no body");
		return 0;
	}
	if (route->body == API_BODY_BINARY) {
		if (!content_type_is(content_type, "application/octet-stream"))
			return rp_error_set(err, RP_E_UNSUPPORTED, "send the body as Content-Type: application/octet-stream");
		if (req->body_len == 0)
			return rp_error_set(err, RP_E_INVALID, "the request body is empty");
		return 0;
	}
	if (!content_type_is(content_type, "application/json"))
		return rp_error_set(err, RP_E_UNSUPPORTED, "send the body as Content-Type: application/json");
	req->json = rp_json_parse((const char *)req->body, req->body_len, API_JSON_BODY_MAX, "request body", err);
	if (!req->json)
		return -1;
	if (!json_is_object(req->json))
		return rp_error_set(err, RP_E_INVALID, "the request body must be a JSON object, not %s",
		                    rp_json_type_name(req->json));
	return 0;
}

/* 0: *ROUTE serves METHOD on RAW_PATH and REQ holds its decoded path parameters (their names in
 * NAME_BUF); 1: no route does (RES holds the 404 or 405); -1: the path or a parameter is
 * malformed (ERR set). */
static int request_open(const char *method, const char *raw_path, struct api_request *req,
                        char name_buf[API_MAX_PARAMS][40], const struct api_route **route, struct api_response *res,
                        rp_error *err)
{
	struct split_path sp;
	bool path_matched = false;
	const char *names[API_MAX_PARAMS], *vals[API_MAX_PARAMS];
	size_t lens[API_MAX_PARAMS], nparams = 0;
	*route = NULL;
	if (split(raw_path, &sp, err) < 0)
		return -1;
	for (size_t i = 0; i < api_routes_count; i++) {
		if (!match(api_routes[i].path, &sp, names, vals, lens, &nparams))
			continue;
		path_matched = true;
		if (strcmp(api_routes[i].method, method) == 0) {
			*route = &api_routes[i];
			break;
		}
	}
	if (!*route) {
		if (path_matched)
			rp_error_set(err, RP_E_UNSUPPORTED, "method %s is not allowed here", method);
		else
			rp_error_set(err, RP_E_NOT_FOUND, "no such route: %s %.200s", method, raw_path);
		reply_error(res, err, false);
		if (path_matched)
			res->status = 405;
		return 1;
	}
	for (size_t i = 0; i < nparams; i++) {
		const char *close = strchr(names[i], '}');
		snprintf(name_buf[i], sizeof(name_buf[i]), "%.*s", (int)(close - names[i] - 1), names[i] + 1);
		req->params[i].name = name_buf[i];
		char what[96];
		snprintf(what, sizeof(what), "path parameter {%.39s}", name_buf[i]);
		if (url_decode(vals[i], lens[i], false, &req->params[i].value, what, err) < 0)
			return -1;
		req->nparams++;
		if (strcmp(name_buf[i], "tenant_id") == 0)
			req->tenant_id = req->params[i].value;
	}
	return 0;
}

/* Answer a refused request (ROUTE: NULL when none was found) with ERR, and record the refusal. */
static void request_refuse(struct api_ctx *ctx, const struct api_request *req, const struct api_route *route,
                           const char *raw_path, const char *audit_target, bool unauthenticated, const rp_error *err,
                           struct api_response *res)
{
	if (route && route->action && unauthenticated) {
		/* No identity to record, and writing (and fsyncing) the database for every anonymous
		 * request would hand out a cheap denial of service: the log gets these instead. */
		rp_log_event(RP_LOG_WARNING, "auth.refused", "%s %.200s: %s", req->method, raw_path, err->message);
	} else if (route && route->action) {
		enum rp_errc c = err->code;
		bool failed = c == RP_E_IO || c == RP_E_INTERNAL || c == RP_E_CRYPTO || c == RP_E_UNAVAILABLE;
		/* Without a target from the handler, the request path says what was attempted. */
		char path_target[256];
		snprintf(path_target, sizeof(path_target), "%s", raw_path);
		audit(ctx, req, route, audit_target ? audit_target : path_target,
		      failed ? STORE_AUDIT_FAILED : STORE_AUDIT_REFUSED, err, false, NULL);
	}
	if (api_status_for(err->code, unauthenticated) >= 500)
		rp_log_event(RP_LOG_ERROR, "api.request.failed", "%s %.200s: %s", req->method, raw_path, err->message);
	reply_error(res, err, unauthenticated);
}

static void request_close(struct api_request *req)
{
	for (size_t i = 0; i < req->nparams; i++)
		free(req->params[i].value);
	json_decref(req->json);
	if (req->prepared_free)
		req->prepared_free(req->prepared);
}

/* Who is asking (a token, or for API_DEVICE routes the device-API certificate) and whether they
 * may use ROUTE, decided on what the transaction the caller has open sees. *UNAUTHENTICATED: the
 * refusal is for want of a valid token. AGAIN: the caller was identified earlier in this request;
 * a device's certificate was verified then and cannot have changed, so only what the store says of
 * the device (claimed, not revoked) is checked again. */
static int request_identify(struct api_ctx *ctx, const struct api_route *route, struct api_request *req,
                            const char *authorization, bool again, bool *unauthenticated, rp_error *err)
{
	if (route->access == API_DEVICE) {
		if (again ? device_auth_recheck(ctx, req->device_id, req->device_tenant, err) < 0
		          : device_auth_verify(ctx, req->now, req->device_id, req->device_tenant, err) < 0)
			return -1;
		req->tenant_id = req->device_tenant;
		snprintf(req->who.user, sizeof(req->who.user), "device:%.16s", req->device_id);
		return 0;
	}
	if (authenticate(ctx, req, authorization, err) < 0) {
		*unauthenticated = err->code == RP_E_PERMISSION;
		return -1;
	}
	return authorize(ctx, route, req, err);
}

bool api_admit(struct api_ctx *ctx, const char *method, const char *raw_path, const char *authorization,
               bool *binary_body, size_t *json_max, struct api_response *res)
{
	memset(res, 0, sizeof(*res));
	*binary_body = false;
	*json_max = API_JSON_BODY_MAX;
	rp_error err = RP_ERROR_INIT;
	struct api_request req = {.method = method, .now = ctx->clock()};
	char name_buf[API_MAX_PARAMS][40];
	const struct api_route *route = NULL;
	bool admitted = false;
	int r = request_open(method, raw_path, &req, name_buf, &route, res, &err);
	if (r < 0)
		request_refuse(ctx, &req, route, raw_path, NULL, false, &err, res);
	if (r != 0)
		goto out;
	/* Only large bodies are worth checking before they arrive; everything else is checked once,
	 * by api_dispatch, after at most API_JSON_BODY_MAX bytes. */
	*binary_body = route->body == API_BODY_BINARY;
	if (route->access == API_PUBLIC || route->access == API_DEVICE)
		*json_max = API_TOKENLESS_JSON_BODY_MAX;
	if (!*binary_body || route->access == API_PUBLIC || route->access == API_DEVICE) {
		admitted = true;
		goto out;
	}
	if (ctx->store->ops->begin(ctx->store, false, &err) < 0) {
		request_refuse(ctx, &req, route, raw_path, NULL, false, &err, res);
		goto out;
	}
	bool unauthenticated = false;
	int rc = authenticate(ctx, &req, authorization, &err);
	if (rc < 0)
		unauthenticated = err.code == RP_E_PERMISSION;
	else
		rc = authorize(ctx, route, &req, &err);
	ctx->store->ops->rollback(ctx->store);
	if (rc < 0)
		request_refuse(ctx, &req, route, raw_path, NULL, unauthenticated, &err, res);
	admitted = rc == 0;
out:
	request_close(&req);
	return admitted;
}

void api_dispatch(struct api_ctx *ctx, const char *method, const char *raw_path, const char *query,
                  const char *authorization, const char *content_type, const uint8_t *body, size_t body_len,
                  struct api_response *res)
{
	memset(res, 0, sizeof(*res));
	rp_error err = RP_ERROR_INIT;
	struct api_request req = {
		.method = method,
		.query = query,
		.body = body,
		.body_len = body_len,
		.now = ctx->clock(),
	};
	const struct api_route *route = NULL;
	char name_buf[API_MAX_PARAMS][40];
	bool in_txn = false, unauthenticated = false;

	int r = request_open(method, raw_path, &req, name_buf, &route, res, &err);
	if (r > 0)
		goto out;
	if (r < 0)
		goto out_error;

	bool change = route->action != NULL;
	if (route->prepare && !change)
		rp_abort("a route with a prepare step but no action");
	if (route->access != API_PUBLIC) {
		/* A change is first decided on a read snapshot, so that a request that will be refused
		 * (anonymous, a wrong token, a missing role) never waits for, or holds, the writer lock. */
		if (ctx->store->ops->begin(ctx->store, false, &err) < 0)
			goto out_error;
		in_txn = true;
		if (request_identify(ctx, route, &req, authorization, false, &unauthenticated, &err) < 0)
			goto out_error;
		if (change) {
			ctx->store->ops->rollback(ctx->store);
			in_txn = false;
		}
	}
	if (parse_body(route, &req, content_type, &err) < 0)
		goto out_error;
	/* Slow work (verifying a package, writing its blob) happens here, without the writer lock. */
	if (route->prepare && route->prepare(ctx, &req, res, &err) < 0)
		goto out_error;
	if (change && route->access != API_PUBLIC) {
		if (ctx->store->ops->begin(ctx->store, true, &err) < 0)
			goto out_error;
		in_txn = true;
		/* Again, on what the write transaction sees: the token or role may have gone meanwhile. */
		if (request_identify(ctx, route, &req, authorization, true, &unauthenticated, &err) < 0)
			goto out_error;
	}
	if (route->handler(ctx, &req, res, &err) < 0)
		goto out_error;
	if (in_txn) {
		/* The change and its audit entry commit together or not at all (docs/decisions.md). */
		if (route->action &&
		    audit(ctx, &req, route, res->audit_target, STORE_AUDIT_SUCCESS, NULL, true, &err) < 0)
			goto out_error;
		/* A write error (disk full, I/O error) can make the store end the transaction on its own. */
		if (!ctx->store->ops->txn_active(ctx->store)) {
			rp_error_set(&err, RP_E_IO,
			             "the store ended the transaction (disk full or I/O error); nothing was changed");
			goto out_error;
		}
		in_txn = false;
		if (ctx->store->ops->commit(ctx->store, &err) < 0)
			goto out_error;
	}
	/* Never after a rollback: a failed request skips this. */
	if (res->after_commit && res->after_commit(ctx, res, res->after_commit_arg, &err) < 0) {
		rp_error_prefix(&err, "the change was saved, but what follows it failed");
		goto out_error;
	}
	goto out;

out_error:
	if (in_txn)
		ctx->store->ops->rollback(ctx->store);
	request_refuse(ctx, &req, route, raw_path, res->audit_target, unauthenticated, &err, res);
out:
	request_close(&req);
}
