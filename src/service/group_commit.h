/* Group commit for short write transactions (attestation challenges and issuance records):
 * writers that arrive while a COMMIT and its fsync are in progress are written together in the
 * next transaction (no savepoints: when one writer fails, the group is rolled back and written
 * again without it), and each learns its result only after that transaction's COMMIT has
 * returned (synchronous=FULL: on disk). One fsync serves many requests;
 * no write is acknowledged before it is durable. */
#pragma once

#include "common/error.h"
#include "service/store.h"

/* Runs FN(ST, ARG, ERR) inside a write transaction that may be shared with other callers' FNs,
 * possibly on another thread: FN must not use thread-local state and must not start a
 * transaction. FN may run more than once (when another writer of its group fails, the group is
 * rolled back and written again without that one): only its last run counts, so anything FN
 * records in ARG must be derived from what it read in that run. FN returning <0 keeps none of its
 * changes and its ERR comes back here. Returns 0 once the transaction holding FN's changes is
 * committed; -1 with ERR if FN failed or the commit did (then none of FN's changes are kept). */
typedef int (*group_write_fn)(struct store *st, void *arg, rp_error *err);
int group_commit_run(struct store *st, group_write_fn fn, void *arg, rp_error *err) RP_MUST_CHECK;
