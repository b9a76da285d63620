/* Routes for images, their content-addressed blobs and the tenant's trusted image-signing keys.
 * An upload is verified with the package reader against the keys the tenant trusts before
 * anything is stored, and before the write transaction (routes_image_add_prepare); the blob is
 * written atomically under STATE/blobs/sha256/<hex>, and an image ID or blob the tenant holds
 * already is refused, so an image never changes after upload. Image IDs
 * and hashes are unique per tenant: two tenants may hold the same package, sharing its blob file. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "pkg/package_reader.h"
#include "service/bodies.h"
#include "service/routes.h"
#include "service/update_publish.h"
#include "service/validate.h"

#define TRUSTED_KEYS_MAX 1000

struct key_set {
	EVP_PKEY *keys[TRUSTED_KEYS_MAX];
	size_t n;
};

static void key_set_free(struct key_set *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->keys[i]);
	ks->n = 0;
}

static int load_trusted_keys(struct api_ctx *ctx, const char *tenant_id, struct key_set *ks, rp_error *err)
{
	struct store_page page = {.after = 0, .limit = TRUSTED_KEYS_MAX};
	int64_t next = 0;
	json_t *items = ctx->store->ops->signing_key_list(ctx->store, tenant_id, &page, &next, err);
	if (!items)
		return -1;
	size_t i;
	json_t *item;
	json_array_foreach(items, i, item) {
		const char *pem = json_string_value(json_object_get(item, "public_key_pem"));
		EVP_PKEY *key = pem ? rp_key_from_public_pem(pem, strlen(pem), err) : NULL;
		if (!key) {
			json_decref(items);
			key_set_free(ks);
			return rp_error_set(err, RP_E_INTERNAL, "a stored signing key of tenant %s does not load", tenant_id);
		}
		ks->keys[ks->n++] = key;
	}
	json_decref(items);
	return 0;
}

/* An uploaded image, released once its record has committed. */
struct image_release {
	char tenant_id[STORE_GUID_LEN + 1], image_id[STORE_GUID_LEN + 1], component_id[STORE_GUID_LEN + 1];
	char image_type[32], sha256[65];
	uint64_t size, version;
	int64_t now;
};

static int image_release(struct api_ctx *ctx, struct api_response *res, void *arg, rp_error *err)
{
	const struct image_release *rel = arg;
	struct update_publish_image pub = {.image_id = rel->image_id, .component_id = rel->component_id,
	                                   .image_type = rel->image_type, .sha256 = rel->sha256, .size = rel->size,
	                                   .version = rel->version};
	int released = update_publish_image_added(ctx->state_dir, rel->tenant_id, &pub, rel->now, err);
	if (released < 0)
		return rp_error_prefix(err, "releasing image %s to devices (it is recorded; upload a later version "
		                            "to release)",
		                       rel->image_id);
	/* Recorded either way; when the service may not sign targets (offline setup, or a root
	 * rotated away from its key) the uploader learns the release still needs offline signing.
	 * Absent when released, so the answer stays the image's record. */
	if (released > 0)
		json_object_set_new(res->json, "release", json_string("awaiting_offline_signing"));
	return 0;
}

/* What routes_image_add_prepare learnt of an upload, for routes_image_add. */
struct image_prepared {
	struct store_image img;
	char name[PACKAGE_NAME_MAX + 1];
	char version_string[PACKAGE_VERSION_STRING_MAX + 1];
};

static int trusted_keys_snapshot(struct api_ctx *ctx, const char *tenant_id, struct key_set *ks, rp_error *err)
{
	if (ctx->store->ops->begin(ctx->store, false, err) < 0)
		return -1;
	int rc = load_trusted_keys(ctx, tenant_id, ks, err);
	ctx->store->ops->rollback(ctx->store);
	return rc;
}

/* 1 when the tenant holds IMG already (by image ID or content), on a read snapshot. */
static int image_held(struct api_ctx *ctx, const char *tenant_id, const struct store_image *img, rp_error *err)
{
	struct store *st = ctx->store;
	if (st->ops->begin(st, false, err) < 0)
		return -1;
	json_t *found = st->ops->image_get(st, tenant_id, img->image_id, err);
	if (!found && err->code == RP_E_NOT_FOUND) {
		*err = (rp_error)RP_ERROR_INIT;
		found = st->ops->image_by_sha256(st, tenant_id, img->sha256, err);
	}
	st->ops->rollback(st);
	if (found) {
		json_decref(found);
		return 1;
	}
	if (err->code != RP_E_NOT_FOUND)
		return -1;
	*err = (rp_error)RP_ERROR_INIT;
	return 0;
}

/* The slow part of an upload, before the write transaction and without the writer lock: verify the
 * package against the keys the tenant trusts (read on a snapshot), hash it and write its blob. A
 * blob whose record then fails to commit is harmless: blobs are named by their content. */
ROUTE(routes_image_add_prepare)
{
	api_set_target(res, "%zu bytes", req->body_len);
	struct key_set ks = {.n = 0};
	if (trusted_keys_snapshot(ctx, req->tenant_id, &ks, err) < 0)
		return -1;
	if (ks.n == 0)
		return rp_error_set(err, RP_E_VERIFY,
		                    "this tenant trusts no image-signing key yet; add one with POST "
		                    "/v1/tenants/%s/image-signing-keys",
		                    req->tenant_id);
	struct package_limits limits;
	package_limits_default(&limits);
	limits.max_package_bytes = ctx->max_image_size;
	struct package_trust trust = {.keys = ks.keys, .nkeys = ks.n, .threshold = 1};
	_cleanup_package_ struct package *pkg = package_reader_open_buffer(req->body, req->body_len, &limits, &trust, err);
	key_set_free(&ks);
	if (!pkg)
		return rp_error_prefix(err, "checking the image package");

	struct image_prepared *p = xcalloc(1, sizeof(*p));
	req->prepared = p;
	req->prepared_free = free;
	struct store_image *img = &p->img;
	snprintf(img->image_id, sizeof(img->image_id), "%s", pkg->md.image_id);
	snprintf(img->component_id, sizeof(img->component_id), "%s", pkg->md.component_id);
	snprintf(p->name, sizeof(p->name), "%s", pkg->md.name);
	snprintf(p->version_string, sizeof(p->version_string), "%s", pkg->md.version_string);
	api_set_target(res, "%s (%s)", img->image_id, p->name);
	img->name = p->name;
	img->image_type = package_image_type_name(pkg->md.type) ? package_image_type_name(pkg->md.type) : "Unknown";
	img->version_string = p->version_string;
	img->version = pkg->md.version;
	img->development = pkg->md.development;
	img->size = req->body_len;
	for (size_t i = 0; i < pkg->nsigs; i++)
		if (pkg->sigs[i].status == PACKAGE_SIG_VALID) {
			_cleanup_free_ char *kid = rp_hex_encode(pkg->sigs[i].key_id, RP_KEY_ID_LEN);
			snprintf(img->signing_key_id, sizeof(img->signing_key_id), "%s", kid);
			break;
		}
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(req->body, req->body_len, digest);
	_cleanup_free_ char *hex = rp_hex_encode(digest, sizeof(digest));
	snprintf(img->sha256, sizeof(img->sha256), "%s", hex);

	/* A re-upload is refused before its blob is written again; the insert still refuses one that
	 * is stored meanwhile. */
	int held = image_held(ctx, req->tenant_id, img, err);
	if (held < 0)
		return rp_error_prefix(err, "looking for image %s in this tenant", img->image_id);
	if (held > 0)
		return rp_error_set(err, RP_E_EXISTS,
		                    "image %s was uploaded already to this tenant; images never change, so build a new "
		                    "image (it gets a new image ID)",
		                    img->image_id);
	_cleanup_free_ char *dir = xasprintf("%s/blobs/sha256", ctx->state_dir);
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, hex);
	if (rp_mkdir_p(dir, 0700, err) < 0 || rp_write_file_atomic(path, req->body, req->body_len, 0600, err) < 0)
		return rp_error_prefix(err, "storing the image blob");
	return 0;
}

/* In the write transaction, after routes_image_add_prepare: only the record. The key that verified
 * the package needs no second look here: a tenant's trusted signing keys are only ever added, never
 * removed or replaced (no route or store operation deletes one), so a key trusted on the prepare
 * step's snapshot is still trusted now. */
ROUTE(routes_image_add)
{
	struct image_prepared *p = req->prepared;
	if (!p)
		rp_abort("image upload without its prepare step");
	p->img.uploaded_by = req->who.user;
	/* The insert refuses an image ID or blob the tenant holds already. */
	json_t *row = ctx->store->ops->image_insert(ctx->store, req->tenant_id, &p->img, req->now, err);
	if (!row)
		return -1;
	api_reply_json(res, 201, row);
	/* Released in the tenant's TUF image repository (docs/protocol.md "Update delivery") once the
	 * record has committed: devices never see an image the database does not hold. */
	struct image_release *rel = xcalloc(1, sizeof(*rel));
	snprintf(rel->tenant_id, sizeof(rel->tenant_id), "%s", req->tenant_id);
	snprintf(rel->image_id, sizeof(rel->image_id), "%s", p->img.image_id);
	snprintf(rel->component_id, sizeof(rel->component_id), "%s", p->img.component_id);
	snprintf(rel->image_type, sizeof(rel->image_type), "%s", p->img.image_type);
	snprintf(rel->sha256, sizeof(rel->sha256), "%s", p->img.sha256);
	rel->size = p->img.size;
	rel->version = p->img.version;
	rel->now = req->now;
	api_after_commit(res, image_release, rel, free);
	snprintf(res->location, sizeof(res->location), "/v1/tenants/%s/images/%s", req->tenant_id, p->img.image_id);
	return 0;
}

ROUTE(routes_image_list)
{
	struct store_page page;
	int64_t next = 0;
	if (api_page(req, &page, err) < 0)
		return -1;
	json_t *items = ctx->store->ops->image_list(ctx->store, req->tenant_id, &page, &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}

ROUTE(routes_image_show)
{
	json_t *img = ctx->store->ops->image_get(ctx->store, req->tenant_id, api_param(req, "image_id"), err);
	if (!img)
		return -1;
	api_reply_json(res, 200, img);
	return 0;
}

ROUTE(routes_blob_get)
{
	const char *digest = api_param(req, "digest");
	if (!validate_hex64(digest))
		return rp_error_set(err, RP_E_INVALID, "a blob is named by 64 lowercase hex digits (its SHA-256)");
	/* Several tenants may hold the same package: any of them lets its users read it. A blob only
	 * other tenants hold is reported exactly like a missing one. */
	int visible;
	if (req->who.service_admin) {
		char tenant[STORE_GUID_LEN + 1];
		visible = ctx->store->ops->blob_tenant(ctx->store, digest, tenant, err) < 0 ? -1 : 1;
	} else {
		visible = ctx->store->ops->blob_visible_to(ctx->store, digest, req->who.user_seq, err);
	}
	if (visible < 0)
		return -1;
	if (visible == 0)
		return rp_error_set(err, RP_E_NOT_FOUND, "blob sha256:%s not found", digest);
	res->file_path = xasprintf("%s/blobs/sha256/%s", ctx->state_dir, digest);
	res->content_type = "application/octet-stream";
	res->status = 200;
	return 0;
}

ROUTE(routes_signing_key_add)
{
	struct body_signing_key b;
	if (body_signing_key(req->json, &b, err) < 0)
		return -1;
	_cleanup_pkey_ EVP_PKEY *key = rp_key_from_public_pem(b.public_key_pem, strlen(b.public_key_pem), err);
	if (!key) {
		err->code = RP_E_INVALID;
		return rp_error_prefix(err, "\"public_key_pem\"");
	}
	_cleanup_free_ char *kid = rp_key_id_hex(key, err);
	_cleanup_free_ char *pem = kid ? rp_key_public_pem(key, err) : NULL;
	if (!pem)
		return -1;
	api_set_target(res, "%s", kid);
	char default_name[32];
	snprintf(default_name, sizeof(default_name), "key-%.12s", kid);
	json_t *k = ctx->store->ops->signing_key_add(ctx->store, req->tenant_id, kid, b.name ? b.name : default_name, pem,
	                                             req->now, err);
	if (!k)
		return -1;
	api_reply_json(res, 201, k);
	return 0;
}

ROUTE(routes_signing_key_list)
{
	struct store_page page;
	int64_t next = 0;
	if (api_page(req, &page, err) < 0)
		return -1;
	json_t *items = ctx->store->ops->signing_key_list(ctx->store, req->tenant_id, &page, &next, err);
	if (!items)
		return -1;
	api_reply_list(res, items, next);
	return 0;
}
