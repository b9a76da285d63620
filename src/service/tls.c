/* rampartd's self-signed TLS certificate (see tls.h); the generated key is written owner-only. */
#include "service/tls.h"

#include <string.h>
#include <time.h>
#include <unistd.h>
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "service/tls_cert.h"

int tls_ensure_self_signed(const char *state_dir, const char *host, rp_error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/tls", state_dir);
	_cleanup_free_ char *cert = xasprintf("%s/cert.pem", dir);
	_cleanup_free_ char *key_path = xasprintf("%s/key.pem", dir);
	if (access(cert, F_OK) == 0 && access(key_path, F_OK) == 0)
		return 0;
	if (rp_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_pkey_ EVP_PKEY *key = rp_key_generate_p256(err);
	if (!key)
		return -1;
	const char *sans[4];
	size_t n = 0;
	if (strcmp(host, "localhost") != 0 && strcmp(host, "127.0.0.1") != 0 && strcmp(host, "::1") != 0 &&
	    strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0)
		sans[n++] = host;
	sans[n++] = "localhost";
	sans[n++] = "127.0.0.1";
	sans[n++] = "::1";
	_cleanup_free_ char *pem = tls_cert_self_signed_pem(key, sans, n, 825, time(NULL), err);
	if (!pem)
		return rp_error_prefix(err, "creating the TLS certificate");
	/* Key first: a certificate without its key would be useless at the next start. */
	if (rp_key_save_private_pem(key, key_path, err) < 0 ||
	    rp_write_file_atomic(cert, pem, strlen(pem), 0644, err) < 0)
		return rp_error_prefix(err, "saving the TLS certificate");
	return 0;
}
