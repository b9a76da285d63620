/* One attestation round of the device agent (see agent_attest.h). */
#include "device/agent/agent_attest.h"

#include <string.h>
#include <time.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "device/agent/agent_csr.h"
#include "device/agent/agent_sched.h"
#include "device/agent/agent_worker_msg.h"
#include "device/monitor/monitor_client.h"

static int cert_times(X509 *x, int64_t *nb, int64_t *na)
{
	struct tm a, b;
	if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &b) != 1 || ASN1_TIME_to_tm(X509_get0_notAfter(x), &a) != 1)
		return -1;
	*nb = (int64_t)timegm(&b);
	*na = (int64_t)timegm(&a);
	return 0;
}

/* The first certificate of PEM; it must certify KEY. */
static X509 *check_issued(const char *what, const char *pem, EVP_PKEY *key, rp_error *err)
{
	_cleanup_bio_ BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	if (!x)
		return rp_error_set_openssl(err, "the service's %s is not a PEM certificate", what), NULL;
	if (EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1) {
		X509_free(x);
		return rp_error_set(err, RP_E_VERIFY, "the service's %s is not for the key this device sent", what), NULL;
	}
	return x;
}

static char *key_pem(EVP_PKEY *key, rp_error *err)
{
	_cleanup_bio_ BIO *b = BIO_new(BIO_s_mem());
	if (!b || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1)
		return rp_error_set_openssl(err, "encoding a private key"), NULL;
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	return xstrndup(data, (size_t)n);
}

static int write_in(const char *dir, const char *name, const char *text, mode_t mode, rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	if (rp_write_file_atomic(path, text, strlen(text), mode, err) < 0)
		return rp_error_prefix(err, "writing %s", path);
	return 0;
}

static int save_status(const char *dir, const struct agent_result *res, int64_t now)
{
	rp_error err = RP_ERROR_INIT;
	json_t *j = json_pack("{s:b, s:s, s:I, s:I, s:I, s:s}", "ok", res->ok, "device_id", res->device_id, "time",
	                      (json_int_t)now, "not_before", (json_int_t)res->not_before, "not_after",
	                      (json_int_t)res->not_after, "reason", res->reason);
	if (!j) /* not expected: fail() made the reason printable ASCII */
		return rp_error_set(&err, RP_E_INTERNAL, "the attestation status is not valid JSON text");
	_cleanup_free_ char *txt = rp_json_dump(j);
	json_decref(j);
	return write_in(dir, "status.json", txt, 0644, &err);
}

/* The error chain is cut at a byte limit, possibly inside a UTF-8 character of a message the service
 * sent: made printable first, so the status file, the log and the worker's result all take it. */
static int fail(struct agent_result *res, rp_error *err)
{
	agent_worker_reason_sanitize(err->message);
	snprintf(res->reason, sizeof(res->reason), "%s", err->message);
	return -1;
}

/* What the evidence request needs besides the nonce (agent_http_bound_body). */
struct evidence_body {
	const struct agent_config *cfg;
	monitor_client *mc;
	const char *device_id, *client_csr, *api_csr;
};

static char *evidence_body_build(void *arg, const uint8_t nonce[32], rp_error *err)
{
	struct evidence_body *b = arg;
	rp_buf ev;
	rp_buf_init(&ev);
	if (monitor_client_attest(b->mc, nonce, b->cfg->images, b->cfg->n_images, &ev, err) < 0) {
		rp_buf_free(&ev);
		rp_error_prefix(err, "asking the security monitor for evidence");
		return NULL;
	}
	_cleanup_free_ char *ev_b64 = rp_base64_encode(ev.data, ev.len);
	rp_buf_free(&ev);
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "device_id", b->device_id, "nonce_binding",
	                                       EVIDENCE_NONCE_BINDING_TLS, "evidence", ev_b64, "client_csr",
	                                       b->client_csr, "device_api_csr", b->api_csr);
	return rp_json_dump(req);
}

static int round_trip(const struct agent_config *cfg, const char *dir, struct agent_result *res, rp_error *err)
{
	_cleanup_monitor_client_ monitor_client *mc = monitor_client_connect(cfg->monitor_socket, err);
	monitor_identity id = {0};
	if (!mc || monitor_client_get_device_id(mc, &id, err) < 0)
		return rp_error_prefix(err, "asking the security monitor for the device ID");
	_cleanup_free_ char *hex = rp_hex_encode(id.device_id, sizeof(id.device_id));
	snprintf(res->device_id, sizeof(res->device_id), "%s", hex);

	/* 1. A fresh key per certificate, never reused across rounds. */
	_cleanup_pkey_ EVP_PKEY *ck = rp_key_generate_p256(err);
	_cleanup_pkey_ EVP_PKEY *ak = ck ? rp_key_generate_p256(err) : NULL;
	if (!ak)
		return rp_error_prefix(err, "generating certificate keys");
	_cleanup_free_ char *ccsr = agent_csr_build(ck, hex, err);
	_cleanup_free_ char *acsr = ccsr ? agent_csr_build(ak, hex, err) : NULL;
	if (!acsr)
		return -1;

	/* 2. Evidence over the connection's own nonce (its TLS exporter value), signed through the
	 * monitor once the connection is up, sent on it with the CSRs: one request, no challenge. */
	struct evidence_body body = {.cfg = cfg, .mc = mc, .device_id = hex, .client_csr = ccsr, .api_csr = acsr};
	json_t *reply = NULL;
	int status = agent_http_post_bound(&cfg->http, "/v1/attestation/evidence", evidence_body_build, &body, &reply, err);
	_cleanup_json_ json_t *issued = reply;
	if (status < 0)
		return rp_error_prefix(err, "sending evidence");
	if (status != 200) {
		_cleanup_free_ char *t = agent_http_error_text(issued, status);
		return rp_error_set(err, status >= 500 ? RP_E_UNAVAILABLE : RP_E_VERIFY, "%s", t);
	}
	const char *cpem = NULL, *apem = NULL, *chain = NULL;
	if (rp_json_get_string(issued, "client_certificate", true, &cpem, err) < 0 ||
	    rp_json_get_string(issued, "device_api_certificate", true, &apem, err) < 0 ||
	    rp_json_get_string(issued, "ca_chain", true, &chain, err) < 0)
		return rp_error_prefix(err, "the service's attestation response");
	_cleanup_x509_ X509 *cx = check_issued("client certificate", cpem, ck, err);
	_cleanup_x509_ X509 *ax = cx ? check_issued("device API certificate", apem, ak, err) : NULL;
	if (!ax || cert_times(cx, &res->not_before, &res->not_after) < 0)
		return rp_error_prefix(err, "the service's attestation response");

	/* 4. Store: keys first, then certificates, then the applications' bundle (one file holding
	 * both, so an application never reads a key with another key's certificate). */
	_cleanup_free_ char *ckp = key_pem(ck, err), *akp = ckp ? key_pem(ak, err) : NULL;
	if (!akp)
		return -1;
	_cleanup_free_ char *cfull = xasprintf("%s%s", cpem, chain), *afull = xasprintf("%s%s", apem, chain);
	_cleanup_free_ char *bundle = xasprintf("%s%s", cfull, ckp);
	_cleanup_free_ char *dadir = xasprintf("%s/deviceauth", dir);
	if (write_in(dir, "client.key.new", ckp, 0600, err) < 0 || write_in(dir, "client.pem.new", cfull, 0644, err) < 0 ||
	    write_in(dir, "device-api.key.new", akp, 0600, err) < 0 ||
	    write_in(dir, "device-api.pem.new", afull, 0644, err) < 0 || write_in(dir, "ca-chain.pem", chain, 0644, err) < 0 ||
	    rp_mkdir_p(dadir, 0755, err) < 0 || write_in(dadir, "client.pem", bundle, 0640, err) < 0)
		return -1;
	static const char *const names[] = {"client.key", "client.pem", "device-api.key", "device-api.pem"};
	for (size_t i = 0; i < RP_ARRAY_SIZE(names); i++) {
		_cleanup_free_ char *from = xasprintf("%s/%s.new", dir, names[i]), *to = xasprintf("%s/%s", dir, names[i]);
		if (rename(from, to) < 0)
			return rp_error_set_errno(err, errno, "installing %s", to);
	}
	if (rp_fsync_dir(dir, err) < 0)
		return -1;
	return 0;
}

/* An issued certificate that lapses before the next round could renew it fails the round, so the
 * agent backs off rather than attesting again at once (agent_sched.h). The certificates stay
 * installed: they are the newest the service issued, replacing them again would not help, and if
 * the device's clock is what is wrong they still serve relying parties whose clocks are right. */
static int check_validity(const struct agent_result *res, rp_error *err)
{
	char why[AGENT_SCHED_WHY_MAX];
	if (agent_sched_cert_check((int64_t)time(NULL), res->not_before, res->not_after, why, sizeof(why)) < 0)
		return rp_error_set(err, RP_E_EXPIRED, "%s", why);
	if (why[0])
		rp_log_event(RP_LOG_WARNING, "agent.attest.clock", "%s", why);
	return 0;
}

int agent_attest_once(const struct agent_config *cfg, int64_t now, struct agent_result *res, rp_error *err)
{
	memset(res, 0, sizeof(*res));
	_cleanup_free_ char *dir = xasprintf("%s/%s", cfg->state_dir, AGENT_DIR);
	if (rp_mkdir_p(dir, 0700, err) < 0)
		return fail(res, err);
	int rc = round_trip(cfg, dir, res, err);
	if (rc == 0)
		rc = check_validity(res, err);
	res->ok = rc == 0;
	if (rc < 0)
		fail(res, err);
	if (save_status(dir, res, now) < 0)
		rp_warn("could not record the attestation status in %s", dir);
	return rc;
}

int agent_attest_current(const char *state_dir, int64_t *not_before, int64_t *not_after)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *cp = xasprintf("%s/%s/client.pem", state_dir, AGENT_DIR);
	_cleanup_free_ char *kp = xasprintf("%s/%s/client.key", state_dir, AGENT_DIR);
	_cleanup_x509_ X509 *x = NULL;
	{
		_cleanup_free_ uint8_t *pem = NULL;
		size_t len = 0;
		if (rp_read_file(cp, 256 * 1024, &pem, &len, &err) < 0)
			return -1;
		_cleanup_bio_ BIO *b = BIO_new_mem_buf(pem, (int)len);
		x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	}
	_cleanup_pkey_ EVP_PKEY *k = x ? rp_key_load_private_pem(kp, &err) : NULL;
	if (!k || EVP_PKEY_eq(X509_get0_pubkey(x), k) != 1 || cert_times(x, not_before, not_after) < 0)
		return -1;
	return 0;
}
