/* Routes for update delivery (docs/protocol.md "Update delivery"): the signed TUF metadata of each
 * tenant's image repository and each device group's director, offline targets upload, and the
 * per-image status devices report. Metadata is served without a token: TUF signatures, versions
 * and expiry protect it end to end, so a CDN or cache may serve it too. */
#include <stdio.h>
#include <string.h>

#include "common/encoding.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "service/bodies.h"
#include "service/routes.h"
#include "service/update_publish.h"
#include "service/update_report.h"

static int serve(struct api_ctx *ctx, struct api_request *req, struct api_response *res, enum update_repo_kind kind,
                 const char *id, rp_error *err)
{
	char *path = update_publish_file(ctx->state_dir, kind, NULL, id, api_param(req, "file"), req->now, err);
	if (!path)
		return -1;
	res->file_path = path;
	res->content_type = "application/json";
	res->status = 200;
	return 0;
}

ROUTE(routes_tuf_image_get)
{
	return serve(ctx, req, res, UPDATE_REPO_IMAGE, api_param(req, "tenant"), err);
}

ROUTE(routes_tuf_director_get)
{
	return serve(ctx, req, res, UPDATE_REPO_DIRECTOR, api_param(req, "device_group_id"), err);
}

ROUTE(routes_tuf_targets_upload)
{
	api_set_target(res, "image repository targets (%zu bytes)", req->body_len);
	if (update_publish_upload_targets(ctx->state_dir, req->tenant_id, req->body, req->body_len, req->now, err) < 0)
		return -1;
	api_reply_json(res, 200, json_pack("{s:s}", "status", "published"));
	return 0;
}

/* Check REQ's report and store it for DEVICE_ID (whose right to report the caller established). */
static int store_report(struct api_ctx *ctx, struct api_request *req, struct api_response *res, const char *device_id,
                        bool check_role, rp_error *err)
{
	/* With a token: the service administrator or a Contributor of the device's tenant. */
	if (check_role) {
		_cleanup_json_ json_t *dev = ctx->store->ops->device_lookup(ctx->store, device_id, err);
		if (!dev)
			return -1;
		/* The path names no tenant: the audit record goes to the device's (its refusals too). */
		const char *tenant = json_string_value(json_object_get(dev, "tenant_id"));
		if (tenant && strlen(tenant) < sizeof(req->device_tenant)) {
			snprintf(req->device_tenant, sizeof(req->device_tenant), "%s", tenant);
			req->tenant_id = req->device_tenant;
		}
		if (!req->who.service_admin) {
			enum store_role role = STORE_ROLE_NONE;
			if (!tenant)
				return rp_error_set(err, RP_E_NOT_FOUND, "device %s not found", device_id);
			if (ctx->store->ops->role_get(ctx->store, req->who.user_seq, tenant, &role, err) < 0)
				return -1;
			if (role == STORE_ROLE_NONE)
				return rp_error_set(err, RP_E_NOT_FOUND, "device %s not found", device_id);
			if (role < STORE_ROLE_CONTRIBUTOR)
				return rp_error_set(err, RP_E_PERMISSION, "reporting update status needs the Contributor role");
		}
	}
	json_t *copy = update_report_check(req->json, device_id, err);
	if (!copy)
		return -1;
	size_t n = json_array_size(json_object_get(copy, "images"));
	_cleanup_free_ char *text = rp_json_dump(copy);
	json_decref(copy);
	/* Refused here rather than stored unreadable: the previous status stays. */
	size_t len = strlen(text);
	if (len > UPDATE_REPORT_STORED_MAX)
		return rp_error_set(err, RP_E_LIMIT,
		                    "update status: the report is %zu bytes as stored, over the limit of %d; report fewer "
		                    "images or shorter names and reasons",
		                    len, UPDATE_REPORT_STORED_MAX);
	if (ctx->store->ops->update_status_put(ctx->store, device_id, text, req->now, err) < 0)
		return -1;
	api_reply_json(res, 200, json_pack("{s:s, s:I}", "device_id", device_id, "images", (json_int_t)n));
	return 0;
}

ROUTE(routes_device_update_status_post)
{
	const char *device_id = api_param(req, "device_id");
	api_set_target(res, "%s", device_id);
	return store_report(ctx, req, res, device_id, true, err);
}

/* The device API (mutual TLS with the device-API certificate): a device reports for itself only. */
ROUTE(routes_device_self_update_status)
{
	api_set_target(res, "%s", req->device_id);
	return store_report(ctx, req, res, req->device_id, false, err);
}

/* Blobs for devices: only those of the device's own tenant (another tenant's look missing). */
ROUTE(routes_device_blob_get)
{
	const char *digest = api_param(req, "digest");
	bool hex = strlen(digest) == 64;
	for (const char *p = digest; hex && *p; p++)
		hex = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
	if (!hex)
		return rp_error_set(err, RP_E_INVALID, "a blob is named by 64 lowercase hex digits (its SHA-256)");
	/* Several tenants may hold the same package; the device's own tenant must be one of them. */
	int held = ctx->store->ops->blob_held_by(ctx->store, digest, req->device_tenant, err);
	if (held < 0)
		return -1;
	if (held == 0)
		return rp_error_set(err, RP_E_NOT_FOUND, "blob sha256:%s not found", digest);
	res->file_path = xasprintf("%s/blobs/sha256/%s", ctx->state_dir, digest);
	res->content_type = "application/octet-stream";
	res->status = 200;
	return 0;
}

/* What the director currently tells the device's group to run. */
static json_t *targeted(struct api_ctx *ctx, const char *group_id, int64_t now)
{
	json_t *out = json_array();
	if (!group_id)
		return out;
	rp_error e = RP_ERROR_INIT;
	_cleanup_free_ char *path = update_publish_file(ctx->state_dir, UPDATE_REPO_DIRECTOR, NULL, group_id,
	                                                "targets.json", now, &e);
	_cleanup_json_ json_t *doc = path ? rp_json_load_file(path, 16u * 1024 * 1024, &e) : NULL;
	json_t *targets = json_object_get(json_object_get(doc, "signed"), "targets");
	const char *name;
	json_t *t;
	json_object_foreach(targets, name, t) {
		json_t *custom = json_object_get(t, "custom");
		json_array_append_new(out, json_pack("{s:s, s:O, s:O, s:O, s:O, s:O}", "name", name, "image_id",
		                                     json_object_get(custom, "image_id") ?: json_null(), "type",
		                                     json_object_get(custom, "type") ?: json_null(), "version",
		                                     json_object_get(custom, "version") ?: json_null(), "sha256",
		                                     json_object_get(json_object_get(t, "hashes"), "sha256") ?: json_null(),
		                                     "length", json_object_get(t, "length") ?: json_null()));
	}
	return out;
}

ROUTE(routes_device_update_status_get)
{
	const char *device_id = api_param(req, "device_id");
	_cleanup_json_ json_t *dev = ctx->store->ops->device_get(ctx->store, req->tenant_id, device_id, err);
	if (!dev)
		return -1;
	rp_error e = RP_ERROR_INIT;
	json_t *st = ctx->store->ops->update_status_get(ctx->store, req->tenant_id, device_id, &e);
	if (!st) {
		if (e.code != RP_E_NOT_FOUND) {
			*err = e;
			return -1;
		}
		st = json_pack("{s:s, s:[], s:n, s:n, s:n}", "device_id", device_id, "images", "reported_at", "last_check",
		               "last_error");
	}
	json_object_set_new(st, "device_group_id", json_incref(json_object_get(dev, "device_group_id")));
	json_object_set_new(st, "targeted",
	                    targeted(ctx, json_string_value(json_object_get(dev, "device_group_id")), req->now));
	api_reply_json(res, 200, st);
	return 0;
}

/* A deployment's images as read in its transaction, published to the group's director once that
 * transaction has committed: devices never see a deployment the database does not hold. */
struct deployment_release {
	char tenant_id[STORE_GUID_LEN + 1], group_id[STORE_GUID_LEN + 1];
	int64_t now;
	size_t n;
	json_t *rows[BODIES_DEPLOYMENT_IMAGES_MAX];
};

static void deployment_release_free(void *arg)
{
	struct deployment_release *rel = arg;
	for (size_t i = 0; i < rel->n; i++)
		json_decref(rel->rows[i]);
	free(rel);
}

/* The publishable facts of an image record (strings borrowed from ROW). */
static int image_of_row(const json_t *row, struct update_publish_image *out, rp_error *err)
{
	*out = (struct update_publish_image){
	    .image_id = json_string_value(json_object_get(row, "image_id")),
	    .component_id = json_string_value(json_object_get(row, "component_id")),
	    .image_type = json_string_value(json_object_get(row, "image_type")),
	    .sha256 = json_string_value(json_object_get(row, "sha256")),
	    .size = (uint64_t)json_integer_value(json_object_get(row, "size")),
	    .version = (uint64_t)json_integer_value(json_object_get(row, "version")),
	};
	if (!out->image_id || !out->component_id || !out->image_type || !out->sha256)
		return rp_error_set(err, RP_E_INTERNAL, "image %s: incomplete record",
		                    out->image_id ? out->image_id : "(no ID)");
	return 0;
}

static int deployment_publish(struct api_ctx *ctx, struct api_response *res, void *arg, rp_error *err)
{
	(void)res;
	struct deployment_release *rel = arg;
	struct update_publish_image imgs[BODIES_DEPLOYMENT_IMAGES_MAX];
	for (size_t i = 0; i < rel->n; i++)
		if (image_of_row(rel->rows[i], &imgs[i], err) < 0)
			return -1;
	if (update_publish_director(ctx->state_dir, rel->tenant_id, rel->group_id, imgs, rel->n, rel->now, err) < 0)
		return rp_error_prefix(err, "publishing the deployment to device group %s (devices keep the previous "
		                            "one; create the deployment again)",
		                       rel->group_id);
	return 0;
}

int routes_update_publish_deployment(struct api_ctx *ctx, struct api_response *res, const char *tenant_id,
                                     const char *group_id, const char *const *image_ids, size_t n, int64_t now,
                                     rp_error *err)
{
	if (n > BODIES_DEPLOYMENT_IMAGES_MAX)
		return rp_error_set(err, RP_E_LIMIT, "too many images in one deployment");
	struct deployment_release *rel = xcalloc(1, sizeof(*rel));
	snprintf(rel->tenant_id, sizeof(rel->tenant_id), "%s", tenant_id);
	snprintf(rel->group_id, sizeof(rel->group_id), "%s", group_id);
	rel->now = now;
	for (; rel->n < n; rel->n++) {
		struct update_publish_image img;
		json_t *r = rel->rows[rel->n] = ctx->store->ops->image_get(ctx->store, tenant_id, image_ids[rel->n], err);
		if (!r || image_of_row(r, &img, err) < 0) {
			deployment_release_free(rel);
			return -1;
		}
	}
	api_after_commit(res, deployment_publish, rel, deployment_release_free);
	return 0;
}
