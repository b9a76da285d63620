/* rampartd's state directory: STATE/rampart.db (SQLite), STATE/ca/<tenant>/ (tenant CAs),
 * STATE/blobs/sha256/<hex> (image packages), STATE/tls/ (server certificate). */
#pragma once

#include <stdbool.h>
#include "common/error.h"
#include "service/api.h"
#include "service/store.h"

#define STATE_BOOTSTRAP_USER "admin"

/* Create the layout (0700) and open the store. When the database has no administrator yet,
 * create the bootstrap service administrator and put its token in TOKEN (else TOKEN is "").
 * Only the token's SHA-256 is stored. */
struct store *state_open(const char *state_dir, char token[API_TOKEN_LEN + 1], rp_error *err);
