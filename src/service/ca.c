/* Per-tenant certificate authority (see ca.h): generations, rollover, chain downloads,
 * proof-of-possession and device certificates, stored in one directory treated as hostile input. */
#include "service/ca.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/xalloc.h"

#define INDEX_NAME "index.json"
#define LOCK_NAME "lock"
#define INDEX_MAX (64u * 1024)
#define CERT_FILE_MAX (16u * 1024)
#define KEY_FILE_MAX (8u * 1024)
#define INDEX_FORMAT 1
#define TIME_MAX_ACCEPTED 253402300799LL /* 9999-12-31T23:59:59Z, the end of X.509 time */

RP_DEFINE_CLEANUP(X509_STORE, X509_STORE_free)
RP_DEFINE_CLEANUP(X509_STORE_CTX, X509_STORE_CTX_free)
RP_DEFINE_CLEANUP(PKCS7, PKCS7_free)
RP_DEFINE_CLEANUP(BIGNUM, BN_free)
RP_DEFINE_CLEANUP(X509_NAME, X509_NAME_free)
RP_DEFINE_CLEANUP(GENERAL_NAMES, GENERAL_NAMES_free)
RP_DEFINE_CLEANUP(EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free)

/* The extensions every leaf of a generation carries unchanged, built once when the generation is
 * loaded: X509V3_EXT_conf_nid() parses its value string on every call, which cost more than the
 * certificate's signature. Read-only afterwards (X509_add_ext copies), so threads share them. */
enum leaf_ext {
	LEAF_EXT_BASIC_CONSTRAINTS,
	LEAF_EXT_KEY_USAGE,
	LEAF_EXT_EKU_CLIENT,
	LEAF_EXT_EKU_DEVICE_API,
	LEAF_EXT_AUTHORITY_KEY_ID,
	LEAF_EXT_COUNT
};

struct ca_gen {
	int generation;
	X509 *cert;
	EVP_PKEY *key;
	char *pem;
	char fingerprint[65];
	char serial[41];
	time_t not_before, not_after, activates_at;
	X509_EXTENSION *leaf_ext[LEAF_EXT_COUNT];
};

struct tenant_ca {
	int dirfd;
	char *dir;
	char tenant_id[RP_GUID_STRLEN + 1];
	struct ca_gen *gens; /* ascending by generation, gens[i].generation == i + 1 */
	size_t n;
};

const char *ca_status_name(enum ca_cert_status status)
{
	switch (status) {
	case CA_STATUS_ACTIVE: return "active";
	case CA_STATUS_PENDING: return "pending";
	case CA_STATUS_RETIRED: return "retired";
	case CA_STATUS_EXPIRED: return "expired";
	}
	return "unknown";
}

bool ca_verification_code_is_valid(const char *code)
{
	size_t n = code ? strnlen(code, CA_VERIFICATION_CODE_MAX + 1) : 0;
	if (n < 1 || n > CA_VERIFICATION_CODE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = code[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

bool ca_device_id_is_valid(const char *device_id)
{
	if (!device_id || strnlen(device_id, CA_DEVICE_ID_LEN + 1) != CA_DEVICE_ID_LEN)
		return false;
	for (size_t i = 0; i < CA_DEVICE_ID_LEN; i++) {
		char c = device_id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

const char *ca_tenant_id(const struct tenant_ca *ca)
{
	return ca->tenant_id;
}

static void gen_clear(struct ca_gen *g)
{
	for (size_t i = 0; i < LEAF_EXT_COUNT; i++)
		X509_EXTENSION_free(g->leaf_ext[i]);
	X509_free(g->cert);
	EVP_PKEY_free(g->key);
	free(g->pem);
	memset(g, 0, sizeof(*g));
}

static void gens_free(struct ca_gen *gens, size_t n)
{
	for (size_t i = 0; i < n; i++)
		gen_clear(&gens[i]);
	free(gens);
}

void ca_free(struct tenant_ca *ca)
{
	if (!ca)
		return;
	gens_free(ca->gens, ca->n);
	if (ca->dirfd >= 0)
		close(ca->dirfd);
	free(ca->dir);
	free(ca);
}

/* ---- small X.509 helpers ---- */

static int asn1_to_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return 0;
}

static char *x509_to_pem(X509 *cert, rp_error *err)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_X509(bio, cert) != 1) {
		rp_error_set_openssl(err, "encoding certificate as PEM");
		return NULL;
	}
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	if (len <= 0) {
		rp_error_set_openssl(err, "encoding certificate as PEM");
		return NULL;
	}
	return xstrndup(data, (size_t)len);
}

static int x509_fingerprint(X509 *cert, char out[65], rp_error *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != RP_SHA256_LEN)
		return rp_error_set_openssl(err, "hashing certificate");
	_cleanup_free_ char *hex = rp_hex_encode(md, mdlen);
	memcpy(out, hex, 65);
	return 0;
}

static int x509_serial_hex(X509 *cert, char out[41], rp_error *err)
{
	_cleanup_(BN_freep) BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	if (!bn || BN_is_negative(bn) || BN_num_bytes(bn) > 20)
		return rp_error_set(err, RP_E_INVALID, "certificate serial number is negative or longer than 20 bytes");
	uint8_t buf[20];
	int n = BN_bn2bin(bn, buf);
	_cleanup_free_ char *hex = rp_hex_encode(buf, (size_t)n);
	snprintf(out, 41, "%s", hex);
	return 0;
}

/* 128-bit random positive serial (CA/Browser Forum asks for at least 64 bits of entropy). */
static int set_random_serial(X509 *cert, rp_error *err)
{
	uint8_t buf[16];
	if (rp_random_bytes(buf, sizeof(buf), err) < 0)
		return -1;
	buf[0] = (uint8_t)((buf[0] & 0x7f) | 0x40); /* positive and always 16 bytes long */
	_cleanup_(BN_freep) BIGNUM *bn = BN_bin2bn(buf, sizeof(buf), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
		return rp_error_set_openssl(err, "setting serial number");
	return 0;
}

/* An extension built from its configuration string against ISSUER and SUBJECT (NULL for the leaf
 * extensions built once per generation: none of them depends on the subject). */
static X509_EXTENSION *ext_build(X509 *issuer, X509 *subject, int nid, const char *value, rp_error *err)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		rp_error_set_openssl(err, "building extension %s", OBJ_nid2sn(nid));
	return ext;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value, rp_error *err)
{
	X509_EXTENSION *ext = ext_build(issuer, cert, nid, value, err);
	if (!ext)
		return -1;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok)
		return rp_error_set_openssl(err, "adding extension %s", OBJ_nid2sn(nid));
	return 0;
}


static int leaf_ext_add(X509 *cert, const struct ca_gen *g, enum leaf_ext which, rp_error *err)
{
	if (X509_add_ext(cert, g->leaf_ext[which], -1) != 1)
		return rp_error_set_openssl(err, "adding extension %s",
		                            OBJ_nid2sn(OBJ_obj2nid(X509_EXTENSION_get_object(g->leaf_ext[which]))));
	return 0;
}

/* subjectKeyIdentifier as the "hash" method makes it: SHA-1 of the subjectPublicKey BIT STRING
 * (RFC 5280 4.2.1.2, method 1), computed here rather than by a configuration-string round trip. */
static int leaf_add_subject_key_id(X509 *cert, rp_error *err)
{
	const unsigned char *pk = NULL;
	int pklen = 0;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
	int ok = id && X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, X509_get_X509_PUBKEY(cert)) == 1 && pk &&
	         pklen > 0 && EVP_Digest(pk, (size_t)pklen, md, &mdlen, EVP_sha1(), NULL) == 1 &&
	         ASN1_OCTET_STRING_set(id, md, (int)mdlen) == 1 &&
	         X509_add1_ext_i2d(cert, NID_subject_key_identifier, id, 0, X509V3_ADD_APPEND) == 1;
	ASN1_OCTET_STRING_free(id);
	if (!ok)
		return rp_error_set_openssl(err, "building extension subjectKeyIdentifier");
	return 0;
}

/* subjectAltName: the tenant and device URIs (the CA, not the CSR, names the device). */
static int leaf_add_alt_names(X509 *cert, const char *tenant_id, const char *device_id, rp_error *err)
{
	_cleanup_free_ char *tenant_uri = xasprintf(CA_URI_TENANT_PREFIX "%s", tenant_id);
	_cleanup_free_ char *device_uri = xasprintf(CA_URI_DEVICE_PREFIX "%s", device_id);
	const char *uris[] = {tenant_uri, device_uri};
	_cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	if (!names)
		return rp_error_set_openssl(err, "building extension subjectAltName");
	for (size_t i = 0; i < RP_ARRAY_SIZE(uris); i++) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_IA5STRING *uri = ASN1_IA5STRING_new();
		if (!gn || !uri || ASN1_STRING_set(uri, uris[i], -1) != 1) {
			GENERAL_NAME_free(gn);
			ASN1_IA5STRING_free(uri);
			return rp_error_set_openssl(err, "building extension subjectAltName");
		}
		GENERAL_NAME_set0_value(gn, GEN_URI, uri);
		if (!sk_GENERAL_NAME_push(names, gn)) {
			GENERAL_NAME_free(gn);
			return rp_error_set_openssl(err, "building extension subjectAltName");
		}
	}
	if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_APPEND) != 1)
		return rp_error_set_openssl(err, "adding extension subjectAltName");
	return 0;
}

static X509_NAME *name_build(const char *cn, const char *org, rp_error *err)
{
	X509_NAME *name = X509_NAME_new();
	if (!name || X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    (org && X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8, (const unsigned char *)org, -1, -1,
	                                       0) != 1)) {
		X509_NAME_free(name);
		rp_error_set_openssl(err, "building subject name");
		return NULL;
	}
	return name;
}

/* X509_set_pubkey() round-trips a provider key through an encoder and then a decoder, which in
 * OpenSSL 3.0 costs more than the ECDSA signature on the certificate. A named-curve P-256 key's
 * SubjectPublicKeyInfo is fixed apart from the point (the same DER the encoder writes), so set it
 * from the point directly; any other key takes the general path. Only for a certificate that is
 * signed and encoded, never used in memory: X509_get0_pubkey() on it would find no decoded key. */
static int cert_set_pubkey(X509 *cert, EVP_PKEY *pub, bool encode_only)
{
	unsigned char pt[65];
	size_t ptlen = 0;
	char enc[32] = "";
	if (encode_only && rp_key_is_p256(pub) &&
	    EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc), NULL) == 1 &&
	    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) == 0 &&
	    EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt), &ptlen) == 1 &&
	    ptlen == sizeof(pt) && pt[0] == 0x04) {
		unsigned char *penc = OPENSSL_memdup(pt, ptlen);
		if (penc && X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
		                                   V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1), penc, (int)ptlen) == 1)
			return 1;
		OPENSSL_free(penc);
		return 0;
	}
	ERR_clear_error();
	return X509_set_pubkey(cert, pub);
}

/* A certificate skeleton: v3, random serial, subject, issuer, validity, public key. LEAF: the
 * certificate is only signed and encoded (see cert_set_pubkey). */
static X509 *cert_skeleton(X509_NAME *subject, X509 *issuer, EVP_PKEY *pubkey, time_t not_before, time_t not_after,
                           bool leaf, rp_error *err)
{
	_cleanup_x509_ X509 *cert = X509_new();
	if (!cert || X509_set_version(cert, X509_VERSION_3) != 1 || X509_set_subject_name(cert, subject) != 1 ||
	    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
	    !ASN1_TIME_set(X509_getm_notBefore(cert), not_before) || !ASN1_TIME_set(X509_getm_notAfter(cert), not_after) ||
	    cert_set_pubkey(cert, pubkey, leaf) != 1) {
		rp_error_set_openssl(err, "building certificate");
		return NULL;
	}
	if (set_random_serial(cert, err) < 0)
		return NULL;
	return steal_ptr(cert);
}

static int cert_sign(X509 *cert, EVP_PKEY *key, rp_error *err)
{
	if (X509_sign(cert, key, EVP_sha256()) <= 0)
		return rp_error_set_openssl(err, "signing certificate");
	return 0;
}

/* ---- generations ---- */

static char *ca_subject_cn(const char *tenant_id, int generation)
{
	return xasprintf("Rampart Tenant CA %s %d", tenant_id, generation);
}

static X509 *ca_cert_build(const char *tenant_id, int generation, EVP_PKEY *key, time_t not_before, time_t not_after,
                           rp_error *err)
{
	_cleanup_free_ char *cn = ca_subject_cn(tenant_id, generation);
	_cleanup_(X509_NAME_freep) X509_NAME *name = name_build(cn, "Rampart", err);
	if (!name)
		return NULL;
	_cleanup_x509_ X509 *cert = cert_skeleton(name, NULL, key, not_before, not_after, false, err);
	if (!cert)
		return NULL;
	/* A tenant CA signs end-entity certificates only: pathlen 0 stops it from minting sub-CAs
	 * that relying parties would then trust. */
	if (add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err) < 0 ||
	    add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign", err) < 0 ||
	    add_ext(cert, cert, NID_subject_key_identifier, "hash", err) < 0 ||
	    add_ext(cert, cert, NID_authority_key_identifier, "keyid:always", err) < 0 || cert_sign(cert, key, err) < 0)
		return NULL;
	return steal_ptr(cert);
}

static int gen_fill_derived(struct ca_gen *g, rp_error *err)
{
	if (x509_fingerprint(g->cert, g->fingerprint, err) < 0 || x509_serial_hex(g->cert, g->serial, err) < 0)
		return -1;
	static const struct {
		int nid;
		const char *value;
	} leaf_exts[LEAF_EXT_COUNT] = {
		[LEAF_EXT_BASIC_CONSTRAINTS] = {NID_basic_constraints, "critical,CA:FALSE"},
		[LEAF_EXT_KEY_USAGE] = {NID_key_usage, "critical,digitalSignature"},
		[LEAF_EXT_EKU_CLIENT] = {NID_ext_key_usage, "clientAuth"},
		[LEAF_EXT_EKU_DEVICE_API] = {NID_ext_key_usage, "clientAuth," CA_OID_DEVICE_API},
		[LEAF_EXT_AUTHORITY_KEY_ID] = {NID_authority_key_identifier, "keyid:always"},
	};
	for (size_t i = 0; i < LEAF_EXT_COUNT; i++)
		if (!g->leaf_ext[i] && !(g->leaf_ext[i] = ext_build(g->cert, NULL, leaf_exts[i].nid, leaf_exts[i].value, err)))
			return -1;
	g->pem = x509_to_pem(g->cert, err);
	return g->pem ? 0 : -1;
}

/* An encrypted key in the state directory must fail, not make OpenSSL prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* Load gen-N files and check them against what the index says. */
static int gen_load(int dirfd, const char *tenant_id, struct ca_gen *g, const char *want_fp, rp_error *err)
{
	char name[64];
	snprintf(name, sizeof(name), "gen-%d.cert.pem", g->generation);
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file_at(dirfd, name, CERT_FILE_MAX, false, &data, &len, err) < 0)
		return -1;
	{
		_cleanup_bio_ BIO *bio = BIO_new_mem_buf(data, (int)len);
		g->cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	}
	if (!g->cert)
		return rp_error_set_openssl(err, "%s does not hold a PEM certificate", name);
	if (gen_fill_derived(g, err) < 0)
		return rp_error_prefix(err, "%s", name);
	if (strcmp(g->fingerprint, want_fp) != 0)
		return rp_error_set(err, RP_E_VERIFY, "%s has fingerprint %s but the index says %s; the CA directory was altered",
		                    name, g->fingerprint, want_fp);
	time_t nb, na;
	if (asn1_to_time(X509_get0_notBefore(g->cert), &nb) < 0 || asn1_to_time(X509_get0_notAfter(g->cert), &na) < 0)
		return rp_error_set(err, RP_E_INVALID, "%s has an unreadable validity period", name);
	if (nb != g->not_before || na != g->not_after)
		return rp_error_set(err, RP_E_VERIFY, "%s validity does not match the index", name);
	_cleanup_free_ char *cn = ca_subject_cn(tenant_id, g->generation);
	char got[256] = "";
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(g->cert), NID_commonName, got, sizeof(got)) < 0 ||
	    strcmp(got, cn) != 0)
		return rp_error_set(err, RP_E_VERIFY, "%s is not the CA certificate of this tenant and generation", name);
	EVP_PKEY *pub = X509_get0_pubkey(g->cert);
	if (!pub || !rp_key_is_p256(pub) || X509_check_ca(g->cert) != 1 ||
	    X509_NAME_cmp(X509_get_subject_name(g->cert), X509_get_issuer_name(g->cert)) != 0 ||
	    X509_verify(g->cert, pub) != 1) {
		ERR_clear_error();
		return rp_error_set(err, RP_E_VERIFY, "%s is not a self-signed P-256 CA certificate", name);
	}

	snprintf(name, sizeof(name), "gen-%d.key.pem", g->generation);
	_cleanup_free_ uint8_t *kdata = NULL;
	size_t klen = 0;
	if (rp_read_file_at(dirfd, name, KEY_FILE_MAX, true, &kdata, &klen, err) < 0)
		return -1;
	{
		_cleanup_bio_ BIO *bio = BIO_new_mem_buf(kdata, (int)klen);
		g->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	}
	OPENSSL_cleanse(kdata, klen);
	if (!g->key)
		return rp_error_set_openssl(err, "%s does not hold a PEM private key", name);
	if (!rp_key_is_p256(g->key) || X509_check_private_key(g->cert, g->key) != 1) {
		ERR_clear_error();
		return rp_error_set(err, RP_E_VERIFY, "%s does not match gen-%d.cert.pem", name, g->generation);
	}
	return 0;
}

static int gen_store(int dirfd, struct ca_gen *g, rp_error *err)
{
	char name[64];
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PrivateKey(bio, g->key, NULL, NULL, 0, NULL, NULL) != 1)
		return rp_error_set_openssl(err, "encoding CA private key");
	char *kdata = NULL;
	long klen = BIO_get_mem_data(bio, &kdata);
	snprintf(name, sizeof(name), "gen-%d.key.pem", g->generation);
	int r = rp_write_file_atomicat(dirfd, name, kdata, (size_t)klen, 0600, err);
	OPENSSL_cleanse(kdata, (size_t)klen);
	if (r < 0)
		return -1;
	snprintf(name, sizeof(name), "gen-%d.cert.pem", g->generation);
	return rp_write_file_atomicat(dirfd, name, g->pem, strlen(g->pem), 0644, err);
}

static int index_store(int dirfd, const char *tenant_id, const struct ca_gen *gens, size_t n, rp_error *err)
{
	_cleanup_json_ json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct ca_gen *g = &gens[i];
		json_array_append_new(arr, json_pack("{s:i, s:I, s:I, s:I, s:s, s:s}", "generation", g->generation,
		                                     "not_before", (json_int_t)g->not_before, "not_after",
		                                     (json_int_t)g->not_after, "activates_at", (json_int_t)g->activates_at,
		                                     "serial", g->serial, "sha256", g->fingerprint));
	}
	_cleanup_json_ json_t *doc = json_pack("{s:i, s:s, s:O}", "format", INDEX_FORMAT, "tenant_id", tenant_id,
	                                       "generations", arr);
	if (!doc)
		return rp_error_set(err, RP_E_INTERNAL, "building the CA index");
	_cleanup_free_ char *text = rp_json_dump(doc);
	return rp_write_file_atomicat(dirfd, INDEX_NAME, text, strlen(text), 0600, err);
}

static bool is_lower_hex(const char *s, size_t min, size_t max)
{
	size_t n = strnlen(s, max + 1);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int index_load(int dirfd, const char *tenant_id, struct ca_gen **out, size_t *count, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file_at(dirfd, INDEX_NAME, INDEX_MAX, false, &data, &len, err) < 0)
		return -1;
	_cleanup_json_ json_t *doc = rp_json_parse((const char *)data, len, INDEX_MAX, INDEX_NAME, err);
	if (!doc)
		return -1;
	static const char *const top_keys[] = {"format", "tenant_id", "generations", NULL};
	static const char *const gen_keys[] = {"generation", "not_before", "not_after", "activates_at",
	                                       "serial",     "sha256",     NULL};
	int64_t format = 0;
	const char *tid = NULL;
	json_t *arr = NULL;
	if (rp_json_check_keys(doc, top_keys, INDEX_NAME, err) < 0 ||
	    rp_json_get_int(doc, "format", true, INDEX_FORMAT, INDEX_FORMAT, &format, err) < 0 ||
	    rp_json_get_string(doc, "tenant_id", true, &tid, err) < 0 ||
	    rp_json_get_array(doc, "generations", true, &arr, err) < 0)
		return rp_error_prefix(err, "%s", INDEX_NAME);
	if (strcmp(tid, tenant_id) != 0)
		return rp_error_set(err, RP_E_VERIFY, "%s belongs to tenant %.40s, not %s", INDEX_NAME, tid, tenant_id);
	size_t n = json_array_size(arr);
	if (n < 1 || n > CA_MAX_GENERATIONS)
		return rp_error_set(err, RP_E_INVALID, "%s lists %zu generations; expected 1 to %d", INDEX_NAME, n,
		                    CA_MAX_GENERATIONS);
	struct ca_gen *gens = xcalloc(n, sizeof(*gens));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		struct ca_gen *g = &gens[i];
		int64_t gen = 0, nb = 0, na = 0, act = 0;
		const char *serial = NULL, *fp = NULL;
		if (rp_json_check_keys(e, gen_keys, "generation entry", err) < 0 ||
		    rp_json_get_int(e, "generation", true, 1, CA_MAX_GENERATIONS, &gen, err) < 0 ||
		    rp_json_get_int(e, "not_before", true, 0, TIME_MAX_ACCEPTED, &nb, err) < 0 ||
		    rp_json_get_int(e, "not_after", true, 0, TIME_MAX_ACCEPTED, &na, err) < 0 ||
		    rp_json_get_int(e, "activates_at", true, 0, TIME_MAX_ACCEPTED, &act, err) < 0 ||
		    rp_json_get_string(e, "serial", true, &serial, err) < 0 ||
		    rp_json_get_string(e, "sha256", true, &fp, err) < 0) {
			rp_error_prefix(err, "%s: generation %zu", INDEX_NAME, i + 1);
			goto fail;
		}
		if (gen != (int64_t)i + 1 || nb >= na || act < nb || act >= na || !is_lower_hex(fp, 64, 64) ||
		    !is_lower_hex(serial, 2, 40)) {
			rp_error_set(err, RP_E_INVALID, "%s: generation entry %zu is inconsistent", INDEX_NAME, i + 1);
			goto fail;
		}
		g->generation = (int)gen;
		g->not_before = (time_t)nb;
		g->not_after = (time_t)na;
		g->activates_at = (time_t)act;
		if (gen_load(dirfd, tenant_id, g, fp, err) < 0) {
			rp_error_prefix(err, "generation %d", g->generation);
			goto fail;
		}
		if (strcmp(g->serial, serial) != 0) {
			rp_error_set(err, RP_E_VERIFY, "generation %d: serial does not match the index", g->generation);
			goto fail;
		}
	}
	*out = gens;
	*count = n;
	return 0;
fail:
	gens_free(gens, n);
	return -1;
}

static int dir_open(const char *dir, bool create, rp_error *err)
{
	if (create && rp_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening CA directory %s", dir);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rp_error_set_errno(err, errno, "examining %s", dir);
	/* Others who can write here could swap keys or certificates. */
	if (st.st_mode & 022)
		return rp_error_set(err, RP_E_PERMISSION, "CA directory %s is writable by group or others (mode %04o); chmod 700 it",
		                    dir, (unsigned)(st.st_mode & 07777));
	return steal_fd(fd);
}

static int lock_take(int dirfd, rp_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening CA lock file");
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return rp_error_set_errno(err, errno, "locking CA directory");
	return steal_fd(fd);
}

static struct tenant_ca *ca_alloc(const char *dir, const char *tenant_id, rp_error *err)
{
	char tid[RP_GUID_STRLEN + 1];
	if (!dir || !*dir)
		return rp_error_set(err, RP_E_INVALID, "no CA directory given"), NULL;
	if (!tenant_id || rp_guid_normalize(tenant_id, tid, err) < 0)
		return rp_error_set(err, RP_E_INVALID, "tenant ID must be a GUID (8-4-4-4-12 hex digits)"), NULL;
	struct tenant_ca *ca = xcalloc(1, sizeof(*ca));
	ca->dirfd = -1;
	ca->dir = xstrdup(dir);
	memcpy(ca->tenant_id, tid, sizeof(tid));
	return ca;
}

/* Create generation N (in memory) starting at NOW. */
static int gen_new(const char *tenant_id, int generation, time_t now, time_t activates_at, struct ca_gen *g,
                   rp_error *err)
{
	memset(g, 0, sizeof(*g));
	g->generation = generation;
	/* Backdated like every certificate we issue, so a relying party whose clock is a little
	 * behind still accepts it. */
	g->not_before = now - CA_CLOCK_SKEW_SECONDS;
	g->not_after = now + CA_VALIDITY_SECONDS;
	g->activates_at = activates_at;
	g->key = rp_key_generate_p256(err);
	if (!g->key)
		return -1;
	g->cert = ca_cert_build(tenant_id, generation, g->key, g->not_before, g->not_after, err);
	if (!g->cert || gen_fill_derived(g, err) < 0) {
		gen_clear(g);
		return -1;
	}
	return 0;
}

struct tenant_ca *ca_create(const char *dir, const char *tenant_id, time_t now, rp_error *err)
{
	struct tenant_ca *ca = ca_alloc(dir, tenant_id, err);
	if (!ca)
		return NULL;
	_cleanup_close_ int lock = -1;
	struct stat st;
	if ((ca->dirfd = dir_open(dir, true, err)) < 0 || (lock = lock_take(ca->dirfd, err)) < 0)
		goto fail;
	if (fstatat(ca->dirfd, INDEX_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
		rp_error_set(err, RP_E_EXISTS, "%s already holds a tenant CA; open it instead of creating one", dir);
		goto fail;
	}
	ca->gens = xcalloc(1, sizeof(*ca->gens));
	if (gen_new(ca->tenant_id, 1, now, now, &ca->gens[0], err) < 0)
		goto fail;
	ca->n = 1;
	if (gen_store(ca->dirfd, &ca->gens[0], err) < 0 || index_store(ca->dirfd, ca->tenant_id, ca->gens, 1, err) < 0)
		goto fail;
	return ca;
fail:
	rp_error_prefix(err, "creating tenant CA for %s", tenant_id ? tenant_id : "(none)");
	ca_free(ca);
	return NULL;
}

struct tenant_ca *ca_open(const char *dir, const char *tenant_id, rp_error *err)
{
	struct tenant_ca *ca = ca_alloc(dir, tenant_id, err);
	if (!ca)
		return NULL;
	if ((ca->dirfd = dir_open(dir, false, err)) < 0 || index_load(ca->dirfd, ca->tenant_id, &ca->gens, &ca->n, err) < 0) {
		rp_error_prefix(err, "opening tenant CA in %s", dir);
		ca_free(ca);
		return NULL;
	}
	return ca;
}

static bool gen_valid_at(const struct ca_gen *g, time_t now)
{
	return g->not_before <= now && now < g->not_after;
}

/* The newest generation that is valid and activated at NOW. */
static struct ca_gen *gen_active(struct tenant_ca *ca, time_t now)
{
	for (size_t i = ca->n; i-- > 0;)
		if (gen_valid_at(&ca->gens[i], now) && ca->gens[i].activates_at <= now)
			return &ca->gens[i];
	return NULL;
}

static struct ca_gen *gen_active_or_fail(struct tenant_ca *ca, time_t now, rp_error *err)
{
	struct ca_gen *g = gen_active(ca, now);
	if (!g)
		rp_error_set(err, RP_E_EXPIRED,
		             "tenant %s has no CA generation valid at %lld; the CA must be renewed (ensure successor)",
		             ca->tenant_id, (long long)now);
	return g;
}

int ca_ensure_successor(struct tenant_ca *ca, time_t now, rp_error *err)
{
	/* Fast path without I/O: a generation another process added on disk is always newer than
	 * ours, so if ours is not due, nothing on disk is either. */
	if (now < ca->gens[ca->n - 1].not_after - CA_RENEW_BEFORE_SECONDS)
		return 0;
	_cleanup_close_ int lock = lock_take(ca->dirfd, err);
	if (lock < 0)
		return rp_error_prefix(err, "renewing tenant CA %s", ca->tenant_id);
	/* Another process may have added a generation since we loaded: decide on the disk state. */
	struct ca_gen *gens = NULL;
	size_t n = 0;
	if (index_load(ca->dirfd, ca->tenant_id, &gens, &n, err) < 0)
		return rp_error_prefix(err, "renewing tenant CA %s: re-reading %s", ca->tenant_id, ca->dir);
	gens_free(ca->gens, ca->n);
	ca->gens = gens;
	ca->n = n;

	const struct ca_gen *newest = &ca->gens[ca->n - 1];
	if (now < newest->not_after - CA_RENEW_BEFORE_SECONDS)
		return 0;
	if (ca->n >= CA_MAX_GENERATIONS)
		return rp_error_set(err, RP_E_LIMIT, "tenant CA %s has reached %d generations", ca->tenant_id,
		                    CA_MAX_GENERATIONS);
	/* Normally the successor waits 45 days so relying parties can install it first. If nothing
	 * can sign now (the service was down through the whole overlap), waiting would only extend
	 * the outage, so it starts at once. */
	time_t activates_at = gen_active(ca, now) ? now + CA_ACTIVATE_AFTER_SECONDS : now;
	struct ca_gen g;
	if (gen_new(ca->tenant_id, (int)ca->n + 1, now, activates_at, &g, err) < 0)
		return rp_error_prefix(err, "renewing tenant CA %s", ca->tenant_id);
	ca->gens = xreallocarray(ca->gens, ca->n + 1, sizeof(*ca->gens));
	ca->gens[ca->n++] = g;
	if (gen_store(ca->dirfd, &ca->gens[ca->n - 1], err) < 0 ||
	    index_store(ca->dirfd, ca->tenant_id, ca->gens, ca->n, err) < 0) {
		/* Keep memory in step with the disk: the index still lists the old set. */
		gen_clear(&ca->gens[--ca->n]);
		return rp_error_prefix(err, "renewing tenant CA %s: storing generation %d", ca->tenant_id, (int)ca->n + 1);
	}
	return 1;
}

static enum ca_cert_status gen_status(struct tenant_ca *ca, const struct ca_gen *g, time_t now)
{
	if (now >= g->not_after)
		return CA_STATUS_EXPIRED;
	if (g == gen_active(ca, now))
		return CA_STATUS_ACTIVE;
	if (now < g->activates_at || now < g->not_before)
		return CA_STATUS_PENDING;
	return CA_STATUS_RETIRED;
}

int ca_list(struct tenant_ca *ca, time_t now, struct ca_cert_info **out, size_t *count, rp_error *err)
{
	(void)err;
	struct ca_cert_info *infos = xcalloc(ca->n, sizeof(*infos));
	for (size_t i = 0; i < ca->n; i++) {
		const struct ca_gen *g = &ca->gens[ca->n - 1 - i];
		struct ca_cert_info *info = &infos[i];
		info->generation = g->generation;
		memcpy(info->fingerprint_sha256, g->fingerprint, sizeof(info->fingerprint_sha256));
		memcpy(info->serial, g->serial, sizeof(info->serial));
		info->not_before = g->not_before;
		info->not_after = g->not_after;
		info->activates_at = g->activates_at;
		info->status = gen_status(ca, g, now);
		info->active = info->status == CA_STATUS_ACTIVE;
		info->pem = xstrdup(g->pem);
	}
	*out = infos;
	*count = ca->n;
	return 0;
}

void ca_cert_info_free(struct ca_cert_info *infos, size_t count)
{
	if (!infos)
		return;
	for (size_t i = 0; i < count; i++)
		free(infos[i].pem);
	free(infos);
}

char *ca_active_cert_pem(struct tenant_ca *ca, time_t now, rp_error *err)
{
	struct ca_gen *g = gen_active_or_fail(ca, now, err);
	return g ? xstrdup(g->pem) : NULL;
}

/* The trusted set at NOW: every generation not expired, the active one first, then newest first. */
static size_t chain_collect(struct tenant_ca *ca, time_t now, struct ca_gen **out, rp_error *err)
{
	struct ca_gen *active = gen_active_or_fail(ca, now, err);
	if (!active)
		return 0;
	size_t n = 0;
	out[n++] = active;
	for (size_t i = ca->n; i-- > 0;)
		if (&ca->gens[i] != active && now < ca->gens[i].not_after)
			out[n++] = &ca->gens[i];
	return n;
}

char *ca_chain_pem(struct tenant_ca *ca, time_t now, rp_error *err)
{
	struct ca_gen *set[CA_MAX_GENERATIONS];
	size_t n = chain_collect(ca, now, set, err);
	if (n == 0)
		return NULL;
	size_t total = 1;
	for (size_t i = 0; i < n; i++)
		total += strlen(set[i]->pem);
	char *out = xmalloc(total), *p = out;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(set[i]->pem);
		memcpy(p, set[i]->pem, l);
		p += l;
	}
	*p = '\0';
	return out;
}

int ca_chain_pkcs7(struct tenant_ca *ca, time_t now, bool pem, uint8_t **out, size_t *len, rp_error *err)
{
	struct ca_gen *set[CA_MAX_GENERATIONS];
	size_t n = chain_collect(ca, now, set, err);
	if (n == 0)
		return -1;
	/* "Certs-only" SignedData (RFC 2315 degenerate case, as `openssl crl2pkcs7 -nocrl` makes). */
	_cleanup_(PKCS7_freep) PKCS7 *p7 = PKCS7_new();
	if (!p7 || PKCS7_set_type(p7, NID_pkcs7_signed) != 1 || PKCS7_content_new(p7, NID_pkcs7_data) != 1)
		return rp_error_set_openssl(err, "building PKCS#7 chain");
	for (size_t i = 0; i < n; i++)
		if (PKCS7_add_certificate(p7, set[i]->cert) != 1)
			return rp_error_set_openssl(err, "adding certificate to PKCS#7 chain");
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || (pem ? PEM_write_bio_PKCS7(bio, p7) : i2d_PKCS7_bio(bio, p7)) != 1)
		return rp_error_set_openssl(err, "encoding PKCS#7 chain");
	char *data = NULL;
	long l = BIO_get_mem_data(bio, &data);
	if (l <= 0)
		return rp_error_set_openssl(err, "encoding PKCS#7 chain");
	*out = xmalloc((size_t)l + 1);
	memcpy(*out, data, (size_t)l);
	(*out)[l] = 0;
	*len = (size_t)l;
	return 0;
}

X509_STORE *ca_trust_store(struct tenant_ca *ca, time_t now, rp_error *err)
{
	struct ca_gen *set[CA_MAX_GENERATIONS];
	size_t n = chain_collect(ca, now, set, err);
	if (n == 0)
		return NULL;
	_cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
	if (!store) {
		rp_error_set_openssl(err, "creating trust store");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (X509_STORE_add_cert(store, set[i]->cert) != 1) {
			rp_error_set_openssl(err, "adding CA generation %d to trust store", set[i]->generation);
			return NULL;
		}
	return steal_ptr(store);
}

/* Add SKI, AKI and sign a leaf with G; the extensions specific to the leaf are already in place. */
static char *leaf_finish(X509 *cert, const struct ca_gen *g, rp_error *err)
{
	if (leaf_add_subject_key_id(cert, err) < 0 || leaf_ext_add(cert, g, LEAF_EXT_AUTHORITY_KEY_ID, err) < 0 ||
	    cert_sign(cert, g->key, err) < 0)
		return NULL;
	return x509_to_pem(cert, err);
}

char *ca_proof_of_possession_pem(struct tenant_ca *ca, int generation, const char *verification_code, time_t now,
                                 rp_error *err)
{
	if (!ca_verification_code_is_valid(verification_code)) {
		rp_error_set(err, RP_E_INVALID,
		             "verification code must be 1 to %d characters of letters, digits and '-' (copy it from the registry)",
		             CA_VERIFICATION_CODE_MAX);
		return NULL;
	}
	struct ca_gen *g = NULL;
	if (generation == 0) {
		g = gen_active_or_fail(ca, now, err);
	} else if (generation < 0 || (size_t)generation > ca->n) {
		rp_error_set(err, RP_E_NOT_FOUND, "tenant CA %s has no generation %d", ca->tenant_id, generation);
	} else if (!gen_valid_at(&ca->gens[generation - 1], now)) {
		rp_error_set(err, RP_E_EXPIRED, "tenant CA generation %d is not valid now", generation);
	} else {
		g = &ca->gens[generation - 1];
	}
	if (!g)
		return NULL;
	/* The registry only checks that the CA signed the code; the leaf's key is never used. */
	_cleanup_pkey_ EVP_PKEY *key = rp_key_generate_p256(err);
	_cleanup_(X509_NAME_freep) X509_NAME *name = key ? name_build(verification_code, NULL, err) : NULL;
	if (!name)
		return NULL;
	time_t na = now + CA_POP_VALIDITY_SECONDS < g->not_after ? now + CA_POP_VALIDITY_SECONDS : g->not_after;
	_cleanup_x509_ X509 *cert = cert_skeleton(name, g->cert, key, now - CA_CLOCK_SKEW_SECONDS, na, true, err);
	if (!cert || leaf_ext_add(cert, g, LEAF_EXT_BASIC_CONSTRAINTS, err) < 0 ||
	    leaf_ext_add(cert, g, LEAF_EXT_KEY_USAGE, err) < 0)
		return NULL;
	return leaf_finish(cert, g, err);
}

char *ca_issue_device_cert(struct tenant_ca *ca, const char *csr_pem, size_t csr_len, const char *device_id,
                           enum ca_device_cert_kind kind, time_t now, int validity_seconds, rp_error *err)
{
	if (!ca_device_id_is_valid(device_id)) {
		rp_error_set(err, RP_E_INVALID, "device ID must be 64 lowercase hex characters");
		return NULL;
	}
	_cleanup_pkey_ EVP_PKEY *pub = ca_csr_check(csr_pem, csr_len, err);
	if (!pub) {
		rp_error_prefix(err, "issuing certificate for device %.16s…", device_id);
		return NULL;
	}
	return ca_issue_device_cert_key(ca, pub, device_id, kind, now, validity_seconds, NULL, err);
}

char *ca_issue_device_cert_key(struct tenant_ca *ca, EVP_PKEY *pub, const char *device_id,
                               enum ca_device_cert_kind kind, time_t now, int validity_seconds,
                               struct ca_issued *facts, rp_error *err)
{
	if (!ca_device_id_is_valid(device_id)) {
		rp_error_set(err, RP_E_INVALID, "device ID must be 64 lowercase hex characters");
		return NULL;
	}
	if (kind != CA_DEVICE_CERT_CLIENT && kind != CA_DEVICE_CERT_DEVICE_API) {
		rp_error_set(err, RP_E_INVALID, "unknown device certificate kind %d", (int)kind);
		return NULL;
	}
	if (validity_seconds == 0)
		validity_seconds = CA_DEVICE_CERT_DEFAULT_SECONDS;
	if (validity_seconds < CA_DEVICE_CERT_MIN_SECONDS || validity_seconds > CA_DEVICE_CERT_MAX_SECONDS) {
		rp_error_set(err, RP_E_INVALID, "device certificate validity %d s is outside %d..%d s", validity_seconds,
		             CA_DEVICE_CERT_MIN_SECONDS, CA_DEVICE_CERT_MAX_SECONDS);
		return NULL;
	}
	struct ca_gen *g = gen_active_or_fail(ca, now, err);
	if (!g)
		return NULL;
	_cleanup_(X509_NAME_freep) X509_NAME *name = name_build(device_id, NULL, err);
	if (!name)
		return NULL;
	/* Never outlive the issuer: a chain with an expired CA fails anyway, and a clear notAfter
	 * tells the device when to renew. */
	time_t na = now + validity_seconds < g->not_after ? now + validity_seconds : g->not_after;
	_cleanup_x509_ X509 *cert = cert_skeleton(name, g->cert, pub, now - CA_CLOCK_SKEW_SECONDS, na, true, err);
	enum leaf_ext eku = kind == CA_DEVICE_CERT_DEVICE_API ? LEAF_EXT_EKU_DEVICE_API : LEAF_EXT_EKU_CLIENT;
	if (!cert || leaf_ext_add(cert, g, LEAF_EXT_BASIC_CONSTRAINTS, err) < 0 ||
	    leaf_ext_add(cert, g, LEAF_EXT_KEY_USAGE, err) < 0 || leaf_ext_add(cert, g, eku, err) < 0 ||
	    leaf_add_alt_names(cert, ca->tenant_id, device_id, err) < 0)
		return NULL;
	/* The facts come from the certificate we built, so callers need not decode the PEM again. */
	if (facts) {
		facts->not_after = (int64_t)na;
		if (x509_serial_hex(cert, facts->serial, err) < 0)
			return NULL;
	}
	return leaf_finish(cert, g, err);
}

static bool cert_has_eku(X509 *cert, const char *oid)
{
	_cleanup_(EXTENDED_KEY_USAGE_freep) EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
	for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku); i++) {
		char txt[80] = "";
		OBJ_obj2txt(txt, sizeof(txt), sk_ASN1_OBJECT_value(eku, i), 1);
		if (strcmp(txt, oid) == 0)
			return true;
	}
	return false;
}

int ca_verify_device_cert(struct tenant_ca *ca, X509 *cert, enum ca_device_cert_kind kind, time_t now,
                          char device_id[CA_DEVICE_ID_LEN + 1], rp_error *err)
{
	_cleanup_(X509_STORE_freep) X509_STORE *store = ca_trust_store(ca, now, err);
	if (!store)
		return -1;
	_cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (!ctx || X509_STORE_CTX_init(ctx, store, cert, NULL) != 1)
		return rp_error_set_openssl(err, "preparing certificate verification");
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, now);
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_CLIENT);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);
		ERR_clear_error();
		return rp_error_set(err, RP_E_VERIFY, "device certificate does not verify against tenant %s: %s", ca->tenant_id,
		                    X509_verify_cert_error_string(e));
	}
	if (X509_check_ca(cert) != 0)
		return rp_error_set(err, RP_E_VERIFY, "presented certificate is a CA, not a device certificate");
	if (kind == CA_DEVICE_CERT_DEVICE_API && !cert_has_eku(cert, CA_OID_DEVICE_API))
		return rp_error_set(err, RP_E_PERMISSION,
		                    "certificate is an application client certificate, not the device API credential");
	_cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	_cleanup_free_ char *want_tenant = xasprintf(CA_URI_TENANT_PREFIX "%s", ca->tenant_id);
	bool tenant_ok = false;
	char dev[CA_DEVICE_ID_LEN + 1] = "";
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type != GEN_URI)
			continue;
		const char *uri = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		size_t ulen = (size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (strnlen(uri, ulen) != ulen)
			continue; /* embedded NUL */
		if (ulen == strlen(want_tenant) && memcmp(uri, want_tenant, ulen) == 0)
			tenant_ok = true;
		size_t pl = strlen(CA_URI_DEVICE_PREFIX);
		if (ulen == pl + CA_DEVICE_ID_LEN && memcmp(uri, CA_URI_DEVICE_PREFIX, pl) == 0) {
			memcpy(dev, uri + pl, CA_DEVICE_ID_LEN);
			dev[CA_DEVICE_ID_LEN] = '\0';
		}
	}
	if (!tenant_ok || !ca_device_id_is_valid(dev))
		return rp_error_set(err, RP_E_VERIFY, "device certificate does not name tenant %s and a device ID",
		                    ca->tenant_id);
	memcpy(device_id, dev, sizeof(dev));
	return 0;
}
