/* Unit tests for one-pass package verification (pkg/package_stream.h): the sink receives exactly
 * the package bytes, the verdict agrees with the sealed-copy reader, and an altered, truncated or
 * over-long package or a failing sink is refused only at the point the pass can know it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "pkg/package_reader.h"
#include "pkg/package_stream.h"
#include "pkg/package_writer.h"
#include "pkg/payload_builder.h"

static char tmpdir[256];
static EVP_PKEY *k1, *k2;

static char *tpath(const char *name) { return xasprintf("%s/%s", tmpdir, name); }

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rampart-test-package-stream-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *f = tpath("rootfs.img");
	/* Bigger than several stream chunks, incompressible so the payload stays that big. */
	size_t n = 3 * PACKAGE_STREAM_CHUNK + 12345;
	_cleanup_free_ uint8_t *junk = xmalloc(n);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64: zstd cannot shrink it */
		junk[i] = (uint8_t)(x >> 32);
	}
	if (rp_write_file_atomic(f, junk, n, 0644, &err) < 0)
		return -1;
	k1 = rp_key_generate_p256(&err);
	k2 = rp_key_generate_p256(&err);
	return k1 && k2 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	return rp_remove_tree(tmpdir, &err);
}

/* A signed os-bundle in memory, payload over several stream chunks. */
static uint8_t *make_bundle(size_t *len)
{
	struct package_metadata md;
	memset(&md, 0, sizeof(md));
	snprintf(md.component_id, sizeof(md.component_id), "0f5e1a52-7d1c-4a4e-9a43-2f0c1d9e8b11");
	snprintf(md.image_id, sizeof(md.image_id), "00000000-1111-4222-8333-444444444444");
	md.type = PACKAGE_TYPE_OS_BUNDLE;
	md.version = 7;
	snprintf(md.version_string, sizeof(md.version_string), "7");
	snprintf(md.name, sizeof(md.name), "os");
	md.build_time = 1700000000;
	rp_error err = RP_ERROR_INIT;
	struct payload_builder *b = payload_builder_new();
	_cleanup_free_ char *f = tpath("rootfs.img"), *out = tpath("bundle.rpkg");
	assert_int_equal(payload_builder_add_file(b, "rootfs.img", f, false, &err), 0);
	_cleanup_close_ int pfd = memfd_create("payload", MFD_CLOEXEC);
	assert_int_equal(payload_builder_write(b, pfd, &err), 0);
	payload_builder_free(b);
	EVP_PKEY *keys[] = {k1};
	assert_int_equal(package_writer_write(out, &md, pfd, keys, 1, &err), 0);
	uint8_t *data = NULL;
	assert_int_equal(rp_read_file(out, 64 << 20, &data, len, &err), 0);
	return data;
}

/* A sink that appends to a memfd, optionally failing like a full disk after FAIL_AFTER bytes. */
struct mem_sink {
	int fd;
	uint64_t next_off, written, fail_after;
};

static int mem_sink_write(void *ctx, uint64_t off, const void *buf, size_t len, rp_error *err)
{
	struct mem_sink *s = ctx;
	assert_int_equal(off, s->next_off); /* in order, nothing skipped or repeated */
	if (s->fail_after && s->written + len > s->fail_after)
		return rp_error_set_errno(err, ENOSPC, "writing the slot");
	assert_int_equal(rp_write_full(s->fd, buf, len), 0);
	s->next_off += len;
	s->written += len;
	return 0;
}

static void stream_matches_reader_and_sink_gets_every_byte(void **state)
{
	(void)state;
	size_t len;
	_cleanup_free_ uint8_t *data = make_bundle(&len);
	assert_true(len > 3 * PACKAGE_STREAM_CHUNK);
	_cleanup_close_ int in = memfd_create("in", MFD_CLOEXEC);
	assert_int_equal(rp_write_full(in, data, len), 0);
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	struct mem_sink s = {.fd = memfd_create("slot", MFD_CLOEXEC)};
	EVP_PKEY *keys[] = {k1};
	struct package_trust trust = {.keys = keys, .nkeys = 1};
	struct package_stream_result res;
	rp_error err = RP_ERROR_INIT;
	if (package_stream_verify(in, NULL, &trust, mem_sink_write, &s, &res, &err) < 0)
		fail_msg("%s", err.message);
	assert_true(res.verified);
	assert_int_equal(res.valid_sigs, 1);
	assert_int_equal(res.len, len);
	assert_int_equal(s.written, len);
	assert_int_equal(res.md.type, PACKAGE_TYPE_OS_BUNDLE);
	assert_int_equal(res.md.version, 7);
	/* What the sink holds is the package, byte for byte. */
	_cleanup_free_ uint8_t *copy = xmalloc(len);
	assert_int_equal(pread(s.fd, copy, len, 0), (ssize_t)len);
	assert_memory_equal(copy, data, len);
	/* Same verdict, digest and metadata as the sealed-copy reader. */
	_cleanup_package_ struct package *pkg = package_reader_open_buffer(data, len, NULL, &trust, &err);
	assert_non_null(pkg);
	assert_memory_equal(res.digest, pkg->digest, RP_SHA256_LEN);
	assert_memory_equal(&res.md, &pkg->md, sizeof(res.md));
	assert_int_equal(res.payload_off, pkg->payload_off);
	/* The payload walk over the written copy finds what the reader's walk found. */
	struct package_payload_summary sum;
	assert_int_equal(package_stream_check_payload(s.fd, &res, NULL, &sum, &err), 0);
	assert_int_equal(sum.files, pkg->payload.files);
	assert_int_equal(sum.total_bytes, pkg->payload.total_bytes);
	close(s.fd);
}

/* A flipped payload byte is found only once the whole package went by: the sink got everything,
 * and the verdict is a signature mismatch (the caller must throw the copy away). */
static void altered_payload_refused_at_the_end(void **state)
{
	(void)state;
	size_t len;
	_cleanup_free_ uint8_t *data = make_bundle(&len);
	EVP_PKEY *keys[] = {k1};
	struct package_trust trust = {.keys = keys, .nkeys = 1};
	struct package_stream_result res;
	size_t at[] = {200, len / 2, len - PACKAGE_SIGNATURES_SECTION_LEN(1) - 1};
	for (size_t i = 0; i < RP_ARRAY_SIZE(at); i++) {
		data[at[i]] ^= 0x20;
		struct mem_sink s = {.fd = memfd_create("slot", MFD_CLOEXEC)};
		rp_error err = RP_ERROR_INIT;
		assert_int_equal(package_stream_verify_buffer(data, len, NULL, &trust, mem_sink_write, &s, &res, &err), -1);
		assert_int_equal(err.code, RP_E_VERIFY);
		assert_non_null(strstr(err.message, "does not match the package contents"));
		assert_int_equal(s.written, len);
		close(s.fd);
		data[at[i]] ^= 0x20;
	}
	/* A key outside the trust policy. */
	EVP_PKEY *other[] = {k2};
	struct package_trust t2 = {.keys = other, .nkeys = 1};
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(package_stream_verify_buffer(data, len, NULL, &t2, NULL, NULL, &res, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_non_null(strstr(err.message, "untrusted signer"));
}

static void truncated_and_overlong_refused(void **state)
{
	(void)state;
	size_t len;
	_cleanup_free_ uint8_t *data = make_bundle(&len);
	EVP_PKEY *keys[] = {k1};
	struct package_trust trust = {.keys = keys, .nkeys = 1};
	struct package_stream_result res;
	rp_error err = RP_ERROR_INIT;
	/* Every cut in the structure and around the chunk boundaries, and a spread over the rest. */
	for (size_t cut = 0; cut < len; cut += cut < 4096 ? 1 : cut % PACKAGE_STREAM_CHUNK < 8 ? 1 : 4093) {
		rp_error_clear(&err);
		assert_int_equal(package_stream_verify_buffer(data, cut, NULL, &trust, NULL, NULL, &res, &err), -1);
		assert_int_equal(err.code, RP_E_INVALID);
	}
	assert_int_equal(package_stream_verify_buffer(data, len - 1, NULL, &trust, NULL, NULL, &res, &err), -1);
	assert_non_null(strstr(err.message, "truncated"));
	/* One byte more than the header declares: refused even though every signed byte is intact. */
	_cleanup_free_ uint8_t *longer = xmalloc(len + 1);
	memcpy(longer, data, len);
	longer[len] = 0;
	rp_error_clear(&err);
	assert_int_equal(package_stream_verify_buffer(longer, len + 1, NULL, &trust, NULL, NULL, &res, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
	assert_non_null(strstr(err.message, "trailing data"));
	/* Also from an fd (the slot install path), and from a pipe that ends early. */
	_cleanup_close_ int in = memfd_create("in", MFD_CLOEXEC);
	assert_int_equal(rp_write_full(in, longer, len + 1), 0);
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	assert_int_equal(package_stream_verify(in, NULL, &trust, NULL, NULL, &res, &err), -1);
	assert_non_null(strstr(err.message, "trailing data"));
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(rp_write_full(p[1], data, 4096), 0);
	close(p[1]);
	assert_int_equal(package_stream_verify(p[0], NULL, &trust, NULL, NULL, &res, &err), -1);
	assert_non_null(strstr(err.message, "truncated"));
	close(p[0]);
	/* A length field raised over the limit is refused before anything is read. */
	struct package_limits l;
	package_limits_default(&l);
	l.max_package_bytes = len - 1;
	assert_int_equal(package_stream_verify_buffer(data, len, &l, &trust, NULL, NULL, &res, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
}

/* The sink failing (disk full) stops the pass with the sink's own error. */
static void sink_failure_passed_through(void **state)
{
	(void)state;
	size_t len;
	_cleanup_free_ uint8_t *data = make_bundle(&len);
	EVP_PKEY *keys[] = {k1};
	struct package_trust trust = {.keys = keys, .nkeys = 1};
	struct package_stream_result res;
	struct mem_sink s = {.fd = memfd_create("slot", MFD_CLOEXEC), .fail_after = len / 2};
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(package_stream_verify_buffer(data, len, NULL, &trust, mem_sink_write, &s, &res, &err), -1);
	assert_int_equal(err.sys_errno, ENOSPC);
	assert_true(s.written <= len / 2);
	close(s.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stream_matches_reader_and_sink_gets_every_byte),
		cmocka_unit_test(altered_payload_refused_at_the_end),
		cmocka_unit_test(truncated_and_overlong_refused),
		cmocka_unit_test(sink_failure_passed_through),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
