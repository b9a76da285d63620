/* TUF 1.0 metadata on the repository side: role names, times, key objects and key IDs, and
 * builders for the "signed" part of root, targets, snapshot and timestamp metadata, plus the
 * signature envelope. Everything here is pure (no I/O) so the service can keep metadata in its
 * database and the CLI in a directory. Layout and fields: docs/protocol.md "Update metadata". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "common/crypto.h"
#include "common/error.h"

#define TUF_SPEC_VERSION "1.0.31"
#define TUF_KEYTYPE_ECDSA "ecdsa"
#define TUF_SCHEME_ECDSA_P256 "ecdsa-sha2-nistp256"
#define TUF_KEYID_HEX_LEN 64
#define TUF_TIME_LEN 20 /* "YYYY-MM-DDTHH:MM:SSZ" */
/* Largest integer both this library and JavaScript clients represent exactly. */
#define TUF_INT_MAX ((int64_t)9007199254740991)

enum tuf_role { TUF_ROLE_ROOT, TUF_ROLE_TARGETS, TUF_ROLE_SNAPSHOT, TUF_ROLE_TIMESTAMP };
#define TUF_ROLE_COUNT 4

/* Default lifetimes (issue 5): timestamp 1 day, snapshot 7 days, targets 30 days, root 1 year. */
#define TUF_DAY_SECONDS ((int64_t)86400)
int64_t tuf_role_default_lifetime(enum tuf_role role);
const char *tuf_role_name(enum tuf_role role);
/* "root" -> TUF_ROLE_ROOT; -1 when unknown. */
int tuf_role_from_name(const char *name);

/* UTC times as TUF writes them. Parsing accepts exactly the form formatting produces. */
int tuf_time_format(int64_t t, char out[TUF_TIME_LEN + 1], rp_error *err) RP_MUST_CHECK;
int tuf_time_parse(const char *s, int64_t *out, rp_error *err) RP_MUST_CHECK;

/* The TUF key object {"keytype":"ecdsa","scheme":"ecdsa-sha2-nistp256","keyval":{"public":PEM}}. */
json_t *tuf_key_json(rp_key *key, rp_error *err);
/* TUF key ID: lowercase hex SHA-256 of the canonical JSON of the key object. This is not
 * Rampart's package key ID (SHA-256 of the DER SubjectPublicKeyInfo); see docs/decisions.md. */
int tuf_key_id_of_json(const json_t *key_obj, char out[TUF_KEYID_HEX_LEN + 1], rp_error *err) RP_MUST_CHECK;
int tuf_key_id(rp_key *key, char out[TUF_KEYID_HEX_LEN + 1], rp_error *err) RP_MUST_CHECK;

/* Builders of the "signed" object. Times are seconds since the epoch. */
json_t *tuf_root_new(int64_t version, int64_t expires, bool consistent_snapshot, rp_error *err);
/* Add KEY to ROLE's key IDs (and to the key list); adding the same key twice is a no-op. */
int tuf_root_add_key(json_t *root, enum tuf_role role, rp_key *key, rp_error *err) RP_MUST_CHECK;
/* Drop every key of ROLE (keys no role uses any more leave the key list). */
void tuf_root_clear_role(json_t *root, enum tuf_role role);
int tuf_root_set_threshold(json_t *root, enum tuf_role role, int64_t threshold, rp_error *err) RP_MUST_CHECK;

json_t *tuf_targets_new(int64_t version, int64_t expires, rp_error *err);
/* Add or replace target NAME. CUSTOM (may be NULL) is copied. Names are checked with
 * tuf_target_name_valid. */
int tuf_targets_add(json_t *targets, const char *name, uint64_t length, const uint8_t sha256[RP_SHA256_LEN],
                    const json_t *custom, rp_error *err) RP_MUST_CHECK;
int tuf_targets_remove(json_t *targets, const char *name, rp_error *err) RP_MUST_CHECK;
/* Target names: 1..255 bytes of [A-Za-z0-9._+-] and '/', no empty, "." or ".." segment, no
 * leading '/'. Keeps names safe as file names on the repository and on devices. */
bool tuf_target_name_valid(const char *name);

/* Snapshot of targets.json (version; length and hashes when FILE is non-NULL) and timestamp of
 * snapshot.json (version, length, hashes). */
json_t *tuf_snapshot_new(int64_t version, int64_t expires, int64_t targets_version, const uint8_t *targets_file,
                         size_t targets_len, rp_error *err);
json_t *tuf_timestamp_new(int64_t version, int64_t expires, int64_t snapshot_version, const uint8_t *snapshot_file,
                          size_t snapshot_len, rp_error *err);
/* Set "version" and "expires" of a signed object (for re-signing an updated copy). */
int tuf_signed_set_version(json_t *signed_obj, int64_t version, int64_t expires, rp_error *err) RP_MUST_CHECK;

/* {"signatures":[],"signed":SIGNED}; takes a reference to SIGNED. */
json_t *tuf_envelope_new(json_t *signed_obj);
/* Sign the canonical JSON of "signed" with KEY and add {"keyid","sig"} (hex DER ECDSA, the form
 * python-tuf and tuf-js use); a previous signature by the same key is replaced. */
int tuf_envelope_sign(json_t *envelope, rp_key *key, rp_error *err) RP_MUST_CHECK;
/* Drop all signatures (after changing "signed"). */
void tuf_envelope_clear_signatures(json_t *envelope);
/* The bytes to publish: compact JSON with sorted keys (standard escaping, so any JSON parser
 * reads it; signatures cover the canonical form of "signed", not these bytes). */
int tuf_envelope_serialize(const json_t *envelope, char **out, size_t *len, rp_error *err) RP_MUST_CHECK;
