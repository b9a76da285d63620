/* Routes for products. Creating a product creates its five default device groups in the same
 * transaction, as the reference service does. */
#include <stdio.h>
#include <string.h>
#include "common/guid.h"
#include "service/bodies.h"
#include "service/routes.h"

struct default_group {
	const char *name, *description, *os_feed, *update_policy;
};

/* Development gets no cloud application updates (apps are sideloaded there); the OS Evaluation
 * groups take the early OS feed. */
static const struct default_group default_groups[] = {
	{"Development", "Default development device group", "Retail", "No3rdPartyAppUpdates"},
	{"Field Test", "Default test device group", "Retail", "UpdateAll"},
	{"Production", "Default production device group", "Retail", "UpdateAll"},
	{"Production OS Evaluation", "Production device group for evaluating the next OS release", "RetailEval",
	 "UpdateAll"},
	{"Field Test OS Evaluation", "Test device group for evaluating the next OS release", "RetailEval", "UpdateAll"},
};

ROUTE(routes_product_create)
{
	struct body_product b;
	if (body_product(req->json, true, &b, err) < 0)
		return -1;
	api_set_target(res, "%s", b.name);
	char id[RP_GUID_STRLEN + 1];
	if (rp_guid_generate(id, err) < 0)
		return -1;
	json_t *p = ctx->store->ops->product_create(ctx->store, req->tenant_id, id, b.name, b.description, req->now, err);
	if (!p)
		return -1;
	api_reply_json(res, 201, p);
	api_set_target(res, "%s (%s)", id, b.name);
	for (size_t i = 0; i < sizeof(default_groups) / sizeof(default_groups[0]); i++) {
		const struct default_group *d = &default_groups[i];
		struct store_device_group_fields f = {
			.name = d->name,
			.description = d->description,
			.os_feed = d->os_feed,
			.update_policy = d->update_policy,
			.expect_version = -1,
		};
		char gid[RP_GUID_STRLEN + 1];
		if (rp_guid_generate(gid, err) < 0)
			return -1;
		json_t *g = ctx->store->ops->device_group_create(ctx->store, req->tenant_id, id, gid, &f, req->now, err);
		if (!g)
			return rp_error_prefix(err, "creating default device group \"%s\"", d->name);
		json_decref(g);
	}
	snprintf(res->location, sizeof(res->location), "/v1/tenants/%s/products/%s", req->tenant_id, id);
	return 0;
}

ROUTE(routes_product_list)
{
	struct store_page page;
	int64_t next = 0;
	if (api_page(req, &page, err) < 0)
		return -1;
	json_t *items = ctx->store->ops->product_list(ctx->store, req->tenant_id, &page, &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}

ROUTE(routes_product_show)
{
	json_t *p = ctx->store->ops->product_get(ctx->store, req->tenant_id, api_param(req, "product"), err);
	if (!p)
		return -1;
	api_reply_json(res, 200, p);
	return 0;
}

ROUTE(routes_product_update)
{
	const char *product = api_param(req, "product");
	api_set_target(res, "%s", product);
	struct body_product b;
	if (body_product(req->json, false, &b, err) < 0)
		return -1;
	struct store_product_update u = {.name = b.name, .description = b.description, .expect_version = b.version};
	json_t *p = ctx->store->ops->product_update(ctx->store, req->tenant_id, product, &u, req->now, err);
	if (!p)
		return -1;
	api_reply_json(res, 200, p);
	return 0;
}

ROUTE(routes_product_delete)
{
	const char *product = api_param(req, "product");
	api_set_target(res, "%s", product);
	if (ctx->store->ops->product_delete(ctx->store, req->tenant_id, product, err) < 0)
		return -1;
	res->status = 204;
	return 0;
}

ROUTE(routes_product_group_list)
{
	struct store_page page;
	int64_t next = 0;
	if (api_page(req, &page, err) < 0)
		return -1;
	json_t *items = ctx->store->ops->device_group_list(ctx->store, req->tenant_id, api_param(req, "product"), &page,
	                                                   &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}
