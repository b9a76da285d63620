/* Building a package payload: a zstd squashfs image made with libsquashfs from regular files and
 * directories, reproducibly (owner 0:0, fixed modification time, sorted names). */
#pragma once

#include <stdbool.h>
#include "common/error.h"

struct payload_builder;

struct payload_builder *payload_builder_new(void);
void payload_builder_free(struct payload_builder *b);
/* Add the regular file SRC as DEST ("bin/app"; parents are created). EXECUTABLE gives mode 0755,
 * otherwise 0644. The same DEST twice is an error. */
int payload_builder_add_file(struct payload_builder *b, const char *dest, const char *src, bool executable,
                             rp_error *err) RP_MUST_CHECK;
/* Add every regular file and directory below SRC_DIR (executable when owner-executable).
 * Symlinks, devices, FIFOs and sockets are refused. */
int payload_builder_add_tree(struct payload_builder *b, const char *src_dir, rp_error *err) RP_MUST_CHECK;
/* True when DEST was added as a regular file. */
bool payload_builder_has_file(const struct payload_builder *b, const char *dest);
/* Give the regular file DEST mode 0755 (an application's EntryPoint); false when not a file. */
bool payload_builder_set_executable(struct payload_builder *b, const char *dest);
/* Write the squashfs image to OUT_FD (a new, empty, seekable file). */
int payload_builder_write(struct payload_builder *b, int out_fd, rp_error *err) RP_MUST_CHECK;
