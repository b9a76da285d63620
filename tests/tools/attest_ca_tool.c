/* Test-only tool: issue a device client certificate straight from a tenant CA directory with a
 * chosen clock, for black-box tests that need certificates the service would never hand out
 * (already expired) or that belong to another tenant. Never installed.
 *
 *   attest-ca-tool --ca-dir DIR --tenant GUID --device-id HEX64 --now EPOCH --validity SECONDS
 *                  --key-out FILE --cert-out FILE [--expired] [--device-api]
 *
 * --expired re-signs the issued certificate with the generation-1 CA key after moving its validity
 * to two days ago..one day ago: the tenant CA itself refuses to sign before its own start, and a
 * test must not wait a day. --device-api issues the device-API credential instead of the
 * applications' client certificate. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/agent/agent_csr.h"
#include "service/ca.h"

static char *backdate(const char *dir, const char *pem, time_t now, rp_error *err)
{
	_cleanup_free_ char *kp = xasprintf("%s/gen-1.key.pem", dir);
	_cleanup_bio_ BIO *kb = BIO_new_file(kp, "r");
	_cleanup_pkey_ EVP_PKEY *cakey = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	_cleanup_bio_ BIO *cb = BIO_new_mem_buf(pem, -1);
	_cleanup_x509_ X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	if (!cakey || !x || !X509_time_adj_ex(X509_getm_notBefore(x), -2, 0, &now) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), -1, 0, &now) || X509_sign(x, cakey, EVP_sha256()) <= 0)
		return rp_error_set_openssl(err, "re-signing the certificate as expired"), NULL;
	_cleanup_bio_ BIO *out = BIO_new(BIO_s_mem());
	char *data = NULL;
	if (!out || PEM_write_bio_X509(out, x) != 1)
		return rp_error_set_openssl(err, "encoding the certificate"), NULL;
	long n = BIO_get_mem_data(out, &data);
	return xstrndup(data, (size_t)n);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"ca-dir", required_argument, NULL, 'c'},   {"tenant", required_argument, NULL, 't'},
		{"device-id", required_argument, NULL, 'd'}, {"now", required_argument, NULL, 'n'},
		{"validity", required_argument, NULL, 'v'}, {"key-out", required_argument, NULL, 'k'},
		{"cert-out", required_argument, NULL, 'o'}, {"expired", no_argument, NULL, 'x'},
		{"device-api", no_argument, NULL, 'a'},     {0},
	};
	const char *dir = NULL, *tenant = NULL, *device = NULL, *key_out = NULL, *cert_out = NULL;
	int64_t now = 0;
	bool expired = false;
	enum ca_device_cert_kind kind = CA_DEVICE_CERT_CLIENT;
	uint32_t validity = 24 * 3600;
	rp_error err = RP_ERROR_INIT;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c': dir = optarg; break;
		case 't': tenant = optarg; break;
		case 'd': device = optarg; break;
		case 'k': key_out = optarg; break;
		case 'o': cert_out = optarg; break;
		case 'x': expired = true; break;
		case 'a': kind = CA_DEVICE_CERT_DEVICE_API; break;
		case 'n':
			if (rp_parse_i64(optarg, 0, INT64_MAX / 2, &now, &err) < 0)
				return rp_error_report(&err, "attest-ca-tool"), 2;
			break;
		case 'v':
			if (rp_parse_u32(optarg, 60, 7 * 24 * 3600, &validity, &err) < 0)
				return rp_error_report(&err, "attest-ca-tool"), 2;
			break;
		default: return 2;
		}
	}
	if (!dir || !tenant || !device || !key_out || !cert_out || !now) {
		fprintf(stderr, "attest-ca-tool: --ca-dir --tenant --device-id --now --key-out --cert-out are required\n");
		return 2;
	}
	struct tenant_ca *ca = ca_open(dir, tenant, &err);
	EVP_PKEY *key = ca ? rp_key_generate_p256(&err) : NULL;
	char *csr = key ? agent_csr_build(key, device, &err) : NULL;
	char *cert = csr ? ca_issue_device_cert(ca, csr, strlen(csr), device, kind, (time_t)now,
	                                        (int)validity, &err)
	                 : NULL;
	if (cert && expired) {
		char *old = cert;
		cert = backdate(dir, old, (time_t)now, &err);
		free(old);
	}
	int rc = 1;
	if (cert && rp_key_save_private_pem(key, key_out, &err) == 0 &&
	    rp_write_file_atomic(cert_out, cert, strlen(cert), 0644, &err) == 0)
		rc = 0;
	if (rc)
		rp_error_report(&err, "attest-ca-tool");
	free(cert);
	free(csr);
	EVP_PKEY_free(key);
	if (ca)
		ca_free(ca);
	return rc;
}
