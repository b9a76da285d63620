/* Unit tests for the tenant CA: creation, rollover with simulated time, chain downloads, proof of
 * possession, CSR checks, device certificates, hostile state directories, and the real `openssl`
 * command accepting what we issue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "service/ca.h"
#include "service/ca_csr.h"
#include "service/tls_cert.h"

#define T0 ((time_t)1767225600) /* 2026-01-01T00:00:00Z */
#define DAY ((time_t)86400)
#define TENANT "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
#define DEVICE "a3c1e5f7a3c1e5f7a3c1e5f7a3c1e5f7a3c1e5f7a3c1e5f7a3c1e5f7a3c1e5f7"

static char tmpdir[256];
static int dir_counter;

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rampart-test-ca-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	return rp_remove_tree(tmpdir, &err);
}

/* A fresh CA directory path for each test. */
static char *new_dir(void)
{
	return xasprintf("%s/ca-%d/%s", tmpdir, ++dir_counter, TENANT);
}

static struct tenant_ca *create_ca(char **dir_out)
{
	rp_error err = RP_ERROR_INIT;
	char *dir = new_dir();
	struct tenant_ca *ca = ca_create(dir, TENANT, T0, &err);
	if (!ca)
		fail_msg("ca_create: %s", err.message);
	if (dir_out)
		*dir_out = dir;
	else
		free(dir);
	return ca;
}

static X509 *pem_to_x509(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(x);
	return x;
}

static time_t x509_time(const ASN1_TIME *t)
{
	struct tm tm;
	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return timegm(&tm);
}

static void write_text(const char *path, const char *text)
{
	rp_error err = RP_ERROR_INIT;
	if (rp_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", err.message);
}

/* Run a shell command built only from our own temporary paths; returns its exit status. */
static int run(const char *fmt, ...) RP_PRINTF(1, 2);
static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A CSR for KEY signed with MD; EXTS are (nid, value) pairs in OpenSSL config syntax. */
static char *make_csr(EVP_PKEY *key, const EVP_MD *md, const int *nids, const char *const *values, size_t nexts,
                      bool challenge)
{
	X509_REQ *req = X509_REQ_new();
	assert_non_null(req);
	assert_int_equal(X509_REQ_set_version(req, X509_REQ_VERSION_1), 1);
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"some-other-device", -1, -1, 0);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	if (nexts) {
		STACK_OF(X509_EXTENSION) *sk = sk_X509_EXTENSION_new_null();
		for (size_t i = 0; i < nexts; i++) {
			X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nids[i], values[i]);
			assert_non_null(ext);
			sk_X509_EXTENSION_push(sk, ext);
		}
		assert_int_equal(X509_REQ_add_extensions(req, sk), 1);
		sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free);
	}
	if (challenge)
		assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_ASC,
		                                           (const unsigned char *)"secret", -1),
		                 1);
	assert_true(X509_REQ_sign(req, key, md) > 0);
	BIO *bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	char *pem = xstrndup(data, (size_t)len);
	BIO_free(bio);
	X509_REQ_free(req);
	return pem;
}

static char *plain_csr(EVP_PKEY **key_out)
{
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *key = rp_key_generate_p256(&err);
	assert_non_null(key);
	char *csr = make_csr(key, EVP_sha256(), NULL, NULL, 0, false);
	if (key_out)
		*key_out = key;
	else
		EVP_PKEY_free(key);
	return csr;
}

static char *issue(struct tenant_ca *ca, enum ca_device_cert_kind kind, time_t now)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *csr = plain_csr(NULL);
	char *pem = ca_issue_device_cert(ca, csr, strlen(csr), DEVICE, kind, now, 0, &err);
	if (!pem)
		fail_msg("issue: %s", err.message);
	return pem;
}

static int verify_device(struct tenant_ca *ca, const char *pem, enum ca_device_cert_kind kind, time_t now)
{
	rp_error err = RP_ERROR_INIT;
	X509 *x = pem_to_x509(pem);
	char dev[CA_DEVICE_ID_LEN + 1] = "";
	int r = ca_verify_device_cert(ca, x, kind, now, dev, &err);
	if (r == 0)
		assert_string_equal(dev, DEVICE);
	X509_free(x);
	return r;
}

static int count_certs(const char *pem)
{
	int n = 0;
	for (const char *p = pem; (p = strstr(p, "-----BEGIN CERTIFICATE-----")); p++)
		n++;
	return n;
}

/* --- creation and storage --- */

static void create_open_and_refuse_second_create(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *dir = NULL;
	struct tenant_ca *ca = create_ca(&dir);
	struct ca_cert_info *infos = NULL;
	size_t n = 0;
	assert_int_equal(ca_list(ca, T0, &infos, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(infos[0].generation, 1);
	assert_true(infos[0].active);
	assert_int_equal(infos[0].status, CA_STATUS_ACTIVE);
	assert_int_equal(infos[0].not_after - T0, CA_VALIDITY_SECONDS);
	assert_int_equal(strlen(infos[0].fingerprint_sha256), 64);
	char fp[65];
	memcpy(fp, infos[0].fingerprint_sha256, sizeof(fp));
	ca_cert_info_free(infos, n);
	ca_free(ca);

	assert_null(ca_create(dir, TENANT, T0, &err));
	assert_int_equal(err.code, RP_E_EXISTS);

	rp_error_clear(&err);
	ca = ca_open(dir, TENANT, &err);
	if (!ca)
		fail_msg("%s", err.message);
	assert_int_equal(ca_list(ca, T0 + DAY, &infos, &n, &err), 0);
	assert_string_equal(infos[0].fingerprint_sha256, fp);
	ca_cert_info_free(infos, n);
	ca_free(ca);

	/* Upper-case GUID is the same tenant; another tenant is refused. */
	ca = ca_open(dir, "3F2504E0-4F89-41D3-9A0C-0305E82C3301", &err);
	assert_non_null(ca);
	ca_free(ca);
	assert_null(ca_open(dir, "00000000-0000-0000-0000-000000000000", &err));
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_null(ca_create(dir, "not-a-guid", T0, &err));
	assert_int_equal(err.code, RP_E_INVALID);

	/* Key is 0600. */
	_cleanup_free_ char *key = xasprintf("%s/gen-1.key.pem", dir);
	struct stat st;
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void ca_certificate_profile(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct tenant_ca *ca = create_ca(NULL);
	_cleanup_free_ char *pem = ca_active_cert_pem(ca, T0, &err);
	assert_non_null(pem);
	X509 *x = pem_to_x509(pem);
	char cn[256];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "Rampart Tenant CA " TENANT " 1");
	assert_int_equal(X509_check_ca(x), 1);
	int crit = -1;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_true(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
	assert_true(X509_get_key_usage(x) & KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(x));
	assert_non_null(X509_get0_authority_key_id(x));
	assert_int_equal(x509_time(X509_get0_notBefore(x)), T0 - CA_CLOCK_SKEW_SECONDS);
	assert_int_equal(x509_time(X509_get0_notAfter(x)), T0 + CA_VALIDITY_SECONDS);
	assert_true(rp_key_is_p256(X509_get0_pubkey(x)));
	assert_int_equal(X509_verify(x, X509_get0_pubkey(x)), 1);
	X509_free(x);
	ca_free(ca);
}

/* --- rollover with simulated time --- */

static void successor_created_90_days_before_and_active_45_days_after(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *dir = NULL;
	struct tenant_ca *ca = create_ca(&dir);
	const time_t expiry = T0 + CA_VALIDITY_SECONDS;
	const time_t renew = expiry - CA_RENEW_BEFORE_SECONDS;

	assert_int_equal(ca_ensure_successor(ca, T0 + 365 * DAY, &err), 0);
	assert_int_equal(ca_ensure_successor(ca, renew - 1, &err), 0);
	_cleanup_free_ char *old_client = issue(ca, CA_DEVICE_CERT_CLIENT, renew - 1);
	assert_int_equal(ca_ensure_successor(ca, renew, &err), 1);
	assert_int_equal(ca_ensure_successor(ca, renew, &err), 0); /* idempotent */
	assert_int_equal(ca_ensure_successor(ca, renew + 10 * DAY, &err), 0);

	struct ca_cert_info *infos = NULL;
	size_t n = 0;
	assert_int_equal(ca_list(ca, renew, &infos, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(infos[0].generation, 2);
	assert_int_equal(infos[0].status, CA_STATUS_PENDING);
	assert_int_equal(infos[0].activates_at, renew + CA_ACTIVATE_AFTER_SECONDS);
	assert_int_equal(infos[1].status, CA_STATUS_ACTIVE);
	char fp2[65];
	memcpy(fp2, infos[0].fingerprint_sha256, sizeof(fp2));
	ca_cert_info_free(infos, n);

	/* Both are in the chain from the moment the successor exists. */
	_cleanup_free_ char *chain = ca_chain_pem(ca, renew, &err);
	assert_int_equal(count_certs(chain), 2);

	/* Gen 1 still signs until day 45. */
	_cleanup_free_ char *act = ca_active_cert_pem(ca, renew + CA_ACTIVATE_AFTER_SECONDS - 1, &err);
	X509 *x = pem_to_x509(act);
	char cn[256];
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "Rampart Tenant CA " TENANT " 1");
	X509_free(x);
	_cleanup_free_ char *before_switch = issue(ca, CA_DEVICE_CERT_CLIENT, renew + CA_ACTIVATE_AFTER_SECONDS - 1);
	x = pem_to_x509(before_switch);
	X509_NAME_get_text_by_NID(X509_get_issuer_name(x), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "Rampart Tenant CA " TENANT " 1");
	X509_free(x);

	/* From day 45 gen 2 signs; gen 1 is retired but still trusted. */
	const time_t switched = renew + CA_ACTIVATE_AFTER_SECONDS;
	_cleanup_free_ char *after_switch = issue(ca, CA_DEVICE_CERT_CLIENT, switched);
	x = pem_to_x509(after_switch);
	X509_NAME_get_text_by_NID(X509_get_issuer_name(x), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "Rampart Tenant CA " TENANT " 2");
	X509_free(x);
	assert_int_equal(ca_list(ca, switched, &infos, &n, &err), 0);
	assert_int_equal(infos[0].status, CA_STATUS_ACTIVE);
	assert_int_equal(infos[1].status, CA_STATUS_RETIRED);
	ca_cert_info_free(infos, n);
	assert_int_equal(verify_device(ca, before_switch, CA_DEVICE_CERT_CLIENT, switched + 3600), 0);
	assert_int_equal(verify_device(ca, after_switch, CA_DEVICE_CERT_CLIENT, switched + 3600), 0);
	/* A 24 h certificate is refused the day after. */
	assert_int_equal(verify_device(ca, old_client, CA_DEVICE_CERT_CLIENT, renew + DAY), -1);

	/* The state survives a reopen. */
	ca_free(ca);
	ca = ca_open(dir, TENANT, &err);
	assert_non_null(ca);

	/* After gen 1 expires it drops out of the chain but stays listed as expired. */
	free(chain);
	chain = ca_chain_pem(ca, expiry, &err);
	assert_int_equal(count_certs(chain), 1);
	assert_int_equal(ca_list(ca, expiry, &infos, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(infos[0].fingerprint_sha256, fp2);
	assert_int_equal(infos[1].status, CA_STATUS_EXPIRED);
	ca_cert_info_free(infos, n);

	/* The next rollover follows the same rule from gen 2's dates. */
	const time_t renew2 = renew + CA_VALIDITY_SECONDS - CA_RENEW_BEFORE_SECONDS;
	assert_int_equal(ca_ensure_successor(ca, renew2 - 1, &err), 0);
	assert_int_equal(ca_ensure_successor(ca, renew2, &err), 1);
	ca_free(ca);
}

static void successor_is_immediate_when_nothing_can_sign(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct tenant_ca *ca = create_ca(NULL);
	const time_t late = T0 + CA_VALIDITY_SECONDS + 10 * DAY;
	_cleanup_free_ char *csr = plain_csr(NULL);
	assert_null(ca_issue_device_cert(ca, csr, strlen(csr), DEVICE, CA_DEVICE_CERT_CLIENT, late, 0, &err));
	assert_int_equal(err.code, RP_E_EXPIRED);
	assert_int_equal(ca_ensure_successor(ca, late, &err), 1);
	_cleanup_free_ char *cert = ca_issue_device_cert(ca, csr, strlen(csr), DEVICE, CA_DEVICE_CERT_CLIENT, late, 0, &err);
	assert_non_null(cert);
	ca_free(ca);
}

static void second_handle_sees_successor_and_does_not_duplicate(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *dir = NULL;
	struct tenant_ca *a = create_ca(&dir);
	struct tenant_ca *b = ca_open(dir, TENANT, &err);
	assert_non_null(b);
	const time_t renew = T0 + CA_VALIDITY_SECONDS - CA_RENEW_BEFORE_SECONDS;
	assert_int_equal(ca_ensure_successor(a, renew, &err), 1);
	assert_int_equal(ca_ensure_successor(b, renew + 60, &err), 0);
	struct ca_cert_info *infos = NULL;
	size_t n = 0;
	assert_int_equal(ca_list(b, renew, &infos, &n, &err), 0);
	assert_int_equal(n, 2);
	ca_cert_info_free(infos, n);
	ca_free(a);
	ca_free(b);
}

/* --- downloads --- */

static void pkcs7_chain_holds_every_trusted_generation(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct tenant_ca *ca = create_ca(NULL);
	const time_t renew = T0 + CA_VALIDITY_SECONDS - CA_RENEW_BEFORE_SECONDS;
	assert_int_equal(ca_ensure_successor(ca, renew, &err), 1);
	for (int pem = 0; pem < 2; pem++) {
		uint8_t *out = NULL;
		size_t len = 0;
		assert_int_equal(ca_chain_pkcs7(ca, renew, pem, &out, &len, &err), 0);
		BIO *bio = BIO_new_mem_buf(out, (int)len);
		PKCS7 *p7 = pem ? PEM_read_bio_PKCS7(bio, NULL, NULL, NULL) : d2i_PKCS7_bio(bio, NULL);
		assert_non_null(p7);
		assert_true(PKCS7_type_is_signed(p7));
		assert_int_equal(sk_X509_num(p7->d.sign->cert), 2);
		PKCS7_free(p7);
		BIO_free(bio);
		free(out);
	}
	ca_free(ca);
}

static void proof_of_possession_names_the_code(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct tenant_ca *ca = create_ca(NULL);
	const time_t now = T0 + DAY;
	_cleanup_free_ char *pop = ca_proof_of_possession_pem(ca, 0, "ABCDEF-0123456789abc", now, &err);
	assert_non_null(pop);
	_cleanup_free_ char *capem = ca_active_cert_pem(ca, now, &err);
	X509 *x = pem_to_x509(pop), *issuer = pem_to_x509(capem);
	char cn[256];
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "ABCDEF-0123456789abc");
	assert_int_equal(X509_verify(x, X509_get0_pubkey(issuer)), 1);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(x509_time(X509_get0_notAfter(x)) - now, CA_POP_VALIDITY_SECONDS);
	X509_free(x);
	X509_free(issuer);

	static const char *const bad[] = {"", "has space", "semi;colon", "CN=x,O=y", "ümlaut",
	                                  "0123456789012345678901234567890123456789012345678901234567890123X"};
	for (size_t i = 0; i < RP_ARRAY_SIZE(bad); i++) {
		rp_error_clear(&err);
		assert_null(ca_proof_of_possession_pem(ca, 0, bad[i], now, &err));
		assert_int_equal(err.code, RP_E_INVALID);
	}
	assert_null(ca_proof_of_possession_pem(ca, 0, NULL, now, &err));
	assert_null(ca_proof_of_possession_pem(ca, 2, "abc", now, &err));
	assert_int_equal(err.code, RP_E_NOT_FOUND);
	assert_true(ca_verification_code_is_valid("0123456789012345678901234567890123456789012345678901234567890123"));
	ca_free(ca);
}

/* --- CSR checks and device certificates --- */

static void device_certificate_profile(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct tenant_ca *ca = create_ca(NULL);
	const time_t now = T0 + 10 * DAY;
	EVP_PKEY *key = NULL;
	_cleanup_free_ char *csr = plain_csr(&key);
	_cleanup_free_ char *pem = ca_issue_device_cert(ca, csr, strlen(csr), DEVICE, CA_DEVICE_CERT_CLIENT, now, 0, &err);
	if (!pem)
		fail_msg("%s", err.message);
	X509 *x = pem_to_x509(pem);
	char cn[256];
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, DEVICE); /* the CSR said "some-other-device" */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), key), 1);
	assert_int_equal(x509_time(X509_get0_notBefore(x)), now - CA_CLOCK_SKEW_SECONDS);
	assert_int_equal(x509_time(X509_get0_notAfter(x)), now + 24 * 3600);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
	assert_non_null(X509_get0_subject_key_id(x));
	assert_non_null(X509_get0_authority_key_id(x));
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	assert_int_equal(serial->length, 16);
	assert_int_equal(serial->type, V_ASN1_INTEGER); /* positive */
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(sans), 2);
	GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, 0);
	assert_int_equal(gn->type, GEN_URI);
	assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
	                    "urn:rampart:tenant:" TENANT);
	gn = sk_GENERAL_NAME_value(sans, 1);
	assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
	                    "urn:rampart:device:" DEVICE);
	GENERAL_NAMES_free(sans);
	/* The profile, extension by extension and in this order: what relying parties and the
	 * service's own chain checks see. SKI is SHA-1 of the key bits (RFC 5280 method 1) and AKI
	 * names the issuing generation's SKI. */
	static const struct {
		int nid, critical;
	} profile[] = {{NID_basic_constraints, 1}, {NID_key_usage, 1},          {NID_ext_key_usage, 0},
	               {NID_subject_alt_name, 0},  {NID_subject_key_identifier, 0}, {NID_authority_key_identifier, 0}};
	assert_int_equal(X509_get_ext_count(x), (int)RP_ARRAY_SIZE(profile));
	for (size_t i = 0; i < RP_ARRAY_SIZE(profile); i++) {
		X509_EXTENSION *ext = X509_get_ext(x, (int)i);
		assert_int_equal(OBJ_obj2nid(X509_EXTENSION_get_object(ext)), profile[i].nid);
		assert_int_equal(X509_EXTENSION_get_critical(ext), profile[i].critical);
	}
	const unsigned char *bits = NULL;
	int nbits = 0;
	assert_int_equal(X509_PUBKEY_get0_param(NULL, &bits, &nbits, NULL, X509_get_X509_PUBKEY(x)), 1);
	unsigned char sha1[20];
	unsigned int sha1_len = 0;
	assert_int_equal(EVP_Digest(bits, (size_t)nbits, sha1, &sha1_len, EVP_sha1(), NULL), 1);
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
	assert_int_equal(ski->length, 20);
	assert_memory_equal(ski->data, sha1, 20);
	_cleanup_free_ char *ca_pem = ca_active_cert_pem(ca, now, &err);
	X509 *issuer = pem_to_x509(ca_pem);
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x), *issuer_ski = X509_get0_subject_key_id(issuer);
	assert_int_equal(ASN1_OCTET_STRING_cmp(aki, issuer_ski), 0);
	X509_free(issuer);
	X509_free(x);

	/* Client certificates may not speak to the device API; the device API credential may. */
	assert_int_equal(verify_device(ca, pem, CA_DEVICE_CERT_CLIENT, now), 0);
	assert_int_equal(verify_device(ca, pem, CA_DEVICE_CERT_DEVICE_API, now), -1);
	_cleanup_free_ char *api = issue(ca, CA_DEVICE_CERT_DEVICE_API, now);
	assert_int_equal(verify_device(ca, api, CA_DEVICE_CERT_DEVICE_API, now), 0);
	/* Not yet valid / expired. */
	assert_int_equal(verify_device(ca, pem, CA_DEVICE_CERT_CLIENT, now - 3600), -1);
	assert_int_equal(verify_device(ca, pem, CA_DEVICE_CERT_CLIENT, now + 24 * 3600 + 1), -1);

	/* Another tenant's CA does not accept it. */
	_cleanup_free_ char *other_dir = xasprintf("%s/other-%d", tmpdir, ++dir_counter);
	struct tenant_ca *other = ca_create(other_dir, "11111111-2222-3333-4444-555555555555", T0, &err);
	assert_non_null(other);
	assert_int_equal(verify_device(other, pem, CA_DEVICE_CERT_CLIENT, now), -1);
	ca_free(other);

	/* Bad parameters. */
	assert_null(ca_issue_device_cert(ca, csr, strlen(csr), "ABC", CA_DEVICE_CERT_CLIENT, now, 0, &err));
	assert_null(ca_issue_device_cert(ca, csr, strlen(csr), DEVICE, CA_DEVICE_CERT_CLIENT, now, 59, &err));
	assert_null(ca_issue_device_cert(ca, csr, strlen(csr), DEVICE, CA_DEVICE_CERT_CLIENT, now, 8 * 86400, &err));
	/* Never past the issuing CA's expiry. */
	const time_t late = T0 + CA_VALIDITY_SECONDS - 3600;
	_cleanup_free_ char *clamped =
	        ca_issue_device_cert(ca, csr, strlen(csr), DEVICE, CA_DEVICE_CERT_CLIENT, late, 0, &err);
	assert_non_null(clamped);
	x = pem_to_x509(clamped);
	assert_int_equal(x509_time(X509_get0_notAfter(x)), T0 + CA_VALIDITY_SECONDS);
	X509_free(x);
	EVP_PKEY_free(key);
	ca_free(ca);
}

static void csr_refusals(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *p256 = NULL;
	_cleanup_free_ char *good = plain_csr(&p256);
	EVP_PKEY *k = ca_csr_check(good, strlen(good), &err);
	assert_non_null(k);
	EVP_PKEY_free(k);

	/* Allowed extensions, asking for no more than we grant. */
	{
		const int nids[] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage};
		const char *const vals[] = {"critical,CA:FALSE", "critical,digitalSignature", "clientAuth"};
		_cleanup_free_ char *csr = make_csr(p256, EVP_sha256(), nids, vals, 3, false);
		k = ca_csr_check(csr, strlen(csr), &err);
		if (!k)
			fail_msg("%s", err.message);
		EVP_PKEY_free(k);
	}
	struct {
		int nid;
		const char *value;
		enum rp_errc code;
	} bad_ext[] = {
		{NID_subject_alt_name, "URI:urn:rampart:tenant:00000000-0000-0000-0000-000000000000", RP_E_PERMISSION},
		{NID_subject_alt_name, "DNS:evil.example", RP_E_PERMISSION},
		{NID_basic_constraints, "critical,CA:TRUE", RP_E_PERMISSION},
		{NID_key_usage, "digitalSignature,keyCertSign", RP_E_PERMISSION},
		{NID_ext_key_usage, "clientAuth,serverAuth", RP_E_PERMISSION},
		{NID_ext_key_usage, "codeSigning", RP_E_PERMISSION},
		{NID_netscape_comment, "hello", RP_E_PERMISSION},
		{NID_subject_key_identifier, "0102030405", RP_E_PERMISSION},
	};
	for (size_t i = 0; i < RP_ARRAY_SIZE(bad_ext); i++) {
		_cleanup_free_ char *csr = make_csr(p256, EVP_sha256(), &bad_ext[i].nid, &bad_ext[i].value, 1, false);
		rp_error_clear(&err);
		assert_null(ca_csr_check(csr, strlen(csr), &err));
		assert_int_equal(err.code, bad_ext[i].code);
	}
	{
		const int nids[] = {NID_key_usage, NID_key_usage};
		const char *const vals[] = {"digitalSignature", "digitalSignature"};
		_cleanup_free_ char *csr = make_csr(p256, EVP_sha256(), nids, vals, 2, false);
		assert_null(ca_csr_check(csr, strlen(csr), &err));
	}
	{
		_cleanup_free_ char *csr = make_csr(p256, EVP_sha256(), NULL, NULL, 0, true);
		rp_error_clear(&err);
		assert_null(ca_csr_check(csr, strlen(csr), &err));
		assert_int_equal(err.code, RP_E_PERMISSION);
	}
	/* Wrong digest. */
	{
		_cleanup_free_ char *csr = make_csr(p256, EVP_sha384(), NULL, NULL, 0, false);
		rp_error_clear(&err);
		assert_null(ca_csr_check(csr, strlen(csr), &err));
		assert_int_equal(err.code, RP_E_UNSUPPORTED);
	}
	/* Wrong key types. */
	{
		EVP_PKEY *p384 = EVP_EC_gen("P-384");
		EVP_PKEY *rsa = EVP_RSA_gen(2048);
		EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		assert_non_null(p384);
		assert_non_null(rsa);
		assert_non_null(ed);
		_cleanup_free_ char *c1 = make_csr(p384, EVP_sha256(), NULL, NULL, 0, false);
		_cleanup_free_ char *c2 = make_csr(rsa, EVP_sha256(), NULL, NULL, 0, false);
		_cleanup_free_ char *c3 = make_csr(ed, NULL, NULL, NULL, 0, false);
		const char *csrs[] = {c1, c2, c3};
		for (size_t i = 0; i < 3; i++) {
			rp_error_clear(&err);
			assert_null(ca_csr_check(csrs[i], strlen(csrs[i]), &err));
			assert_int_equal(err.code, RP_E_UNSUPPORTED);
		}
		EVP_PKEY_free(p384);
		EVP_PKEY_free(rsa);
		EVP_PKEY_free(ed);
	}
	/* Signature by another key: swap the public key after signing by re-encoding is hard, so
	 * flip a byte inside the base64 signature tail instead. */
	{
		_cleanup_free_ char *csr = xstrdup(good);
		char *end = strstr(csr, "-----END");
		assert_non_null(end);
		char *p = end - 6;
		*p = *p == 'A' ? 'B' : 'A';
		rp_error_clear(&err);
		assert_null(ca_csr_check(csr, strlen(csr), &err));
	}
	/* Garbage, empty, NUL, oversize. */
	assert_null(ca_csr_check("hello", 5, &err));
	assert_null(ca_csr_check("", 0, &err));
	assert_null(ca_csr_check(good, strlen(good) + 1, &err)); /* includes the NUL */
	assert_int_equal(err.code, RP_E_INVALID);
	_cleanup_free_ char *big = xmalloc(CA_CSR_MAX_LEN + 2);
	memset(big, 'A', CA_CSR_MAX_LEN + 1);
	big[CA_CSR_MAX_LEN + 1] = 0;
	assert_null(ca_csr_check(big, CA_CSR_MAX_LEN + 1, &err));
	assert_int_equal(err.code, RP_E_LIMIT);
	EVP_PKEY_free(p256);
}

/* --- hostile state directory --- */

/* PEM of a CSR whose DER went through EDIT (which may change the length by at most +16). */
static char *csr_edited(const char *pem, size_t (*edit)(uint8_t *der, size_t len))
{
	BIO *in = BIO_new_mem_buf(pem, -1);
	unsigned char *der = NULL;
	char *name = NULL, *header = NULL;
	long len = 0;
	assert_int_equal(PEM_read_bio(in, &name, &header, &der, &len), 1);
	BIO_free(in);
	uint8_t *buf = xmalloc((size_t)len + 16);
	memcpy(buf, der, (size_t)len);
	size_t n = edit(buf, (size_t)len);
	BIO *out = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio(out, name, header, buf, (long)n) > 0);
	char *mem = NULL;
	long m = BIO_get_mem_data(out, &mem);
	char *res = xstrndup(mem, (size_t)m);
	BIO_free(out);
	OPENSSL_free(der);
	OPENSSL_free(name);
	OPENSSL_free(header);
	free(buf);
	return res;
}

/* The uncompressed point's last byte (the Y coordinate), changed: no longer on the curve. */
static size_t move_point_off_curve(uint8_t *der, size_t len)
{
	static const uint8_t prime256v1[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04};
	for (size_t i = 0; i + sizeof(prime256v1) + 64 <= len; i++)
		if (memcmp(der + i, prime256v1, sizeof(prime256v1)) == 0) {
			der[i + sizeof(prime256v1) + 63] ^= 0x01;
			return len;
		}
	fail_msg("no P-256 point in the CSR");
	return len;
}

/* Bytes after the CertificationRequest. */
static size_t append_trailing(uint8_t *der, size_t len)
{
	der[len] = 0x00;
	der[len + 1] = 0x00;
	return len + 2;
}

/* The CSR reader takes a P-256 key apart without OpenSSL's decoders: a point off the curve and
 * trailing bytes are refused, and the key it returns is the CSR's. */
static void csr_key_import_is_checked(void **state)
{
	(void)state;
	EVP_PKEY *p256 = EVP_EC_gen("P-256");
	assert_non_null(p256);
	_cleanup_free_ char *good = make_csr(p256, EVP_sha256(), NULL, NULL, 0, false);
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *k = ca_csr_check(good, strlen(good), &err);
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_eq(k, p256), 1);
	EVP_PKEY_free(k);
	_cleanup_free_ char *off = csr_edited(good, move_point_off_curve);
	assert_null(ca_csr_check(off, strlen(off), &err));
	assert_int_equal(err.code, RP_E_INVALID);
	assert_non_null(strstr(err.message, "not a valid P-256 point"));
	rp_error_clear(&err);
	_cleanup_free_ char *trail = csr_edited(good, append_trailing);
	assert_null(ca_csr_check(trail, strlen(trail), &err));
	assert_non_null(strstr(err.message, "not a PEM certificate request"));
	EVP_PKEY_free(p256);
}

static void tampered_state_is_refused(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *dir = NULL;
	struct tenant_ca *ca = create_ca(&dir);
	assert_int_equal(ca_ensure_successor(ca, T0 + CA_VALIDITY_SECONDS - CA_RENEW_BEFORE_SECONDS, &err), 1);
	ca_free(ca);
	_cleanup_free_ char *k1 = xasprintf("%s/gen-1.key.pem", dir);
	_cleanup_free_ char *k2 = xasprintf("%s/gen-2.key.pem", dir);
	_cleanup_free_ char *c1 = xasprintf("%s/gen-1.cert.pem", dir);
	_cleanup_free_ char *c2 = xasprintf("%s/gen-2.cert.pem", dir);
	_cleanup_free_ char *idx = xasprintf("%s/index.json", dir);
	_cleanup_free_ uint8_t *k1data = NULL, *c1data = NULL, *idxdata = NULL, *c2data = NULL, *k2data = NULL;
	size_t k1len = 0, c1len = 0, idxlen = 0, c2len = 0, k2len = 0;
	assert_int_equal(rp_read_file(k1, 8192, &k1data, &k1len, &err), 0);
	assert_int_equal(rp_read_file(k2, 8192, &k2data, &k2len, &err), 0);
	assert_int_equal(rp_read_file(c1, 8192, &c1data, &c1len, &err), 0);
	assert_int_equal(rp_read_file(c2, 8192, &c2data, &c2len, &err), 0);
	assert_int_equal(rp_read_file(idx, 65536, &idxdata, &idxlen, &err), 0);

	/* Key of the wrong generation. */
	assert_int_equal(rp_write_file_atomic(k1, k2data, k2len, 0600, &err), 0);
	assert_null(ca_open(dir, TENANT, &err));
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_int_equal(rp_write_file_atomic(k1, k1data, k1len, 0600, &err), 0);
	/* Passphrase-protected key: refused, with no prompt. */
	assert_int_equal(run("openssl pkey -in %s -aes256 -passout pass:x -out %s.enc && mv %s.enc %s && chmod 600 %s",
	                     k1, k1, k1, k1, k1),
	                 0);
	assert_null(ca_open(dir, TENANT, &err));
	assert_non_null(strstr(err.message, "does not hold a PEM private key"));
	assert_int_equal(rp_write_file_atomic(k1, k1data, k1len, 0600, &err), 0);
	/* Readable key. */
	assert_int_equal(chmod(k1, 0644), 0);
	assert_null(ca_open(dir, TENANT, &err));
	assert_int_equal(err.code, RP_E_PERMISSION);
	assert_int_equal(chmod(k1, 0600), 0);
	/* Certificate swapped for another one. */
	assert_int_equal(rp_write_file_atomic(c1, c2data, c2len, 0644, &err), 0);
	assert_null(ca_open(dir, TENANT, &err));
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_int_equal(rp_write_file_atomic(c1, c1data, c1len, 0644, &err), 0);
	/* Index edits: unknown field, wrong dates, too big, symlink. */
	write_text(idx, "{\"format\":1,\"tenant_id\":\"" TENANT "\",\"generations\":[],\"x\":1}");
	assert_null(ca_open(dir, TENANT, &err));
	write_text(idx, "{\"format\":1,\"tenant_id\":\"" TENANT "\",\"generations\":[]}");
	assert_null(ca_open(dir, TENANT, &err));
	write_text(idx, "not json");
	assert_null(ca_open(dir, TENANT, &err));
	{
		_cleanup_free_ char *huge = xmalloc(70000);
		memset(huge, ' ', 69999);
		huge[69999] = 0;
		write_text(idx, huge);
		assert_null(ca_open(dir, TENANT, &err));
		assert_int_equal(err.code, RP_E_LIMIT);
	}
	/* Change not_after in the index only. */
	{
		_cleanup_free_ char *text = xstrndup((const char *)idxdata, idxlen);
		char *p = strstr(text, "\"not_after\":");
		assert_non_null(p);
		p += strlen("\"not_after\":");
		*p = *p == '1' ? '2' : '1';
		write_text(idx, text);
		assert_null(ca_open(dir, TENANT, &err));
	}
	assert_int_equal(unlink(idx), 0);
	_cleanup_free_ char *elsewhere = xasprintf("%s/elsewhere.json", tmpdir);
	assert_int_equal(rp_write_file_atomic(elsewhere, idxdata, idxlen, 0600, &err), 0);
	assert_int_equal(symlink(elsewhere, idx), 0);
	assert_null(ca_open(dir, TENANT, &err));
	assert_int_equal(unlink(idx), 0);
	/* Restored: opens again. */
	assert_int_equal(rp_write_file_atomic(idx, idxdata, idxlen, 0600, &err), 0);
	ca = ca_open(dir, TENANT, &err);
	if (!ca)
		fail_msg("%s", err.message);
	ca_free(ca);
	/* Directory writable by others. */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_null(ca_open(dir, TENANT, &err));
	assert_int_equal(err.code, RP_E_PERMISSION);
	assert_int_equal(chmod(dir, 0700), 0);
}

/* --- the real openssl command --- */

static void openssl_cli_accepts_everything(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *dir = NULL;
	struct tenant_ca *ca = create_ca(&dir);
	const time_t renew = T0 + CA_VALIDITY_SECONDS - CA_RENEW_BEFORE_SECONDS;
	const time_t switched = renew + CA_ACTIVATE_AFTER_SECONDS;
	assert_int_equal(ca_ensure_successor(ca, renew, &err), 1);
	_cleanup_free_ char *out = xasprintf("%s/cli-%d", tmpdir, ++dir_counter);
	assert_int_equal(rp_mkdir_p(out, 0700, &err), 0);

	_cleanup_free_ char *chain = ca_chain_pem(ca, switched, &err);
	_cleanup_free_ char *leaf1 = issue(ca, CA_DEVICE_CERT_CLIENT, switched - 60);
	_cleanup_free_ char *leaf2 = issue(ca, CA_DEVICE_CERT_DEVICE_API, switched);
	_cleanup_free_ char *pop = ca_proof_of_possession_pem(ca, 0, "VERIFY-me-123", switched, &err);
	_cleanup_free_ char *pop1 = ca_proof_of_possession_pem(ca, 1, "VERIFY-me-123", switched, &err);
	assert_non_null(pop);
	assert_non_null(pop1);
	_cleanup_free_ char *active = ca_active_cert_pem(ca, switched, &err);
	uint8_t *p7 = NULL;
	size_t p7len = 0;
	assert_int_equal(ca_chain_pkcs7(ca, switched, false, &p7, &p7len, &err), 0);
	_cleanup_free_ char *p7path = xasprintf("%s/chain.p7b", out);
	assert_int_equal(rp_write_file_atomic(p7path, p7, p7len, 0644, &err), 0);
	free(p7);
	assert_int_equal(ca_chain_pkcs7(ca, switched, true, &p7, &p7len, &err), 0);
	_cleanup_free_ char *p7pem = xasprintf("%s/chain.p7.pem", out);
	assert_int_equal(rp_write_file_atomic(p7pem, p7, p7len, 0644, &err), 0);
	free(p7);

	const struct {
		const char *name, *text;
	} files[] = {{"chain.pem", chain}, {"leaf1.pem", leaf1}, {"leaf2.pem", leaf2},
	             {"pop.pem", pop},     {"pop1.pem", pop1},   {"active.pem", active}};
	for (size_t i = 0; i < RP_ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", out, files[i].name);
		write_text(p, files[i].text);
	}
	const long long at = (long long)switched + 600;
	/* Leaves from both generations, with the whole chain and X.509 strict checks. */
	assert_int_equal(run("cd %s && openssl verify -x509_strict -purpose sslclient -attime %lld -CAfile chain.pem "
	                     "leaf1.pem leaf2.pem pop.pem pop1.pem >/dev/null",
	                     out, at),
	                 0);
	/* The active CA alone accepts the leaf it issued and refuses the one gen 1 issued. */
	assert_int_equal(run("cd %s && openssl verify -x509_strict -attime %lld -CAfile active.pem leaf2.pem >/dev/null",
	                     out, at),
	                 0);
	assert_int_not_equal(run("cd %s && openssl verify -attime %lld -CAfile active.pem leaf1.pem >/dev/null 2>&1",
	                         out, at),
	                     0);
	/* Expired a day later. */
	assert_int_not_equal(run("cd %s && openssl verify -attime %lld -CAfile chain.pem leaf1.pem >/dev/null 2>&1", out,
	                         at + 2 * DAY),
	                     0);
	/* The CA certificate itself verifies as a root. */
	assert_int_equal(run("cd %s && openssl verify -x509_strict -attime %lld -CAfile active.pem active.pem >/dev/null",
	                     out, at),
	                 0);
	/* PKCS#7, DER and PEM, through the openssl tool. */
	assert_int_equal(run("cd %s && test $(openssl pkcs7 -inform DER -in chain.p7b -print_certs | grep -c 'BEGIN CERT') "
	                     "-eq 2",
	                     out),
	                 0);
	assert_int_equal(run("cd %s && test $(openssl pkcs7 -in chain.p7.pem -print_certs | grep -c 'BEGIN CERT') -eq 2",
	                     out),
	                 0);
	/* The PoP leaf carries the verification code as its CN. */
	assert_int_equal(run("cd %s && openssl x509 -in pop.pem -noout -subject | grep -q 'CN *= *VERIFY-me-123'", out),
	                 0);
	ca_free(ca);
}

static void tls_server_certificate(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *key = rp_key_generate_p256(&err);
	const char *const sans[] = {"localhost", "127.0.0.1", "::1"};
	X509 *x = tls_cert_self_signed(key, sans, 3, 30, T0, &err);
	if (!x)
		fail_msg("%s", err.message);
	assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
	assert_int_equal(X509_check_host(x, "evil.example", 0, 0, NULL), 0);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	assert_int_equal(x509_time(X509_get0_notAfter(x)), T0 + 30 * DAY);
	X509_free(x);
	const char *const bad[] = {"a,DNS:evil"};
	assert_null(tls_cert_self_signed(key, bad, 1, 30, T0, &err));
	assert_int_equal(err.code, RP_E_INVALID);
	assert_null(tls_cert_self_signed(key, sans, 0, 30, T0, &err));
	assert_null(tls_cert_self_signed(key, sans, 1, 10000, T0, &err));
	_cleanup_free_ char *pem = tls_cert_self_signed_pem(key, sans, 1, 1, T0, &err);
	assert_non_null(pem);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_open_and_refuse_second_create),
		cmocka_unit_test(ca_certificate_profile),
		cmocka_unit_test(successor_created_90_days_before_and_active_45_days_after),
		cmocka_unit_test(successor_is_immediate_when_nothing_can_sign),
		cmocka_unit_test(second_handle_sees_successor_and_does_not_duplicate),
		cmocka_unit_test(pkcs7_chain_holds_every_trusted_generation),
		cmocka_unit_test(proof_of_possession_names_the_code),
		cmocka_unit_test(device_certificate_profile),
		cmocka_unit_test(csr_refusals),
		cmocka_unit_test(csr_key_import_is_checked),
		cmocka_unit_test(tampered_state_is_refused),
		cmocka_unit_test(openssl_cli_accepts_everything),
		cmocka_unit_test(tls_server_certificate),
	};
	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
