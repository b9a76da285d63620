/* Opening an image package: stream it once into a private sealed copy while hashing, check the
 * structure, verify signatures against a trust policy, decode metadata and check the payload
 * filesystem. Everything afterwards (metadata, payload walk, file reads, extraction) reads the
 * sealed copy, so what was verified is exactly what gets used (no check-then-use race). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/crypto.h"
#include "common/error.h"
#include "pkg/package_format.h"
#include "pkg/package_metadata.h"

/* Which keys are trusted and how many distinct ones must have signed. */
struct package_trust {
	rp_key *const *keys;
	size_t nkeys;
	unsigned threshold; /* 0 means 1 */
};

enum package_sig_status {
	PACKAGE_SIG_NOT_CHECKED, /* opened without a trust policy */
	PACKAGE_SIG_VALID,       /* by a trusted key, and it matches */
	PACKAGE_SIG_UNKNOWN_KEY, /* by a key not in the trust policy: ignored */
};

struct package_signature {
	uint8_t key_id[RP_KEY_ID_LEN];
	uint8_t der[PACKAGE_SIG_DER_MAX];
	size_t der_len;
	enum package_sig_status status;
};

/* Summary of the payload filesystem, filled by the safety walk at open. */
struct package_payload_summary {
	uint32_t files;       /* regular files */
	uint32_t directories; /* including the root */
	uint32_t symlinks;
	uint64_t total_bytes; /* sum of regular file sizes */
};

/* Read-only after package_reader_open_*(). */
struct package {
	int fd;               /* sealed memfd holding the whole package */
	const uint8_t *data;  /* read-only mapping of fd */
	size_t len;
	struct package_limits limits;
	uint64_t metadata_off, metadata_len;
	uint64_t payload_off, payload_len;
	uint64_t signatures_off, signatures_len;
	uint8_t digest[RP_SHA256_LEN]; /* SHA-256 of every byte before the signatures section */
	struct package_signature sigs[PACKAGE_SIGNATURES_MAX];
	size_t nsigs;
	bool verified;       /* a trust policy was given and met */
	unsigned valid_sigs; /* signatures by distinct trusted keys that matched */
	struct package_metadata md;
	struct package_payload_summary payload;
};

/* Open from an fd (read once, from its current position, to EOF), a path, or a buffer (copied).
 * LIMITS NULL means package_limits_default(). TRUST NULL skips signature verification: only for
 * showing a package, never for using it. Error codes: RP_E_INVALID malformed, RP_E_VERIFY
 * signature or trust failure, RP_E_LIMIT over a limit, RP_E_UNSUPPORTED unknown format version. */
struct package *package_reader_open_fd(int fd, const struct package_limits *limits, const struct package_trust *trust,
                                       rp_error *err);
struct package *package_reader_open_path(const char *path, const struct package_limits *limits,
                                         const struct package_trust *trust, rp_error *err);
struct package *package_reader_open_buffer(const void *data, size_t len, const struct package_limits *limits,
                                           const struct package_trust *trust, rp_error *err);
/* Like package_reader_open_fd, but the private copy is an unnamed O_TMPFILE in SPOOL_DIRFD (a
 * directory only this service can write, on disk) instead of a memfd in RAM: for OS bundles larger
 * than memory allows. The copy cannot be sealed; only a read-only fd to it is kept. */
struct package *package_reader_open_fd_spooled(int fd, int spool_dirfd, const struct package_limits *limits,
                                               const struct package_trust *trust, rp_error *err);
void package_free(struct package *pkg);
RP_DEFINE_CLEANUP(struct package, package_free)
#define _cleanup_package_ _cleanup_(package_freep)
