/* The SQLite store's operation groups, one file each; store_sqlite.c assembles the table. */
#pragma once

#include "service/store.h"

void store_sqlite_access_ops(struct store_ops *ops);
void store_sqlite_fleet_ops(struct store_ops *ops);
void store_sqlite_images_ops(struct store_ops *ops);
void store_sqlite_attest_ops(struct store_ops *ops);
void store_sqlite_update_ops(struct store_ops *ops);
