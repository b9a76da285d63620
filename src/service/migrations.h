/* Versioned schema migrations for the SQLite store, recorded in schema_migrations so an old
 * database is upgraded in place, one transaction per step. */
#pragma once

#include <sqlite3.h>
#include "common/error.h"

/* The schema version this build writes. */
int migrations_latest(void);
/* Bring DB up to TARGET (0 = latest). Refuses a database newer than this build. */
int migrations_apply(sqlite3 *db, int target, rp_error *err) RP_MUST_CHECK;
/* Highest applied version (0 for an empty database). */
int migrations_current(sqlite3 *db, int *out, rp_error *err) RP_MUST_CHECK;
