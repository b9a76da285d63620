/* One-pass image package verification: hash while passing the bytes on, verify at the end.
 * Defends against a package altered after signing, cut short or carrying extra bytes, without
 * holding more than the metadata, the signatures and one chunk in memory. */
#include "pkg/package_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/xalloc.h"
#include "pkg/package_parse.h"
#include "pkg/payload_reader.h"

#define TABLE_END (PACKAGE_HEADER_LEN + PACKAGE_SECTION_COUNT * PACKAGE_SECTION_ENTRY_LEN)

struct pass {
	struct package_input *src;
	rp_sha256 hash;
	package_stream_sink_fn sink;
	void *ctx;
	uint64_t off;   /* bytes read so far */
	uint64_t total; /* bytes the header declares */
};

/* Read exactly N bytes into BUF, hash them when HASH, hand them to the sink. */
static int take(struct pass *p, void *buf, size_t n, bool hash, rp_error *err)
{
	ssize_t got = package_input_read(p->src, buf, n);
	if (got < 0)
		return rp_error_set_errno(err, errno, "reading package");
	if ((size_t)got < n)
		return rp_error_set(err, RP_E_INVALID, "truncated: the header says %llu bytes but the input ends after %llu",
		                    (unsigned long long)p->total, (unsigned long long)(p->off + (uint64_t)got));
	if (hash)
		rp_sha256_update(&p->hash, buf, n);
	if (p->sink && p->sink(p->ctx, p->off, buf, n, err) < 0)
		return -1;
	p->off += n;
	return 0;
}

static int run(struct pass *p, struct package *pkg, const struct package_trust *trust, rp_error *err)
{
	uint8_t head[TABLE_END];
	ssize_t n = package_input_read(p->src, head, PACKAGE_HEADER_LEN);
	if (n < 0)
		return rp_error_set_errno(err, errno, "reading package");
	if ((size_t)n < PACKAGE_HEADER_LEN)
		return rp_error_set(err, RP_E_INVALID, "truncated: %zd bytes, shorter than the %d-byte header", n,
		                    PACKAGE_HEADER_LEN);
	if (package_parse_header(head, &pkg->limits, &p->total, err) < 0)
		return -1;
	if (p->total > SIZE_MAX / 2)
		return rp_error_set(err, RP_E_LIMIT, "package too large");
	pkg->len = (size_t)p->total;
	n = package_input_read(p->src, head + PACKAGE_HEADER_LEN, TABLE_END - PACKAGE_HEADER_LEN);
	if (n < 0)
		return rp_error_set_errno(err, errno, "reading package");
	if ((size_t)n < TABLE_END - PACKAGE_HEADER_LEN)
		return rp_error_set(err, RP_E_INVALID, "truncated inside the section table");
	if (package_parse_table(pkg, head + PACKAGE_HEADER_LEN, err) < 0)
		return -1;
	if (rp_sha256_init(&p->hash, err) < 0)
		return -1;
	rp_sha256_update(&p->hash, head, TABLE_END);
	if (p->sink && p->sink(p->ctx, 0, head, TABLE_END, err) < 0)
		return -1;
	p->off = TABLE_END;
	/* The sections are contiguous (package_parse_table), so reading them in order reads everything. */
	_cleanup_free_ uint8_t *meta = xmalloc((size_t)pkg->metadata_len);
	if (take(p, meta, (size_t)pkg->metadata_len, true, err) < 0)
		return -1;
	_cleanup_free_ uint8_t *chunk = xmalloc(PACKAGE_STREAM_CHUNK);
	for (uint64_t left = pkg->payload_len; left > 0;) {
		size_t k = left < PACKAGE_STREAM_CHUNK ? (size_t)left : PACKAGE_STREAM_CHUNK;
		if (take(p, chunk, k, true, err) < 0)
			return -1;
		left -= k;
	}
	_cleanup_free_ uint8_t *sigs = xmalloc((size_t)pkg->signatures_len + 1);
	if (take(p, sigs, (size_t)pkg->signatures_len, false, err) < 0)
		return -1;
	uint8_t extra;
	n = package_input_read(p->src, &extra, 1);
	if (n < 0)
		return rp_error_set_errno(err, errno, "reading package");
	if (n > 0)
		return rp_error_set(err, RP_E_INVALID, "trailing data after the %zu bytes the header declares", pkg->len);
	if (rp_sha256_final(&p->hash, pkg->digest, err) < 0)
		return -1;
	if (package_parse_signatures(pkg, sigs, err) < 0)
		return -1;
	/* Verify before decoding the metadata: an untrusted signer never reaches its parser. */
	if (trust && package_verify_signatures(pkg, trust, err) < 0)
		return -1;
	if (package_metadata_decode(meta, (size_t)pkg->metadata_len, &pkg->md, err) < 0)
		return rp_error_prefix(err, "metadata");
	return 0;
}

static int stream(struct package_input *src, const struct package_limits *limits, const struct package_trust *trust,
                  package_stream_sink_fn sink, void *ctx, struct package_stream_result *res, rp_error *err)
{
	memset(res, 0, sizeof(*res));
	_cleanup_free_ struct package *pkg = xcalloc(1, sizeof(*pkg));
	pkg->fd = -1;
	if (limits)
		pkg->limits = *limits;
	else
		package_limits_default(&pkg->limits);
	struct pass p = {.src = src, .sink = sink, .ctx = ctx};
	int rc = run(&p, pkg, trust, err);
	rp_sha256_free(&p.hash);
	if (rc < 0)
		return -1;
	res->len = pkg->len;
	res->metadata_off = pkg->metadata_off;
	res->metadata_len = pkg->metadata_len;
	res->payload_off = pkg->payload_off;
	res->payload_len = pkg->payload_len;
	res->signatures_off = pkg->signatures_off;
	res->signatures_len = pkg->signatures_len;
	memcpy(res->digest, pkg->digest, RP_SHA256_LEN);
	res->verified = pkg->verified;
	res->valid_sigs = pkg->valid_sigs;
	memcpy(&res->md, &pkg->md, sizeof(res->md));
	return 0;
}

int package_stream_verify(int fd, const struct package_limits *limits, const struct package_trust *trust,
                          package_stream_sink_fn sink, void *ctx, struct package_stream_result *res, rp_error *err)
{
	if (fd < 0)
		return rp_error_set(err, RP_E_INTERNAL, "package_stream_verify needs an fd");
	/* A hint only (a pipe refuses it): read-ahead for the one sequential pass. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	struct package_input src = {.fd = fd};
	return stream(&src, limits, trust, sink, ctx, res, err);
}

int package_stream_verify_buffer(const void *data, size_t len, const struct package_limits *limits,
                                 const struct package_trust *trust, package_stream_sink_fn sink, void *ctx,
                                 struct package_stream_result *res, rp_error *err)
{
	struct package_input src = {.fd = -1, .buf = data, .len = len};
	return stream(&src, limits, trust, sink, ctx, res, err);
}

int package_stream_check_payload(int fd, const struct package_stream_result *res, const struct package_limits *limits,
                                 struct package_payload_summary *summary, rp_error *err)
{
	if (res->len == 0 || res->payload_off + res->payload_len > res->len)
		return rp_error_set(err, RP_E_INTERNAL, "package_stream_check_payload without a verified pass");
	/* A shorter file would turn reads of the mapping into SIGBUS: refuse it first. */
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rp_error_set_errno(err, errno, "checking the package copy");
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != res->len)
		return rp_error_set(err, RP_E_INVALID, "the package copy is %lld bytes, the verified package %llu",
		                    (long long)st.st_size, (unsigned long long)res->len);
	void *map = mmap(NULL, (size_t)res->len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return rp_error_set_errno(err, errno, "mapping the package copy");
	/* Only the squashfs tables are read: no read-ahead of the payload around each fault. */
	(void)madvise(map, (size_t)res->len, MADV_RANDOM);
	_cleanup_free_ struct package *pkg = xcalloc(1, sizeof(*pkg));
	pkg->fd = -1;
	pkg->data = map;
	pkg->len = (size_t)res->len;
	if (limits)
		pkg->limits = *limits;
	else
		package_limits_default(&pkg->limits);
	pkg->metadata_off = res->metadata_off;
	pkg->metadata_len = res->metadata_len;
	pkg->payload_off = res->payload_off;
	pkg->payload_len = res->payload_len;
	pkg->signatures_off = res->signatures_off;
	pkg->signatures_len = res->signatures_len;
	pkg->md = res->md;
	int rc = payload_reader_check(pkg, err);
	if (rc == 0 && summary)
		*summary = pkg->payload;
	munmap(map, (size_t)res->len);
	return rc < 0 ? rp_error_prefix(err, "payload") : 0;
}
