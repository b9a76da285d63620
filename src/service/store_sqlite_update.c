/* The SQLite store's update-status operations: the last status report of each device (per-image
 * states from the update client, docs/protocol.md "Update delivery"), kept as one JSON document
 * per device and replaced by every report. */
#include <string.h>
#include "common/json.h"
#include "service/sqlrow.h"
#include "service/store_sqlite_ops.h"
#include "service/update_report.h"

static int sq_update_status_put(struct store *st, const char *device_id, const char *report_json, int64_t now,
                                rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO device_update_status (device_seq, reported_at, report) "
	                                 "SELECT seq, ?2, ?3 FROM devices WHERE id = ?1 "
	                                 "ON CONFLICT (device_seq) DO UPDATE SET reported_at = excluded.reported_at, "
	                                 "report = excluded.report",
	                                 err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, device_id);
	sqlite3_bind_int64(stmt, 2, now);
	sqlrow_bind_text(stmt, 3, report_json);
	if (sqlrow_run(stmt, "recording the update status", err) < 0)
		return -1;
	if (sqlite3_changes(sqlrow_db()) == 0)
		return rp_error_set(err, RP_E_NOT_FOUND, "device %s is not registered", device_id);
	return 0;
}

static json_t *sq_update_status_get(struct store *st, const char *tenant_id, const char *device_id, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT s.reported_at, s.report AS _report FROM device_update_status s "
	                                 "JOIN devices d ON d.seq = s.device_seq JOIN tenants t ON t.seq = d.tenant_seq "
	                                 "WHERE d.id = ?1 AND t.id = ?2",
	                                 err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, device_id);
	sqlrow_bind_text(stmt, 2, tenant_id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return rp_error_set(err, RP_E_NOT_FOUND, "device %s has not reported an update status yet", device_id), NULL;
	if (rc != SQLITE_ROW)
		return sqlrow_error(rc, "reading the update status", err), NULL;
	json_t *row = sqlrow_json(stmt, NULL);
	const char *text = (const char *)sqlite3_column_text(stmt, 1);
	int len = sqlite3_column_bytes(stmt, 1);
	json_t *report =
	    text ? rp_json_parse(text, (size_t)len, UPDATE_REPORT_STORED_MAX, "stored update status", err) : NULL;
	if (!report) {
		json_decref(row);
		return NULL;
	}
	json_object_set_new(report, "reported_at", json_incref(json_object_get(row, "reported_at")));
	json_decref(row);
	return report;
}

void store_sqlite_update_ops(struct store_ops *ops)
{
	ops->update_status_put = sq_update_status_put;
	ops->update_status_get = sq_update_status_get;
}
