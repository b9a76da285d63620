/* Routes for remote attestation (docs/protocol.md "Attestation protocol v1"): a device asks for a
 * nonce, sends evidence signed by its identity key with two CSRs, and receives a 24 h client
 * certificate and its device-API credential. Devices have no API token: the evidence signature by
 * the registered key is what authenticates them. Every attempt, refused or not, is audited in the
 * device's tenant with the precise reason; the nonce is consumed even when the attempt fails. */
#include <stdio.h>
#include <string.h>
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "service/attestation.h"
#include "service/ca.h"
#include "service/ca_cache.h"
#include "service/identity_key.h"
#include "service/routes.h"
#include "service/timeutil.h"

#define ACTOR "device"

static void audit_attempt(struct api_ctx *ctx, int64_t now, const char *tenant_id, const char *action,
                          const char *device_id, enum store_audit_result result, const char *detail, bool in_txn)
{
	struct store_audit_entry e = {
		.time = now,
		.actor = ACTOR,
		.tenant_id = tenant_id,
		.action = action,
		.target = device_id ? device_id : "",
		.result = result,
		.detail = detail ? detail : "",
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
	return;
fail:
	rp_log_event(RP_LOG_ERROR, "audit.write.failed", "could not audit %s of device %s: %s", action,
	             device_id ? device_id : "-", err.message);
}

/* The device row as attestation needs it; *FOUND false when unregistered. Strings are copied. */
struct device_view {
	bool found;
	char *public_key_pem, *tenant_id, *group_name;
	bool revoked;
};

static void device_view_free(struct device_view *v)
{
	free(v->public_key_pem);
	free(v->tenant_id);
	free(v->group_name);
	memset(v, 0, sizeof(*v));
}

static char *dup_field(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? xstrdup(s) : NULL;
}

static int device_view_load(struct api_ctx *ctx, const char *device_id, struct device_view *v, rp_error *err)
{
	memset(v, 0, sizeof(*v));
	json_t *d = ctx->store->ops->device_lookup(ctx->store, device_id, err);
	if (!d) {
		if (err->code == RP_E_NOT_FOUND) {
			rp_error_clear(err);
			return 0;
		}
		return -1;
	}
	v->found = true;
	v->public_key_pem = dup_field(d, "public_key_pem");
	v->tenant_id = dup_field(d, "tenant_id");
	v->group_name = dup_field(d, "device_group_name");
	v->revoked = json_is_true(json_object_get(d, "revoked"));
	json_decref(d);
	if (!v->public_key_pem)
		return rp_error_set(err, RP_E_INTERNAL, "device %s has no public key on record", device_id);
	return 0;
}

static struct attest_device device_of(const struct device_view *v, const char *device_id)
{
	return (struct attest_device){.registered = v->found,
	                              .device_id = device_id,
	                              .public_key_pem = v->public_key_pem,
	                              .tenant_id = v->tenant_id,
	                              .device_group_name = v->group_name,
	                              .revoked = v->revoked};
}

ROUTE(routes_attest_challenge)
{
	char device_id[ATTEST_DEVICE_ID_LEN + 1];
	if (attest_parse_challenge(req->json, device_id, err) < 0)
		return -1;
	api_set_target(res, "%s", device_id);
	struct store *st = ctx->store;
	if (st->ops->begin(st, true, err) < 0)
		return -1;
	struct device_view v;
	int rc = device_view_load(ctx, device_id, &v, err);
	/* Refuse at once what evidence could never fix, so strangers cannot fill the nonce table;
	 * the same checks run again on the evidence (the device may be revoked in between). */
	uint8_t nonce[EVIDENCE_NONCE_LEN];
	_cleanup_free_ char *hex = NULL;
	if (rc == 0 && !v.found)
		rc = rp_error_set(err, RP_E_PERMISSION,
		                  "attestation refused (device_unknown): device %s is not registered; the maker registers it "
		                  "with 'rampart device register'",
		                  device_id);
	else if (rc == 0 && !v.tenant_id)
		rc = rp_error_set(err, RP_E_PERMISSION,
		                  "attestation refused (device_unclaimed): device %s is not claimed by any tenant", device_id);
	else if (rc == 0 && v.revoked)
		rc = rp_error_set(err, RP_E_PERMISSION,
		                  "attestation refused (device_revoked): device %s is revoked in its tenant", device_id);
	if (rc == 0 && rp_random_bytes(nonce, sizeof(nonce), err) < 0)
		rc = -1;
	int64_t expires = req->now + ATTEST_NONCE_TTL_SECONDS;
	if (rc == 0) {
		hex = rp_hex_encode(nonce, sizeof(nonce));
		rc = st->ops->nonce_create(st, hex, device_id, expires, req->now, err);
	}
	if (rc < 0) {
		st->ops->rollback(st);
		if (err->code == RP_E_PERMISSION)
			audit_attempt(ctx, req->now, v.tenant_id, "device.attest", device_id, STORE_AUDIT_REFUSED, err->message,
			              false);
		device_view_free(&v);
		return -1;
	}
	device_view_free(&v);
	if (st->ops->commit(st, err) < 0)
		return -1;
	char exp[TIMEUTIL_RFC3339_LEN];
	timeutil_format(expires, exp);
	api_reply_json(res, 200,
	               json_pack("{s:s, s:s, s:s, s:I}", "device_id", device_id, "nonce", hex, "expires_at", exp,
	                         "ttl_seconds", (json_int_t)ATTEST_NONCE_TTL_SECONDS));
	return 0;
}

struct image_cb_ctx {
	struct store *st;
};

static int cb_by_sha256(void *vctx, const char *tenant_id, const char *sha256_hex, char type[32], rp_error *err)
{
	struct image_cb_ctx *c = vctx;
	json_t *img = c->st->ops->image_by_sha256(c->st, tenant_id, sha256_hex, err);
	if (!img) {
		if (err->code != RP_E_NOT_FOUND)
			return -1;
		rp_error_clear(err);
		return 0;
	}
	const char *t = json_string_value(json_object_get(img, "image_type"));
	snprintf(type, 32, "%s", t ? t : "");
	json_decref(img);
	return 1;
}

static int cb_by_id(void *vctx, const char *tenant_id, const char *image_id, char version[65], rp_error *err)
{
	struct image_cb_ctx *c = vctx;
	json_t *img = c->st->ops->image_get(c->st, tenant_id, image_id, err);
	if (!img) {
		if (err->code != RP_E_NOT_FOUND)
			return -1;
		rp_error_clear(err);
		return 0;
	}
	const char *vs = json_string_value(json_object_get(img, "version_string"));
	snprintf(version, 65, "%s", vs ? vs : "");
	json_decref(img);
	return 1;
}

static int record_certs(struct store *st, const char *device_id, const struct attest_certs *c, int64_t now,
                        rp_error *err)
{
	struct store_cert_record r = {.device_id = device_id, .kind = "client", .serial = c->client_serial,
	                              .not_after = c->not_after, .issued_at = now};
	if (st->ops->certificate_record(st, &r, err) < 0)
		return -1;
	r.kind = "device_api";
	r.serial = c->device_api_serial;
	return st->ops->certificate_record(st, &r, err);
}

/* Verify and issue inside the open transaction; on failure *REFUSED says whether it was the
 * device's fault (audited as refused) rather than ours. */
static int attest_in_txn(struct api_ctx *ctx, struct api_request *req, const struct attest_submission *sub,
                         struct device_view *v, struct attest_outcome *o, struct attest_certs *certs,
                         rp_error *err)
{
	struct store *st = ctx->store;
	struct attest_nonce n = {0};
	struct store_nonce sn;
	_cleanup_free_ char *nonce_hex = rp_hex_encode(sub->nonce, sizeof(sub->nonce));
	if (st->ops->nonce_consume(st, nonce_hex, req->now, &sn, err) < 0 || device_view_load(ctx, sub->device_id, v, err) < 0)
		return -1;
	n.found = sn.found;
	n.used = sn.used;
	n.expires_at = sn.expires_at;
	snprintf(n.device_id, sizeof(n.device_id), "%s", sn.device_id);
	struct attest_device dev = device_of(v, sub->device_id);
	/* Decoded once for the evidence check and the CSR comparison; when it does not decode, both
	 * fall back to the PEM and refuse with the decoder's message. */
	_cleanup_pkey_ EVP_PKEY *identity =
		v->public_key_pem ? identity_key_from_pem(v->public_key_pem, strlen(v->public_key_pem), err) : NULL;
	if (!identity)
		rp_error_clear(err);
	dev.public_key = identity;
	struct image_cb_ctx cbc = {.st = st};
	struct attest_images images = {.ctx = &cbc, .by_sha256 = cb_by_sha256, .by_id = cb_by_id};
	if (attest_verify(&dev, &n, sub, &images, req->now, o, err) < 0)
		return -1;
	struct tenant_ca *ca = ca_cache_get(ctx, v->tenant_id, req->now, err);
	if (!ca) {
		o->reason = ATTEST_INTERNAL;
		return rp_error_prefix(err, "opening the tenant CA");
	}
	int rc = attest_issue_key(ca, sub, identity, v->public_key_pem, req->now, certs, &o->reason, err);
	ca_cache_put(ca);
	if (rc < 0)
		return -1;
	return record_certs(st, sub->device_id, certs, req->now, err);
}

ROUTE(routes_attest_evidence)
{
	struct attest_submission sub;
	enum attest_reason reason = ATTEST_OK;
	if (attest_parse_submission(req->json, &sub, &reason, err) < 0) {
		attest_submission_free(&sub);
		return -1;
	}
	api_set_target(res, "%s", sub.device_id);
	struct store *st = ctx->store;
	if (st->ops->begin(st, true, err) < 0) {
		attest_submission_free(&sub);
		return -1;
	}
	struct device_view v = {0};
	struct attest_outcome o = {0};
	struct attest_certs certs = {0};
	int rc = attest_in_txn(ctx, req, &sub, &v, &o, &certs, err);
	if (rc < 0) {
		enum rp_errc c = err->code;
		bool failed = c == RP_E_IO || c == RP_E_INTERNAL || c == RP_E_CRYPTO || c == RP_E_UNAVAILABLE;
		/* Refusals commit: the nonce stays used and the audit record is kept. Our own failures roll
		 * back and are audited apart. */
		if (failed) {
			st->ops->rollback(st);
			audit_attempt(ctx, req->now, v.tenant_id, "device.attest", sub.device_id, STORE_AUDIT_FAILED,
			              err->message, false);
		} else {
			audit_attempt(ctx, req->now, v.tenant_id, "device.attest", sub.device_id, STORE_AUDIT_REFUSED,
			              err->message, true);
			rp_error cerr = RP_ERROR_INIT;
			if (st->ops->commit(st, &cerr) < 0)
				rp_log_event(RP_LOG_ERROR, "attest.commit.failed", "recording a refused attestation: %s",
				             cerr.message);
		}
		rp_log_event(RP_LOG_WARNING, "attest.refused", "device %s: %s", sub.device_id, err->message);
		attest_certs_free(&certs);
		device_view_free(&v);
		attest_submission_free(&sub);
		return -1;
	}
	char detail[160];
	snprintf(detail, sizeof(detail), "os-bundle %s, %zu images, %s backend%s", o.os_sha256[0] ? o.os_sha256 : "none",
	         o.n_images, o.backend, o.insecure ? " (INSECURE)" : "");
	audit_attempt(ctx, req->now, v.tenant_id, "device.attest", sub.device_id, STORE_AUDIT_SUCCESS, detail, true);
	if (st->ops->commit(st, err) < 0) {
		attest_certs_free(&certs);
		device_view_free(&v);
		attest_submission_free(&sub);
		return -1;
	}
	api_reply_json(res, 200, attest_response_json(&certs, &o, req->now));
	attest_certs_free(&certs);
	device_view_free(&v);
	attest_submission_free(&sub);
	return 0;
}

ROUTE(routes_device_revoke)
{
	const char *device_id = api_param(req, "device_id");
	api_set_target(res, "%s", device_id);
	if (ctx->store->ops->device_revoke(ctx->store, req->tenant_id, device_id, req->now, err) < 0)
		return -1;
	json_t *d = ctx->store->ops->device_get(ctx->store, req->tenant_id, device_id, err);
	if (!d)
		return -1;
	rp_log_event(RP_LOG_NOTICE, "device.revoked", "device %s revoked in tenant %s: no further certificates",
	             device_id, req->tenant_id);
	api_reply_json(res, 200, d);
	return 0;
}

/* The device's own record, for the device (mutual TLS): its tenant, group and state. */
ROUTE(routes_device_self)
{
	json_t *d = ctx->store->ops->device_get(ctx->store, req->tenant_id, req->device_id, err);
	if (!d)
		return -1;
	json_object_del(d, "public_key_pem");
	api_reply_json(res, 200, d);
	return 0;
}
