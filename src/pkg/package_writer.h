/* Writing a signed image package (format v1, docs/protocol.md) from metadata and a payload. */
#pragma once

#include <stddef.h>
#include <openssl/evp.h>
#include "common/error.h"
#include "pkg/package_metadata.h"
#include "pkg/package_reader.h"

/* Write the package to OUT_PATH atomically (temporary file + rename): header, section table,
 * metadata, the payload read from PAYLOAD_FD (a regular file, from offset 0), and one signature per
 * key in KEYS (1..16 distinct P-256 keys) over SHA-256 of everything before the signatures. */
int package_writer_write(const char *out_path, const struct package_metadata *md, int payload_fd,
                         EVP_PKEY *const *keys, size_t nkeys, rp_error *err) RP_MUST_CHECK;
/* Write a copy of the opened PKG (same metadata, image ID and payload bytes) signed by KEYS
 * instead of its current signers: how a service countersigns an uploaded image. Signatures cannot
 * be appended, because the signatures section's length is itself signed. */
int package_writer_resign(const struct package *pkg, const char *out_path, EVP_PKEY *const *keys, size_t nkeys,
                          rp_error *err) RP_MUST_CHECK;
