/* Remote attestation at the service: request parsing, evidence verification against the device's
 * registration, nonce and known images, and certificate issuance. Everything here treats the
 * request as hostile; the store's answers are trusted. */
#include "service/attestation.h"

#include <string.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/xalloc.h"

static const char *const reason_names[] = {
	[ATTEST_OK] = "ok",
	[ATTEST_REQUEST_MALFORMED] = "request_malformed",
	[ATTEST_EVIDENCE_MALFORMED] = "evidence_malformed",
	[ATTEST_EVIDENCE_TOO_LARGE] = "evidence_too_large",
	[ATTEST_DEVICE_UNKNOWN] = "device_unknown",
	[ATTEST_DEVICE_UNCLAIMED] = "device_unclaimed",
	[ATTEST_DEVICE_REVOKED] = "device_revoked",
	[ATTEST_DEVICE_MISMATCH] = "device_mismatch",
	[ATTEST_NONCE_UNKNOWN] = "nonce_unknown",
	[ATTEST_NONCE_REPLAYED] = "nonce_replayed",
	[ATTEST_NONCE_EXPIRED] = "nonce_expired",
	[ATTEST_NONCE_WRONG_DEVICE] = "nonce_wrong_device",
	[ATTEST_SIGNATURE] = "evidence_signature",
	[ATTEST_MEASUREMENTS] = "measurements_mismatch",
	[ATTEST_OS_UNMEASURED] = "os_bundle_unmeasured",
	[ATTEST_OS_UNKNOWN] = "os_bundle_unknown",
	[ATTEST_IMAGE_UNKNOWN] = "image_unknown",
	[ATTEST_CSR_INVALID] = "csr_invalid",
	[ATTEST_INTERNAL] = "internal",
};

const char *attest_reason_name(enum attest_reason r)
{
	if ((size_t)r >= RP_ARRAY_SIZE(reason_names) || !reason_names[r])
		return "internal";
	return reason_names[r];
}

/* Every refusal message starts with "attestation refused (<reason>): " so that the device's log,
 * the audit record and a test can all name the cause. */
RP_PRINTF(4, 5)
static int refuse(rp_error *err, enum attest_reason *slot, enum attest_reason reason, const char *fmt, ...)
{
	static const enum rp_errc codes[] = {
		[ATTEST_REQUEST_MALFORMED] = RP_E_INVALID, [ATTEST_EVIDENCE_MALFORMED] = RP_E_INVALID,
		[ATTEST_EVIDENCE_TOO_LARGE] = RP_E_LIMIT,  [ATTEST_DEVICE_UNKNOWN] = RP_E_PERMISSION,
		[ATTEST_DEVICE_UNCLAIMED] = RP_E_PERMISSION, [ATTEST_DEVICE_REVOKED] = RP_E_PERMISSION,
		[ATTEST_DEVICE_MISMATCH] = RP_E_VERIFY,    [ATTEST_NONCE_UNKNOWN] = RP_E_VERIFY,
		[ATTEST_NONCE_REPLAYED] = RP_E_VERIFY,     [ATTEST_NONCE_EXPIRED] = RP_E_EXPIRED,
		[ATTEST_NONCE_WRONG_DEVICE] = RP_E_VERIFY, [ATTEST_SIGNATURE] = RP_E_VERIFY,
		[ATTEST_MEASUREMENTS] = RP_E_VERIFY,       [ATTEST_OS_UNMEASURED] = RP_E_VERIFY,
		[ATTEST_OS_UNKNOWN] = RP_E_VERIFY,         [ATTEST_IMAGE_UNKNOWN] = RP_E_VERIFY,
		[ATTEST_CSR_INVALID] = RP_E_INVALID,       [ATTEST_INTERNAL] = RP_E_INTERNAL,
	};
	char msg[1536];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (slot)
		*slot = reason;
	enum rp_errc code = (size_t)reason < RP_ARRAY_SIZE(codes) && codes[reason] ? codes[reason] : RP_E_INTERNAL;
	return rp_error_set(err, code, "attestation refused (%s): %s", attest_reason_name(reason), msg);
}

static bool device_id_ok(const char *s)
{
	if (strlen(s) != ATTEST_DEVICE_ID_LEN)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int get_device_id(json_t *body, char out[ATTEST_DEVICE_ID_LEN + 1], rp_error *err)
{
	const char *id = NULL;
	if (rp_json_get_string(body, "device_id", true, &id, err) < 0)
		return -1;
	if (!device_id_ok(id))
		return rp_error_set(err, RP_E_INVALID,
		                    "device_id must be 64 lowercase hex digits (SHA-256 of the identity public key)");
	memcpy(out, id, ATTEST_DEVICE_ID_LEN + 1);
	return 0;
}

int attest_parse_challenge(json_t *body, char device_id[ATTEST_DEVICE_ID_LEN + 1], rp_error *err)
{
	static const char *const keys[] = {"device_id", NULL};
	if (rp_json_check_keys(body, keys, "challenge request", err) < 0 || get_device_id(body, device_id, err) < 0)
		return refuse(err, NULL, ATTEST_REQUEST_MALFORMED, "%s", err->message);
	return 0;
}

void attest_submission_free(struct attest_submission *s)
{
	free(s->evidence);
	s->evidence = NULL;
}

int attest_parse_submission(json_t *body, struct attest_submission *out, enum attest_reason *reason, rp_error *err)
{
	static const char *const keys[] = {"device_id",  "nonce",          "nonce_binding", "evidence",
	                                   "client_csr", "device_api_csr", NULL};
	memset(out, 0, sizeof(*out));
	const char *nonce = NULL, *binding = NULL, *ev = NULL;
	if (rp_json_check_keys(body, keys, "evidence request", err) < 0 || get_device_id(body, out->device_id, err) < 0 ||
	    rp_json_get_string(body, "nonce", false, &nonce, err) < 0 ||
	    rp_json_get_string(body, "nonce_binding", false, &binding, err) < 0 ||
	    rp_json_get_string(body, "evidence", true, &ev, err) < 0 ||
	    rp_json_get_string(body, "client_csr", true, &out->client_csr, err) < 0 ||
	    rp_json_get_string(body, "device_api_csr", true, &out->device_api_csr, err) < 0)
		return refuse(err, reason, ATTEST_REQUEST_MALFORMED, "%s", err->message);
	/* Exactly one source of freshness: a challenge's nonce, or the connection itself. */
	if (binding && nonce)
		return refuse(err, reason, ATTEST_REQUEST_MALFORMED,
		              "give either a nonce from a challenge or nonce_binding \"%s\", not both",
		              EVIDENCE_NONCE_BINDING_TLS);
	if (binding) {
		if (strcmp(binding, EVIDENCE_NONCE_BINDING_TLS) != 0)
			return refuse(err, reason, ATTEST_REQUEST_MALFORMED,
			              "nonce_binding must be \"%s\" (the connection's TLS 1.3 exporter value)",
			              EVIDENCE_NONCE_BINDING_TLS);
		out->channel_bound = true;
	} else if (!nonce) {
		return refuse(err, reason, ATTEST_REQUEST_MALFORMED,
		              "evidence request: give the nonce of a challenge, or nonce_binding \"%s\"",
		              EVIDENCE_NONCE_BINDING_TLS);
	} else if (strlen(nonce) != ATTEST_NONCE_HEX_LEN ||
	           rp_hex_decode(nonce, out->nonce, sizeof(out->nonce), err) < 0) {
		return refuse(err, reason, ATTEST_REQUEST_MALFORMED, "nonce must be %d hex digits, as the challenge gave it",
		              ATTEST_NONCE_HEX_LEN);
	}
	size_t ev_len = strlen(ev);
	if (ev_len > ATTEST_EVIDENCE_B64_MAX)
		return refuse(err, reason, ATTEST_EVIDENCE_TOO_LARGE, "evidence is %zu base64 characters; at most %d allowed",
		              ev_len, ATTEST_EVIDENCE_B64_MAX);
	if (rp_base64_decode(ev, ev_len, &out->evidence, &out->evidence_len, err) < 0)
		return refuse(err, reason, ATTEST_EVIDENCE_MALFORMED, "evidence is not canonical base64: %s", err->message);
	if (strlen(out->client_csr) > CA_CSR_MAX_LEN || strlen(out->device_api_csr) > CA_CSR_MAX_LEN)
		return refuse(err, reason, ATTEST_CSR_INVALID, "a CSR is longer than %d bytes", CA_CSR_MAX_LEN);
	return 0;
}

static int check_device(const struct attest_device *dev, const char *device_id, enum attest_reason *reason,
                        rp_error *err)
{
	if (!dev->registered)
		return refuse(err, reason, ATTEST_DEVICE_UNKNOWN,
		              "device %s is not registered; the maker registers it with 'rampart device register'", device_id);
	if (!dev->tenant_id)
		return refuse(err, reason, ATTEST_DEVICE_UNCLAIMED,
		              "device %s is not claimed by any tenant; claim it with 'rampart device claim'", device_id);
	if (dev->revoked)
		return refuse(err, reason, ATTEST_DEVICE_REVOKED,
		              "device %s is revoked in its tenant; no certificate is issued to it", device_id);
	return 0;
}

static int check_nonce(const struct attest_nonce *n, const char *device_id, int64_t now, enum attest_reason *reason,
                       rp_error *err)
{
	if (n->channel_bound) {
		/* The exporter value is this connection's by construction (the caller derived it); what
		 * remains is its age and single use. */
		if (now >= n->expires_at)
			return refuse(err, reason, ATTEST_NONCE_EXPIRED,
			              "the TLS connection was opened more than %d s ago, longer than a nonce lives; attest "
			              "on a new connection",
			              ATTEST_NONCE_TTL_SECONDS);
		if (n->used)
			return refuse(err, reason, ATTEST_NONCE_REPLAYED,
			              "evidence was already sent on this TLS connection (replayed evidence); attest on a new "
			              "connection");
		return 0;
	}
	if (!n->found)
		return refuse(err, reason, ATTEST_NONCE_UNKNOWN, "the nonce was never issued by this service; request a new "
		                                                 "challenge");
	if (strcmp(n->device_id, device_id) != 0)
		return refuse(err, reason, ATTEST_NONCE_WRONG_DEVICE, "the nonce was issued to another device");
	/* Expiry first: a nonce long expired is reported as expired, not as used, even once the store
	 * has dropped its record and counts it as used (below the floor). */
	if (now >= n->expires_at)
		return refuse(err, reason, ATTEST_NONCE_EXPIRED, "the nonce expired %lld s ago; request a new challenge",
		              (long long)(now - n->expires_at));
	if (n->used)
		return refuse(err, reason, ATTEST_NONCE_REPLAYED, "the nonce was already used (replayed evidence)");
	/* The service never issues one further ahead: such a nonce was minted with a stolen key. */
	if (n->expires_at > now + ATTEST_NONCE_TTL_SECONDS + ATTEST_NONCE_CLOCK_SLACK_SECONDS)
		return refuse(err, reason, ATTEST_NONCE_UNKNOWN,
		              "the nonce expires %lld s from now, later than any nonce this service issues; request a new "
		              "challenge",
		              (long long)(n->expires_at - now));
	return 0;
}

static int check_images(const struct attest_device *dev, const evidence *ev, const struct attest_images *images,
                        struct attest_outcome *out, rp_error *err)
{
	const evidence_measurement *os = NULL;
	for (size_t i = 0; i < ev->n_log; i++)
		if (strcmp(ev->log[i].name, "os-bundle") == 0) {
			if (os)
				return refuse(err, &out->reason, ATTEST_MEASUREMENTS,
				              "the log measures more than one OS bundle since boot");
			os = &ev->log[i];
		}
	if (!os) {
		if (!dev->device_group_name || strcmp(dev->device_group_name, ATTEST_DEV_GROUP_NAME) != 0)
			return refuse(err, &out->reason, ATTEST_OS_UNMEASURED,
			              "no OS bundle was measured; only devices in a device group named '%s' may attest "
			              "without one",
			              ATTEST_DEV_GROUP_NAME);
	} else {
		_cleanup_free_ char *hex = rp_hex_encode(os->digest, sizeof(os->digest));
		char type[32] = "";
		int found = images->by_sha256(images->ctx, dev->tenant_id, hex, type, err);
		if (found < 0)
			return refuse(err, &out->reason, ATTEST_INTERNAL, "looking up the OS bundle: %s", err->message);
		if (found == 0 || strcmp(type, "os-bundle") != 0)
			return refuse(err, &out->reason, ATTEST_OS_UNKNOWN,
			              "the measured OS bundle (sha256 %s, version '%s') is not an os-bundle image of the "
			              "device's tenant",
			              hex, os->version);
		snprintf(out->os_sha256, sizeof(out->os_sha256), "%s", hex);
		snprintf(out->os_version, sizeof(out->os_version), "%s", os->version);
	}
	for (size_t i = 0; i < ev->n_images; i++) {
		char version[65] = "";
		int found = images->by_id(images->ctx, dev->tenant_id, ev->images[i].id, version, err);
		if (found < 0)
			return refuse(err, &out->reason, ATTEST_INTERNAL, "looking up image %s: %s", ev->images[i].id,
			              err->message);
		if (found == 0)
			return refuse(err, &out->reason, ATTEST_IMAGE_UNKNOWN,
			              "installed image %s is not an image of the device's tenant", ev->images[i].id);
		if (strcmp(version, ev->images[i].version) != 0)
			return refuse(err, &out->reason, ATTEST_IMAGE_UNKNOWN,
			              "installed image %s claims version '%s'; the tenant's image is version '%s'",
			              ev->images[i].id, ev->images[i].version, version);
	}
	out->n_images = ev->n_images;
	return 0;
}

int attest_recheck(const struct attest_device *dev, const struct attest_nonce *nonce, const char *device_id,
                   int64_t now, struct attest_outcome *out, rp_error *err)
{
	if (check_device(dev, device_id, &out->reason, err) < 0 || check_nonce(nonce, device_id, now, &out->reason, err) < 0)
		return -1;
	return 0;
}

int attest_verify(const struct attest_device *dev, const struct attest_nonce *nonce, const struct attest_submission *sub,
                  const struct attest_images *images, int64_t now, struct attest_outcome *out, rp_error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_device(dev, sub->device_id, &out->reason, err) < 0 ||
	    check_nonce(nonce, sub->device_id, now, &out->reason, err) < 0)
		return -1;
	if (sub->evidence_len > EVIDENCE_MAX_LEN)
		return refuse(err, &out->reason, ATTEST_EVIDENCE_TOO_LARGE, "evidence is %zu bytes; at most %d allowed",
		              sub->evidence_len, EVIDENCE_MAX_LEN);
	_cleanup_pkey_ EVP_PKEY *own_key = NULL;
	EVP_PKEY *key = dev->public_key;
	if (!key) {
		key = own_key = rp_key_from_public_pem(dev->public_key_pem, strlen(dev->public_key_pem), err);
		if (!key)
			return refuse(err, &out->reason, ATTEST_INTERNAL, "the registered public key does not load: %s",
			              err->message);
	}
	evidence ev;
	if (evidence_decode(sub->evidence, sub->evidence_len, &ev, err) < 0) {
		evidence_free(&ev);
		return refuse(err, &out->reason, ATTEST_EVIDENCE_MALFORMED, "%s", err->message);
	}
	int rc = -1;
	uint8_t want_id[RP_KEY_ID_LEN];
	if (rp_hex_decode(sub->device_id, want_id, sizeof(want_id), err) < 0) {
		refuse(err, &out->reason, ATTEST_REQUEST_MALFORMED, "%s", err->message);
		goto out;
	}
	if (memcmp(ev.device_id, want_id, sizeof(want_id)) != 0) {
		_cleanup_free_ char *got = rp_hex_encode(ev.device_id, sizeof(ev.device_id));
		refuse(err, &out->reason, ATTEST_DEVICE_MISMATCH, "the evidence is for device %s, not %s", got, sub->device_id);
		goto out;
	}
	if (!rp_memeq_consttime(ev.nonce, sub->nonce, EVIDENCE_NONCE_LEN)) {
		if (sub->channel_bound)
			refuse(err, &out->reason, ATTEST_NONCE_UNKNOWN,
			       "the evidence's nonce is not this TLS connection's exporter value: it was made for another "
			       "connection (replayed or relayed evidence); attest again on this one");
		else
			refuse(err, &out->reason, ATTEST_NONCE_UNKNOWN,
			       "the evidence covers a different nonce than the request names");
		goto out;
	}
	/* The signature first, by the REGISTERED key: a device that signs with any other key (another
	 * device's, a fresh one) is refused here, whatever the evidence says; so is evidence changed
	 * after it was signed (the quote's qualifying data is the digest of the claims). */
	if (evidence_verify_signature(&ev, key, err) < 0) {
		refuse(err, &out->reason, ATTEST_SIGNATURE, "device %s: %s", sub->device_id, err->message);
		goto out;
	}
	/* Then the quote: equal to the replayed log, from a consistent backend. The key's ID needs no
	 * re-derivation: the device ID equals it (registration refuses any other) and the evidence
	 * names that device (above). */
	if (evidence_verify_quote(&ev, sub->nonce, err) < 0) {
		refuse(err, &out->reason, ATTEST_MEASUREMENTS, "%s", err->message);
		goto out;
	}
	snprintf(out->backend, sizeof(out->backend), "%s", ev.backend);
	out->insecure = ev.insecure;
	if (check_images(dev, &ev, images, out, err) < 0)
		goto out;
	out->reason = ATTEST_OK;
	rc = 0;
out:
	evidence_free(&ev);
	return rc;
}

void attest_certs_free(struct attest_certs *c)
{
	free(c->client_pem);
	free(c->device_api_pem);
	free(c->chain_pem);
	memset(c, 0, sizeof(*c));
}

int attest_issue(struct tenant_ca *ca, const struct attest_submission *sub, const char *identity_pem, int64_t now,
                 struct attest_certs *out, enum attest_reason *reason, rp_error *err)
{
	return attest_issue_key(ca, sub, NULL, identity_pem, now, out, reason, err);
}

int attest_issue_key(struct tenant_ca *ca, const struct attest_submission *sub, EVP_PKEY *identity,
                     const char *identity_pem, int64_t now, struct attest_certs *out, enum attest_reason *reason,
                     rp_error *err)
{
	memset(out, 0, sizeof(*out));
	/* Each CSR is decoded and its signature verified once; the key it yields is what gets certified. */
	size_t c_len = strlen(sub->client_csr), a_len = strlen(sub->device_api_csr);
	_cleanup_pkey_ EVP_PKEY *ck = ca_csr_check(sub->client_csr, c_len, err);
	if (!ck)
		return refuse(err, reason, ATTEST_CSR_INVALID, "client_csr: %s", err->message);
	_cleanup_pkey_ EVP_PKEY *ak = ca_csr_check(sub->device_api_csr, a_len, err);
	if (!ak)
		return refuse(err, reason, ATTEST_CSR_INVALID, "device_api_csr: %s", err->message);
	_cleanup_pkey_ EVP_PKEY *own_ik = NULL;
	EVP_PKEY *ik = identity;
	if (!ik) {
		ik = own_ik = rp_key_from_public_pem(identity_pem, strlen(identity_pem), err);
		if (!ik)
			return refuse(err, reason, ATTEST_INTERNAL, "the registered public key does not load: %s",
			              err->message);
	}
	if (EVP_PKEY_eq(ck, ak) == 1)
		return refuse(err, reason, ATTEST_CSR_INVALID,
		              "client_csr and device_api_csr carry the same key; the device must generate one key each");
	if (EVP_PKEY_eq(ck, ik) == 1 || EVP_PKEY_eq(ak, ik) == 1)
		return refuse(err, reason, ATTEST_CSR_INVALID, "a CSR carries the identity key; certificates are for fresh keys");
	struct ca_issued cf, af;
	out->client_pem = ca_issue_device_cert_key(ca, ck, sub->device_id, CA_DEVICE_CERT_CLIENT, (time_t)now,
	                                           ATTEST_CLIENT_CERT_SECONDS, &cf, err);
	if (!out->client_pem) {
		attest_certs_free(out);
		return refuse(err, reason, ATTEST_CSR_INVALID, "client certificate: %s", err->message);
	}
	out->device_api_pem = ca_issue_device_cert_key(ca, ak, sub->device_id, CA_DEVICE_CERT_DEVICE_API, (time_t)now,
	                                               ATTEST_DEVICE_API_CERT_SECONDS, &af, err);
	out->chain_pem = out->device_api_pem ? ca_chain_pem(ca, (time_t)now, err) : NULL;
	if (!out->device_api_pem || !out->chain_pem) {
		attest_certs_free(out);
		return refuse(err, reason, ATTEST_INTERNAL, "issuing certificates: %s", err->message);
	}
	out->not_after = cf.not_after;
	memcpy(out->client_serial, cf.serial, sizeof(out->client_serial));
	memcpy(out->device_api_serial, af.serial, sizeof(out->device_api_serial));
	return 0;
}

static char *iso8601(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

json_t *attest_response_json(const struct attest_certs *certs, const struct attest_outcome *o, int64_t now)
{
	_cleanup_free_ char *na = iso8601(certs->not_after);
	_cleanup_free_ char *at = iso8601(now);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:b}", "client_certificate", certs->client_pem,
	                      "device_api_certificate", certs->device_api_pem, "ca_chain", certs->chain_pem, "not_after",
	                      na, "attested_at", at, "lifetime_seconds", (json_int_t)ATTEST_CLIENT_CERT_SECONDS,
	                      "backend", o->backend, "insecure", o->insecure);
	if (!j)
		rp_abort("building the attestation response");
	if (o->os_sha256[0])
		json_object_set_new(j, "os_bundle", json_pack("{s:s, s:s}", "sha256", o->os_sha256, "version", o->os_version));
	else
		json_object_set_new(j, "os_bundle", json_null());
	return j;
}
