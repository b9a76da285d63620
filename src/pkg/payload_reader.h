/* The payload filesystem of an opened package (squashfs, read with libsquashfs): the safety walk
 * run at open, listing, reading one file, and extraction into a directory. All of it reads the
 * package's sealed copy. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "pkg/package_reader.h"

enum payload_entry_type { PAYLOAD_ENTRY_DIR, PAYLOAD_ENTRY_FILE, PAYLOAD_ENTRY_SYMLINK };

struct payload_entry {
	const char *path; /* relative, '/'-separated, no leading '/' */
	enum payload_entry_type type;
	uint32_t mode;           /* permission bits only */
	uint64_t size;           /* regular files */
	const char *link_target; /* symlinks (NUL-terminated copy) */
};

typedef int (*payload_reader_visit_fn)(void *ud, const struct payload_entry *e, rp_error *err);

/* Walk the payload and refuse anything unsafe: device nodes, FIFOs, sockets, setuid/setgid/sticky
 * bits, hard links, extended attributes, bad names, symlinks that are absolute or escape the root,
 * and anything over PKG->limits (files, bytes, depth, path length). Fills pkg->payload. Called by
 * package_reader_open_*(); callers need not call it again. */
int payload_reader_check(struct package *pkg, rp_error *err) RP_MUST_CHECK;
/* Visit every entry except the root, parents before children, names in sorted order. */
int payload_reader_list(const struct package *pkg, payload_reader_visit_fn visit, void *ud,
                        rp_error *err) RP_MUST_CHECK;
/* Read the regular file PATH (e.g. "app_manifest.json"; symlinks are not followed) into a malloc'd
 * buffer, NUL-terminated (not counted in *len). Larger than MAX bytes fails with RP_E_LIMIT. */
int payload_reader_read_file(const struct package *pkg, const char *path, size_t max, uint8_t **buf, size_t *len,
                             rp_error *err) RP_MUST_CHECK;
/* Extract into the empty directory DIRFD: nothing is ever followed (O_NOFOLLOW, O_EXCL), files
 * are 0644, or 0755 when owner-executable in the payload, directories 0755, owned by the caller,
 * no special bits. LIMITS NULL means the package's limits; bytes actually written count against
 * max_total_bytes. On failure a partial tree may remain; the caller removes it. */
int payload_reader_extract(const struct package *pkg, int dirfd, const struct package_limits *limits,
                           rp_error *err) RP_MUST_CHECK;
