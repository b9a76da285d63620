/* Routes for device groups, their deployments (newest wins, history kept) and their devices. */
#include <stdio.h>
#include <string.h>
#include "common/guid.h"
#include "common/xalloc.h"
#include "service/bodies.h"
#include "service/routes.h"

/* Path and query IDs must be lowercase GUIDs; anything else cannot name an object. */
static int check_guid(const char *what, const char *s, rp_error *err)
{
	if (!rp_guid_is_valid(s) || strpbrk(s, "ABCDEF"))
		return rp_error_set(err, RP_E_INVALID, "%s \"%.64s\" is not a lowercase GUID", what, s);
	return 0;
}

ROUTE(routes_group_create)
{
	struct body_device_group b;
	if (body_device_group(req->json, true, &b, err) < 0)
		return -1;
	api_set_target(res, "%s", b.f.name);
	char id[RP_GUID_STRLEN + 1];
	if (rp_guid_generate(id, err) < 0)
		return -1;
	json_t *g = ctx->store->ops->device_group_create(ctx->store, req->tenant_id, b.product_id, id, &b.f, req->now,
	                                                 err);
	if (!g)
		return -1;
	api_set_target(res, "%s (%s)", id, b.f.name);
	api_reply_json(res, 201, g);
	snprintf(res->location, sizeof(res->location), "/v1/tenants/%s/device-groups/%s", req->tenant_id, id);
	return 0;
}

ROUTE(routes_group_list)
{
	struct store_page page;
	int64_t next = 0;
	_cleanup_free_ char *product = NULL;
	if (api_page(req, &page, err) < 0 || api_query(req, "product_id", &product, err) < 0)
		return -1;
	if (product && check_guid("product_id", product, err) < 0)
		return -1;
	json_t *items = ctx->store->ops->device_group_list(ctx->store, req->tenant_id, product, &page, &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}

ROUTE(routes_group_show)
{
	const char *id = api_param(req, "device_group_id");
	if (check_guid("device group ID", id, err) < 0)
		return -1;
	json_t *g = ctx->store->ops->device_group_get(ctx->store, req->tenant_id, id, err);
	if (!g)
		return -1;
	api_reply_json(res, 200, g);
	return 0;
}

ROUTE(routes_group_update)
{
	const char *id = api_param(req, "device_group_id");
	api_set_target(res, "%s", id);
	struct body_device_group b;
	if (check_guid("device group ID", id, err) < 0 || body_device_group(req->json, false, &b, err) < 0)
		return -1;
	json_t *g = ctx->store->ops->device_group_update(ctx->store, req->tenant_id, id, &b.f, req->now, err);
	if (!g)
		return -1;
	api_reply_json(res, 200, g);
	return 0;
}

ROUTE(routes_group_delete)
{
	const char *id = api_param(req, "device_group_id");
	api_set_target(res, "%s", id);
	if (check_guid("device group ID", id, err) < 0 ||
	    ctx->store->ops->device_group_delete(ctx->store, req->tenant_id, id, err) < 0)
		return -1;
	res->status = 204;
	return 0;
}

ROUTE(routes_deployment_create)
{
	const char *gid = api_param(req, "device_group_id");
	api_set_target(res, "%s", gid);
	struct body_deployment b;
	if (check_guid("device group ID", gid, err) < 0 || body_deployment(req->json, &b, err) < 0)
		return -1;
	char id[RP_GUID_STRLEN + 1];
	if (rp_guid_generate(id, err) < 0)
		return -1;
	json_t *d = ctx->store->ops->deployment_create(ctx->store, req->tenant_id, gid, id, b.image_ids, b.n,
	                                               req->who.user, req->now, err);
	if (!d || routes_update_publish_deployment(ctx, res, req->tenant_id, gid, b.image_ids, b.n, req->now, err) < 0) {
		json_decref(d);
		return -1;
	}
	api_set_target(res, "%s: deployment %s of %zu image(s)", gid, id, b.n);
	api_reply_json(res, 201, d);
	return 0;
}

ROUTE(routes_deployment_list)
{
	const char *gid = api_param(req, "device_group_id");
	struct store_page page;
	int64_t next = 0;
	if (check_guid("device group ID", gid, err) < 0 || api_page(req, &page, err) < 0)
		return -1;
	json_t *items = ctx->store->ops->deployment_list(ctx->store, req->tenant_id, gid, &page, &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}

ROUTE(routes_group_device_list)
{
	const char *gid = api_param(req, "device_group_id");
	struct store_page page;
	int64_t next = 0;
	if (check_guid("device group ID", gid, err) < 0 || api_page(req, &page, err) < 0)
		return -1;
	json_t *items = ctx->store->ops->device_list(ctx->store, req->tenant_id, gid, &page, &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}
