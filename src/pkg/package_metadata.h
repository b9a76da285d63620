/* The METADATA section of an image package: the struct callers use, its strict TLV encoding and
 * decoding (docs/protocol.md). Decoding is a pure function over bytes so it can be fuzzed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/bytes.h"
#include "common/error.h"
#include "pkg/package_format.h"

struct package_metadata {
	char component_id[PACKAGE_GUID_LEN + 1];
	char image_id[PACKAGE_GUID_LEN + 1];
	enum package_image_type type;
	uint64_t version;
	char version_string[PACKAGE_VERSION_STRING_MAX + 1];
	char name[PACKAGE_NAME_MAX + 1];
	uint64_t build_time;
	char abi_depends[PACKAGE_ABI_LIST_MAX][PACKAGE_ABI_ENTRY_MAX + 1];
	size_t n_abi_depends;
	char abi_provides[PACKAGE_ABI_LIST_MAX][PACKAGE_ABI_ENTRY_MAX + 1];
	size_t n_abi_provides;
	bool development;
};

/* Checks every field (GUIDs, lengths, UTF-8) so a writer cannot produce what a reader refuses. */
int package_metadata_validate(const struct package_metadata *md, rp_error *err) RP_MUST_CHECK;
/* Appends the TLV encoding to OUT after validating. */
int package_metadata_encode(const struct package_metadata *md, rp_buf *out, rp_error *err) RP_MUST_CHECK;
/* Strict decode: tags strictly increasing, required tags present, unknown tags refused, exact
 * lengths, no trailing bytes. */
int package_metadata_decode(const uint8_t *data, size_t len, struct package_metadata *md,
                            rp_error *err) RP_MUST_CHECK;
