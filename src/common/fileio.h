/* File helpers: crash-safe replacement of files and bounded reads of untrusted files. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"

/* Replace PATH with DATA so that after a crash it holds either the old or the new bytes:
 * write a temporary file in the same directory, fsync it, rename over PATH, fsync the directory. */
int rp_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, rp_error *err) RP_MUST_CHECK;
/* Like rp_write_file_atomic, but PATH must not exist yet: RP_E_EXISTS (and PATH untouched) if it
 * does, even when it appears while the data is written. For files that must never be silently
 * replaced, such as a newly generated private key. */
int rp_write_file_new(const char *path, const void *data, size_t len, mode_t mode, rp_error *err) RP_MUST_CHECK;
/* Same as rp_write_file_atomic, relative to an open directory. */
int rp_write_file_atomicat(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                           rp_error *err) RP_MUST_CHECK;

/* Read a whole file of at most MAX_LEN bytes; *out is NUL-terminated (not counted in *out_len).
 * A larger file fails with RP_E_LIMIT rather than being truncated. */
int rp_read_file(const char *path, size_t max_len, uint8_t **out, size_t *out_len, rp_error *err) RP_MUST_CHECK;
int rp_read_fd_all(int fd, size_t max_len, uint8_t **out, size_t *out_len, rp_error *err) RP_MUST_CHECK;
/* The same for NAME in the open directory DIRFD, never through a symlink (one planted in a state
 * directory must not redirect the read), and only a regular file. SECRET: the file must also belong
 * to the process's effective user and be closed to group and others (0600 or stricter). */
int rp_read_file_at(int dirfd, const char *name, size_t max_len, bool secret, uint8_t **out, size_t *out_len,
                    rp_error *err) RP_MUST_CHECK;

/* Loop over short reads and EINTR. Returns bytes read (less than len only at end of file), or -1. */
ssize_t rp_read_full(int fd, void *buf, size_t len) RP_MUST_CHECK;
/* Write everything or fail with -1 (errno set). */
int rp_write_full(int fd, const void *buf, size_t len) RP_MUST_CHECK;

int rp_fsync_dir(const char *dir, rp_error *err) RP_MUST_CHECK;
/* mkdir -p with MODE for every directory it creates. */
int rp_mkdir_p(const char *path, mode_t mode, rp_error *err) RP_MUST_CHECK;
/* Recursively remove PATH (not following symlinks); missing PATH is not an error. */
int rp_remove_tree(const char *path, rp_error *err) RP_MUST_CHECK;
