/* Routes for devices: registration by the maker (the service recomputes the device ID from the
 * public key, so a maker cannot register a key under someone else's ID), claiming by a tenant
 * (once, ever), listing, showing and moving between the tenant's device groups. */
#include <stdio.h>
#include <string.h>
#include "common/crypto.h"
#include "common/guid.h"
#include "common/xalloc.h"
#include "service/bodies.h"
#include "service/devkey.h"
#include "service/routes.h"
#include "service/validate.h"

/* DEVICE_ID must be the SHA-256 of the key's DER SubjectPublicKeyInfo: the service recomputes
 * it, so a maker cannot register a key under another device's ID. Returns the canonical PEM. */
static char *checked_public_key(const struct body_device_register *d, rp_error *err)
{
	char id[DEVKEY_ID_HEX_LEN + 1];
	char *pem = NULL;
	if (devkey_parse(d->public_key_pem, strlen(d->public_key_pem), id, &pem, err) < 0) {
		rp_error_prefix(err, "device %s: \"public_key_pem\"", d->device_id);
		return NULL;
	}
	if (strcmp(id, d->device_id) != 0) {
		free(pem);
		rp_error_set(err, RP_E_INVALID,
		             "device ID %s does not match its public key (SHA-256 of the key's DER "
		             "SubjectPublicKeyInfo is %s)",
		             d->device_id, id);
		return NULL;
	}
	return pem;
}

ROUTE(routes_device_register)
{
	struct body_device_register b;
	if (body_device_register(req->json, &b, err) < 0)
		return -1;
	api_set_target(res, "%s", b.device_id);
	_cleanup_free_ char *pem = checked_public_key(&b, err);
	if (!pem)
		return -1;
	json_t *d = ctx->store->ops->device_register(ctx->store, b.device_id, pem, req->now, err);
	if (!d)
		return -1;
	api_reply_json(res, 201, d);
	return 0;
}

ROUTE(routes_device_register_bulk)
{
	json_t *devices = NULL;
	if (body_device_bulk(req->json, &devices, err) < 0)
		return -1;
	size_t n = json_array_size(devices);
	api_set_target(res, "%zu devices", n);
	/* All or nothing: one failure rolls back the whole request. */
	for (size_t i = 0; i < n; i++) {
		struct body_device_register b;
		if (body_device_register(json_array_get(devices, i), &b, err) < 0)
			return -1;
		_cleanup_free_ char *pem = checked_public_key(&b, err);
		if (!pem)
			return rp_error_prefix(err, "devices[%zu]", i);
		json_t *d = ctx->store->ops->device_register(ctx->store, b.device_id, pem, req->now, err);
		if (!d)
			return rp_error_prefix(err, "devices[%zu]", i);
		json_decref(d);
	}
	api_reply_json(res, 201, json_pack("{s:I}", "registered", (json_int_t)n));
	return 0;
}

ROUTE(routes_device_claim)
{
	struct body_device_claim b;
	if (body_device_claim(req->json, &b, err) < 0)
		return -1;
	api_set_target(res, "%s", b.device_id);
	json_t *d = ctx->store->ops->device_claim(ctx->store, req->tenant_id, b.device_id, b.device_group_id, req->now,
	                                          err);
	if (!d)
		return -1;
	api_reply_json(res, 200, d);
	return 0;
}

ROUTE(routes_device_list)
{
	struct store_page page;
	int64_t next = 0;
	_cleanup_free_ char *group = NULL;
	if (api_page(req, &page, err) < 0 || api_query(req, "device_group_id", &group, err) < 0)
		return -1;
	if (group && (!rp_guid_is_valid(group) || strpbrk(group, "ABCDEF")))
		return rp_error_set(err, RP_E_INVALID, "device_group_id \"%.64s\" is not a lowercase GUID", group);
	json_t *items = ctx->store->ops->device_list(ctx->store, req->tenant_id, group, &page, &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}

static int check_device_id(const char *id, rp_error *err)
{
	if (!validate_hex64(id))
		return rp_error_set(err, RP_E_INVALID, "device ID \"%.80s\" is not 64 lowercase hex digits", id);
	return 0;
}

ROUTE(routes_device_show)
{
	const char *id = api_param(req, "device_id");
	if (check_device_id(id, err) < 0)
		return -1;
	json_t *d = ctx->store->ops->device_get(ctx->store, req->tenant_id, id, err);
	if (!d)
		return -1;
	api_reply_json(res, 200, d);
	return 0;
}

ROUTE(routes_device_update)
{
	const char *id = api_param(req, "device_id");
	api_set_target(res, "%s", id);
	struct body_device_update b;
	if (check_device_id(id, err) < 0 || body_device_update(req->json, &b, err) < 0)
		return -1;
	api_set_target(res, "%s to device group %s", id, b.device_group_id);
	json_t *d = ctx->store->ops->device_update(ctx->store, req->tenant_id, id, b.device_group_id, b.version,
	                                           req->now, err);
	if (!d)
		return -1;
	api_reply_json(res, 200, d);
	return 0;
}
