/* Unit tests for the service's attestation logic with real soft-backend evidence and a real tenant
 * CA: the happy path issues two verifiable certificates; every bad input of docs/protocol.md
 * "Attestation protocol v1" is refused with its precise reason and nothing is issued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "device/agent/agent_csr.h"
#include "device/rot/rot.h"
#include "service/attestation.h"

#define TENANT "0f4d6c1e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"
#define IMAGE_ID "11111111-2222-4333-8444-555555555555"
#define NOW ((int64_t)1800000000)

struct fixture {
	char *dir;
	rot *dev;   /* the device under test */
	rot *other; /* another device */
	char dev_id[65], other_id[65];
	char *dev_pem;
	struct tenant_ca *ca;
	uint8_t os_digest[RP_SHA256_LEN];
	char os_hex[65];
};

static struct fixture F;

static rot *open_soft(const char *dir)
{
	rp_error err = RP_ERROR_INIT;
	rot_config cfg = {.create = true};
	rot *r = rot_open("soft", dir, &cfg, NULL, &err);
	if (!r)
		fail_msg("%s", err.message);
	return r;
}

static void id_hex(rot *r, char out[65])
{
	rp_error err = RP_ERROR_INIT;
	uint8_t id[RP_KEY_ID_LEN];
	assert_int_equal(rot_device_id(r, id, &err), 0);
	_cleanup_free_ char *h = rp_hex_encode(id, sizeof(id));
	memcpy(out, h, 65);
}

static int setup(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	F.dir = xstrdup("/tmp/rp-attest-XXXXXX");
	assert_non_null(mkdtemp(F.dir));
	_cleanup_free_ char *d1 = xasprintf("%s/dev", F.dir), *d2 = xasprintf("%s/other", F.dir),
	                    *cadir = xasprintf("%s/ca", F.dir);
	assert_int_equal(rp_mkdir_p(d1, 0700, &err), 0);
	assert_int_equal(rp_mkdir_p(d2, 0700, &err), 0);
	F.dev = open_soft(d1);
	F.other = open_soft(d2);
	id_hex(F.dev, F.dev_id);
	id_hex(F.other, F.other_id);
	_cleanup_pkey_ EVP_PKEY *pub = rot_identity_public_key(F.dev, &err);
	assert_non_null(pub);
	F.dev_pem = rp_key_public_pem(pub, &err);
	assert_non_null(F.dev_pem);
	F.ca = ca_create(cadir, TENANT, (time_t)NOW - 3600, &err);
	if (!F.ca)
		fail_msg("%s", err.message);
	rp_sha256_buf("os bundle bytes", 15, F.os_digest);
	_cleanup_free_ char *h = rp_hex_encode(F.os_digest, RP_SHA256_LEN);
	memcpy(F.os_hex, h, 65);
	/* The device measured its OS bundle into PCR 8 at boot. */
	assert_int_equal(rot_pcr_extend(F.dev, 8, F.os_digest, &err), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	rot_close(F.dev);
	rot_close(F.other);
	ca_free(F.ca);
	free(F.dev_pem);
	assert_int_equal(rp_remove_tree(F.dir, &err), 0);
	free(F.dir);
	return 0;
}

/* What the monitor does for ATTEST (monitor_server.c), with knobs for forging. */
struct forge {
	rot *signer;            /* key that signs the body (default: the device) */
	const char *claimed_id; /* device ID written into the evidence (default: the signer's) */
	bool no_os;             /* leave the OS bundle out of the log */
	bool extra_log;         /* a log entry that was never extended */
	const char *image_id, *image_version;
};

static void make_evidence(const struct forge *f, const uint8_t nonce[32], rp_buf *out)
{
	rp_error err = RP_ERROR_INIT;
	rot *r = f->signer ? f->signer : F.dev;
	evidence ev;
	evidence_init(&ev);
	assert_int_equal(evidence_set_backend(&ev, "soft", true, &err), 0);
	if (f->claimed_id)
		assert_int_equal(rp_hex_decode(f->claimed_id, ev.device_id, 32, &err), 0);
	else
		assert_int_equal(rot_device_id(r, ev.device_id, &err), 0);
	memcpy(ev.nonce, nonce, 32);
	if (!f->no_os)
		assert_int_equal(evidence_add_measurement(&ev, 8, "os-bundle", "7", F.os_digest, &err), 0);
	if (f->extra_log)
		assert_int_equal(evidence_add_measurement(&ev, 9, "rampart-agent", "1", F.os_digest, &err), 0);
	if (f->image_id)
		assert_int_equal(evidence_add_image(&ev, f->image_id, f->image_version, &err), 0);
	assert_int_equal(evidence_add_counter(&ev, 0, 3, &err), 0);
	/* One quote over the claims' digest, as the monitor makes it. */
	uint8_t claims[RP_SHA256_LEN];
	assert_int_equal(evidence_claims_digest(&ev, claims, &err), 0);
	rot_quote q;
	assert_int_equal(rot_quote_pcrs(r, claims, EVIDENCE_PCR_MASK, &q, &err), 0);
	memcpy(ev.quote_attest, q.attest, q.attest_len);
	ev.quote_attest_len = q.attest_len;
	memcpy(ev.quote_sig, q.sig, q.sig_len);
	ev.quote_sig_len = q.sig_len;
	assert_int_equal(evidence_encode(&ev, out, &err), 0);
	evidence_free(&ev);
}

static char *fresh_csr(void)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_pkey_ EVP_PKEY *k = rp_key_generate_p256(&err);
	assert_non_null(k);
	char *pem = agent_csr_build(k, "device", &err);
	assert_non_null(pem);
	return pem;
}

/* Lookups: the tenant knows one os-bundle (the device's) and one application. */
static int by_sha(void *ctx, const char *tenant, const char *sha, char type[32], rp_error *err)
{
	(void)ctx, (void)err;
	if (strcmp(tenant, TENANT) == 0 && strcmp(sha, F.os_hex) == 0) {
		snprintf(type, 32, "os-bundle");
		return 1;
	}
	return 0;
}

static int by_id(void *ctx, const char *tenant, const char *id, char version[65], rp_error *err)
{
	(void)ctx, (void)err;
	if (strcmp(tenant, TENANT) == 0 && strcmp(id, IMAGE_ID) == 0) {
		snprintf(version, 65, "1.2.0");
		return 1;
	}
	return 0;
}

static const struct attest_images IMAGES = {.by_sha256 = by_sha, .by_id = by_id};

struct attempt {
	struct attest_device dev;
	struct attest_nonce nonce;
	struct attest_submission sub;
	rp_buf ev;
	char *client_csr, *api_csr;
};

static void attempt_init(struct attempt *a, const struct forge *f)
{
	memset(a, 0, sizeof(*a));
	a->dev = (struct attest_device){.registered = true, .device_id = F.dev_id, .public_key_pem = F.dev_pem,
	                                .tenant_id = TENANT, .device_group_name = "Field Test"};
	a->nonce.found = true;
	memcpy(a->nonce.device_id, F.dev_id, 65);
	a->nonce.expires_at = NOW + 300;
	memcpy(a->sub.device_id, F.dev_id, 65);
	for (int i = 0; i < 32; i++)
		a->sub.nonce[i] = (uint8_t)(i * 7 + 1);
	rp_buf_init(&a->ev);
	make_evidence(f, a->sub.nonce, &a->ev);
	a->sub.evidence = a->ev.data;
	a->sub.evidence_len = a->ev.len;
	a->client_csr = fresh_csr();
	a->api_csr = fresh_csr();
	a->sub.client_csr = a->client_csr;
	a->sub.device_api_csr = a->api_csr;
}

static void attempt_free(struct attempt *a)
{
	rp_buf_free(&a->ev);
	free(a->client_csr);
	free(a->api_csr);
}

/* Verify and, on success, issue; returns the reason. */
static enum attest_reason run(struct attempt *a, rp_error *err)
{
	struct attest_outcome o;
	if (attest_verify(&a->dev, &a->nonce, &a->sub, &IMAGES, NOW, &o, err) < 0) {
		assert_int_not_equal(o.reason, ATTEST_OK);
		assert_non_null(strstr(err->message, attest_reason_name(o.reason)));
		return o.reason;
	}
	struct attest_certs c;
	enum attest_reason r = ATTEST_OK;
	if (attest_issue(F.ca, &a->sub, F.dev_pem, NOW, &c, &r, err) < 0) {
		assert_null(c.client_pem);
		assert_null(c.device_api_pem);
		return r;
	}
	attest_certs_free(&c);
	return ATTEST_OK;
}

static char expect_message[sizeof(((rp_error *)0)->message)]; /* the last refusal's message, for tests that check its words */

static void expect(struct attempt *a, enum attest_reason want)
{
	rp_error err = RP_ERROR_INIT;
	enum attest_reason got = run(a, &err);
	snprintf(expect_message, sizeof(expect_message), "%s", err.message);
	if (got != want)
		fail_msg("expected %s, got %s: %s", attest_reason_name(want), attest_reason_name(got), err.message);
	attempt_free(a);
}

static X509 *load_pem_cert(const char *pem)
{
	_cleanup_bio_ BIO *b = BIO_new_mem_buf(pem, -1);
	return PEM_read_bio_X509(b, NULL, NULL, NULL);
}

static void success_issues_both_certificates(void **state)
{
	(void)state;
	struct attempt a;
	attempt_init(&a, &(struct forge){.image_id = IMAGE_ID, .image_version = "1.2.0"});
	rp_error err = RP_ERROR_INIT;
	struct attest_outcome o;
	if (attest_verify(&a.dev, &a.nonce, &a.sub, &IMAGES, NOW, &o, &err) < 0)
		fail_msg("%s", err.message);
	assert_string_equal(o.os_sha256, F.os_hex);
	assert_string_equal(o.os_version, "7");
	assert_true(o.insecure);
	struct attest_certs c;
	enum attest_reason r;
	if (attest_issue(F.ca, &a.sub, F.dev_pem, NOW, &c, &r, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(c.not_after, NOW + 24 * 3600);
	char got_id[CA_DEVICE_ID_LEN + 1];
	X509 *client = load_pem_cert(c.client_pem), *api = load_pem_cert(c.device_api_pem);
	assert_int_equal(ca_verify_device_cert(F.ca, client, CA_DEVICE_CERT_CLIENT, (time_t)NOW + 60, got_id, &err), 0);
	assert_string_equal(got_id, F.dev_id);
	assert_int_equal(ca_verify_device_cert(F.ca, api, CA_DEVICE_CERT_DEVICE_API, (time_t)NOW + 60, got_id, &err), 0);
	/* The application's certificate is not a device-API credential. */
	assert_int_equal(ca_verify_device_cert(F.ca, client, CA_DEVICE_CERT_DEVICE_API, (time_t)NOW + 60, got_id, &err),
	                 -1);
	/* 24 h: expired the next day. */
	assert_int_equal(ca_verify_device_cert(F.ca, client, CA_DEVICE_CERT_CLIENT, (time_t)NOW + 25 * 3600, got_id, &err),
	                 -1);
	json_t *j = attest_response_json(&c, &o, NOW);
	assert_non_null(json_object_get(j, "ca_chain"));
	json_decref(j);
	X509_free(client);
	X509_free(api);
	attest_certs_free(&c);
	attempt_free(&a);
}

static void device_state_refusals(void **state)
{
	(void)state;
	struct attempt a;
	attempt_init(&a, &(struct forge){0});
	a.dev.registered = false;
	expect(&a, ATTEST_DEVICE_UNKNOWN);
	attempt_init(&a, &(struct forge){0});
	a.dev.tenant_id = NULL;
	expect(&a, ATTEST_DEVICE_UNCLAIMED);
	attempt_init(&a, &(struct forge){0});
	a.dev.revoked = true;
	expect(&a, ATTEST_DEVICE_REVOKED);
	/* Claimed by another tenant: its OS bundle is unknown there. */
	attempt_init(&a, &(struct forge){0});
	a.dev.tenant_id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
	expect(&a, ATTEST_OS_UNKNOWN);
}

static void nonce_refusals(void **state)
{
	(void)state;
	struct attempt a;
	attempt_init(&a, &(struct forge){0});
	a.nonce.used = true;
	expect(&a, ATTEST_NONCE_REPLAYED);
	attempt_init(&a, &(struct forge){0});
	a.nonce.expires_at = NOW - 1;
	expect(&a, ATTEST_NONCE_EXPIRED);
	/* Expired and used (a record dropped below the store's floor): named as expired. */
	attempt_init(&a, &(struct forge){0});
	a.nonce.expires_at = NOW - 7200;
	a.nonce.used = true;
	expect(&a, ATTEST_NONCE_EXPIRED);
	/* Far ahead: only a stolen key makes such a nonce. */
	attempt_init(&a, &(struct forge){0});
	a.nonce.expires_at = NOW + ATTEST_NONCE_TTL_SECONDS + ATTEST_NONCE_CLOCK_SLACK_SECONDS + 1;
	expect(&a, ATTEST_NONCE_UNKNOWN);
	attempt_init(&a, &(struct forge){0});
	a.nonce.found = false;
	expect(&a, ATTEST_NONCE_UNKNOWN);
	attempt_init(&a, &(struct forge){0});
	memcpy(a.nonce.device_id, F.other_id, 65);
	expect(&a, ATTEST_NONCE_WRONG_DEVICE);
	/* Evidence over another nonce than the request names. */
	attempt_init(&a, &(struct forge){0});
	a.sub.nonce[0] ^= 1;
	expect(&a, ATTEST_NONCE_UNKNOWN);
}

/* A nonce bound to the connection (the caller derived it from the TLS session): only its age and
 * single use are left to check, and evidence made for another connection's value is refused. */
static void bound_nonce_refusals(void **state)
{
	(void)state;
	struct attempt a;
	attempt_init(&a, &(struct forge){0});
	a.nonce.channel_bound = a.sub.channel_bound = true;
	expect(&a, ATTEST_OK);
	/* A second evidence request on the same connection. */
	attempt_init(&a, &(struct forge){0});
	a.nonce.channel_bound = a.sub.channel_bound = true;
	a.nonce.used = true;
	expect(&a, ATTEST_NONCE_REPLAYED);
	assert_non_null(strstr(expect_message, "already sent on this TLS connection"));
	/* A connection older than a nonce lives. */
	attempt_init(&a, &(struct forge){0});
	a.nonce.channel_bound = a.sub.channel_bound = true;
	a.nonce.expires_at = NOW;
	expect(&a, ATTEST_NONCE_EXPIRED);
	assert_non_null(strstr(expect_message, "attest on a new connection"));
	/* Evidence made for another connection: its nonce is not this connection's exporter value. */
	attempt_init(&a, &(struct forge){0});
	a.nonce.channel_bound = a.sub.channel_bound = true;
	a.sub.nonce[31] ^= 0x80;
	expect(&a, ATTEST_NONCE_UNKNOWN);
	assert_non_null(strstr(expect_message, "another connection"));
}

static void other_key_refusals(void **state)
{
	(void)state;
	struct attempt a;
	/* Another device's genuine evidence presented as this device. */
	attempt_init(&a, &(struct forge){.signer = F.other});
	expect(&a, ATTEST_DEVICE_MISMATCH);
	/* This device's ID, signed by another device's key. */
	attempt_init(&a, &(struct forge){.signer = F.other, .claimed_id = F.dev_id});
	expect(&a, ATTEST_SIGNATURE);
}

static void tampered_evidence_refusals(void **state)
{
	(void)state;
	struct attempt a;
	/* A log entry that was never extended (signed, but does not replay to the quote). */
	attempt_init(&a, &(struct forge){.extra_log = true});
	expect(&a, ATTEST_MEASUREMENTS);
	/* A flipped byte in the OS bundle's digest after signing. */
	attempt_init(&a, &(struct forge){0});
	uint8_t *p = memmem(a.ev.data, a.ev.len, F.os_digest, RP_SHA256_LEN);
	assert_non_null(p);
	p[5] ^= 0x40;
	expect(&a, ATTEST_SIGNATURE);
	/* Truncated and oversized evidence. */
	attempt_init(&a, &(struct forge){0});
	a.sub.evidence_len -= 3;
	expect(&a, ATTEST_EVIDENCE_MALFORMED);
	attempt_init(&a, &(struct forge){0});
	a.sub.evidence_len = EVIDENCE_MAX_LEN + 1;
	expect(&a, ATTEST_EVIDENCE_TOO_LARGE);
	attempt_init(&a, &(struct forge){0});
	a.sub.evidence = (uint8_t *)"garbage";
	a.sub.evidence_len = 7;
	expect(&a, ATTEST_EVIDENCE_MALFORMED);
}

static void image_refusals(void **state)
{
	(void)state;
	struct attempt a;
	attempt_init(&a, &(struct forge){.no_os = true, .extra_log = false});
	/* No OS measured but PCR 8 holds one: the quote does not match the log. */
	expect(&a, ATTEST_MEASUREMENTS);
	attempt_init(&a, &(struct forge){.image_id = "99999999-2222-4333-8444-555555555555", .image_version = "1"});
	expect(&a, ATTEST_IMAGE_UNKNOWN);
	attempt_init(&a, &(struct forge){.image_id = IMAGE_ID, .image_version = "9.9.9"});
	expect(&a, ATTEST_IMAGE_UNKNOWN);
}

static void unmeasured_os_policy(void **state)
{
	(void)state;
	/* A fresh device that never measured an OS bundle: refused unless in Development. */
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *d = xasprintf("%s/fresh", F.dir);
	assert_int_equal(rp_mkdir_p(d, 0700, &err), 0);
	rot *fresh = open_soft(d);
	char fid[65];
	id_hex(fresh, fid);
	_cleanup_pkey_ EVP_PKEY *pub = rot_identity_public_key(fresh, &err);
	_cleanup_free_ char *pem = rp_key_public_pem(pub, &err);
	for (int dev_group = 0; dev_group < 2; dev_group++) {
		struct attempt a;
		attempt_init(&a, &(struct forge){.signer = fresh, .no_os = true});
		memcpy(a.sub.device_id, fid, 65);
		memcpy(a.nonce.device_id, fid, 65);
		a.dev.device_id = fid;
		a.dev.public_key_pem = pem;
		a.dev.device_group_name = dev_group ? "Development" : "Production";
		expect(&a, dev_group ? ATTEST_OK : ATTEST_OS_UNMEASURED);
	}
	rot_close(fresh);
}

static char *csr_with(bool rsa, bool extra_ext)
{
	EVP_PKEY *k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	assert_non_null(k);
	X509_REQ *req = X509_REQ_new();
	X509_REQ_set_version(req, 0);
	X509_REQ_set_pubkey(req, k);
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC, (const unsigned char *)"x", -1,
	                           -1, 0);
	if (extra_ext) {
		STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
		sk_X509_EXTENSION_push(exts, e);
		X509_REQ_add_extensions(req, exts);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	X509_REQ_sign(req, k, EVP_sha256());
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509_REQ(b, req);
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	char *out = xstrndup(data, (size_t)n);
	BIO_free(b);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return out;
}

static void csr_refusals(void **state)
{
	(void)state;
	struct attempt a;
	attempt_init(&a, &(struct forge){0});
	free(a.client_csr);
	a.sub.client_csr = a.client_csr = csr_with(true, false);
	expect(&a, ATTEST_CSR_INVALID);
	attempt_init(&a, &(struct forge){0});
	free(a.api_csr);
	a.sub.device_api_csr = a.api_csr = csr_with(false, true);
	expect(&a, ATTEST_CSR_INVALID);
	attempt_init(&a, &(struct forge){0});
	a.sub.device_api_csr = a.client_csr;
	expect(&a, ATTEST_CSR_INVALID);
	attempt_init(&a, &(struct forge){0});
	a.sub.client_csr = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
	expect(&a, ATTEST_CSR_INVALID);
}

/* BAD with @I@ replaced by ID and @N@ by NONCE (malloc'd). */
static char *subst(const char *bad, const char *id, const char *nonce)
{
	char *out = xmalloc(strlen(bad) + 2 * 64 + 1);
	size_t o = 0;
	for (const char *p = bad; *p;) {
		if (strncmp(p, "@I@", 3) == 0 || strncmp(p, "@N@", 3) == 0) {
			const char *v = p[1] == 'I' ? id : nonce;
			memcpy(out + o, v, strlen(v));
			o += strlen(v);
			p += 3;
		} else
			out[o++] = *p++;
	}
	out[o] = 0;
	return out;
}

static void submission_parsing(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"{}",
		"{\"device_id\":\"xyz\",\"nonce\":\"00\",\"evidence\":\"\",\"client_csr\":\"\",\"device_api_csr\":\"\"}",
		"{\"device_id\":\"@I@\",\"nonce\":\"00\",\"evidence\":\"AA==\",\"client_csr\":\"\",\"device_api_csr\":\"\"}",
		"{\"device_id\":\"@I@\",\"nonce\":\"@N@\",\"evidence\":\"!!\",\"client_csr\":\"\",\"device_api_csr\":\"\"}",
		"{\"device_id\":\"@I@\",\"nonce\":\"@N@\",\"evidence\":\"AA==\",\"client_csr\":\"\",\"device_api_csr\":\"\","
		"\"extra\":1}",
		"{\"device_id\":\"@I@\",\"nonce\":\"@N@\",\"evidence\":5,\"client_csr\":\"\",\"device_api_csr\":\"\"}",
	};
	char nonce[65];
	memset(nonce, 'a', 64);
	nonce[64] = 0;
	for (size_t i = 0; i < RP_ARRAY_SIZE(bad); i++) {
		rp_error err = RP_ERROR_INIT;
		_cleanup_free_ char *txt = subst(bad[i], F.dev_id, nonce);
		json_t *j = rp_json_parse(txt, strlen(txt), 65536, "body", &err);
		assert_non_null(j);
		struct attest_submission s;
		enum attest_reason r = ATTEST_OK;
		assert_int_equal(attest_parse_submission(j, &s, &r, &err), -1);
		assert_int_not_equal(r, ATTEST_OK);
		assert_non_null(strstr(err.message, "attestation refused"));
		attest_submission_free(&s);
		json_decref(j);
	}
	/* Oversized evidence is refused before decoding. */
	size_t big = ATTEST_EVIDENCE_B64_MAX + 4;
	char *ev = xmalloc(big + 1);
	memset(ev, 'A', big);
	ev[big] = 0;
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "device_id", F.dev_id, "nonce", nonce, "evidence", ev,
	                      "client_csr", "", "device_api_csr", "");
	rp_error err = RP_ERROR_INIT;
	struct attest_submission s;
	enum attest_reason r = ATTEST_OK;
	assert_int_equal(attest_parse_submission(j, &s, &r, &err), -1);
	assert_int_equal(r, ATTEST_EVIDENCE_TOO_LARGE);
	attest_submission_free(&s);
	json_decref(j);
	free(ev);
	/* Channel-bound: nonce_binding instead of a nonce, never both, only "tls-exporter". */
	j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "device_id", F.dev_id, "nonce_binding", "tls-exporter", "evidence",
	              "AA==", "client_csr", "", "device_api_csr", "");
	assert_int_equal(attest_parse_submission(j, &s, &r, &err), 0);
	assert_true(s.channel_bound);
	attest_submission_free(&s);
	json_object_set_new(j, "nonce", json_string(nonce));
	assert_int_equal(attest_parse_submission(j, &s, &r, &err), -1);
	assert_int_equal(r, ATTEST_REQUEST_MALFORMED);
	assert_non_null(strstr(err.message, "not both"));
	attest_submission_free(&s);
	json_object_del(j, "nonce");
	json_object_set_new(j, "nonce_binding", json_string("tls-unique"));
	assert_int_equal(attest_parse_submission(j, &s, &r, &err), -1);
	assert_int_equal(r, ATTEST_REQUEST_MALFORMED);
	attest_submission_free(&s);
	json_object_del(j, "nonce_binding");
	assert_int_equal(attest_parse_submission(j, &s, &r, &err), -1);
	assert_non_null(strstr(err.message, "nonce_binding"));
	attest_submission_free(&s);
	json_decref(j);
	/* Challenge. */
	j = json_pack("{s:s}", "device_id", F.dev_id);
	char id[65];
	assert_int_equal(attest_parse_challenge(j, id, &err), 0);
	assert_string_equal(id, F.dev_id);
	json_decref(j);
	j = json_pack("{s:s}", "device_id", "ABC");
	assert_int_equal(attest_parse_challenge(j, id, &err), -1);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(success_issues_both_certificates),
		cmocka_unit_test(device_state_refusals),
		cmocka_unit_test(nonce_refusals),
		cmocka_unit_test(bound_nonce_refusals),
		cmocka_unit_test(other_key_refusals),
		cmocka_unit_test(tampered_evidence_refusals),
		cmocka_unit_test(image_refusals),
		cmocka_unit_test(unmeasured_os_policy),
		cmocka_unit_test(csr_refusals),
		cmocka_unit_test(submission_parsing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
