/* Versioned schema migrations for the SQLite store. Each step is constant SQL applied in its own
 * transaction together with its schema_migrations row, so a crash leaves either the old or the new
 * version, never half of one. Steps are append-only: never edit a released step, add a new one. */
#include "service/migrations.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "common/macros.h"

struct migration {
	int version;
	const char *description;
	const char *sql;
};

/* Steps that rebuild a table others reference (SQLite's way to change a constraint): foreign keys
 * are enforced by one full check before the commit instead of row by row, because dropping the old
 * table would otherwise cascade to, or be refused by, its referrers. */
static const int rebuild_steps[] = {6};

static bool rebuilds_tables(const struct migration *m)
{
	for (size_t i = 0; i < RP_ARRAY_SIZE(rebuild_steps); i++)
		if (rebuild_steps[i] == m->version)
			return true;
	return false;
}

static const struct migration migrations[] = {
	{1, "initial schema",
	 "CREATE TABLE users ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  name TEXT NOT NULL UNIQUE,"
	 "  service_admin INTEGER NOT NULL DEFAULT 0 CHECK (service_admin IN (0, 1)),"
	 "  created_at INTEGER NOT NULL);"
	 "CREATE TABLE tokens ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	 "  user_seq INTEGER NOT NULL REFERENCES users(seq) ON DELETE CASCADE,"
	 "  created_at INTEGER NOT NULL);"
	 "CREATE TABLE tenants ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  id TEXT NOT NULL UNIQUE,"
	 "  name TEXT NOT NULL UNIQUE,"
	 "  created_at INTEGER NOT NULL,"
	 "  version INTEGER NOT NULL DEFAULT 1);"
	 "CREATE TABLE roles ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  tenant_seq INTEGER NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,"
	 "  user_seq INTEGER NOT NULL REFERENCES users(seq) ON DELETE CASCADE,"
	 "  role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 3),"
	 "  created_at INTEGER NOT NULL,"
	 "  UNIQUE (tenant_seq, user_seq));"
	 "CREATE TABLE products ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  id TEXT NOT NULL UNIQUE,"
	 "  tenant_seq INTEGER NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,"
	 "  name TEXT NOT NULL,"
	 "  description TEXT NOT NULL DEFAULT '',"
	 "  created_at INTEGER NOT NULL,"
	 "  updated_at INTEGER NOT NULL,"
	 "  version INTEGER NOT NULL DEFAULT 1,"
	 "  UNIQUE (tenant_seq, name));"
	 "CREATE TABLE device_groups ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  id TEXT NOT NULL UNIQUE,"
	 "  product_seq INTEGER NOT NULL REFERENCES products(seq) ON DELETE CASCADE,"
	 "  name TEXT NOT NULL,"
	 "  description TEXT NOT NULL DEFAULT '',"
	 "  os_feed TEXT NOT NULL CHECK (os_feed IN ('Retail', 'RetailEval')),"
	 "  update_policy TEXT NOT NULL CHECK (update_policy IN ('UpdateAll', 'No3rdPartyAppUpdates')),"
	 "  allow_crash_dumps INTEGER NOT NULL CHECK (allow_crash_dumps IN (0, 1)),"
	 "  created_at INTEGER NOT NULL,"
	 "  updated_at INTEGER NOT NULL,"
	 "  version INTEGER NOT NULL DEFAULT 1,"
	 "  UNIQUE (product_seq, name));"
	 "CREATE TABLE images ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  id TEXT NOT NULL UNIQUE,"
	 "  tenant_seq INTEGER NOT NULL REFERENCES tenants(seq),"
	 "  component_id TEXT NOT NULL,"
	 "  name TEXT NOT NULL,"
	 "  image_type TEXT NOT NULL,"
	 "  version_string TEXT NOT NULL,"
	 "  version INTEGER NOT NULL,"
	 "  development INTEGER NOT NULL CHECK (development IN (0, 1)),"
	 "  sha256 TEXT NOT NULL UNIQUE,"
	 "  size INTEGER NOT NULL,"
	 "  signing_key_id TEXT NOT NULL,"
	 "  uploaded_at INTEGER NOT NULL,"
	 "  uploaded_by TEXT NOT NULL);"
	 "CREATE TABLE deployments ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  id TEXT NOT NULL UNIQUE,"
	 "  device_group_seq INTEGER NOT NULL REFERENCES device_groups(seq) ON DELETE CASCADE,"
	 "  created_at INTEGER NOT NULL,"
	 "  created_by TEXT NOT NULL);"
	 "CREATE TABLE deployment_images ("
	 "  deployment_seq INTEGER NOT NULL REFERENCES deployments(seq) ON DELETE CASCADE,"
	 "  position INTEGER NOT NULL,"
	 "  image_seq INTEGER NOT NULL REFERENCES images(seq),"
	 "  PRIMARY KEY (deployment_seq, image_seq));"
	 "CREATE TABLE devices ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  id TEXT NOT NULL UNIQUE,"
	 "  public_key_pem TEXT NOT NULL,"
	 "  registered_at INTEGER NOT NULL,"
	 "  tenant_seq INTEGER REFERENCES tenants(seq),"
	 "  device_group_seq INTEGER REFERENCES device_groups(seq),"
	 "  claimed_at INTEGER,"
	 "  version INTEGER NOT NULL DEFAULT 1);"
	 "CREATE TABLE signing_keys ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  tenant_seq INTEGER NOT NULL REFERENCES tenants(seq) ON DELETE CASCADE,"
	 "  key_id TEXT NOT NULL,"
	 "  name TEXT NOT NULL,"
	 "  public_key_pem TEXT NOT NULL,"
	 "  created_at INTEGER NOT NULL,"
	 "  UNIQUE (tenant_seq, key_id));"
	 "CREATE TABLE audit ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  time INTEGER NOT NULL,"
	 "  actor TEXT NOT NULL,"
	 "  tenant_id TEXT,"
	 "  action TEXT NOT NULL,"
	 "  target TEXT NOT NULL,"
	 "  result TEXT NOT NULL CHECK (result IN ('success', 'refused', 'failed')),"
	 "  detail TEXT NOT NULL);"},
	{2, "device revocation field, indexes for tenant-scoped lists and the audit filter",
	 "ALTER TABLE devices ADD COLUMN revoked_at INTEGER;"
	 "CREATE INDEX devices_tenant ON devices (tenant_seq, seq);"
	 "CREATE INDEX devices_group ON devices (device_group_seq, seq);"
	 "CREATE INDEX device_groups_product ON device_groups (product_seq, seq);"
	 "CREATE INDEX deployments_group ON deployments (device_group_seq, seq);"
	 "CREATE INDEX images_tenant ON images (tenant_seq, seq);"
	 "CREATE INDEX audit_tenant ON audit (tenant_id, seq);"},
	{3, "attestation: single-use nonces and the record of issued device certificates",
	 "CREATE TABLE attestation_nonces ("
	 "  nonce TEXT PRIMARY KEY,"
	 "  device_id TEXT NOT NULL,"
	 "  expires_at INTEGER NOT NULL,"
	 "  used_at INTEGER);"
	 "CREATE INDEX attestation_nonces_expiry ON attestation_nonces (expires_at);"
	 "CREATE TABLE device_certificates ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  device_seq INTEGER NOT NULL REFERENCES devices(seq),"
	 "  kind TEXT NOT NULL CHECK (kind IN ('client', 'device_api')),"
	 "  serial TEXT NOT NULL,"
	 "  not_after INTEGER NOT NULL,"
	 "  issued_at INTEGER NOT NULL);"
	 "CREATE INDEX device_certificates_device ON device_certificates (device_seq, seq);"},
	{4, "update status: the last per-image status report of each device",
	 "CREATE TABLE device_update_status ("
	 "  device_seq INTEGER PRIMARY KEY REFERENCES devices(seq),"
	 "  reported_at INTEGER NOT NULL,"
	 "  report TEXT NOT NULL);"},
	{5, "attestation: nonces are MAC'd when issued; the used ones are kept until an hour after expiry, and "
	    "this floor remembers how far they were dropped, so a clock stepped back cannot reopen one",
	 "CREATE TABLE attestation_nonce_floor ("
	 "  id INTEGER PRIMARY KEY CHECK (id = 1),"
	 "  expires_at INTEGER NOT NULL);"
	 "INSERT INTO attestation_nonce_floor (id, expires_at) VALUES (1, 0);"},
	{6, "images: image IDs and package hashes are unique per tenant, so two tenants can each upload the same "
	    "package (a vendor OS bundle both trust) and neither learns that the other has it",
	 "CREATE TABLE images_new ("
	 "  seq INTEGER PRIMARY KEY,"
	 "  id TEXT NOT NULL,"
	 "  tenant_seq INTEGER NOT NULL REFERENCES tenants(seq),"
	 "  component_id TEXT NOT NULL,"
	 "  name TEXT NOT NULL,"
	 "  image_type TEXT NOT NULL,"
	 "  version_string TEXT NOT NULL,"
	 "  version INTEGER NOT NULL,"
	 "  development INTEGER NOT NULL CHECK (development IN (0, 1)),"
	 "  sha256 TEXT NOT NULL,"
	 "  size INTEGER NOT NULL,"
	 "  signing_key_id TEXT NOT NULL,"
	 "  uploaded_at INTEGER NOT NULL,"
	 "  uploaded_by TEXT NOT NULL,"
	 "  UNIQUE (tenant_seq, id),"
	 "  UNIQUE (tenant_seq, sha256));"
	 /* Same seq values, so deployment_images(image_seq) keeps pointing at the same images. */
	 "INSERT INTO images_new (seq, id, tenant_seq, component_id, name, image_type, version_string, version,"
	 "  development, sha256, size, signing_key_id, uploaded_at, uploaded_by)"
	 "  SELECT seq, id, tenant_seq, component_id, name, image_type, version_string, version,"
	 "  development, sha256, size, signing_key_id, uploaded_at, uploaded_by FROM images;"
	 "DROP TABLE images;"
	 "ALTER TABLE images_new RENAME TO images;"
	 "CREATE INDEX images_tenant ON images (tenant_seq, seq);"
	 /* Blob downloads ask which tenants hold a hash. */
	 "CREATE INDEX images_sha256 ON images (sha256);"},
	{7, "attestation: used nonces keyed by (expiry, nonce) in one table without rowid, so a batch of "
	    "attestations writes the few pages at the newest expiry instead of a random page per nonce",
	 /* A nonce's expiry is part of its authenticated bytes, so (expires_at, nonce) is as unique as
	  * the nonce was; lookups know both. */
	 "CREATE TABLE attestation_nonces_new ("
	 "  expires_at INTEGER NOT NULL,"
	 "  nonce TEXT NOT NULL,"
	 "  device_id TEXT NOT NULL,"
	 "  used_at INTEGER,"
	 "  PRIMARY KEY (expires_at, nonce)) WITHOUT ROWID;"
	 "INSERT INTO attestation_nonces_new (expires_at, nonce, device_id, used_at)"
	 "  SELECT expires_at, nonce, device_id, used_at FROM attestation_nonces;"
	 "DROP TABLE attestation_nonces;"
	 "ALTER TABLE attestation_nonces_new RENAME TO attestation_nonces;"},
};

int migrations_latest(void)
{
	return migrations[RP_ARRAY_SIZE(migrations) - 1].version;
}

static int exec(sqlite3 *db, const char *sql, const char *what, rp_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		rp_error_set(err, RP_E_IO, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int migrations_current(sqlite3 *db, int *out, rp_error *err)
{
	if (exec(db,
	         "CREATE TABLE IF NOT EXISTS schema_migrations ("
	         "  version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)",
	         "creating schema_migrations", err) < 0)
		return -1;
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1, &stmt, NULL) !=
	    SQLITE_OK)
		return rp_error_set(err, RP_E_IO, "reading schema version: %s", sqlite3_errmsg(db));
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW)
		return rp_error_set(err, RP_E_IO, "reading schema version: %s", sqlite3_errmsg(db));
	return 0;
}

/* Any row of the foreign-key check is a dangling reference the step would leave behind. */
static int foreign_keys_intact(sqlite3 *db, rp_error *err)
{
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &stmt, NULL) != SQLITE_OK)
		return rp_error_set(err, RP_E_IO, "checking foreign keys: %s", sqlite3_errmsg(db));
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rp_error_set(err, RP_E_INTERNAL, "checking foreign keys: a row of table %s refers to a missing row of %s",
		             (const char *)sqlite3_column_text(stmt, 0), (const char *)sqlite3_column_text(stmt, 2));
	else if (rc != SQLITE_DONE)
		rp_error_set(err, RP_E_IO, "checking foreign keys: %s", sqlite3_errmsg(db));
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int apply_one(sqlite3 *db, const struct migration *m, rp_error *err)
{
	/* foreign_keys cannot change inside a transaction: off before BEGIN, on again after the end. */
	bool rebuild = rebuilds_tables(m);
	if (rebuild && exec(db, "PRAGMA foreign_keys=OFF", "disabling foreign keys for a table rebuild", err) < 0)
		return rp_error_prefix(err, "schema migration %d (%s)", m->version, m->description);
	if (exec(db, "BEGIN IMMEDIATE", "starting migration", err) < 0)
		goto fail;
	if (exec(db, m->sql, "applying migration", err) < 0)
		goto fail;
	if (rebuild && foreign_keys_intact(db, err) < 0)
		goto fail;
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(db, "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
	                       -1, &stmt, NULL) != SQLITE_OK) {
		rp_error_set(err, RP_E_IO, "recording migration: %s", sqlite3_errmsg(db));
		goto fail;
	}
	sqlite3_bind_int(stmt, 1, m->version);
	sqlite3_bind_text(stmt, 2, m->description, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		rp_error_set(err, RP_E_IO, "recording migration: %s", sqlite3_errmsg(db));
		goto fail;
	}
	if (exec(db, "COMMIT", "committing migration", err) < 0)
		goto fail;
	if (rebuild && exec(db, "PRAGMA foreign_keys=ON", "enabling foreign keys again", err) < 0)
		return rp_error_prefix(err, "schema migration %d (%s)", m->version, m->description);
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	if (rebuild)
		sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	return rp_error_prefix(err, "schema migration %d (%s)", m->version, m->description);
}

int migrations_apply(sqlite3 *db, int target, rp_error *err)
{
	int latest = migrations_latest();
	if (target <= 0)
		target = latest;
	if (target > latest)
		return rp_error_set(err, RP_E_INVALID, "schema version %d is unknown (newest is %d)", target, latest);
	int current = 0;
	if (migrations_current(db, &current, err) < 0)
		return -1;
	if (current > latest)
		return rp_error_set(err, RP_E_UNSUPPORTED,
		                    "the database has schema version %d but this rampartd knows only up to %d; "
		                    "run a newer rampartd",
		                    current, latest);
	for (size_t i = 0; i < RP_ARRAY_SIZE(migrations); i++) {
		const struct migration *m = &migrations[i];
		if (m->version <= current || m->version > target)
			continue;
		if (apply_one(db, m, err) < 0)
			return -1;
	}
	return 0;
}
