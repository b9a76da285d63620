/* Parsed TUF metadata on the client side: a strict structural parse of untrusted bytes (every
 * field type- and range-checked before anything uses it) and the threshold signature check
 * against the keys a trusted root lists. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "common/crypto.h"
#include "common/error.h"
#include "tuf/metadata.h"

/* Bounds on what one metadata document may hold (defence against resource exhaustion). */
#define TUF_MAX_SIGNATURES 64
#define TUF_MAX_KEYS 64
#define TUF_MAX_TARGETS 4096
#define TUF_MAX_THRESHOLD 64

typedef struct tuf_meta {
	json_t *doc;        /* the whole envelope (owned) */
	json_t *signed_obj; /* borrowed from doc */
	enum tuf_role role;
	int64_t version;
	int64_t expires;
	char *canonical;    /* canonical JSON of "signed": the bytes signatures cover */
	size_t canonical_len;
	size_t file_len;                   /* length of the bytes parsed */
	uint8_t file_sha256[RP_SHA256_LEN]; /* and their SHA-256 */
} tuf_meta;

/* Information about one metadata file listed in snapshot or timestamp "meta". */
typedef struct tuf_meta_file {
	int64_t version;
	int64_t length; /* -1 when not given */
	bool has_sha256;
	uint8_t sha256[RP_SHA256_LEN];
} tuf_meta_file;

/* One target (fields borrowed from the targets metadata it came from). */
typedef struct tuf_target {
	const char *name;
	uint64_t length;
	uint8_t sha256[RP_SHA256_LEN];
	json_t *hashes; /* every hash listed, {"sha256": hex, ...} */
	json_t *custom; /* NULL when absent */
} tuf_target;

/* Parse DATA as metadata of ROLE. Checks structure only, not signatures or expiry. */
int tuf_meta_parse(const uint8_t *data, size_t len, enum tuf_role role, tuf_meta *out, rp_error *err) RP_MUST_CHECK;
void tuf_meta_free(tuf_meta *m);
/* Move SRC into DST (freeing what DST held). */
void tuf_meta_move(tuf_meta *dst, tuf_meta *src);

/* MD must carry valid signatures from at least ROLE's threshold of distinct keys listed in
 * ROOT. Signatures by unknown keys are ignored; several signatures by one key count once. */
int tuf_meta_verify(const tuf_meta *root, enum tuf_role role, const tuf_meta *md, rp_error *err) RP_MUST_CHECK;
/* RP_E_EXPIRED when NOW is at or past MD's expiry. */
int tuf_meta_check_expiry(const tuf_meta *md, int64_t now, rp_error *err) RP_MUST_CHECK;

/* Root accessors. */
bool tuf_meta_consistent_snapshot(const tuf_meta *root);
/* True when ROLE has the same key IDs and threshold in both roots. */
bool tuf_meta_role_equal(const tuf_meta *a, const tuf_meta *b, enum tuf_role role);

/* Snapshot/timestamp: the "meta" entry for FILENAME ("targets.json", "snapshot.json"). */
int tuf_meta_file_get(const tuf_meta *md, const char *filename, tuf_meta_file *out, rp_error *err) RP_MUST_CHECK;
/* Check LEN bytes DATA against INFO's length and hash. */
int tuf_meta_file_check(const tuf_meta_file *info, const uint8_t *data, size_t len, const char *what,
                        rp_error *err) RP_MUST_CHECK;

/* Targets: the "targets" object, and one target by name (RP_E_NOT_FOUND when absent). */
json_t *tuf_meta_targets(const tuf_meta *targets);
int tuf_meta_target(const tuf_meta *targets, const char *name, tuf_target *out, rp_error *err) RP_MUST_CHECK;
