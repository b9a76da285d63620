/* Routes for the tenant CA: list its generations, download one certificate, the chain relying
 * parties should trust (PEM or PKCS#7), and proof-of-possession certificates for cloud registries.
 * Listing also creates the successor generation when it is due, so rollover needs no cron job. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "common/xalloc.h"
#include "service/bodies.h"
#include "service/ca.h"
#include "service/routes.h"
#include "service/timeutil.h"
#include "service/validate.h"

RP_DEFINE_CLEANUP(struct tenant_ca, ca_free)

static struct tenant_ca *open_ca(struct api_ctx *ctx, const struct api_request *req, rp_error *err)
{
	_cleanup_free_ char *dir = routes_ca_dir(ctx, req->tenant_id);
	pthread_mutex_lock(&ctx->ca_lock);
	struct tenant_ca *ca = ca_open(dir, req->tenant_id, err);
	if (ca && ca_ensure_successor(ca, (time_t)req->now, err) < 0) {
		ca_free(ca);
		ca = NULL;
	}
	pthread_mutex_unlock(&ctx->ca_lock);
	if (!ca)
		rp_error_prefix(err, "opening the tenant CA");
	return ca;
}

struct ca_listing {
	struct ca_cert_info *infos;
	size_t n;
};

static void listing_free(struct ca_listing *l)
{
	ca_cert_info_free(l->infos, l->n);
	l->infos = NULL;
	l->n = 0;
}

/* The generation named by THUMBPRINT ("active" = the one that signs now). */
static const struct ca_cert_info *find(const struct ca_listing *l, const char *thumbprint, rp_error *err)
{
	bool active = strcmp(thumbprint, "active") == 0;
	if (!active && !validate_hex64(thumbprint)) {
		rp_error_set(err, RP_E_INVALID, "a CA certificate is named by its SHA-256 thumbprint (64 lowercase hex) "
		                                "or \"active\"");
		return NULL;
	}
	for (size_t i = 0; i < l->n; i++)
		if (active ? l->infos[i].active : strcmp(l->infos[i].fingerprint_sha256, thumbprint) == 0)
			return &l->infos[i];
	rp_error_set(err, RP_E_NOT_FOUND, "CA certificate %s not found in this tenant", thumbprint);
	return NULL;
}

static void put_time(json_t *obj, const char *key, time_t t)
{
	char buf[TIMEUTIL_RFC3339_LEN];
	timeutil_format((int64_t)t, buf);
	json_object_set_new(obj, key, json_string(buf));
}

ROUTE(routes_ca_list)
{
	_cleanup_(ca_freep) struct tenant_ca *ca = open_ca(ctx, req, err);
	struct ca_listing l = {0};
	if (!ca || ca_list(ca, (time_t)req->now, &l.infos, &l.n, err) < 0)
		return -1;
	json_t *items = json_array();
	for (size_t i = 0; i < l.n; i++) {
		const struct ca_cert_info *c = &l.infos[i];
		char status[16];
		snprintf(status, sizeof(status), "%s", ca_status_name(c->status));
		status[0] = (char)toupper((unsigned char)status[0]);
		json_t *o = json_pack("{s:s, s:i, s:s, s:s}", "thumbprint", c->fingerprint_sha256, "generation",
		                      c->generation, "serial", c->serial, "status", status);
		put_time(o, "not_before", c->not_before);
		put_time(o, "not_after", c->not_after);
		put_time(o, "activates_at", c->activates_at);
		json_array_append_new(items, o);
	}
	listing_free(&l);
	api_reply_list(res, items, 0);
	return 0;
}

static void reply_raw(struct api_response *res, const void *data, size_t len, const char *type)
{
	res->status = 200;
	res->raw = xmemdup(data, len);
	res->raw_len = len;
	res->content_type = type;
}

ROUTE(routes_ca_download)
{
	_cleanup_free_ char *format = NULL;
	if (api_query(req, "format", &format, err) < 0)
		return -1;
	bool der = false;
	if (format && strcmp(format, "der") == 0)
		der = true;
	else if (format && strcmp(format, "pem") != 0)
		return rp_error_set(err, RP_E_INVALID, "format must be pem or der");
	_cleanup_(ca_freep) struct tenant_ca *ca = open_ca(ctx, req, err);
	struct ca_listing l = {0};
	if (!ca || ca_list(ca, (time_t)req->now, &l.infos, &l.n, err) < 0)
		return -1;
	const struct ca_cert_info *c = find(&l, api_param(req, "thumbprint"), err);
	if (!c) {
		listing_free(&l);
		return -1;
	}
	if (!der) {
		reply_raw(res, c->pem, strlen(c->pem), "application/x-pem-file");
		listing_free(&l);
		return 0;
	}
	BIO *bio = BIO_new_mem_buf(c->pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	listing_free(&l);
	unsigned char *buf = NULL;
	int len = x ? i2d_X509(x, &buf) : -1;
	X509_free(x);
	if (len <= 0)
		return rp_error_set_openssl(err, "encoding the CA certificate as DER");
	reply_raw(res, buf, (size_t)len, "application/pkix-cert");
	OPENSSL_free(buf);
	return 0;
}

ROUTE(routes_ca_chain)
{
	_cleanup_free_ char *format = NULL;
	if (api_query(req, "format", &format, err) < 0)
		return -1;
	if (format && strcmp(format, "pem") != 0 && strcmp(format, "pkcs7") != 0 && strcmp(format, "pkcs7-pem") != 0)
		return rp_error_set(err, RP_E_INVALID, "format must be pem, pkcs7 or pkcs7-pem");
	_cleanup_(ca_freep) struct tenant_ca *ca = open_ca(ctx, req, err);
	if (!ca)
		return -1;
	if (!format || strcmp(format, "pem") == 0) {
		_cleanup_free_ char *pem = ca_chain_pem(ca, (time_t)req->now, err);
		if (!pem)
			return -1;
		reply_raw(res, pem, strlen(pem), "application/x-pem-file");
		return 0;
	}
	bool pem = strcmp(format, "pkcs7-pem") == 0;
	_cleanup_free_ uint8_t *out = NULL;
	size_t len = 0;
	if (ca_chain_pkcs7(ca, (time_t)req->now, pem, &out, &len, err) < 0)
		return -1;
	reply_raw(res, out, len, pem ? "application/x-pem-file" : "application/pkcs7-mime");
	return 0;
}

ROUTE(routes_ca_proof)
{
	const char *thumbprint = api_param(req, "thumbprint");
	struct body_proof b;
	if (body_proof(req->json, &b, err) < 0)
		return -1;
	api_set_target(res, "%s: verification code %s", thumbprint, b.verification_code);
	_cleanup_(ca_freep) struct tenant_ca *ca = open_ca(ctx, req, err);
	struct ca_listing l = {0};
	if (!ca || ca_list(ca, (time_t)req->now, &l.infos, &l.n, err) < 0)
		return -1;
	const struct ca_cert_info *c = find(&l, thumbprint, err);
	int generation = c ? c->generation : -1;
	listing_free(&l);
	if (generation < 0)
		return -1;
	_cleanup_free_ char *pem = ca_proof_of_possession_pem(ca, generation, b.verification_code, (time_t)req->now, err);
	if (!pem)
		return -1;
	reply_raw(res, pem, strlen(pem), "application/x-pem-file");
	return 0;
}
