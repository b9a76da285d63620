/* Unit tests for image packages: metadata TLV, writer + reader round trip, signature policy,
 * every truncation and every flipped byte refused, the sealed copy (no check-then-use race), and
 * payload reading and extraction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
#include "pkg/package_metadata.h"
#include "pkg/package_reader.h"
#include "pkg/package_writer.h"
#include "pkg/payload_builder.h"
#include "pkg/payload_reader.h"

static char tmpdir[256];
static EVP_PKEY *k1, *k2, *k3;

static const char manifest_json[] =
	"{\"SchemaVersion\":1,\"Name\":\"Hello\",\"ComponentId\":\"1689d8b2-c835-2e27-27ad-e894d6d15fa9\","
	"\"EntryPoint\":\"/bin/app\",\"CmdArgs\":[],\"Capabilities\":{},\"ApplicationType\":\"Default\"}";

static char *tpath(const char *name) { return xasprintf("%s/%s", tmpdir, name); }

static void write_text(const char *name, const char *text, mode_t mode)
{
	_cleanup_free_ char *p = tpath(name);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_write_file_atomic(p, text, strlen(text), mode, &err), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rampart-test-package-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	write_text("app_manifest.json", manifest_json, 0644);
	write_text("app", "#!/bin/sh\necho hello\n", 0755);
	write_text("data.txt", "resource data\n", 0644);
	rp_error err = RP_ERROR_INIT;
	k1 = rp_key_generate_p256(&err);
	k2 = rp_key_generate_p256(&err);
	k3 = rp_key_generate_p256(&err);
	return k1 && k2 && k3 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
	return rp_remove_tree(tmpdir, &err);
}

static void sample_metadata(struct package_metadata *md)
{
	memset(md, 0, sizeof(*md));
	snprintf(md->component_id, sizeof(md->component_id), "1689d8b2-c835-2e27-27ad-e894d6d15fa9");
	snprintf(md->image_id, sizeof(md->image_id), "00000000-1111-4222-8333-444444444444");
	md->type = PACKAGE_TYPE_APPLICATION;
	md->version = 42;
	snprintf(md->version_string, sizeof(md->version_string), "1.4.2");
	snprintf(md->name, sizeof(md->name), "Hello");
	md->build_time = 1700000000;
	snprintf(md->abi_depends[0], sizeof(md->abi_depends[0]), "ApplicationRuntime:15");
	md->n_abi_depends = 1;
	md->development = true;
}

/* Build the sample app payload into a memfd. */
static int build_payload(void)
{
	rp_error err = RP_ERROR_INIT;
	struct payload_builder *b = payload_builder_new();
	_cleanup_free_ char *m = tpath("app_manifest.json"), *a = tpath("app"), *d = tpath("data.txt");
	assert_int_equal(payload_builder_add_file(b, "app_manifest.json", m, false, &err), 0);
	assert_int_equal(payload_builder_add_file(b, "bin/app", a, true, &err), 0);
	assert_int_equal(payload_builder_add_file(b, "share/data.txt", d, false, &err), 0);
	assert_int_equal(payload_builder_add_file(b, "bin/app", a, true, &err), -1); /* twice */
	assert_true(payload_builder_has_file(b, "/bin/app"));
	assert_false(payload_builder_has_file(b, "bin"));
	int fd = memfd_create("payload", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(payload_builder_write(b, fd, &err), 0);
	payload_builder_free(b);
	return fd;
}

/* A signed package in memory. */
static uint8_t *make_package(EVP_PKEY *const *keys, size_t nkeys, size_t *len)
{
	struct package_metadata md;
	sample_metadata(&md);
	_cleanup_close_ int pfd = build_payload();
	_cleanup_free_ char *out = tpath("test.imagepackage");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(package_writer_write(out, &md, pfd, keys, nkeys, &err), 0);
	uint8_t *data = NULL;
	assert_int_equal(rp_read_file(out, 64 << 20, &data, len, &err), 0);
	return data;
}

/* Assemble a package around arbitrary metadata bytes and sign it correctly, so that checks after
 * signature verification can be reached with malformed content. */
static uint8_t *assemble(const uint8_t *meta, size_t meta_len, size_t *len)
{
	_cleanup_close_ int pfd = build_payload();
	struct stat st;
	assert_int_equal(fstat(pfd, &st), 0);
	rp_buf b;
	rp_buf_init(&b);
	uint64_t moff = PACKAGE_HEADER_LEN + 3 * PACKAGE_SECTION_ENTRY_LEN, poff = moff + meta_len,
		 soff = poff + (uint64_t)st.st_size, slen = PACKAGE_SIGNATURES_SECTION_LEN(1);
	rp_buf_append(&b, PACKAGE_MAGIC, 8);
	rp_buf_u16(&b, 1);
	rp_buf_u16(&b, PACKAGE_HEADER_LEN);
	rp_buf_u16(&b, 3);
	rp_buf_u16(&b, 0);
	rp_buf_u64(&b, soff + slen);
	rp_buf_u64(&b, 0);
	uint64_t offs[3] = {moff, poff, soff}, lens[3] = {meta_len, (uint64_t)st.st_size, slen};
	for (unsigned i = 0; i < 3; i++) {
		rp_buf_u32(&b, i + 1);
		rp_buf_u32(&b, 0);
		rp_buf_u64(&b, offs[i]);
		rp_buf_u64(&b, lens[i]);
	}
	rp_buf_append(&b, meta, meta_len);
	_cleanup_free_ uint8_t *payload = xmalloc((size_t)st.st_size);
	assert_int_equal(pread(pfd, payload, (size_t)st.st_size, 0), st.st_size);
	rp_buf_append(&b, payload, (size_t)st.st_size);
	uint8_t digest[32], sig[72] = {0}, id[32];
	size_t sig_len;
	rp_error err = RP_ERROR_INIT;
	rp_sha256_buf(b.data, b.len, digest);
	assert_int_equal(rp_ecdsa_sign_digest(k1, digest, sig, &sig_len, &err), 0);
	assert_int_equal(rp_key_id(k1, id, &err), 0);
	rp_buf_u16(&b, 1);
	rp_buf_append(&b, id, 32);
	rp_buf_u16(&b, (uint16_t)sig_len);
	rp_buf_append(&b, sig, 72);
	*len = b.len;
	return b.data;
}

static void metadata_round_trip(void **state)
{
	(void)state;
	struct package_metadata md, back;
	sample_metadata(&md);
	rp_buf b;
	rp_buf_init(&b);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(package_metadata_encode(&md, &b, &err), 0);
	assert_int_equal(package_metadata_decode(b.data, b.len, &back, &err), 0);
	assert_memory_equal(&md, &back, sizeof(md));
	/* Every strict prefix is refused. */
	for (size_t i = 0; i < b.len; i++)
		assert_int_equal(package_metadata_decode(b.data, i, &back, &err), -1);
	rp_buf_free(&b);
	/* Writers refuse what readers would refuse. */
	snprintf(md.name, sizeof(md.name), "bad\001name");
	assert_int_equal(package_metadata_validate(&md, &err), -1);
	sample_metadata(&md);
	snprintf(md.component_id, sizeof(md.component_id), "1689D8B2-C835-2E27-27AD-E894D6D15FA9");
	assert_int_equal(package_metadata_validate(&md, &err), -1);
}

static void tlv(rp_buf *b, uint16_t tag, const void *v, uint32_t len)
{
	rp_buf_u16(b, tag);
	rp_buf_u32(b, len);
	rp_buf_append(b, v, len);
}

/* Valid fields 1..7 + 10, with a hook to replace or insert one. */
static void meta_with(rp_buf *b, uint16_t skip, uint16_t extra_tag, const void *extra, uint32_t extra_len)
{
	static const char guid[] = "1689d8b2-c835-2e27-27ad-e894d6d15fa9";
	uint8_t type = 1, u64[8] = {0, 0, 0, 0, 0, 0, 0, 1}, flags[4] = {0};
	const void *vals[] = {NULL, guid, guid, &type, u64, "1.0", "App", u64, NULL, NULL, flags};
	uint32_t lens[] = {0, 36, 36, 1, 8, 3, 3, 8, 0, 0, 4};
	rp_buf_init(b);
	for (uint16_t t = 1; t <= 10; t++) {
		if (t == extra_tag)
			tlv(b, t, extra, extra_len);
		if (t == skip || !vals[t])
			continue;
		tlv(b, t, vals[t], lens[t]);
	}
	if (extra_tag > 10)
		tlv(b, extra_tag, extra, extra_len);
}

static void metadata_refusals(void **state)
{
	(void)state;
	struct package_metadata md;
	rp_error err = RP_ERROR_INIT;
	rp_buf b;
	struct {
		uint16_t skip, tag;
		const char *val;
		uint32_t len;
		const char *expect;
	} cases[] = {
		{0, 0, NULL, 0, NULL},                                /* valid */
		{6, 0, NULL, 0, "missing required field 'name'"},
		{1, 0, NULL, 0, "missing required field 'component ID'"},
		{0, 6, "Dup", 3, "duplicated"},
		{0, 11, "x", 1, "unknown field tag 11"},
		{6, 6, "a\0b", 3, "not printable UTF-8"},
		{6, 6, "\xc0\xaf", 2, "not printable UTF-8"},          /* overlong */
		{6, 6, "\xed\xa0\x80", 3, "not printable UTF-8"},      /* surrogate */
		{6, 6, "", 0, "is 0 bytes"},
		{6, 6, "0123456789012345678901234567890123", 34, "allowed 1 to 31"},
		{3, 3, "\x09", 1, "image type 9 is unknown"},
		{4, 4, "1234", 4, "must be 8"},
		{10, 10, "\x00\x00\x00\x02", 4, "unknown bits"},
		{1, 1, "1689D8B2-C835-2E27-27AD-E894D6D15FA9", 36, "not a lowercase GUID"},
		{0, 8, "\x00\x05" "ab", 4, "runs past the field"},
		{0, 8, "", 0, "present but empty"},
	};
	for (size_t i = 0; i < RP_ARRAY_SIZE(cases); i++) {
		meta_with(&b, cases[i].skip, cases[i].tag, cases[i].val, cases[i].len);
		rp_error_clear(&err);
		int r = package_metadata_decode(b.data, b.len, &md, &err);
		if (!cases[i].expect) {
			assert_int_equal(r, 0);
			assert_string_equal(md.name, "App");
		} else {
			if (r == 0 || !strstr(err.message, cases[i].expect))
				fail_msg("case %zu: got '%s', expected '%s'", i, err.message, cases[i].expect);
		}
		rp_buf_free(&b);
	}
	/* Field length beyond the section. */
	uint8_t lie[] = {0, 1, 0xff, 0xff, 0xff, 0xff, 'a'};
	assert_int_equal(package_metadata_decode(lie, sizeof(lie), &md, &err), -1);
	assert_non_null(strstr(err.message, "claims"));
}

static int collect(void *ud, const struct payload_entry *e, rp_error *err)
{
	(void)err;
	rp_buf *b = ud;
	rp_buf_append(b, e->path, strlen(e->path));
	rp_buf_append(b, ";", 1);
	return 0;
}

static void round_trip_read_and_extract(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {k1};
	size_t len;
	_cleanup_free_ uint8_t *data = make_package(keys, 1, &len);
	rp_error err = RP_ERROR_INIT;
	struct package_trust trust = {.keys = keys, .nkeys = 1};
	_cleanup_package_ struct package *pkg = package_reader_open_buffer(data, len, NULL, &trust, &err);
	if (!pkg)
		fail_msg("%s", err.message);
	assert_true(pkg->verified);
	assert_int_equal(pkg->valid_sigs, 1);
	assert_int_equal(pkg->md.version, 42);
	assert_string_equal(pkg->md.name, "Hello");
	assert_string_equal(pkg->md.abi_depends[0], "ApplicationRuntime:15");
	assert_true(pkg->md.development);
	assert_int_equal(pkg->payload.files, 3);
	assert_int_equal(pkg->payload.directories, 3);

	rp_buf names;
	rp_buf_init(&names);
	assert_int_equal(payload_reader_list(pkg, collect, &names, &err), 0);
	rp_buf_u8(&names, 0);
	assert_string_equal((char *)names.data, "app_manifest.json;bin;bin/app;share;share/data.txt;");
	rp_buf_free(&names);

	uint8_t *buf = NULL;
	size_t blen = 0;
	assert_int_equal(payload_reader_read_file(pkg, "app_manifest.json", 65536, &buf, &blen, &err), 0);
	assert_int_equal(blen, strlen(manifest_json));
	assert_memory_equal(buf, manifest_json, blen);
	free(buf);
	assert_int_equal(payload_reader_read_file(pkg, "share/data.txt", 5, &buf, &blen, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	assert_int_equal(payload_reader_read_file(pkg, "bin", 100, &buf, &blen, &err), -1);
	assert_int_equal(payload_reader_read_file(pkg, "share/../app_manifest.json", 100, &buf, &blen, &err), -1);
	assert_int_equal(payload_reader_read_file(pkg, "nope", 100, &buf, &blen, &err), -1);
	assert_int_equal(err.code, RP_E_NOT_FOUND);

	_cleanup_free_ char *dest = tpath("extract");
	assert_int_equal(mkdir(dest, 0700), 0);
	_cleanup_close_ int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mode_t old = umask(077);
	assert_int_equal(payload_reader_extract(pkg, dfd, NULL, &err), 0);
	umask(old);
	struct stat st;
	assert_int_equal(fstatat(dfd, "bin/app", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(fstatat(dfd, "share/data.txt", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(fstatat(dfd, "share", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	/* Extracting again over existing files fails: nothing is overwritten or followed. */
	assert_int_equal(payload_reader_extract(pkg, dfd, NULL, &err), -1);
	/* Bytes actually produced count against the extraction limit. */
	_cleanup_free_ char *dest2 = tpath("extract2");
	assert_int_equal(mkdir(dest2, 0700), 0);
	_cleanup_close_ int dfd2 = open(dest2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct package_limits small;
	package_limits_default(&small);
	small.max_total_bytes = 100;
	assert_int_equal(payload_reader_extract(pkg, dfd2, &small, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
}

static void every_truncation_and_flip_refused(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {k1};
	size_t len;
	_cleanup_free_ uint8_t *data = make_package(keys, 1, &len);
	struct package_trust trust = {.keys = keys, .nkeys = 1};
	rp_error err = RP_ERROR_INIT;
	for (size_t i = 0; i < len; i++) {
		struct package *pkg = package_reader_open_buffer(data, i, NULL, &trust, &err);
		if (pkg)
			fail_msg("truncation to %zu bytes was accepted", i);
	}
	for (size_t i = 0; i < len; i++) {
		data[i] ^= (uint8_t)(1u << (i % 8));
		struct package *pkg = package_reader_open_buffer(data, len, NULL, &trust, &err);
		if (pkg)
			fail_msg("bit flip at byte %zu was accepted", i);
		data[i] ^= (uint8_t)(1u << (i % 8));
	}
	struct package *pkg = package_reader_open_buffer(data, len, NULL, &trust, &err);
	assert_non_null(pkg);
	package_free(pkg);
}

static void signature_policy(void **state)
{
	(void)state;
	EVP_PKEY *signers[] = {k1, k2};
	size_t len;
	_cleanup_free_ uint8_t *data = make_package(signers, 2, &len);
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *only1[] = {k1}, *only3[] = {k3}, *both[] = {k1, k2}, *k1k3[] = {k1, k3};
	struct package_trust t1 = {only1, 1, 0}, t3 = {only3, 1, 0}, t12 = {both, 2, 2}, t13 = {k1k3, 2, 2};
	struct package *pkg = package_reader_open_buffer(data, len, NULL, &t1, &err);
	assert_non_null(pkg);
	assert_int_equal(pkg->sigs[0].status, PACKAGE_SIG_VALID);
	assert_int_equal(pkg->sigs[1].status, PACKAGE_SIG_UNKNOWN_KEY);
	package_free(pkg);
	pkg = package_reader_open_buffer(data, len, NULL, &t12, &err);
	assert_non_null(pkg);
	assert_int_equal(pkg->valid_sigs, 2);
	package_free(pkg);
	assert_null(package_reader_open_buffer(data, len, NULL, &t3, &err));
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_null(package_reader_open_buffer(data, len, NULL, &t13, &err));
	assert_non_null(strstr(err.message, "2 required"));
	/* Without a policy the package opens unverified (for `show`). */
	pkg = package_reader_open_buffer(data, len, NULL, NULL, &err);
	assert_non_null(pkg);
	assert_false(pkg->verified);
	assert_int_equal(pkg->sigs[0].status, PACKAGE_SIG_NOT_CHECKED);
	/* A bad signature by a trusted key is refused even when another trusted key signed. */
	size_t sig0 = (size_t)pkg->signatures_off + 2 + 32 + 2 + 10;
	package_free(pkg);
	data[sig0] ^= 1;
	struct package_trust t12any = {both, 2, 1};
	assert_null(package_reader_open_buffer(data, len, NULL, &t12any, &err));
	assert_non_null(strstr(err.message, "does not match"));
	/* The same key twice in the writer is refused. */
	EVP_PKEY *twice[] = {k1, k1};
	struct package_metadata md;
	sample_metadata(&md);
	_cleanup_close_ int pfd = build_payload();
	_cleanup_free_ char *out = tpath("twice.imagepackage");
	assert_int_equal(package_writer_write(out, &md, pfd, twice, 2, &err), -1);
}

static void crafted_metadata_refused_after_verification(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {k1};
	struct package_trust trust = {.keys = keys, .nkeys = 1};
	rp_error err = RP_ERROR_INIT;
	rp_buf b;
	size_t len;
	meta_with(&b, 0, 0, NULL, 0);
	_cleanup_free_ uint8_t *good = assemble(b.data, b.len, &len);
	rp_buf_free(&b);
	struct package *pkg = package_reader_open_buffer(good, len, NULL, &trust, &err);
	if (!pkg)
		fail_msg("%s", err.message);
	package_free(pkg);
	meta_with(&b, 0, 6, "Twice", 5);
	_cleanup_free_ uint8_t *dup = assemble(b.data, b.len, &len);
	rp_buf_free(&b);
	assert_null(package_reader_open_buffer(dup, len, NULL, &trust, &err));
	assert_non_null(strstr(err.message, "metadata: metadata field 'name' is duplicated"));
}

static void sealed_copy_defeats_check_then_use(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {k1};
	size_t len;
	_cleanup_free_ uint8_t *data = make_package(keys, 1, &len);
	_cleanup_free_ char *p = tpath("toctou.imagepackage");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_write_file_atomic(p, data, len, 0644, &err), 0);
	struct package_trust trust = {.keys = keys, .nkeys = 1};
	_cleanup_package_ struct package *pkg = package_reader_open_path(p, NULL, &trust, &err);
	assert_non_null(pkg);
	/* The attacker now rewrites the file in place after verification. */
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	_cleanup_free_ uint8_t *junk = xcalloc(1, len);
	assert_int_equal(pwrite(fd, junk, len, 0), (ssize_t)len);
	uint8_t *buf = NULL;
	size_t blen = 0;
	assert_int_equal(payload_reader_read_file(pkg, "app_manifest.json", 65536, &buf, &blen, &err), 0);
	assert_memory_equal(buf, manifest_json, blen);
	free(buf);
	/* And nobody can write the private copy. */
	int seals = fcntl(pkg->fd, F_GET_SEALS);
	assert_true(seals & F_SEAL_WRITE);
	assert_true(seals & F_SEAL_SEAL);
	assert_int_equal(pwrite(pkg->fd, "x", 1, 0), -1);
}

static void resign_replaces_signers(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {k1}, *service[] = {k2, k3};
	size_t len;
	_cleanup_free_ uint8_t *data = make_package(keys, 1, &len);
	rp_error err = RP_ERROR_INIT;
	struct package_trust t1 = {keys, 1, 0}, t23 = {service, 2, 2};
	_cleanup_package_ struct package *orig = package_reader_open_buffer(data, len, NULL, &t1, &err);
	assert_non_null(orig);
	_cleanup_free_ char *out = tpath("resigned.imagepackage");
	assert_int_equal(package_writer_resign(orig, out, service, 2, &err), 0);
	_cleanup_package_ struct package *re = package_reader_open_path(out, NULL, &t23, &err);
	if (!re)
		fail_msg("%s", err.message);
	assert_string_equal(re->md.image_id, orig->md.image_id);
	assert_int_equal(re->payload_len, orig->payload_len);
	assert_memory_equal(re->data + re->payload_off, orig->data + orig->payload_off, orig->payload_len);
	assert_int_equal(re->metadata_len, orig->metadata_len);
	assert_memory_equal(re->data + re->metadata_off, orig->data + orig->metadata_off, orig->metadata_len);
	struct package *bad = package_reader_open_path(out, NULL, &t1, &err);
	assert_null(bad);
	assert_int_equal(err.code, RP_E_VERIFY);
}

static void spooled_copy(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {k1};
	size_t len;
	_cleanup_free_ uint8_t *data = make_package(keys, 1, &len);
	_cleanup_free_ char *p = tpath("spool.imagepackage"), *spool = tpath("spool");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_write_file_atomic(p, data, len, 0644, &err), 0);
	assert_int_equal(mkdir(spool, 0700), 0);
	_cleanup_close_ int sfd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
	struct package_trust trust = {.keys = keys, .nkeys = 1};
	_cleanup_package_ struct package *pkg = package_reader_open_fd_spooled(fd, sfd, NULL, &trust, &err);
	if (!pkg)
		fail_msg("%s", err.message);
	assert_true(pkg->verified);
	assert_int_equal(pwrite(pkg->fd, "x", 1, 0), -1); /* read-only descriptor */
	assert_int_equal(fcntl(pkg->fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	uint8_t *buf = NULL;
	size_t blen = 0;
	assert_int_equal(payload_reader_read_file(pkg, "app_manifest.json", 65536, &buf, &blen, &err), 0);
	free(buf);
}

static void format_limits(void **state)
{
	(void)state;
	EVP_PKEY *keys[] = {k1};
	size_t len;
	_cleanup_free_ uint8_t *data = make_package(keys, 1, &len);
	rp_error err = RP_ERROR_INIT;
	struct package_limits l;
	package_limits_default(&l);
	l.max_package_bytes = len - 1;
	assert_null(package_reader_open_buffer(data, len, &l, NULL, &err));
	assert_int_equal(err.code, RP_E_LIMIT);
	package_limits_default(&l);
	l.max_files = 3;
	assert_null(package_reader_open_buffer(data, len, &l, NULL, &err));
	assert_int_equal(err.code, RP_E_LIMIT);
	package_limits_default(&l);
	l.max_path_len = 5;
	assert_null(package_reader_open_buffer(data, len, &l, NULL, &err));
	assert_int_equal(err.code, RP_E_LIMIT);
	package_limits_default(&l);
	l.max_depth = 0;
	assert_null(package_reader_open_buffer(data, len, &l, NULL, &err));
	assert_non_null(strstr(err.message, "nested deeper"));
	assert_string_equal(package_image_type_name(PACKAGE_TYPE_TRUST_UPDATE), "trust-update");
	assert_null(package_image_type_name(0));
	assert_null(package_image_type_name(5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(metadata_round_trip),
		cmocka_unit_test(metadata_refusals),
		cmocka_unit_test(round_trip_read_and_extract),
		cmocka_unit_test(every_truncation_and_flip_refused),
		cmocka_unit_test(signature_policy),
		cmocka_unit_test(crafted_metadata_refused_after_verification),
		cmocka_unit_test(sealed_copy_defeats_check_then_use),
		cmocka_unit_test(resign_replaces_signers),
		cmocka_unit_test(spooled_copy),
		cmocka_unit_test(format_limits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
