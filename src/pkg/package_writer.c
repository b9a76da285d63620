/* Image package writer: streams header, table, metadata and payload to a temporary file while
 * hashing, then appends the signatures and renames the file into place. */
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "pkg/package_writer.h"

static int write_hashed(int fd, rp_sha256 *h, const void *data, size_t len, rp_error *err)
{
	if (h)
		rp_sha256_update(h, data, len);
	if (rp_write_full(fd, data, len) < 0)
		return rp_error_set_errno(err, errno, "writing package");
	return 0;
}

/* The payload comes from a file (fd) or from memory (an opened package's sealed copy). */
struct payload_src {
	int fd;
	const uint8_t *mem;
	uint64_t len;
};

static int write_body(int fd, const struct package_metadata *md, const struct payload_src *src,
                      EVP_PKEY *const *keys, size_t nkeys, rp_error *err)
{
	if (src->len == 0)
		return rp_error_set(err, RP_E_INVALID, "payload is empty");
	uint8_t ids[PACKAGE_SIGNATURES_MAX][RP_KEY_ID_LEN];
	for (size_t i = 0; i < nkeys; i++) {
		if (rp_key_id(keys[i], ids[i], err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (memcmp(ids[i], ids[j], RP_KEY_ID_LEN) == 0)
				return rp_error_set(err, RP_E_INVALID, "the same signing key is given twice");
	}
	rp_buf meta;
	rp_buf_init(&meta);
	if (package_metadata_encode(md, &meta, err) < 0) {
		rp_buf_free(&meta);
		return -1;
	}
	uint64_t table_end = PACKAGE_HEADER_LEN + PACKAGE_SECTION_COUNT * PACKAGE_SECTION_ENTRY_LEN;
	uint64_t offs[3], lens[3] = {meta.len, src->len, PACKAGE_SIGNATURES_SECTION_LEN(nkeys)};
	offs[0] = table_end;
	offs[1] = offs[0] + lens[0];
	offs[2] = offs[1] + lens[1];
	uint64_t total = offs[2] + lens[2];

	uint8_t head[PACKAGE_HEADER_LEN + PACKAGE_SECTION_COUNT * PACKAGE_SECTION_ENTRY_LEN];
	memset(head, 0, sizeof(head));
	memcpy(head, PACKAGE_MAGIC, PACKAGE_MAGIC_LEN);
	head[9] = PACKAGE_FORMAT_VERSION;
	head[11] = PACKAGE_HEADER_LEN;
	head[13] = PACKAGE_SECTION_COUNT;
	rp_put_u64be(head + 16, total);
	for (unsigned i = 0; i < PACKAGE_SECTION_COUNT; i++) {
		uint8_t *e = head + PACKAGE_HEADER_LEN + i * PACKAGE_SECTION_ENTRY_LEN;
		rp_put_u32be(e, i + 1);
		rp_put_u64be(e + 8, offs[i]);
		rp_put_u64be(e + 16, lens[i]);
	}
	rp_sha256 h = {0};
	int ret = -1;
	_cleanup_free_ uint8_t *buf = xmalloc(256 * 1024);
	if (rp_sha256_init(&h, err) < 0)
		goto out;
	if (write_hashed(fd, &h, head, sizeof(head), err) < 0 || write_hashed(fd, &h, meta.data, meta.len, err) < 0)
		goto out;
	uint64_t copied = 0;
	if (src->mem && write_hashed(fd, &h, src->mem, (size_t)src->len, err) < 0)
		goto out;
	while (!src->mem && copied < lens[1]) {
		ssize_t n = pread(src->fd, buf, 256 * 1024, (off_t)copied);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rp_error_set_errno(err, n < 0 ? errno : EIO, "reading payload");
			goto out;
		}
		if ((uint64_t)n > lens[1] - copied)
			n = (ssize_t)(lens[1] - copied);
		if (write_hashed(fd, &h, buf, (size_t)n, err) < 0)
			goto out;
		copied += (uint64_t)n;
	}
	uint8_t digest[RP_SHA256_LEN];
	if (rp_sha256_final(&h, digest, err) < 0)
		goto out;
	rp_buf sigs;
	rp_buf_init(&sigs);
	rp_buf_u16(&sigs, (uint16_t)nkeys);
	for (size_t i = 0; i < nkeys; i++) {
		uint8_t der[RP_ECDSA_SIG_MAX] = {0};
		size_t der_len = 0;
		if (rp_ecdsa_sign_digest(keys[i], digest, der, &der_len, err) < 0) {
			rp_buf_free(&sigs);
			goto out;
		}
		rp_buf_append(&sigs, ids[i], RP_KEY_ID_LEN);
		rp_buf_u16(&sigs, (uint16_t)der_len);
		memset(der + der_len, 0, sizeof(der) - der_len);
		rp_buf_append(&sigs, der, PACKAGE_SIG_DER_MAX);
	}
	ret = write_hashed(fd, NULL, sigs.data, sigs.len, err);
	rp_buf_free(&sigs);
out:
	rp_sha256_free(&h);
	rp_buf_free(&meta);
	return ret;
}

static int write_file(const char *out_path, const struct package_metadata *md, const struct payload_src *src,
                      EVP_PKEY *const *keys, size_t nkeys, rp_error *err)
{
	if (nkeys == 0 || nkeys > PACKAGE_SIGNATURES_MAX)
		return rp_error_set(err, RP_E_INVALID, "a package needs 1 to %d signing keys", PACKAGE_SIGNATURES_MAX);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.XXXXXX", out_path);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "creating %s", out_path);
	if (write_body(fd, md, src, keys, nkeys, err) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0 ||
	    rename(tmp, out_path) < 0) {
		if (!rp_error_is_set(err))
			rp_error_set_errno(err, errno, "writing %s", out_path);
		unlink(tmp);
		return rp_error_prefix(err, "writing %s", out_path);
	}
	_cleanup_free_ char *dir = xstrdup(out_path);
	rp_error ignore = RP_ERROR_INIT;
	if (rp_fsync_dir(dirname(dir), &ignore) < 0)
		rp_error_clear(&ignore); /* the rename happened; durability is best effort here */
	return 0;
}

int package_writer_write(const char *out_path, const struct package_metadata *md, int payload_fd,
                         EVP_PKEY *const *keys, size_t nkeys, rp_error *err)
{
	struct stat st;
	if (fstat(payload_fd, &st) < 0)
		return rp_error_set_errno(err, errno, "reading payload");
	if (!S_ISREG(st.st_mode))
		return rp_error_set(err, RP_E_INVALID, "payload must be a regular file");
	struct payload_src src = {.fd = payload_fd, .len = (uint64_t)st.st_size};
	return write_file(out_path, md, &src, keys, nkeys, err);
}

int package_writer_resign(const struct package *pkg, const char *out_path, EVP_PKEY *const *keys, size_t nkeys,
                          rp_error *err)
{
	struct payload_src src = {.fd = -1, .mem = pkg->data + pkg->payload_off, .len = pkg->payload_len};
	return write_file(out_path, &pkg->md, &src, keys, nkeys, err);
}
