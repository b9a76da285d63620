/* Image package reader: one pass over the input into a sealed memfd while hashing, then strict
 * structure checks, signature verification, metadata decoding and the payload safety walk.
 * Defends against malformed or hostile packages and against the file changing underneath us. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "pkg/package_parse.h"
#include "pkg/package_reader.h"
#include "pkg/payload_reader.h"

/* Input plus, for the spooled form, where its copy goes. */
struct source {
	struct package_input in;
	int spool_dirfd; /* -1: copy into a sealed memfd */
};

ssize_t package_input_read(struct package_input *s, void *out, size_t n)
{
	if (s->fd >= 0)
		return rp_read_full(s->fd, out, n);
	size_t k = s->len - s->pos < n ? s->len - s->pos : n;
	memcpy(out, s->buf + s->pos, k);
	s->pos += k;
	return (ssize_t)k;
}

void package_free(struct package *pkg)
{
	if (!pkg)
		return;
	if (pkg->data)
		munmap((void *)pkg->data, pkg->len);
	if (pkg->fd >= 0)
		close(pkg->fd);
	free(pkg);
}

static const char *section_name(uint32_t type)
{
	switch (type) {
	case PACKAGE_SECTION_METADATA: return "metadata";
	case PACKAGE_SECTION_PAYLOAD: return "payload";
	case PACKAGE_SECTION_SIGNATURES: return "signatures";
	default: return "unknown";
	}
}

/* Header: magic, version, header length, section count, reserved, total length, reserved. */
int package_parse_header(const uint8_t *h, const struct package_limits *lim, uint64_t *total, rp_error *err)
{
	if (memcmp(h, PACKAGE_MAGIC, PACKAGE_MAGIC_LEN) != 0)
		return rp_error_set(err, RP_E_INVALID, "not an image package (bad magic)");
	uint16_t version = (uint16_t)(h[8] << 8 | h[9]), hlen = (uint16_t)(h[10] << 8 | h[11]);
	uint16_t count = (uint16_t)(h[12] << 8 | h[13]), reserved = (uint16_t)(h[14] << 8 | h[15]);
	if (version != PACKAGE_FORMAT_VERSION)
		return rp_error_set(err, RP_E_UNSUPPORTED,
		                    "package format version %u is not supported (this build reads version %d)", version,
		                    PACKAGE_FORMAT_VERSION);
	if (hlen != PACKAGE_HEADER_LEN)
		return rp_error_set(err, RP_E_INVALID, "header length is %u, must be %d", hlen, PACKAGE_HEADER_LEN);
	if (count != PACKAGE_SECTION_COUNT)
		return rp_error_set(err, RP_E_INVALID, "section count is %u, format version 1 has exactly %d", count,
		                    PACKAGE_SECTION_COUNT);
	*total = rp_get_u64be(h + 16);
	for (size_t i = 24; i < 32; i++)
		reserved |= h[i];
	if (reserved)
		return rp_error_set(err, RP_E_INVALID, "reserved header bytes are not zero");
	uint64_t min = PACKAGE_HEADER_LEN + PACKAGE_SECTION_COUNT * PACKAGE_SECTION_ENTRY_LEN;
	if (*total < min)
		return rp_error_set(err, RP_E_INVALID, "header claims a total length of %llu bytes, less than its own table",
		                    (unsigned long long)*total);
	if (*total > lim->max_package_bytes)
		return rp_error_set(err, RP_E_LIMIT, "package is %llu bytes, more than the limit of %llu",
		                    (unsigned long long)*total, (unsigned long long)lim->max_package_bytes);
	return 0;
}

/* Section table: exactly METADATA, PAYLOAD, SIGNATURES, contiguous from the end of the table to
 * the end of the file, each within its limit. Lying lengths or offsets fail here. */
int package_parse_table(struct package *pkg, const uint8_t *t, rp_error *err)
{
	uint64_t expect_off = PACKAGE_HEADER_LEN + PACKAGE_SECTION_COUNT * PACKAGE_SECTION_ENTRY_LEN;
	uint64_t *offs[] = {&pkg->metadata_off, &pkg->payload_off, &pkg->signatures_off};
	uint64_t *lens[] = {&pkg->metadata_len, &pkg->payload_len, &pkg->signatures_len};
	uint32_t seen = 0;
	for (unsigned i = 0; i < PACKAGE_SECTION_COUNT; i++) {
		const uint8_t *e = t + i * PACKAGE_SECTION_ENTRY_LEN;
		uint32_t type = rp_get_u32be(e), flags = rp_get_u32be(e + 4);
		uint64_t off = rp_get_u64be(e + 8), len = rp_get_u64be(e + 16);
		if (type < PACKAGE_SECTION_METADATA || type > PACKAGE_SECTION_SIGNATURES)
			return rp_error_set(err, RP_E_INVALID, "section %u has unknown type %u", i, type);
		if (seen & (1u << type))
			return rp_error_set(err, RP_E_INVALID, "duplicate %s section", section_name(type));
		seen |= 1u << type;
		if (type != i + 1)
			return rp_error_set(err, RP_E_INVALID, "%s section is out of order (position %u)", section_name(type),
			                    i);
		if (flags)
			return rp_error_set(err, RP_E_INVALID, "%s section has unknown flags 0x%x", section_name(type), flags);
		if (off != expect_off)
			return rp_error_set(err, RP_E_INVALID,
			                    "%s section starts at offset %llu, expected %llu (sections must be contiguous)",
			                    section_name(type), (unsigned long long)off, (unsigned long long)expect_off);
		if (len > pkg->len - off)
			return rp_error_set(err, RP_E_INVALID, "%s section length %llu runs past the end of the package",
			                    section_name(type), (unsigned long long)len);
		*offs[i] = off;
		*lens[i] = len;
		expect_off = off + len;
	}
	if (expect_off != pkg->len)
		return rp_error_set(err, RP_E_INVALID, "sections end at %llu but the header says the package is %zu bytes",
		                    (unsigned long long)expect_off, pkg->len);
	if (pkg->metadata_len == 0 || pkg->metadata_len > pkg->limits.max_metadata_bytes)
		return rp_error_set(err, pkg->metadata_len ? RP_E_LIMIT : RP_E_INVALID,
		                    "metadata section is %llu bytes (allowed 1 to %u)",
		                    (unsigned long long)pkg->metadata_len, pkg->limits.max_metadata_bytes);
	if (pkg->payload_len == 0)
		return rp_error_set(err, RP_E_INVALID, "payload section is empty");
	if (pkg->signatures_len > PACKAGE_SIGNATURES_SECTION_MAX)
		return rp_error_set(err, RP_E_LIMIT, "signatures section is %llu bytes (at most %zu)",
		                    (unsigned long long)pkg->signatures_len, (size_t)PACKAGE_SIGNATURES_SECTION_MAX);
	return 0;
}

int package_parse_signatures(struct package *pkg, const uint8_t *s, rp_error *err)
{
	if (pkg->signatures_len < 2)
		return rp_error_set(err, RP_E_INVALID, "signatures section is truncated");
	unsigned n = (unsigned)(s[0] << 8 | s[1]);
	if (n == 0)
		return rp_error_set(err, RP_E_VERIFY, "package is not signed (no signatures)");
	if (n > PACKAGE_SIGNATURES_MAX)
		return rp_error_set(err, RP_E_LIMIT, "package has %u signatures, at most %d allowed", n,
		                    PACKAGE_SIGNATURES_MAX);
	if (pkg->signatures_len != PACKAGE_SIGNATURES_SECTION_LEN(n))
		return rp_error_set(err, RP_E_INVALID, "signatures section is %llu bytes, %u signatures need %zu",
		                    (unsigned long long)pkg->signatures_len, n, PACKAGE_SIGNATURES_SECTION_LEN(n));
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *slot = s + 2 + (size_t)i * PACKAGE_SIG_SLOT_LEN;
		struct package_signature *sig = &pkg->sigs[i];
		memcpy(sig->key_id, slot, RP_KEY_ID_LEN);
		sig->der_len = (size_t)(slot[32] << 8 | slot[33]);
		if (sig->der_len < PACKAGE_SIG_DER_MIN || sig->der_len > PACKAGE_SIG_DER_MAX)
			return rp_error_set(err, RP_E_INVALID, "signature %u has an invalid length %zu", i, sig->der_len);
		memcpy(sig->der, slot + 34, sig->der_len);
		for (size_t k = sig->der_len; k < PACKAGE_SIG_DER_MAX; k++)
			if (slot[34 + k])
				return rp_error_set(err, RP_E_INVALID, "signature %u has non-zero padding", i);
		for (unsigned j = 0; j < i; j++)
			if (memcmp(pkg->sigs[j].key_id, sig->key_id, RP_KEY_ID_LEN) == 0)
				return rp_error_set(err, RP_E_INVALID, "two signatures carry the same key ID");
		sig->status = PACKAGE_SIG_NOT_CHECKED;
	}
	pkg->nsigs = n;
	return 0;
}

/* Policy: at least THRESHOLD valid signatures by distinct trusted keys. A signature that names a
 * trusted key but does not match is a hard failure (the content changed after signing); a
 * signature by an unknown key is ignored. */
int package_verify_signatures(struct package *pkg, const struct package_trust *trust, rp_error *err)
{
	unsigned threshold = trust->threshold ? trust->threshold : 1;
	if (trust->nkeys == 0)
		return rp_error_set(err, RP_E_VERIFY, "no trusted keys were given");
	_cleanup_free_ uint8_t(*ids)[RP_KEY_ID_LEN] = xcalloc(trust->nkeys, RP_KEY_ID_LEN);
	for (size_t k = 0; k < trust->nkeys; k++)
		if (rp_key_id(trust->keys[k], ids[k], err) < 0)
			return -1;
	pkg->valid_sigs = 0;
	for (size_t i = 0; i < pkg->nsigs; i++) {
		struct package_signature *sig = &pkg->sigs[i];
		sig->status = PACKAGE_SIG_UNKNOWN_KEY;
		for (size_t k = 0; k < trust->nkeys; k++) {
			if (memcmp(ids[k], sig->key_id, RP_KEY_ID_LEN) != 0)
				continue;
			if (rp_ecdsa_verify_digest(trust->keys[k], pkg->digest, sig->der, sig->der_len, err) < 0) {
				_cleanup_free_ char *hex = rp_hex_encode(sig->key_id, RP_KEY_ID_LEN);
				return rp_error_prefix(err, "signature by trusted key %s does not match the package contents "
				                            "(modified after signing?)", hex);
			}
			sig->status = PACKAGE_SIG_VALID;
			pkg->valid_sigs++;
			break;
		}
	}
	if (pkg->valid_sigs < threshold) {
		if (pkg->valid_sigs == 0)
			return rp_error_set(err, RP_E_VERIFY,
			                    "none of the package's %zu signature(s) is by a trusted key (untrusted signer)",
			                    pkg->nsigs);
		return rp_error_set(err, RP_E_VERIFY, "package has %u valid signature(s) by trusted keys, %u required",
		                    pkg->valid_sigs, threshold);
	}
	pkg->verified = true;
	return 0;
}

/* Append exactly WANT bytes from SRC to the memfd; returns the number copied (less at EOF) or -1.
 * An fd source is copied inside the kernel with sendfile() when it can be (no user-space copy),
 * otherwise through a buffer. */
static ssize_t copy_in(int memfd, struct source *src, size_t want)
{
	size_t done = 0;
	if (src->in.fd < 0) {
		size_t k = src->in.len - src->in.pos < want ? src->in.len - src->in.pos : want;
		if (rp_write_full(memfd, src->in.buf + src->in.pos, k) < 0)
			return -1;
		src->in.pos += k;
		return (ssize_t)k;
	}
	bool use_sendfile = true;
	_cleanup_free_ uint8_t *buf = NULL;
	while (done < want) {
		size_t chunk = want - done < (1u << 30) ? want - done : (1u << 30);
		ssize_t n;
		if (use_sendfile) {
			n = sendfile(memfd, src->in.fd, NULL, chunk);
			if (n < 0 && done == 0 && (errno == EINVAL || errno == ENOSYS)) {
				use_sendfile = false; /* e.g. a pipe on an older kernel */
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
		} else {
			if (!buf)
				buf = xmalloc(256 * 1024);
			n = rp_read_full(src->in.fd, buf, chunk < 256 * 1024 ? chunk : 256 * 1024);
			if (n > 0 && rp_write_full(memfd, buf, (size_t)n) < 0)
				return -1;
		}
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Copy the input once into a new memfd, seal it, map it read-only, then check the section table
 * and hash the signed prefix from that sealed copy: the bytes hashed and verified are the bytes
 * every later step reads. */
static int stream_in(struct package *pkg, struct source *src, rp_error *err)
{
	uint8_t head[PACKAGE_HEADER_LEN];
	ssize_t n = package_input_read(&src->in, head, PACKAGE_HEADER_LEN);
	if (n < 0)
		return rp_error_set_errno(err, errno, "reading package");
	if ((size_t)n < PACKAGE_HEADER_LEN)
		return rp_error_set(err, RP_E_INVALID, "truncated: %zd bytes, shorter than the %d-byte header", n,
		                    PACKAGE_HEADER_LEN);
	uint64_t total = 0;
	if (package_parse_header(head, &pkg->limits, &total, err) < 0)
		return -1;
	if (total > SIZE_MAX / 2)
		return rp_error_set(err, RP_E_LIMIT, "package too large");
	pkg->len = (size_t)total;
	if (src->spool_dirfd >= 0)
		/* Unnamed (O_TMPFILE) and never linkable (O_EXCL): no other process can open it by name. */
		pkg->fd = openat(src->spool_dirfd, ".", O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	else
		pkg->fd = memfd_create("rampart-package", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (pkg->fd < 0)
		return rp_error_set_errno(err, errno, "creating private package copy");
	if (rp_write_full(pkg->fd, head, PACKAGE_HEADER_LEN) < 0)
		return rp_error_set_errno(err, errno, "writing private package copy");
	n = copy_in(pkg->fd, src, pkg->len - PACKAGE_HEADER_LEN);
	if (n < 0)
		return rp_error_set_errno(err, errno, "reading package");
	if ((size_t)n < pkg->len - PACKAGE_HEADER_LEN)
		return rp_error_set(err, RP_E_INVALID, "truncated: the header says %zu bytes but the file ends after %zu",
		                    pkg->len, (size_t)n + PACKAGE_HEADER_LEN);
	uint8_t extra;
	n = package_input_read(&src->in, &extra, 1);
	if (n < 0)
		return rp_error_set_errno(err, errno, "reading package");
	if (n > 0)
		return rp_error_set(err, RP_E_INVALID, "trailing data after the %zu bytes the header declares", pkg->len);
	if (src->spool_dirfd < 0) {
		/* Seal: from here on nobody, not even this process, can change the bytes we verify. */
		if (fcntl(pkg->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
			return rp_error_set_errno(err, errno, "sealing private package copy");
	} else {
		/* A spool file cannot be sealed; keep only a read-only descriptor to it. */
		_cleanup_free_ char *self = xasprintf("/proc/self/fd/%d", pkg->fd);
		int ro = open(self, O_RDONLY | O_CLOEXEC);
		if (ro < 0)
			return rp_error_set_errno(err, errno, "reopening private package copy read-only");
		close(pkg->fd);
		pkg->fd = ro;
	}
	void *r = mmap(NULL, pkg->len, PROT_READ, MAP_SHARED | MAP_POPULATE, pkg->fd, 0);
	if (r == MAP_FAILED)
		return rp_error_set_errno(err, errno, "mapping private package copy");
	pkg->data = r;
	if (package_parse_table(pkg, pkg->data + PACKAGE_HEADER_LEN, err) < 0)
		return -1;
	rp_sha256 h = {0};
	if (rp_sha256_init(&h, err) < 0)
		return -1;
	rp_sha256_update(&h, pkg->data, (size_t)pkg->signatures_off);
	int ret = rp_sha256_final(&h, pkg->digest, err);
	rp_sha256_free(&h);
	return ret;
}

static struct package *open_source(struct source *src, const struct package_limits *limits,
                                   const struct package_trust *trust, rp_error *err)
{
	_cleanup_package_ struct package *pkg = xcalloc(1, sizeof(*pkg));
	pkg->fd = -1;
	if (limits)
		pkg->limits = *limits;
	else
		package_limits_default(&pkg->limits);
	if (stream_in(pkg, src, err) < 0 || package_parse_signatures(pkg, pkg->data + pkg->signatures_off, err) < 0)
		return NULL;
	/* Verify before parsing anything else, so an untrusted signer never reaches the metadata or
	 * squashfs parsers. */
	if (trust && package_verify_signatures(pkg, trust, err) < 0)
		return NULL;
	if (package_metadata_decode(pkg->data + pkg->metadata_off, pkg->metadata_len, &pkg->md, err) < 0)
		return rp_error_prefix(err, "metadata"), NULL;
	if (payload_reader_check(pkg, err) < 0)
		return rp_error_prefix(err, "payload"), NULL;
	return steal_ptr(pkg);
}

struct package *package_reader_open_fd(int fd, const struct package_limits *limits, const struct package_trust *trust,
                                       rp_error *err)
{
	struct source src = {.in = {.fd = fd}, .spool_dirfd = -1};
	return open_source(&src, limits, trust, err);
}

struct package *package_reader_open_buffer(const void *data, size_t len, const struct package_limits *limits,
                                           const struct package_trust *trust, rp_error *err)
{
	struct source src = {.in = {.fd = -1, .buf = data, .len = len}, .spool_dirfd = -1};
	return open_source(&src, limits, trust, err);
}

struct package *package_reader_open_path(const char *path, const struct package_limits *limits,
                                         const struct package_trust *trust, rp_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening %s", path), NULL;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		return rp_error_set(err, RP_E_INVALID, "%s is a directory, not an image package", path), NULL;
	return package_reader_open_fd(fd, limits, trust, err);
}

struct package *package_reader_open_fd_spooled(int fd, int spool_dirfd, const struct package_limits *limits,
                                               const struct package_trust *trust, rp_error *err)
{
	if (spool_dirfd < 0)
		return rp_error_set(err, RP_E_INTERNAL, "spooling needs a directory fd"), NULL;
	struct source src = {.in = {.fd = fd}, .spool_dirfd = spool_dirfd};
	return open_source(&src, limits, trust, err);
}
