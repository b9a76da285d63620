/* Routes for the service itself, tenants and roles: health, whoami, tenant create/list/show,
 * role add/list/delete. Creating a tenant also creates its CA. */
#include <stdio.h>
#include <string.h>
#include "common/guid.h"
#include "common/xalloc.h"
#include "service/bodies.h"
#include "service/ca.h"
#include "service/routes.h"
#include "service/validate.h"

#ifndef RAMPART_VERSION
#define RAMPART_VERSION "0"
#endif

char *routes_ca_dir(const struct api_ctx *ctx, const char *tenant_id)
{
	return xasprintf("%s/ca/%s", ctx->state_dir, tenant_id);
}

ROUTE(routes_health)
{
	(void)ctx, (void)req, (void)err;
	api_reply_json(res, 200, json_pack("{s:s, s:s}", "status", "ok", "version", RAMPART_VERSION));
	return 0;
}

ROUTE(routes_whoami)
{
	json_t *roles = ctx->store->ops->user_roles(ctx->store, req->who.user_seq, err);
	if (!roles)
		return -1;
	api_reply_json(res, 200,
	               json_pack("{s:s, s:b, s:o}", "user", req->who.user, "service_admin", req->who.service_admin,
	                         "roles", roles));
	return 0;
}

ROUTE(routes_tenant_create)
{
	struct body_tenant_create b;
	if (body_tenant_create(req->json, &b, err) < 0)
		return -1;
	api_set_target(res, "%s", b.name);
	char id[RP_GUID_STRLEN + 1];
	if (rp_guid_generate(id, err) < 0)
		return -1;
	json_t *t = ctx->store->ops->tenant_create(ctx->store, id, b.name, req->now, err);
	if (!t)
		return -1;
	api_reply_json(res, 201, t);
	api_set_target(res, "%s (%s)", id, b.name);
	/* The CA comes last: if it fails the tenant row is rolled back with the rest. */
	_cleanup_free_ char *dir = routes_ca_dir(ctx, id);
	pthread_mutex_lock(&ctx->ca_lock);
	struct tenant_ca *ca = ca_create(dir, id, (time_t)req->now, err);
	pthread_mutex_unlock(&ctx->ca_lock);
	if (!ca)
		return rp_error_prefix(err, "creating the tenant CA");
	ca_free(ca);
	snprintf(res->location, sizeof(res->location), "/v1/tenants/%s", id);
	return 0;
}

ROUTE(routes_tenant_list)
{
	struct store_page page;
	int64_t next = 0;
	if (api_page(req, &page, err) < 0)
		return -1;
	json_t *items = ctx->store->ops->tenant_list(ctx->store, req->who.service_admin ? 0 : req->who.user_seq, &page,
	                                             &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}

ROUTE(routes_tenant_show)
{
	json_t *t = ctx->store->ops->tenant_get(ctx->store, req->tenant_id, err);
	if (!t)
		return -1;
	api_reply_json(res, 200, t);
	return 0;
}

/* A new user (created here, its token shown once), or a role change for a user of this tenant.
 * User names are service-wide and a token works in every tenant its user has a role in, so giving
 * a tenant role to an existing user who has none here would hand this tenant to whoever holds
 * that user's token (another tenant's account of the same name): only the service administrator
 * may bind an existing user to another tenant. */
ROUTE(routes_role_add)
{
	struct body_role_add b;
	if (body_role_add(req->json, &b, err) < 0)
		return -1;
	api_set_target(res, "%s as %s", b.user, store_role_name(b.role));
	bool exists = false;
	enum store_role had = STORE_ROLE_NONE;
	if (ctx->store->ops->user_exists(ctx->store, b.user, &exists, err) < 0 ||
	    (exists && ctx->store->ops->role_of(ctx->store, req->tenant_id, b.user, &had, err) < 0))
		return -1;
	if (exists && had == STORE_ROLE_NONE && !req->who.service_admin)
		return rp_error_set(err, RP_E_CONFLICT,
		                    "the user name \"%s\" is taken: choose another name for a new user (a service "
		                    "administrator can give that existing user a role in this tenant)",
		                    b.user);
	char token[API_TOKEN_LEN + 1] = "";
	if (!exists) {
		uint8_t hash[32];
		if (api_token_new(token, hash, err) < 0 ||
		    ctx->store->ops->user_create(ctx->store, b.user, false, hash, req->now, err) < 0)
			return -1;
	}
	json_t *r = ctx->store->ops->role_add(ctx->store, req->tenant_id, b.user, b.role, req->now, err);
	if (!r)
		return -1;
	if (had != STORE_ROLE_NONE)
		api_set_target(res, "%s from %s to %s", b.user, store_role_name(had), store_role_name(b.role));
	/* Shown once: only its hash is stored. */
	if (token[0])
		json_object_set_new(r, "token", json_string(token));
	api_reply_json(res, had != STORE_ROLE_NONE ? 200 : 201, r);
	return 0;
}

ROUTE(routes_role_list)
{
	struct store_page page;
	int64_t next = 0;
	if (api_page(req, &page, err) < 0)
		return -1;
	json_t *items = ctx->store->ops->role_list(ctx->store, req->tenant_id, &page, &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}

ROUTE(routes_role_delete)
{
	const char *user = api_param(req, "user");
	api_set_target(res, "%s", user);
	if (validate_user(user, err) < 0)
		return -1;
	if (ctx->store->ops->role_delete(ctx->store, req->tenant_id, user, err) < 0)
		return -1;
	res->status = 204;
	return 0;
}
