/* The SQLite store's attestation operations: device lookup across tenants, revocation, single-use
 * nonces and the record of issued device certificates (docs/protocol.md "Attestation protocol v1"). */
#include <stdio.h>
#include <string.h>
#include "service/sqlrow.h"
#include "service/store_sqlite_ops.h"

static json_t *sq_device_lookup(struct store *st, const char *device_id, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT d.id AS device_id, d.public_key_pem, t.id AS tenant_id, "
	                                 "g.id AS device_group_id, g.name AS device_group_name, "
	                                 "(d.revoked_at IS NOT NULL) AS revoked FROM devices d "
	                                 "LEFT JOIN tenants t ON t.seq = d.tenant_seq "
	                                 "LEFT JOIN device_groups g ON g.seq = d.device_group_seq WHERE d.id = ?1",
	                                 err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, device_id);
	return sqlrow_one(stmt, NULL, err, "device %s is not registered", device_id);
}

static int sq_device_revoke(struct store *st, const char *tenant_id, const char *device_id, int64_t now,
                            rp_error *err)
{
	(void)st;
	int64_t tseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return -1;
	sqlite3_stmt *stmt = sqlrow_prep("UPDATE devices SET revoked_at = coalesce(revoked_at, ?1), "
	                                 "version = version + (revoked_at IS NULL) WHERE id = ?2 AND tenant_seq = ?3",
	                                 err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, now);
	sqlrow_bind_text(stmt, 2, device_id);
	sqlite3_bind_int64(stmt, 3, tseq);
	if (sqlrow_run(stmt, "revoking the device", err) < 0)
		return -1;
	if (sqlite3_changes(sqlrow_db()) == 0)
		return rp_error_set(err, RP_E_NOT_FOUND, "device %s not found in this tenant", device_id);
	return 0;
}

/* Used: recorded as used, or at or below the floor of dropped records (see sq_nonce_use). */
static int sq_nonce_used(struct store *st, const char *nonce_hex, int64_t expires_at, bool *used, rp_error *err)
{
	(void)st;
	*used = false;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT 1 FROM attestation_nonces WHERE expires_at = ?2 AND nonce = ?1 "
	                                 "UNION ALL SELECT 1 FROM attestation_nonce_floor WHERE expires_at >= ?2",
	                                 err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, nonce_hex);
	sqlite3_bind_int64(stmt, 2, expires_at);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*used = true;
	else if (rc != SQLITE_DONE)
		return sqlrow_error(rc, "reading the nonce", err);
	return 0;
}

static int sq_nonce_use(struct store *st, const char *nonce_hex, const char *device_id, int64_t expires_at,
                        int64_t now, bool *was_used, rp_error *err)
{
	/* Used nonces go an hour after they expire, so the table holds about one nonce lifetime of
	 * traffic plus an hour. The floor remembers how far records were dropped: a nonce expiring at
	 * or before it counts as used, so a clock stepped back later cannot make a dropped one new. It
	 * is raised to the latest expiry actually dropped, never to a value read off the clock: a clock
	 * that ran a day ahead for a while must not make every nonce of the next day "used". Nothing is
	 * written when nothing is due (the common case: no extra page per attestation). */
	int64_t newest_due = 0;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT expires_at FROM attestation_nonces WHERE expires_at < ?1 "
	                                 "ORDER BY expires_at DESC LIMIT 1",
	                                 err);
	if (!stmt)
		return -1;
	int due;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, now - 3600);
		due = sqlrow_int(stmt, &newest_due, "finding expired nonces", err);
	}
	if (due < 0)
		return -1;
	if (due == 0) {
		stmt = sqlrow_prep("UPDATE attestation_nonce_floor SET expires_at = ?1 WHERE id = 1 AND expires_at < ?1", err);
		if (!stmt)
			return -1;
		{
			_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
			sqlite3_bind_int64(stmt, 1, newest_due);
			if (sqlrow_run(stmt, "raising the nonce floor", err) < 0)
				return -1;
		}
		stmt = sqlrow_prep("DELETE FROM attestation_nonces WHERE expires_at <= ?1", err);
		if (!stmt)
			return -1;
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, newest_due);
		if (sqlrow_run(stmt, "dropping expired nonces", err) < 0)
			return -1;
	}
	if (sq_nonce_used(st, nonce_hex, expires_at, was_used, err) < 0)
		return -1;
	if (*was_used)
		return 0;
	stmt = sqlrow_prep("INSERT INTO attestation_nonces (nonce, device_id, expires_at, used_at) VALUES (?1, ?2, ?3, ?4)",
	                   err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, nonce_hex);
	sqlrow_bind_text(stmt, 2, device_id);
	sqlite3_bind_int64(stmt, 3, expires_at);
	sqlite3_bind_int64(stmt, 4, now);
	return sqlrow_run(stmt, "using the nonce", err);
}

static json_t *sq_image_by_sha256(struct store *st, const char *tenant_id, const char *sha256_hex, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT i.id AS image_id, i.image_type, i.version_string, i.sha256 "
	                                 "FROM images i JOIN tenants t ON t.seq = i.tenant_seq "
	                                 "WHERE i.sha256 = ?1 AND t.id = ?2",
	                                 err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, sha256_hex);
	sqlrow_bind_text(stmt, 2, tenant_id);
	return sqlrow_one(stmt, NULL, err, "no image with sha256 %s in this tenant", sha256_hex);
}

static int sq_certificate_record(struct store *st, const struct store_cert_record *c, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO device_certificates (device_seq, kind, serial, not_after, issued_at) "
	                                 "SELECT seq, ?2, ?3, ?4, ?5 FROM devices WHERE id = ?1",
	                                 err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, c->device_id);
	sqlrow_bind_text(stmt, 2, c->kind);
	sqlrow_bind_text(stmt, 3, c->serial);
	sqlite3_bind_int64(stmt, 4, c->not_after);
	sqlite3_bind_int64(stmt, 5, c->issued_at);
	return sqlrow_run(stmt, "recording the issued certificate", err);
}

void store_sqlite_attest_ops(struct store_ops *ops)
{
	ops->device_lookup = sq_device_lookup;
	ops->device_revoke = sq_device_revoke;
	ops->nonce_used = sq_nonce_used;
	ops->nonce_use = sq_nonce_use;
	ops->image_by_sha256 = sq_image_by_sha256;
	ops->certificate_record = sq_certificate_record;
}
