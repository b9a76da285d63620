/* Certificate signing request checks for the tenant CA (see ca_csr.h). Everything here runs on
 * bytes a device sent, so every failure is a clear error and nothing the CSR says is trusted. */
#include "service/ca_csr.h"

#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/crypto.h"

RP_DEFINE_CLEANUP(X509_REQ, X509_REQ_free)
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

EVP_PKEY *ca_csr_check(const char *csr_pem, size_t csr_len, rp_error *err)
{
	if (!csr_pem || csr_len == 0)
		return rp_error_set(err, RP_E_INVALID, "CSR is empty"), NULL;
	if (csr_len > CA_CSR_MAX_LEN)
		return rp_error_set(err, RP_E_LIMIT, "CSR is %zu bytes, over the limit of %d", csr_len, CA_CSR_MAX_LEN), NULL;
	if (memchr(csr_pem, '\0', csr_len))
		return rp_error_set(err, RP_E_INVALID, "CSR contains a NUL byte; send PEM text"), NULL;
	_cleanup_bio_ BIO *bio = BIO_new_mem_buf(csr_pem, (int)csr_len);
	_cleanup_(X509_REQ_freep) X509_REQ *req = bio ? PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL) : NULL;
	if (!req)
		return rp_error_set_openssl(err, "CSR is not a PEM certificate request"), NULL;
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1)
		return rp_error_set(err, RP_E_UNSUPPORTED, "CSR version %ld is not 1", X509_REQ_get_version(req) + 1), NULL;
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	if (!pub) {
		ERR_clear_error();
		return rp_error_set(err, RP_E_UNSUPPORTED, "CSR public key could not be decoded"), NULL;
	}
	/* Named P-256 only: explicit curve parameters are how invalid-curve and "CurveBall"-style
	 * spoofing get in. */
	char enc[32] = "";
	if (!rp_key_is_p256(pub) ||
	    EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc), NULL) != 1 ||
	    strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
		ERR_clear_error();
		return rp_error_set(err, RP_E_UNSUPPORTED, "CSR key is not an ECDSA P-256 key (named curve); generate a P-256 key"),
		       NULL;
	}
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pub, NULL);
	int pub_ok = pctx ? EVP_PKEY_public_check(pctx) : 0;
	EVP_PKEY_CTX_free(pctx);
	if (pub_ok != 1) {
		ERR_clear_error();
		return rp_error_set(err, RP_E_INVALID, "CSR public key is not a valid P-256 point"), NULL;
	}
	if (X509_REQ_get_signature_nid(req) != NID_ecdsa_with_SHA256)
		return rp_error_set(err, RP_E_UNSUPPORTED, "CSR must be signed with ecdsa-with-SHA256"), NULL;
	if (X509_REQ_verify(req, pub) != 1) {
		ERR_clear_error();
		return rp_error_set(err, RP_E_VERIFY, "CSR signature does not verify with its own key"), NULL;
	}
	/* Only one attribute is acceptable: the extension request. challengePassword and the rest
	 * have no meaning here. */
	int nattr = X509_REQ_get_attr_count(req), ext_attrs = 0;
	for (int i = 0; i < nattr; i++) {
		X509_ATTRIBUTE *a = X509_REQ_get_attr(req, i);
		ASN1_OBJECT *obj = a ? X509_ATTRIBUTE_get0_object(a) : NULL;
		if (!obj || OBJ_obj2nid(obj) != NID_ext_req || ++ext_attrs > 1) {
			char oid[80] = "?";
			if (obj)
				OBJ_obj2txt(oid, sizeof(oid), obj, 0);
			return rp_error_set(err, RP_E_PERMISSION, "CSR carries attribute %s, which is not accepted", oid), NULL;
		}
		if (X509_ATTRIBUTE_count(a) != 1)
			return rp_error_set(err, RP_E_INVALID, "CSR extension request must hold exactly one value"), NULL;
	}
	if (ext_attrs) {
		_cleanup_(ext_stack_freep) STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
		if (!exts) {
			ERR_clear_error();
			return rp_error_set(err, RP_E_INVALID, "CSR extension request is malformed"), NULL;
		}
		int seen[4] = {0};
		for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
			X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);
			if (csr_check_extension(ext, err) < 0)
				return NULL;
			int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
			int slot = nid == NID_basic_constraints ? 0 : nid == NID_key_usage ? 1 : 2;
			if (seen[slot]++)
				return rp_error_set(err, RP_E_INVALID, "CSR requests extension %s twice", OBJ_nid2sn(nid)), NULL;
		}
	}
	if (EVP_PKEY_up_ref(pub) != 1)
		return rp_error_set_openssl(err, "taking CSR key"), NULL;
	return pub;
}

