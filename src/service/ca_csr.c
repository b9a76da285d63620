/* Certificate signing request checks for the tenant CA (see ca_csr.h). Everything here runs on
 * bytes a device sent, so every failure is a clear error and nothing the CSR says is trusted. */
#include "service/ca_csr.h"

#include <string.h>
#include <stdbool.h>
#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <openssl/params.h>

#include "common/crypto.h"

RP_DEFINE_CLEANUP(BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free)
RP_DEFINE_CLEANUP(ASN1_BIT_STRING, ASN1_BIT_STRING_free)
RP_DEFINE_CLEANUP(EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free)
static inline void ext_stack_freep(STACK_OF(X509_EXTENSION) **p)
{
	if (*p)
		sk_X509_EXTENSION_pop_free(*p, X509_EXTENSION_free);
}

static int csr_check_extension(X509_EXTENSION *ext, rp_error *err)
{
	int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
	char oid[80] = "";
	OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1);
	const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : "unknown";
	switch (nid) {
	case NID_basic_constraints: {
		_cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc = X509V3_EXT_d2i(ext);
		if (!bc)
			return rp_error_set(err, RP_E_INVALID, "CSR has a malformed basicConstraints extension");
		if (bc->ca || bc->pathlen)
			return rp_error_set(err, RP_E_PERMISSION, "CSR asks to be a CA; devices get end-entity certificates only");
		return 0;
	}
	case NID_key_usage: {
		_cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *ku = X509V3_EXT_d2i(ext);
		if (!ku)
			return rp_error_set(err, RP_E_INVALID, "CSR has a malformed keyUsage extension");
		for (int bit = 1; bit < ku->length * 8; bit++)
			if (ASN1_BIT_STRING_get_bit(ku, bit))
				return rp_error_set(err, RP_E_PERMISSION,
				                    "CSR asks for key usage bit %d; only digitalSignature is granted", bit);
		return 0;
	}
	case NID_ext_key_usage: {
		_cleanup_(EXTENDED_KEY_USAGE_freep) EXTENDED_KEY_USAGE *eku = X509V3_EXT_d2i(ext);
		if (!eku)
			return rp_error_set(err, RP_E_INVALID, "CSR has a malformed extendedKeyUsage extension");
		for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
			if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) != NID_client_auth) {
				char u[80] = "";
				OBJ_obj2txt(u, sizeof(u), sk_ASN1_OBJECT_value(eku, i), 0);
				return rp_error_set(err, RP_E_PERMISSION,
				                    "CSR asks for extended key usage %s; only clientAuth is granted", u);
			}
		}
		return 0;
	}
	default:
		/* Subject alternative names, policies, name constraints and anything else would let
		 * the device choose its own identity or powers; the CA decides those. */
		return rp_error_set(err, RP_E_PERMISSION,
		                    "CSR requests extension %s (%s), which devices may not ask for (allowed: basicConstraints "
		                    "CA:FALSE, keyUsage digitalSignature, extendedKeyUsage clientAuth)",
		                    sn, oid);
	}
}

/* A CertificationRequest (RFC 2986) read by OpenSSL's ASN.1 templates, with the key kept as an
 * algorithm and a BIT STRING: X509_REQ's own reader hands the key to OpenSSL 3.0's decoder
 * framework, whose set-up cost more than the signature check. The info part keeps its received
 * encoding: those are the signed bytes. */
typedef struct {
	X509_ALGOR *algorithm;
	ASN1_BIT_STRING *key;
} RP_CSR_SPKI;

typedef struct {
	ASN1_ENCODING enc;
	ASN1_INTEGER *version;
	X509_NAME *subject;
	RP_CSR_SPKI *spki;
	STACK_OF(X509_ATTRIBUTE) *attributes;
} RP_CSR_INFO;

typedef struct {
	RP_CSR_INFO *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} RP_CSR;

DECLARE_ASN1_ITEM(RP_CSR_SPKI)
DECLARE_ASN1_ITEM(RP_CSR_INFO)
DECLARE_ASN1_ITEM(RP_CSR)

ASN1_SEQUENCE(RP_CSR_SPKI) = {
	ASN1_SIMPLE(RP_CSR_SPKI, algorithm, X509_ALGOR),
	ASN1_SIMPLE(RP_CSR_SPKI, key, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(RP_CSR_SPKI)

ASN1_SEQUENCE_enc(RP_CSR_INFO, enc, NULL) = {
	ASN1_SIMPLE(RP_CSR_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(RP_CSR_INFO, subject, X509_NAME),
	ASN1_SIMPLE(RP_CSR_INFO, spki, RP_CSR_SPKI),
	ASN1_IMP_SET_OF(RP_CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} ASN1_SEQUENCE_END_enc(RP_CSR_INFO, RP_CSR_INFO)

ASN1_SEQUENCE(RP_CSR) = {
	ASN1_SIMPLE(RP_CSR, info, RP_CSR_INFO),
	ASN1_SIMPLE(RP_CSR, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(RP_CSR, signature, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(RP_CSR)

static void csr_freep(RP_CSR **p)
{
	ASN1_item_free((ASN1_VALUE *)*p, ASN1_ITEM_rptr(RP_CSR));
}

static void der_freep(unsigned char **p)
{
	OPENSSL_free(*p);
}

static bool bits_whole(const ASN1_BIT_STRING *b)
{
	return !(b->flags & ASN1_STRING_FLAG_BITS_LEFT) || (b->flags & 0x07) == 0;
}

/* The SubjectPublicKeyInfo's key. A named-curve P-256 uncompressed point (what every device sends)
 * is imported directly; the import checks the point lies on the curve. Any other key goes through
 * OpenSSL's generic decoder so that its refusal names what it is. */
static EVP_PKEY *csr_key(const RP_CSR_SPKI *spki, rp_error *err)
{
	const ASN1_OBJECT *alg = NULL, *curve = NULL;
	int ptype = V_ASN1_UNDEF;
	const void *pval = NULL;
	X509_ALGOR_get0(&alg, &ptype, &pval, spki->algorithm);
	if (ptype == V_ASN1_OBJECT)
		curve = pval;
	const ASN1_BIT_STRING *k = spki->key;
	if (OBJ_obj2nid(alg) == NID_X9_62_id_ecPublicKey && curve && OBJ_obj2nid(curve) == NID_X9_62_prime256v1 &&
	    bits_whole(k) && k->length == 65 && k->data[0] == 0x04) {
		EVP_PKEY *key = rp_key_from_p256_point(k->data, err);
		if (!key)
			rp_error_prefix(err, "CSR");
		return key;
	}
	_cleanup_(der_freep) unsigned char *der = NULL;
	int len = ASN1_item_i2d((const ASN1_VALUE *)spki, &der, ASN1_ITEM_rptr(RP_CSR_SPKI));
	const unsigned char *p = der;
	EVP_PKEY *key = len > 0 ? d2i_PUBKEY(NULL, &p, len) : NULL;
	ERR_clear_error();
	if (!key)
		return rp_error_set(err, RP_E_UNSUPPORTED, "CSR public key could not be decoded"), NULL;
	/* Named P-256 only: explicit curve parameters are how invalid-curve and "CurveBall"-style
	 * spoofing get in. */
	char enc[32] = "";
	if (!rp_key_is_p256(key) ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc), NULL) != 1 ||
	    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
		ERR_clear_error();
		EVP_PKEY_free(key);
		return rp_error_set(err, RP_E_UNSUPPORTED, "CSR key is not an ECDSA P-256 key (named curve); generate a P-256 key"),
		       NULL;
	}
	return key;
}

/* Only one attribute is acceptable: the extension request, with only what the CA grants anyway.
 * challengePassword and the rest have no meaning here. */
static int csr_check_attributes(const STACK_OF(X509_ATTRIBUTE) *attrs, rp_error *err)
{
	int ext_attrs = 0;
	for (int i = 0; i < sk_X509_ATTRIBUTE_num(attrs); i++) {
		X509_ATTRIBUTE *a = sk_X509_ATTRIBUTE_value(attrs, i);
		ASN1_OBJECT *obj = a ? X509_ATTRIBUTE_get0_object(a) : NULL;
		if (!obj || OBJ_obj2nid(obj) != NID_ext_req || ++ext_attrs > 1) {
			char oid[80] = "?";
			if (obj)
				OBJ_obj2txt(oid, sizeof(oid), obj, 0);
			return rp_error_set(err, RP_E_PERMISSION, "CSR carries attribute %s, which is not accepted", oid);
		}
		if (X509_ATTRIBUTE_count(a) != 1)
			return rp_error_set(err, RP_E_INVALID, "CSR extension request must hold exactly one value");
		ASN1_TYPE *v = X509_ATTRIBUTE_get0_type(a, 0);
		if (!v || v->type != V_ASN1_SEQUENCE)
			return rp_error_set(err, RP_E_INVALID, "CSR extension request is malformed");
		const unsigned char *p = v->value.sequence->data;
		long len = v->value.sequence->length;
		_cleanup_(ext_stack_freep) STACK_OF(X509_EXTENSION) *exts = d2i_X509_EXTENSIONS(NULL, &p, len);
		if (!exts || p != v->value.sequence->data + len) {
			ERR_clear_error();
			return rp_error_set(err, RP_E_INVALID, "CSR extension request is malformed");
		}
		int seen[4] = {0};
		for (int j = 0; j < sk_X509_EXTENSION_num(exts); j++) {
			X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, j);
			if (csr_check_extension(ext, err) < 0)
				return -1;
			int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
			int slot = nid == NID_basic_constraints ? 0 : nid == NID_key_usage ? 1 : 2;
			if (seen[slot]++)
				return rp_error_set(err, RP_E_INVALID, "CSR requests extension %s twice", OBJ_nid2sn(nid));
		}
	}
	return 0;
}

EVP_PKEY *ca_csr_check(const char *csr_pem, size_t csr_len, rp_error *err)
{
	if (!csr_pem || csr_len == 0)
		return rp_error_set(err, RP_E_INVALID, "CSR is empty"), NULL;
	if (csr_len > CA_CSR_MAX_LEN)
		return rp_error_set(err, RP_E_LIMIT, "CSR is %zu bytes, over the limit of %d", csr_len, CA_CSR_MAX_LEN), NULL;
	if (memchr(csr_pem, '\0', csr_len))
		return rp_error_set(err, RP_E_INVALID, "CSR contains a NUL byte; send PEM text"), NULL;
	_cleanup_bio_ BIO *bio = BIO_new_mem_buf(csr_pem, (int)csr_len);
	_cleanup_(der_freep) unsigned char *der = NULL;
	char *name = NULL;
	long der_len = 0;
	/* Accepts "CERTIFICATE REQUEST" and the older "NEW CERTIFICATE REQUEST" label. */
	int pem_ok = bio ? PEM_bytes_read_bio(&der, &der_len, &name, PEM_STRING_X509_REQ, bio, NULL, NULL) : 0;
	OPENSSL_free(name);
	const unsigned char *p = der;
	_cleanup_(csr_freep) RP_CSR *req =
		pem_ok == 1 ? (RP_CSR *)ASN1_item_d2i(NULL, &p, der_len, ASN1_ITEM_rptr(RP_CSR)) : NULL;
	if (!req || p != der + der_len)
		return rp_error_set_openssl(err, "CSR is not a PEM certificate request"), NULL;
	long version = ASN1_INTEGER_get(req->info->version);
	if (version != X509_REQ_VERSION_1)
		return rp_error_set(err, RP_E_UNSUPPORTED, "CSR version %ld is not 1", version + 1), NULL;
	_cleanup_pkey_ EVP_PKEY *pub = csr_key(req->info->spki, err);
	if (!pub)
		return NULL;
	/* On-curve and not the point at infinity. P-256 has cofactor 1, so every such point has the
	 * group's prime order: the full check's extra n*Q multiplication (~45 us, a tenth of the
	 * service's ECDSA work per attestation) cannot refuse anything more. */
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pub, NULL);
	int pub_ok = pctx ? EVP_PKEY_public_check_quick(pctx) : 0;
	EVP_PKEY_CTX_free(pctx);
	if (pub_ok != 1) {
		ERR_clear_error();
		return rp_error_set(err, RP_E_INVALID, "CSR public key is not a valid P-256 point"), NULL;
	}
	const ASN1_OBJECT *sig_oid = NULL;
	int sig_ptype = V_ASN1_UNDEF;
	X509_ALGOR_get0(&sig_oid, &sig_ptype, NULL, req->sig_alg);
	if (OBJ_obj2nid(sig_oid) != NID_ecdsa_with_SHA256 || sig_ptype != V_ASN1_UNDEF)
		return rp_error_set(err, RP_E_UNSUPPORTED, "CSR must be signed with ecdsa-with-SHA256"), NULL;
	/* The signed bytes as received (the info part keeps its encoding). */
	_cleanup_(der_freep) unsigned char *tbs = NULL;
	int tbs_len = ASN1_item_i2d((const ASN1_VALUE *)req->info, &tbs, ASN1_ITEM_rptr(RP_CSR_INFO));
	if (tbs_len <= 0)
		return rp_error_set_openssl(err, "CSR is not a PEM certificate request"), NULL;
	if (!bits_whole(req->signature) ||
	    rp_ecdsa_verify(pub, tbs, (size_t)tbs_len, req->signature->data, (size_t)req->signature->length, err) < 0) {
		ERR_clear_error();
		return rp_error_set(err, RP_E_VERIFY, "CSR signature does not verify with its own key"), NULL;
	}
	if (csr_check_attributes(req->info->attributes, err) < 0)
		return NULL;
	return steal_ptr(pub);
}
