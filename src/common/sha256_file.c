/* SHA-256 of a whole file through crypto.h's streaming hash, the same for both crypto backends. */
#include "common/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

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
