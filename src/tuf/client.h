/* The TUF 1.0 client workflow (specification section 5) for one repository: root chain update,
 * timestamp, snapshot and targets with signature, rollback, expiry, consistency, length and hash
 * checks, then target lookup and verification. Transport and persistence are callbacks, so the
 * device agent plugs libcurl and atomic files, and tests plug a directory or memory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "tuf/meta.h"

typedef struct tuf_fetcher {
	/* Fetch NAME ("timestamp.json", "3.root.json", "7.snapshot.json", or for targets
	 * "<sha256>.<name>" / "<name>") reading at most MAX_LEN bytes. Return 0 with a malloc'd
	 * buffer, or -1 with RP_E_NOT_FOUND when the repository has no such file (other codes abort
	 * the update). A fetcher should stop at MAX_LEN + 1 bytes; the client refuses anything
	 * longer than MAX_LEN in any case (endless-data attack). */
	int (*fetch)(void *ctx, bool is_target, const char *name, size_t max_len, uint8_t **data, size_t *len,
	             rp_error *err);
	void *ctx;
} tuf_fetcher;

typedef struct tuf_storage {
	/* Trusted metadata by role name ("root", "timestamp", "snapshot", "targets"). load returns -1
	 * with RP_E_NOT_FOUND when absent; store must be atomic (old or new bytes after a crash). */
	int (*load)(void *ctx, const char *role, size_t max_len, uint8_t **data, size_t *len, rp_error *err);
	int (*store)(void *ctx, const char *role, const uint8_t *data, size_t len, rp_error *err);
	int (*remove)(void *ctx, const char *role, rp_error *err);
	void *ctx;
} tuf_storage;

typedef struct tuf_client_config {
	size_t root_max_len;      /* bytes; each N.root.json */
	size_t timestamp_max_len; /* timestamp.json (its length is never known in advance) */
	size_t snapshot_max_len;  /* when the timestamp gives no length */
	size_t targets_max_len;   /* when the snapshot gives no length */
	unsigned max_root_rotations;
} tuf_client_config;

/* Defaults: root 512 KiB, timestamp 16 KiB, snapshot 2 MiB, targets 8 MiB, 32 root rotations. */
void tuf_client_config_default(tuf_client_config *cfg);

typedef struct tuf_client {
	char *name; /* "image repository", "director": prefixes errors */
	tuf_fetcher fetcher;
	tuf_storage storage;
	tuf_client_config cfg;
	tuf_meta root, timestamp, snapshot, targets;
	bool refreshed; /* the last refresh succeeded: targets are trusted */
} tuf_client;

/* Load the trusted root from STORAGE (it must be there: provisioning puts the first root.json
 * in place). CFG NULL means defaults. */
int tuf_client_init(tuf_client *c, const char *name, const tuf_fetcher *fetcher, const tuf_storage *storage,
                    const tuf_client_config *cfg, rp_error *err) RP_MUST_CHECK;
void tuf_client_free(tuf_client *c);

/* Run the update workflow with NOW as the fixed update start time (seconds since the epoch).
 * On failure nothing trusted is replaced by unverified data, and the error says which check
 * failed; the previously persisted metadata stays. */
int tuf_client_refresh(tuf_client *c, int64_t now, rp_error *err) RP_MUST_CHECK;

/* After a successful refresh: the trusted targets metadata and one target by name. */
const tuf_meta *tuf_client_targets(const tuf_client *c);
int tuf_client_target(const tuf_client *c, const char *name, tuf_target *out, rp_error *err) RP_MUST_CHECK;

/* The name to fetch TARGET under (hash-prefixed when the root asks for consistent snapshots);
 * malloc'd. */
char *tuf_client_target_path(const tuf_client *c, const tuf_target *target);
/* Download TARGET through the fetcher (at most its signed length) and verify length and hash. */
int tuf_client_fetch_target(tuf_client *c, const tuf_target *target, uint8_t **data, size_t *len,
                            rp_error *err) RP_MUST_CHECK;
/* Verify bytes or a file against a target's signed length and SHA-256 (arbitrary-package attack). */
int tuf_target_verify_buffer(const tuf_target *target, const uint8_t *data, size_t len, rp_error *err) RP_MUST_CHECK;
int tuf_target_verify_file(const tuf_target *target, const char *path, rp_error *err) RP_MUST_CHECK;
