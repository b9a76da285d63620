/* Routes for remote attestation (docs/protocol.md "Attestation protocol v1"): a device asks for a
 * nonce, or binds its evidence to the TLS connection instead (channel_binding.h), sends evidence
 * signed by its identity key with two CSRs, and receives a 24 h client certificate and its
 * device-API credential. Devices have no API token: the evidence signature by
 * the registered key is what authenticates them. Every attempt of a registered device, refused or
 * not, is audited in the device's tenant with the precise reason, refusals within a rate limit
 * (audit_throttle.h: anyone who knows a device ID can cause them); attempts for a device ID nobody
 * registered go to the log only. The nonce is consumed even when the attempt fails. */
#include <stdio.h>
#include <string.h>
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "service/attest_nonce.h"
#include "service/attestation.h"
#include "service/audit_throttle.h"
#include "service/ca.h"
#include "service/ca_cache.h"
#include "service/channel_binding.h"
#include "service/group_commit.h"
#include "service/identity_key.h"
#include "service/routes.h"
#include "service/timeutil.h"
#include "service/update_publish.h"

#define ACTOR "device"

/* Whether a refusal is audited (audit_throttle.h), decided once per request: group commit may run
 * a writer more than once, and a rerun must write what the first run decided. */
struct refusal_throttle {
	bool decided, admit;
	uint64_t suppressed;
};

/* Outside a transaction (IN_TXN false) a failure is only logged: the attempt's outcome stands. Inside
 * the group-commit transaction it is the write's failure (returns -1 with OUT_ERR filled), so no
 * certificate is recorded without its audit record and the batch is redone without this write.
 * A refusal goes through THROTTLE (a request's own, or NULL for one decided here). */
static int audit_attempt(struct api_ctx *ctx, int64_t now, const char *tenant_id, const char *action,
                         const char *device_id, enum store_audit_result result, const char *detail, bool in_txn,
                         struct refusal_throttle *throttle, rp_error *out_err)
{
	_cleanup_free_ char *counted = NULL;
	if (result == STORE_AUDIT_REFUSED) {
		struct refusal_throttle local = {0};
		if (!throttle)
			throttle = &local;
		if (!throttle->decided) {
			throttle->admit = audit_throttle_admit(device_id, now, &throttle->suppressed);
			throttle->decided = true;
		}
		if (!throttle->admit) {
			rp_debug("refused attestation of device %s not audited (over the refusal rate limit): %s",
			         device_id ? device_id : "-", detail ? detail : "");
			return 0;
		}
		if (throttle->suppressed > 0)
			detail = counted = xasprintf("%s (and %llu earlier refusals for this device not audited: over "
			                             "the refusal rate limit)",
			                             detail ? detail : "", (unsigned long long)throttle->suppressed);
	}
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
	return 0;
fail:
	rp_log_event(RP_LOG_ERROR, "audit.write.failed", "could not audit %s of device %s: %s", action,
	             device_id ? device_id : "-", err.message);
	if (!in_txn)
		return 0;
	*out_err = err;
	return rp_error_prefix(out_err, "recording the audit record");
}

/* A refusal for a device ID nobody registered belongs to no tenant, and anyone can send one: it goes
 * to the log, not the audit table, so anonymous requests cannot make the service write and fsync
 * (docs/threat-model.md, "unauthenticated write amplification"). */
static void log_unregistered(const char *device_id, const char *why)
{
	rp_log_event(RP_LOG_WARNING, "attest.refused", "device %s: %s", device_id, why);
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

/* Audits a refusal decided before the device was looked up (a bound request on a connection
 * without a usable exporter): like every refusal, in the device's tenant (service-wide while
 * unclaimed) within the rate limit, and only for a registered device. */
static void audit_early_refusal(struct api_ctx *ctx, int64_t now, const char *device_id, const char *why)
{
	struct store *st = ctx->store;
	rp_error e = RP_ERROR_INIT;
	struct device_view v = {0};
	if (st->ops->begin(st, false, &e) < 0) {
		rp_log_event(RP_LOG_ERROR, "audit.write.failed", "could not audit the refusal of device %s: %s", device_id,
		             e.message);
		return;
	}
	int rc = device_view_load(ctx, device_id, &v, &e);
	st->ops->rollback(st); /* read-only */
	if (rc < 0)
		rp_log_event(RP_LOG_ERROR, "audit.write.failed", "could not audit the refusal of device %s: %s", device_id,
		             e.message);
	else if (v.found)
		audit_attempt(ctx, now, v.tenant_id, "device.attest", device_id, STORE_AUDIT_REFUSED, why, false, NULL, NULL);
	device_view_free(&v);
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
	if (st->ops->begin(st, false, err) < 0)
		return -1;
	struct device_view v;
	int rc = device_view_load(ctx, device_id, &v, err);
	st->ops->rollback(st); /* read-only */
	/* Refuse at once what evidence could never fix, with the precise reason; the same checks run
	 * again on the evidence (the device may be revoked in between). */
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
	int64_t expires = req->now + ATTEST_NONCE_TTL_SECONDS;
	/* No write: the nonce proves its own origin, expiry and device (attest_nonce.h); its single
	 * use is recorded with the evidence. */
	if (rc == 0 && attest_nonce_issue(&ctx->nonce_key, device_id, expires, nonce, err) < 0)
		rc = -1;
	if (rc == 0)
		hex = rp_hex_encode(nonce, sizeof(nonce));
	if (rc < 0 && err->code == RP_E_PERMISSION && !v.found)
		log_unregistered(device_id, err->message);
	else if (rc < 0 && err->code == RP_E_PERMISSION)
		audit_attempt(ctx, req->now, v.tenant_id, "device.attest", device_id, STORE_AUDIT_REFUSED, err->message, false,
		              NULL, NULL);
	device_view_free(&v);
	if (rc < 0)
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

static bool streq_null(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool is_failure(enum rp_errc c)
{
	return c == RP_E_IO || c == RP_E_INTERNAL || c == RP_E_CRYPTO || c == RP_E_UNAVAILABLE;
}

/* Verify and issue on a read snapshot, without the store's writer lock: the evidence and CSR
 * signatures, the quote and the two certificate signatures are most of an attestation's cost, and
 * this way they run in parallel on all request threads. Nothing leaves the service before
 * attest_record has consumed the nonce and committed the issuance; a replay that races its
 * original here loses there. *IDENTITY is the registered key, decoded once for both checks. */
static int attest_prepare(struct api_ctx *ctx, struct api_request *req, const struct attest_submission *sub,
                          const struct attest_nonce *opened, struct device_view *v, EVP_PKEY **identity,
                          struct attest_outcome *o, struct attest_certs *certs, rp_error *err)
{
	struct store *st = ctx->store;
	if (st->ops->begin(st, false, err) < 0)
		return -1;
	struct attest_nonce n = *opened;
	_cleanup_free_ char *nonce_hex = rp_hex_encode(sub->nonce, sizeof(sub->nonce));
	/* Only a nonce this service issued can have been used; the look-up refuses a replay before any
	 * signature is checked. */
	int rc = n.found && !n.channel_bound ? st->ops->nonce_used(st, nonce_hex, n.expires_at, &n.used, err) : 0;
	if (rc == 0)
		rc = device_view_load(ctx, sub->device_id, v, err);
	if (rc == 0) {
		struct attest_device dev = device_of(v, sub->device_id);
		/* When the key does not decode, both checks fall back to the PEM and refuse with the
		 * decoder's message. */
		*identity = v->public_key_pem ? identity_key_from_pem(v->public_key_pem, strlen(v->public_key_pem), err) : NULL;
		if (!*identity)
			rp_error_clear(err);
		dev.public_key = *identity;
		struct image_cb_ctx cbc = {.st = st};
		struct attest_images images = {.ctx = &cbc, .by_sha256 = cb_by_sha256, .by_id = cb_by_id};
		rc = attest_verify(&dev, &n, sub, &images, req->now, o, err);
	}
	st->ops->rollback(st); /* read-only: ends the snapshot */
	if (rc < 0)
		return -1;
	struct tenant_ca *ca = ca_cache_get(ctx, v->tenant_id, req->now, err);
	if (!ca) {
		o->reason = ATTEST_INTERNAL;
		return rp_error_prefix(err, "opening the tenant CA");
	}
	rc = attest_issue_key(ca, sub, *identity, v->public_key_pem, req->now, certs, &o->reason, err);
	ca_cache_put(ca);
	return rc;
}

/* The write half of an evidence request, run by group_commit_run. */
struct evidence_write {
	struct api_ctx *ctx;
	struct api_request *req;
	const struct attest_submission *sub;
	struct attest_nonce opened;     /* what the nonce says of itself (attest_nonce_open) */
	const struct device_view *seen; /* the registration the evidence was verified against */
	struct attest_outcome *o;
	const struct attest_certs *certs;
	bool prepared;    /* attest_prepare succeeded */
	rp_error refusal; /* when !prepared: why attest_prepare refused */
	/* Set by each run of evidence_write (group commit may run it more than once): */
	bool verified;    /* prepared, and the second look agreed */
	rp_error recheck; /* when prepared && !verified: why the second look refused */
	struct refusal_throttle throttle; /* kept across runs */
};

/* Consume the nonce (also after a refusal, so it cannot be tried again); when verified, run the
 * state-dependent checks again on what the store holds now, record the certificates, and audit.
 * If the registration changed since the evidence was verified (claimed elsewhere, moved to
 * another group), the request fails rather than issue against stale facts. */
static int evidence_write(struct store *st, void *arg, rp_error *err)
{
	struct evidence_write *w = arg;
	const struct attest_submission *sub = w->sub;
	int64_t now = w->req->now;
	struct attest_nonce n = w->opened;
	_cleanup_free_ char *nonce_hex = rp_hex_encode(sub->nonce, sizeof(sub->nonce));
	w->verified = w->prepared;
	rp_error_clear(&w->recheck);
	/* A nonce this service never issued is not stored: strangers cannot fill the table. A
	 * connection's exporter value is single-use through the connection (routes_attest_evidence). */
	if (n.found && !n.channel_bound && st->ops->nonce_use(st, nonce_hex, sub->device_id, n.expires_at, now, &n.used, err) < 0)
		return -1;
	if (w->prepared) {
		struct device_view cur = {0};
		if (device_view_load(w->ctx, sub->device_id, &cur, err) < 0) {
			device_view_free(&cur);
			return -1;
		}
		struct attest_device dev = device_of(&cur, sub->device_id);
		int rc = 0;
		if (attest_recheck(&dev, &n, sub->device_id, now, w->o, &w->recheck) < 0) {
			w->verified = false; /* replayed or revoked meanwhile: a refusal, committed */
		} else if (!streq_null(cur.tenant_id, w->seen->tenant_id) ||
		           !streq_null(cur.group_name, w->seen->group_name) ||
		           !streq_null(cur.public_key_pem, w->seen->public_key_pem)) {
			rc = rp_error_set(err, RP_E_UNAVAILABLE,
			                  "device %s's registration changed while its evidence was verified; request a new "
			                  "challenge and attest again",
			                  sub->device_id);
		}
		device_view_free(&cur);
		if (rc < 0)
			return -1;
	}
	if (!w->verified) {
		if (!w->seen->found)
			return 0; /* unregistered: logged by the route */
		return audit_attempt(w->ctx, now, w->seen->tenant_id, "device.attest", sub->device_id,
		                     STORE_AUDIT_REFUSED, w->prepared ? w->recheck.message : w->refusal.message, true,
		                     &w->throttle, err);
	}
	if (record_certs(st, sub->device_id, w->certs, now, err) < 0)
		return -1;
	char detail[160];
	snprintf(detail, sizeof(detail), "os-bundle %s, %zu images, %s backend%s",
	         w->o->os_sha256[0] ? w->o->os_sha256 : "none", w->o->n_images, w->o->backend,
	         w->o->insecure ? " (INSECURE)" : "");
	return audit_attempt(w->ctx, now, w->seen->tenant_id, "device.attest", sub->device_id, STORE_AUDIT_SUCCESS,
	                     detail, true, NULL, err);
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
	struct device_view v = {0};
	struct attest_outcome o = {0};
	struct attest_certs certs = {0};
	_cleanup_pkey_ EVP_PKEY *identity = NULL;
	struct evidence_write w = {.ctx = ctx, .req = req, .sub = &sub, .seen = &v, .o = &o, .certs = &certs,
	                           .refusal = RP_ERROR_INIT, .recheck = RP_ERROR_INIT};
	struct channel *ch = NULL;
	int rc = -1;
	if (sub.channel_bound) {
		if (channel_binding_nonce(sub.nonce, &ch, err) < 0) {
			rp_error_prefix(err, "attestation refused (%s)", attest_reason_name(ATTEST_REQUEST_MALFORMED));
			audit_early_refusal(ctx, req->now, sub.device_id, err->message);
			goto out;
		}
		/* Consumed now, refused or not; given back below only for our own failure. */
		w.opened = (struct attest_nonce){.found = true, .expires_at = ch->opened_at + ATTEST_NONCE_TTL_SECONDS,
		                                 .used = ch->nonce_used, .channel_bound = true};
		memcpy(w.opened.device_id, sub.device_id, sizeof(w.opened.device_id));
		ch->nonce_used = true;
	} else {
		attest_nonce_open(&ctx->nonce_key, sub.device_id, sub.nonce, &w.opened);
	}
	w.prepared = attest_prepare(ctx, req, &sub, &w.opened, &v, &identity, &o, &certs, &w.refusal) == 0;
	if (!w.prepared && is_failure(w.refusal.code)) {
		/* Our own failure: the nonce stays unused so the device may try again. */
		*err = w.refusal;
		if (ch)
			ch->nonce_used = w.opened.used;
		audit_attempt(ctx, req->now, v.tenant_id, "device.attest", sub.device_id, STORE_AUDIT_FAILED, err->message,
		              false, NULL, NULL);
		goto out;
	}
	/* Refused for an unregistered device ID with a nonce this service never issued, or bound to the
	 * connection (nothing stored): nothing to record (logged at out:), and no write for a stranger
	 * to cause. */
	if (!w.prepared && !v.found && (!w.opened.found || w.opened.channel_bound)) {
		*err = w.refusal;
		goto out;
	}
	/* Nothing is sent before the nonce's use, the certificates and the audit record are on disk. */
	if (group_commit_run(ctx->store, evidence_write, &w, err) < 0) {
		if (ch)
			ch->nonce_used = w.opened.used;
		audit_attempt(ctx, req->now, v.tenant_id, "device.attest", sub.device_id, STORE_AUDIT_FAILED, err->message,
		              false, NULL, NULL);
		goto out;
	}
	if (!w.verified) {
		*err = w.prepared ? w.recheck : w.refusal;
		goto out;
	}
	api_reply_json(res, 200, attest_response_json(&certs, &o, req->now));
	rc = 0;
out:
	if (rc < 0)
		rp_log_event(RP_LOG_WARNING, "attest.refused", "device %s: %s", sub.device_id, err->message);
	attest_certs_free(&certs);
	device_view_free(&v);
	attest_submission_free(&sub);
	return rc;
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
	/* The device checks its group's director next: one without a deployment yet serves signed
	 * empty targets, never a 404 the device would retry as a failure. */
	const char *group = json_string_value(json_object_get(d, "device_group_id"));
	rp_error e = RP_ERROR_INIT;
	if (group && update_publish_director_ensure(ctx->state_dir, req->tenant_id, group, req->now, &e) < 0)
		rp_log_event(RP_LOG_ERROR, "tuf.director.unavailable", "device %s: %s", req->device_id, e.message);
	api_reply_json(res, 200, d);
	return 0;
}
