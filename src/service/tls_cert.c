/* Self-signed TLS server certificates for rampartd (see tls_cert.h). */
#include "service/tls_cert.h"

#include <string.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/crypto.h"
#include "common/xalloc.h"

RP_DEFINE_CLEANUP(BIGNUM, BN_free)
RP_DEFINE_CLEANUP(X509_NAME, X509_NAME_free)

/* A SAN must be a plain host name or an IP literal: anything with ',' or ':' that is not an
 * address would be read by OpenSSL's config syntax as another field. */
static bool san_is_hostname(const char *s)
{
	size_t n = strnlen(s, 254);
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      (c == '*' && i == 0)))
			return false;
	}
	return true;
}

static int add_ext(X509 *cert, int nid, const char *value, rp_error *err)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	int ok = ext && X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok)
		return rp_error_set_openssl(err, "adding extension %s", OBJ_nid2sn(nid));
	return 0;
}

X509 *tls_cert_self_signed(EVP_PKEY *key, const char *const *sans, size_t nsans, int days, time_t now, rp_error *err)
{
	if (!key || !rp_key_is_p256(key))
		return rp_error_set(err, RP_E_UNSUPPORTED, "TLS key must be an ECDSA P-256 key"), NULL;
	if (nsans < 1 || nsans > TLS_CERT_MAX_SANS)
		return rp_error_set(err, RP_E_INVALID, "give 1 to %d host names or addresses", TLS_CERT_MAX_SANS), NULL;
	if (days < 1 || days > TLS_CERT_MAX_DAYS)
		return rp_error_set(err, RP_E_INVALID, "TLS certificate lifetime must be 1 to %d days", TLS_CERT_MAX_DAYS),
		       NULL;
	size_t cap = 1;
	for (size_t i = 0; i < nsans; i++)
		cap += (sans[i] ? strnlen(sans[i], 300) : 0) + 8;
	_cleanup_free_ char *san = xcalloc(1, cap);
	size_t used = 0;
	for (size_t i = 0; i < nsans; i++) {
		if (!sans[i])
			return rp_error_set(err, RP_E_INVALID, "host name %zu is missing", i), NULL;
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(sans[i]);
		bool is_ip = ip != NULL;
		ASN1_OCTET_STRING_free(ip);
		if (!is_ip && !san_is_hostname(sans[i]))
			return rp_error_set(err, RP_E_INVALID, "'%.64s' is neither a host name nor an IP address", sans[i]), NULL;
		used += (size_t)snprintf(san + used, cap - used, "%s%s:%s", i ? "," : "", is_ip ? "IP" : "DNS", sans[i]);
	}
	_cleanup_x509_ X509 *cert = X509_new();
	_cleanup_(X509_NAME_freep) X509_NAME *name = X509_NAME_new();
	uint8_t rnd[16];
	if (rp_random_bytes(rnd, sizeof(rnd), err) < 0)
		return NULL;
	rnd[0] = (uint8_t)((rnd[0] & 0x7f) | 0x40);
	_cleanup_(BN_freep) BIGNUM *bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	if (!cert || !name || !bn || X509_set_version(cert, X509_VERSION_3) != 1 ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)sans[0], -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"Rampart", -1, -1, 0) != 1 ||
	    X509_set_subject_name(cert, name) != 1 || X509_set_issuer_name(cert, name) != 1 ||
	    !ASN1_TIME_set(X509_getm_notBefore(cert), now - 300) ||
	    !ASN1_TIME_set(X509_getm_notAfter(cert), now + (time_t)days * 86400) || X509_set_pubkey(cert, key) != 1)
		return rp_error_set_openssl(err, "building TLS certificate"), NULL;
	if (add_ext(cert, NID_basic_constraints, "critical,CA:FALSE", err) < 0 ||
	    add_ext(cert, NID_key_usage, "critical,digitalSignature", err) < 0 ||
	    add_ext(cert, NID_ext_key_usage, "serverAuth", err) < 0 || add_ext(cert, NID_subject_alt_name, san, err) < 0 ||
	    add_ext(cert, NID_subject_key_identifier, "hash", err) < 0)
		return NULL;
	if (X509_sign(cert, key, EVP_sha256()) <= 0)
		return rp_error_set_openssl(err, "signing TLS certificate"), NULL;
	return steal_ptr(cert);
}

char *tls_cert_self_signed_pem(EVP_PKEY *key, const char *const *sans, size_t nsans, int days, time_t now,
                               rp_error *err)
{
	_cleanup_x509_ X509 *cert = tls_cert_self_signed(key, sans, nsans, days, now, err);
	if (!cert)
		return NULL;
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long len = 0;
	if (!bio || PEM_write_bio_X509(bio, cert) != 1 || (len = BIO_get_mem_data(bio, &data)) <= 0)
		return rp_error_set_openssl(err, "encoding TLS certificate"), NULL;
	return xstrndup(data, (size_t)len);
}
