/* The SQLite backend of the storage interface (store.h): one database file, WAL, foreign keys,
 * synchronous=FULL, versioned migrations applied on open. */
#pragma once

#include "service/store.h"

/* Open (creating) the database at PATH and migrate it to TARGET_VERSION (0 = latest; other values
 * only for tests that build an old database). */
struct store *store_sqlite_open(const char *path, int target_version, rp_error *err);
