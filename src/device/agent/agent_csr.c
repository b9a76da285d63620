/* Certificate signing requests for the agent's fresh keys (see agent_csr.h). */
#include "device/agent/agent_csr.h"

#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/crypto.h"
#include "common/xalloc.h"

RP_DEFINE_CLEANUP(X509_REQ, X509_REQ_free)

char *agent_csr_build(EVP_PKEY *key, const char *common_name, rp_error *err)
{
	_cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new();
	if (!req || X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_pubkey(req, key) != 1)
		return rp_error_set_openssl(err, "building the CSR"), NULL;
	X509_NAME *name = X509_REQ_get_subject_name(req);
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)common_name, -1, -1, 0) != 1 ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		return rp_error_set_openssl(err, "signing the CSR"), NULL;
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_X509_REQ(bio, req) != 1)
		return rp_error_set_openssl(err, "encoding the CSR"), NULL;
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		return rp_error_set_openssl(err, "encoding the CSR"), NULL;
	return xstrndup(data, (size_t)n);
}
