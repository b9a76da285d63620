/* A TUF repository kept in a directory: DIR/metadata/ holds root.json and N.root.json,
 * targets.json, snapshot.json (plus N.targets.json and N.snapshot.json for consistent
 * snapshots) and timestamp.json; DIR/targets/ holds the target files under their name and under
 * "<sha256>.<name>". Each operation takes only the keys it needs, so the offline setup runs
 * add-target on the tenant's machine and publish on the service (docs/decisions.md). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "common/error.h"

typedef struct tuf_key_list {
	EVP_PKEY **keys; /* borrowed */
	size_t count;
} tuf_key_list;

typedef struct tuf_repo_init_opts {
	tuf_key_list root, targets, snapshot, timestamp; /* private keys: root and targets sign v1 */
	int64_t root_threshold, targets_threshold;       /* 0 means 1 */
	bool consistent_snapshot;
	int64_t lifetime[4]; /* per enum tuf_role; 0 means the default */
} tuf_repo_init_opts;

/* Create the repository with root, targets (empty), snapshot and timestamp version 1. */
int tuf_repo_init(const char *dir, const tuf_repo_init_opts *opts, int64_t now, rp_error *err) RP_MUST_CHECK;

/* Add (or replace) target NAME with the contents of FILE and optional CUSTOM object; writes a
 * new targets version signed by TARGETS_KEYS. Snapshot and timestamp are not touched. */
int tuf_repo_add_target(const char *dir, const char *file, const char *name, const json_t *custom,
                        const tuf_key_list *targets_keys, int64_t now, int64_t lifetime, rp_error *err) RP_MUST_CHECK;

/* New snapshot of the current targets.json and a new timestamp (the online keys' job). */
int tuf_repo_publish(const char *dir, EVP_PKEY *snapshot_key, EVP_PKEY *timestamp_key, int64_t now,
                     int64_t snapshot_lifetime, int64_t timestamp_lifetime, rp_error *err) RP_MUST_CHECK;

/* The "signed" part of metadata/ROLE.json (a copy), e.g. to edit the root for a rotation. */
json_t *tuf_repo_load_signed(const char *dir, const char *role, rp_error *err);

/* Publish NEW_ROOT (a "signed" root whose version the function sets to current + 1) signed by
 * OLD_ROOT_KEYS and NEW_ROOT_KEYS: clients accept it only with both thresholds. */
int tuf_repo_rotate_root(const char *dir, json_t *new_root, const tuf_key_list *old_root_keys,
                         const tuf_key_list *new_root_keys, int64_t now, int64_t lifetime, rp_error *err) RP_MUST_CHECK;
