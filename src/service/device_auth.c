/* Device-API mutual TLS (see device_auth.h). The certificate chain is checked with OpenSSL against
 * the tenant CA, not by the TLS library: the TLS layer only asks for a certificate, so one
 * listener serves people (tokens) and devices (certificates). */
#include "service/device_auth.h"

#include <string.h>
#include <openssl/x509v3.h>

#include "common/crypto.h"
#include "common/guid.h"
#include "common/xalloc.h"
#include "service/ca.h"
#include "service/ca_cache.h"
#include "service/routes.h"

static __thread const uint8_t *peer_der;
static __thread size_t peer_len;

void device_auth_set_peer(const uint8_t *der, size_t len)
{
	peer_der = der;
	peer_len = der ? len : 0;
}

RP_DEFINE_CLEANUP(GENERAL_NAMES, GENERAL_NAMES_free)

/* The tenant named by the certificate's SAN URI (unverified: it only selects which CA verifies). */
static int claimed_tenant(X509 *x, char out[37], rp_error *err)
{
	_cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t plen = strlen(CA_URI_TENANT_PREFIX);
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
		if (n->type != GEN_URI)
			continue;
		const char *uri = (const char *)ASN1_STRING_get0_data(n->d.uniformResourceIdentifier);
		int len = ASN1_STRING_length(n->d.uniformResourceIdentifier);
		if (len == (int)(plen + 36) && strncmp(uri, CA_URI_TENANT_PREFIX, plen) == 0) {
			char guid[37];
			memcpy(guid, uri + plen, 36);
			guid[36] = 0;
			if (rp_guid_normalize(guid, out, err) < 0)
				break;
			return 0;
		}
	}
	return rp_error_set(err, RP_E_PERMISSION, "the client certificate names no Rampart tenant; present the "
	                                          "device-API certificate from attestation");
}

int device_auth_verify(struct api_ctx *ctx, int64_t now, char device_id[65], char tenant_id[37], rp_error *err)
{
	if (!peer_der)
		return rp_error_set(err, RP_E_PERMISSION,
		                    "this device endpoint needs mutual TLS: present the device-API certificate and key "
		                    "from attestation (STATE/agent/device-api.pem)");
	const uint8_t *p = peer_der;
	_cleanup_x509_ X509 *x = d2i_X509(NULL, &p, (long)peer_len);
	if (!x || p != peer_der + peer_len)
		return rp_error_set(err, RP_E_PERMISSION, "the client certificate does not parse");
	if (claimed_tenant(x, tenant_id, err) < 0)
		return -1;
	rp_error cerr = RP_ERROR_INIT;
	struct tenant_ca *ca = ca_cache_get(ctx, tenant_id, now, &cerr);
	if (!ca)
		return rp_error_set(err, RP_E_PERMISSION, "the client certificate names tenant %s, which has no CA here",
		                    tenant_id);
	int rc = ca_verify_device_cert(ca, x, CA_DEVICE_CERT_DEVICE_API, (time_t)now, device_id, err);
	ca_cache_put(ca);
	if (rc < 0) {
		err->code = RP_E_PERMISSION;
		return rp_error_prefix(err, "client certificate refused");
	}
	return device_auth_recheck(ctx, device_id, tenant_id, err);
}

int device_auth_recheck(struct api_ctx *ctx, const char *device_id, const char *tenant_id, rp_error *err)
{
	/* Still the tenant's, still allowed: a revoked device's unexpired credential stops here. */
	json_t *d = ctx->store->ops->device_lookup(ctx->store, device_id, err);
	if (!d)
		return rp_error_set(err, RP_E_PERMISSION, "device %s is not registered", device_id);
	const char *t = json_string_value(json_object_get(d, "tenant_id"));
	bool revoked = json_is_true(json_object_get(d, "revoked"));
	bool same = t && strcmp(t, tenant_id) == 0;
	json_decref(d);
	if (!same)
		return rp_error_set(err, RP_E_PERMISSION, "device %s is not claimed by tenant %s", device_id, tenant_id);
	if (revoked)
		return rp_error_set(err, RP_E_PERMISSION, "device %s is revoked", device_id);
	return 0;
}
