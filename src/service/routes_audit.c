/* Routes for the audit log: a tenant's entries (its Administrators) and the whole log (the
 * service administrator), filterable by actor, action, result and time. */
#include <string.h>
#include "common/guid.h"
#include "common/xalloc.h"
#include "service/routes.h"
#include "service/timeutil.h"
#include "service/validate.h"

static int list(struct api_ctx *ctx, struct api_request *req, struct api_response *res, const char *tenant_id,
                rp_error *err)
{
	struct store_page page;
	int64_t next = 0;
	_cleanup_free_ char *actor = NULL;
	_cleanup_free_ char *action = NULL;
	_cleanup_free_ char *result = NULL;
	_cleanup_free_ char *since = NULL;
	_cleanup_free_ char *until = NULL;
	if (api_page(req, &page, err) < 0 || api_query(req, "actor", &actor, err) < 0 ||
	    api_query(req, "action", &action, err) < 0 || api_query(req, "result", &result, err) < 0 ||
	    api_query(req, "since", &since, err) < 0 || api_query(req, "until", &until, err) < 0)
		return -1;
	struct store_audit_filter f = {.tenant_id = tenant_id, .actor = actor, .action = action};
	if (result) {
		if (store_audit_result_parse(result, &f.result) < 0)
			return rp_error_set(err, RP_E_INVALID, "result must be success, refused or failed");
		f.has_result = true;
	}
	if (since && timeutil_parse(since, &f.since, err) < 0)
		return rp_error_prefix(err, "since");
	if (until && timeutil_parse(until, &f.until, err) < 0)
		return rp_error_prefix(err, "until");
	json_t *items = ctx->store->ops->audit_list(ctx->store, &f, &page, &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}

ROUTE(routes_audit_tenant)
{
	return list(ctx, req, res, req->tenant_id, err);
}

ROUTE(routes_audit_all)
{
	_cleanup_free_ char *tenant = NULL;
	if (api_query(req, "tenant_id", &tenant, err) < 0)
		return -1;
	if (tenant && !rp_guid_is_valid(tenant))
		return rp_error_set(err, RP_E_INVALID, "tenant_id is not a GUID");
	return list(ctx, req, res, tenant, err);
}
