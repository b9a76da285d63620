/* Structure checks shared by the two ways of reading an image package (package_reader.c over a
 * sealed copy, package_stream.c in one sequential pass): header, section table, signatures
 * section and the trust policy. Internal to src/pkg. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"
#include "pkg/package_reader.h"

/* The 32-byte header H: magic, version, lengths; *TOTAL is the declared package length. */
int package_parse_header(const uint8_t *h, const struct package_limits *lim, uint64_t *total,
                         rp_error *err) RP_MUST_CHECK;
/* The section table T against PKG->len and PKG->limits; fills the section offsets and lengths. */
int package_parse_table(struct package *pkg, const uint8_t *t, rp_error *err) RP_MUST_CHECK;
/* The signatures section S (PKG->signatures_len bytes) into PKG->sigs. */
int package_parse_signatures(struct package *pkg, const uint8_t *s, rp_error *err) RP_MUST_CHECK;
/* PKG->digest against TRUST: sets PKG->verified and PKG->valid_sigs. */
int package_verify_signatures(struct package *pkg, const struct package_trust *trust, rp_error *err) RP_MUST_CHECK;

/* Input of either reader: an fd read sequentially (FD >= 0), or a caller's buffer. */
struct package_input {
	int fd;
	const uint8_t *buf;
	size_t len, pos;
};
/* Up to N bytes into OUT: what rp_read_full returns for an fd; for a buffer, what is left. */
ssize_t package_input_read(struct package_input *in, void *out, size_t n);
