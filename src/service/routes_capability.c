/* Routes for signed device capabilities (docs/protocol.md, "Device capabilities"): issue and fetch
 * a device's appDevelopment capability, and the tenant's capability-signing public key that
 * devices trust. Each tenant has its own P-256 signing key (STATE/capability-keys/<tenant>.pem),
 * separate from the tenant CA so that a capability and a certificate can never be confused and
 * the key can be rotated on its own; the latest capability of each device is kept beside it
 * (STATE/capabilities/<tenant>/<device>/<type>.json). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/capability.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "service/ca.h"
#include "service/routes.h"

#define CAPABILITY_MAX_VALIDITY_DAYS 365

static char *key_path(const struct api_ctx *ctx, const char *tenant_id)
{
	return xasprintf("%s/capability-keys/%s.pem", ctx->state_dir, tenant_id);
}

/* The tenant's capability-signing key, created on first use (under the CA lock, so two requests
 * cannot create two keys). */
static EVP_PKEY *signing_key(struct api_ctx *ctx, const char *tenant_id, rp_error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/capability-keys", ctx->state_dir);
	_cleanup_free_ char *path = key_path(ctx, tenant_id);
	EVP_PKEY *key = NULL;
	pthread_mutex_lock(&ctx->ca_lock);
	struct stat st;
	if (lstat(path, &st) == 0) {
		key = rp_key_load_private_pem(path, err);
	} else if (errno != ENOENT) {
		rp_error_set_errno(err, errno, "checking %s", path);
	} else if (rp_mkdir_p(dir, 0700, err) == 0) {
		key = rp_key_generate_p256(err);
		if (key && rp_key_save_private_pem(key, path, err) < 0) {
			EVP_PKEY_free(key);
			key = NULL;
		}
	}
	pthread_mutex_unlock(&ctx->ca_lock);
	if (!key)
		rp_error_prefix(err, "the tenant's capability-signing key");
	return key;
}

static char *stored_path(const struct api_ctx *ctx, const char *tenant_id, const char *device_id, const char *type)
{
	return xasprintf("%s/capabilities/%s/%s/%s.json", ctx->state_dir, tenant_id, device_id, type);
}

/* The device must exist in this tenant; the type must be one we issue. ISSUING: the device must
 * not be revoked either (a revoked device gets no new credential of any kind, as at attestation);
 * reading a capability issued before the revocation stays allowed. */
static int check_target(struct api_ctx *ctx, const struct api_request *req, bool issuing, rp_error *err)
{
	const char *id = api_param(req, "device_id");
	const char *type = api_param(req, "type");
	if (!ca_device_id_is_valid(id))
		return rp_error_set(err, RP_E_INVALID, "device ID must be 64 lowercase hex digits");
	if (strcmp(type, CAPABILITY_TYPE_APP_DEVELOPMENT) != 0)
		return rp_error_set(err, RP_E_INVALID, "capability type \"%s\" is not supported (only %s)", type,
		                    CAPABILITY_TYPE_APP_DEVELOPMENT);
	_cleanup_json_ json_t *d = ctx->store->ops->device_get(ctx->store, req->tenant_id, id, err);
	if (!d)
		return -1;
	if (issuing && json_is_true(json_object_get(d, "revoked")))
		return rp_error_set(err, RP_E_PERMISSION,
		                    "device %s is revoked in its tenant; no capability is issued to it", id);
	return 0;
}

static void reply_document(struct api_response *res, int status, const char *doc)
{
	rp_error ignored = RP_ERROR_INIT;
	api_reply_json(res, status, rp_json_parse(doc, strlen(doc), CAPABILITY_FILE_MAX, "capability", &ignored));
}

/* A signed capability, written to the state directory after the request commits. */
struct capability_store {
	char *dir, *path, *doc;
};

static void capability_store_free(void *arg)
{
	struct capability_store *cs = arg;
	free(cs->dir);
	free(cs->path);
	free(cs->doc);
	free(cs);
}

static int capability_store_write(struct api_ctx *ctx, struct api_response *res, void *arg, rp_error *err)
{
	(void)ctx, (void)res;
	const struct capability_store *cs = arg;
	if (rp_mkdir_p(cs->dir, 0700, err) < 0 || rp_write_file_atomic(cs->path, cs->doc, strlen(cs->doc), 0600, err) < 0)
		return rp_error_prefix(err, "storing the capability (issue it again)");
	return 0;
}

/* Body: {"development_keys": [PEM, ...] (optional, at most 4), "validity_days": 1..365 (optional;
 * no expiry when absent)}. */
ROUTE(routes_capability_issue)
{
	static const char *const keys[] = {"development_keys", "validity_days", NULL};
	const char *id = api_param(req, "device_id");
	const char *type = api_param(req, "type");
	api_set_target(res, "%s %s", type, id);
	json_t *dev_keys = NULL;
	int64_t days = 0;
	if (check_target(ctx, req, true, err) < 0 || rp_json_check_keys(req->json, keys, "request body", err) < 0 ||
	    rp_json_get_array(req->json, "development_keys", false, &dev_keys, err) < 0 ||
	    rp_json_get_int(req->json, "validity_days", false, 1, CAPABILITY_MAX_VALIDITY_DAYS, &days, err) < 0)
		return -1;
	struct capability c;
	memset(&c, 0, sizeof(c));
	snprintf(c.type, sizeof(c.type), "%s", type);
	snprintf(c.device_id, sizeof(c.device_id), "%s", id);
	snprintf(c.tenant_id, sizeof(c.tenant_id), "%s", req->tenant_id);
	c.issued_at = req->now;
	c.expires_at = days ? req->now + days * 86400 : 0;
	uint8_t serial[16];
	if (rp_random_bytes(serial, sizeof(serial), err) < 0)
		return -1;
	_cleanup_free_ char *serial_hex = rp_hex_encode(serial, sizeof(serial));
	snprintf(c.serial, sizeof(c.serial), "%s", serial_hex);
	if (dev_keys && json_array_size(dev_keys) > CAPABILITY_DEV_KEYS_MAX)
		return rp_error_set(err, RP_E_LIMIT, "at most %d development keys", CAPABILITY_DEV_KEYS_MAX);
	size_t i;
	json_t *v;
	json_array_foreach(dev_keys, i, v)
	{
		const char *pem = json_string_value(v);
		EVP_PKEY *k = pem && json_string_length(v) <= CAPABILITY_DEV_KEY_PEM_MAX
		                  ? rp_key_from_public_pem(pem, json_string_length(v), err)
		                  : NULL;
		bool ok = k && rp_key_is_p256(k);
		EVP_PKEY_free(k);
		if (!ok) {
			capability_free(&c);
			rp_error_clear(err);
			return rp_error_set(err, RP_E_INVALID, "development_keys[%zu] must be a P-256 public key in PEM", i);
		}
		c.dev_keys[c.ndev_keys++] = xstrdup(pem);
	}
	_cleanup_pkey_ EVP_PKEY *key = signing_key(ctx, req->tenant_id, err);
	_cleanup_free_ char *doc = key ? capability_sign(&c, key, err) : NULL;
	capability_free(&c);
	if (!doc)
		return -1;
	/* Stored (and so downloadable later) only once its audit record has committed. */
	struct capability_store *cs = xcalloc(1, sizeof(*cs));
	cs->path = stored_path(ctx, req->tenant_id, id, type);
	cs->dir = xasprintf("%s/capabilities/%s/%s", ctx->state_dir, req->tenant_id, id);
	cs->doc = xstrdup(doc);
	api_after_commit(res, capability_store_write, cs, capability_store_free);
	api_set_target(res, "%s %s serial %s", type, id, serial_hex);
	reply_document(res, 201, doc);
	return 0;
}

ROUTE(routes_capability_get)
{
	if (check_target(ctx, req, false, err) < 0)
		return -1;
	_cleanup_free_ char *path = stored_path(ctx, req->tenant_id, api_param(req, "device_id"), api_param(req, "type"));
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	if (access(path, F_OK) != 0)
		return rp_error_set(err, RP_E_NOT_FOUND, "no %s capability has been issued for device %s; issue one with "
		                    "POST (rampart device capability download)", api_param(req, "type"),
		                    api_param(req, "device_id"));
	if (rp_read_file(path, CAPABILITY_FILE_MAX, &buf, &len, err) < 0)
		return -1;
	_cleanup_free_ char *doc = xstrndup((const char *)buf, len);
	reply_document(res, 200, doc);
	return 0;
}

ROUTE(routes_capability_signing_key)
{
	_cleanup_pkey_ EVP_PKEY *key = signing_key(ctx, req->tenant_id, err);
	if (!key)
		return -1;
	char *pem = rp_key_public_pem(key, err);
	if (!pem)
		return -1;
	res->status = 200;
	res->raw = (uint8_t *)pem;
	res->raw_len = strlen(pem);
	res->content_type = "application/x-pem-file";
	return 0;
}
