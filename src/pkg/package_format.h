/* Image package format v1: constants, section and metadata tags, and the limits a reader enforces.
 * The byte layout is specified in docs/protocol.md ("Image package format v1"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PNG-style magic: the high byte and CR LF / ^Z catch text-mode transfers that mangle the file. */
#define PACKAGE_MAGIC "\x89RPKG\r\n\x1a"
#define PACKAGE_MAGIC_LEN 8
#define PACKAGE_FORMAT_VERSION 1
#define PACKAGE_HEADER_LEN 32
#define PACKAGE_SECTION_ENTRY_LEN 24
/* v1 has exactly three sections, in this order. */
#define PACKAGE_SECTION_COUNT 3

enum package_section_type {
	PACKAGE_SECTION_METADATA = 1,
	PACKAGE_SECTION_PAYLOAD = 2,
	PACKAGE_SECTION_SIGNATURES = 3,
};

/* Metadata TLV tags: u16 tag, u32 length, value. Tags appear in strictly increasing order, so
 * each at most once; every tag below except the ABI lists is required. */
enum package_metadata_tag {
	PACKAGE_TAG_COMPONENT_ID = 1,   /* 36 bytes: lowercase GUID */
	PACKAGE_TAG_IMAGE_ID = 2,       /* 36 bytes: lowercase GUID, fresh for every build */
	PACKAGE_TAG_IMAGE_TYPE = 3,     /* u8: enum package_image_type */
	PACKAGE_TAG_VERSION = 4,        /* u64: monotonic version (anti-rollback compares this) */
	PACKAGE_TAG_VERSION_STRING = 5, /* UTF-8, 1..64 bytes, for people */
	PACKAGE_TAG_NAME = 6,           /* UTF-8, 1..31 bytes */
	PACKAGE_TAG_BUILD_TIME = 7,     /* u64: seconds since the Unix epoch */
	PACKAGE_TAG_ABI_DEPENDS = 8,    /* list: entries of {u16 length, UTF-8 1..64 bytes} */
	PACKAGE_TAG_ABI_PROVIDES = 9,   /* same */
	PACKAGE_TAG_FLAGS = 10,         /* u32: bit 0 = development image; other bits must be 0 */
};

#define PACKAGE_FLAG_DEVELOPMENT 0x1u

enum package_image_type {
	PACKAGE_TYPE_APPLICATION = 1,
	PACKAGE_TYPE_OS_BUNDLE = 2,
	PACKAGE_TYPE_TRUST_UPDATE = 3,
	PACKAGE_TYPE_BOARD_CONFIG = 4,
};

#define PACKAGE_GUID_LEN 36
#define PACKAGE_NAME_MAX 31
#define PACKAGE_VERSION_STRING_MAX 64
#define PACKAGE_ABI_ENTRY_MAX 64
#define PACKAGE_ABI_LIST_MAX 16

/* Signatures section: u16 count, then count fixed-size slots {32-byte key ID, u16 DER length,
 * 72 bytes DER signature zero-padded}. Fixed slots let the writer put the section's exact length in
 * the (signed) section table before it has made the signatures. */
#define PACKAGE_SIGNATURES_MAX 16
#define PACKAGE_SIG_DER_MIN 8
#define PACKAGE_SIG_DER_MAX 72
#define PACKAGE_SIG_SLOT_LEN (32 + 2 + PACKAGE_SIG_DER_MAX)
#define PACKAGE_SIGNATURES_SECTION_LEN(n) (2 + (size_t)(n) * PACKAGE_SIG_SLOT_LEN)
#define PACKAGE_SIGNATURES_SECTION_MAX PACKAGE_SIGNATURES_SECTION_LEN(PACKAGE_SIGNATURES_MAX)
#define PACKAGE_METADATA_SECTION_MAX (16u * 1024)

/* Payload filesystem: squashfs with zstd; written with a fixed owner and modification time so
 * that the same inputs give the same payload bytes. */
#define PACKAGE_PAYLOAD_BLOCK_SIZE (128u * 1024)
#define PACKAGE_PAYLOAD_MTIME 0u
#define PACKAGE_PAYLOAD_ZSTD_LEVEL 9u

/* Bounds a reader enforces. Defaults (package_limits_default) suit a 64 MiB device. */
struct package_limits {
	uint64_t max_package_bytes;     /* whole file */
	uint32_t max_metadata_bytes;    /* METADATA section */
	uint32_t max_files;             /* every inode in the payload, directories included */
	uint64_t max_total_bytes;       /* sum of regular file sizes (uncompressed) */
	uint32_t max_depth;             /* directory nesting below the root */
	uint32_t max_path_len;          /* bytes of a full path inside the payload */
};

#define PACKAGE_DEFAULT_MAX_PACKAGE_BYTES (256ull * 1024 * 1024)
#define PACKAGE_DEFAULT_MAX_FILES 4096u
#define PACKAGE_DEFAULT_MAX_TOTAL_BYTES (512ull * 1024 * 1024)
#define PACKAGE_DEFAULT_MAX_DEPTH 16u
#define PACKAGE_DEFAULT_MAX_PATH_LEN 1024u

void package_limits_default(struct package_limits *l);
/* "application", "os-bundle", "trust-update", "board-config"; NULL for an unknown value. */
const char *package_image_type_name(uint32_t type);
/* Returns 0 and sets *out for a known name, -1 otherwise. */
int package_image_type_parse(const char *name, enum package_image_type *out);
