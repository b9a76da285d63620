"""Turn a service database back into what an older rampartd left, to test upgrades in place. Each
helper undoes one migration step on an open connection inside the caller's transaction."""

LATEST_SCHEMA = 7

# attestation_nonces as schema versions 3 to 6 made it: a rowid table keyed by the nonce, with an
# index on the expiry.
V3_NONCES = """CREATE TABLE attestation_nonces (
  nonce TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER)"""


def undo_step_7(db):
    """Used nonces back in the schema-3 table (same rows), and no record of step 7."""
    db.execute(V3_NONCES.replace("CREATE TABLE attestation_nonces", "CREATE TABLE attestation_nonces_v3"))
    db.execute("INSERT INTO attestation_nonces_v3 (nonce, device_id, expires_at, used_at) "
               "SELECT nonce, device_id, expires_at, used_at FROM attestation_nonces")
    db.execute("DROP TABLE attestation_nonces")
    db.execute("ALTER TABLE attestation_nonces_v3 RENAME TO attestation_nonces")
    db.execute("CREATE INDEX attestation_nonces_expiry ON attestation_nonces (expires_at)")
    db.execute("DELETE FROM schema_migrations WHERE version = 7")
