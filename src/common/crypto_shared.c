/* The functions of crypto.h built only on its other functions (file hash, key IDs, hash-then-sign):
 * one copy for both crypto backends, crypto.c (OpenSSL) and crypto_mbedtls.c. */
#include "common/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/macros.h"
#include "common/xalloc.h"

/* 64 KiB reads: the update worker that uses this must stay within a few MiB. */
#define SHA256_FILE_CHUNK (64u * 1024)

int rp_sha256_file(const char *path, uint8_t out[RP_SHA256_LEN], uint64_t *size, rp_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening %s", path);
	rp_sha256 h;
	if (rp_sha256_init(&h, err) < 0)
		return -1;
	_cleanup_free_ uint8_t *buf = xmalloc(SHA256_FILE_CHUNK);
	uint64_t total = 0;
	for (;;) {
		ssize_t n = rp_read_full(fd, buf, SHA256_FILE_CHUNK);
		if (n < 0) {
			rp_sha256_free(&h);
			return rp_error_set_errno(err, errno, "reading %s", path);
		}
		if (n == 0)
			break;
		rp_sha256_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	int r = rp_sha256_final(&h, out, err);
	rp_sha256_free(&h);
	if (size)
		*size = total;
	return r;
}

int rp_key_id(rp_key *key, uint8_t out[RP_KEY_ID_LEN], rp_error *err)
{
	_cleanup_free_ uint8_t *der = NULL;
	size_t len = 0;
	if (rp_key_public_der(key, &der, &len, err) < 0)
		return -1;
	rp_sha256_buf(der, len, out);
	return 0;
}

char *rp_key_id_hex(rp_key *key, rp_error *err)
{
	uint8_t id[RP_KEY_ID_LEN];
	if (rp_key_id(key, id, err) < 0)
		return NULL;
	return rp_hex_encode(id, sizeof(id));
}

int rp_ecdsa_sign(rp_key *key, const void *msg, size_t len, uint8_t sig[RP_ECDSA_SIG_MAX], size_t *sig_len,
                  rp_error *err)
{
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(msg, len, digest);
	return rp_ecdsa_sign_digest(key, digest, sig, sig_len, err);
}

int rp_ecdsa_verify(rp_key *key, const void *msg, size_t len, const uint8_t *sig, size_t sig_len, rp_error *err)
{
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(msg, len, digest);
	return rp_ecdsa_verify_digest(key, digest, sig, sig_len, err);
}
