/* Directory-backed fetcher and storage for the TUF client: the fetcher reads a repository laid
 * out as DIR/metadata/ and DIR/targets/ (docs/protocol.md), the storage keeps trusted metadata
 * as STATE/<role>.json written atomically. Used by `rampart-tuf verify`, tests and devices
 * that receive updates on removable media. */
#pragma once

#include "tuf/client.h"

/* REPO_DIR is borrowed and must outlive the fetcher. */
void tuf_dir_fetcher(tuf_fetcher *f, const char *repo_dir);
/* STATE_DIR is borrowed and must exist. */
void tuf_dir_storage(tuf_storage *s, const char *state_dir);
