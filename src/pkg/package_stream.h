/* Verifying an image package in one sequential pass with a bounded buffer, handing each byte to a
 * sink (e.g. the inactive A/B slot) as it is read. The signatures cover a SHA-256 of everything
 * before the signatures section, which comes last, so the verdict comes at the end: whatever the
 * sink wrote must not be used unless package_stream_verify returned 0. Because the sink receives
 * exactly the bytes that were hashed, what was verified is what was written, without a private
 * copy of the whole package in memory (package_reader.h keeps one, for random access). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "common/crypto.h"
#include "common/error.h"
#include "pkg/package_format.h"
#include "pkg/package_metadata.h"
#include "pkg/package_reader.h"

#define PACKAGE_STREAM_CHUNK (256u * 1024)

/* Receives LEN bytes at offset OFF of the package; returns <0 (with ERR set) to stop. */
typedef int (*package_stream_sink_fn)(void *ctx, uint64_t off, const void *buf, size_t len, rp_error *err);

/* What a successful pass established. */
struct package_stream_result {
	uint64_t len; /* bytes in the package (all of them went to the sink) */
	uint64_t metadata_off, metadata_len;
	uint64_t payload_off, payload_len;
	uint64_t signatures_off, signatures_len;
	uint8_t digest[RP_SHA256_LEN]; /* SHA-256 of every byte before the signatures section */
	bool verified;                 /* a trust policy was given and met */
	unsigned valid_sigs;
	struct package_metadata md;
};

/* Read FD sequentially from its current position to EOF: header and section table first, then the
 * metadata (kept, at most limits.max_metadata_bytes), the payload in PACKAGE_STREAM_CHUNK pieces
 * (hashed and passed on, never kept), the signatures, and one read more to prove the input ends
 * where the header says. Then the signatures are verified against TRUST and, only after that, the
 * metadata is decoded. TRUST NULL checks the structure only (for showing or fuzzing, never for
 * using). SINK may be NULL. The payload filesystem is not walked (package_stream_check_payload).
 * Error codes as package_reader_open_fd: RP_E_INVALID (also truncated or longer than declared),
 * RP_E_VERIFY, RP_E_LIMIT, RP_E_UNSUPPORTED; a sink's own error is passed through. */
int package_stream_verify(int fd, const struct package_limits *limits, const struct package_trust *trust,
                          package_stream_sink_fn sink, void *ctx, struct package_stream_result *res,
                          rp_error *err) RP_MUST_CHECK;
/* The same over a buffer (tests and fuzzing). */
int package_stream_verify_buffer(const void *data, size_t len, const struct package_limits *limits,
                                 const struct package_trust *trust, package_stream_sink_fn sink, void *ctx,
                                 struct package_stream_result *res, rp_error *err) RP_MUST_CHECK;

/* The payload filesystem safety walk (payload_reader_check) over a copy the sink wrote to FD (open
 * for reading, res->len bytes). The file is mapped, not read: the walk touches only the squashfs
 * tables, so memory stays small however large the payload is. Fills *SUMMARY when not NULL. */
int package_stream_check_payload(int fd, const struct package_stream_result *res, const struct package_limits *limits,
                                 struct package_payload_summary *summary, rp_error *err) RP_MUST_CHECK;
