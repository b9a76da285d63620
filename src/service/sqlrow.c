/* Statement and row helpers of the SQLite store (see sqlrow.h). */
#include "service/sqlrow.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "common/xalloc.h"
#include "service/timeutil.h"

static __thread struct sqlrow_conn *cur;

struct sqlrow_conn *sqlrow_current(void)
{
	return cur;
}

void sqlrow_set_current(struct sqlrow_conn *c)
{
	cur = c;
}

sqlite3 *sqlrow_db(void)
{
	return cur->db;
}

void sqlrow_conn_close(struct sqlrow_conn *c)
{
	for (size_t i = 0; i < c->ncache; i++)
		sqlite3_finalize(c->cache[i].stmt);
	c->ncache = 0;
	sqlite3_close(c->db);
	c->db = NULL;
	pthread_mutex_destroy(&c->lock);
}

void sqlrow_resetp(sqlite3_stmt **p)
{
	if (*p) {
		sqlite3_reset(*p);
		sqlite3_clear_bindings(*p);
	}
}

sqlite3_stmt *sqlrow_prep(const char *sql, rp_error *err)
{
	struct sqlrow_conn *c = cur;
	if (!c)
		rp_abort("store used outside a transaction");
	/* After an automatic rollback SQLite is in autocommit mode: each later statement would be
	 * durable on its own, a part of a change without the rest of it or its audit entry. */
	if (c->in_txn && sqlite3_get_autocommit(c->db)) {
		rp_error_set(err, RP_E_IO,
		             "the store ended the transaction (disk full or I/O error); nothing more is written in it, "
		             "and nothing of it was saved");
		return NULL;
	}
	for (size_t i = 0; i < c->ncache; i++)
		if (c->cache[i].sql == sql)
			return c->cache[i].stmt;
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
		rp_error_set(err, RP_E_INTERNAL, "preparing a statement: %s", sqlite3_errmsg(c->db));
		return NULL;
	}
	if (c->ncache == SQLROW_STMT_CACHE_MAX)
		rp_abort("statement cache too small");
	c->cache[c->ncache].sql = sql;
	c->cache[c->ncache].stmt = stmt;
	c->ncache++;
	return stmt;
}

void sqlrow_bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
	if (s)
		sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, idx);
}

/* Map a failed step to an error code; WHAT says what was being done. */
int sqlrow_error(int rc, const char *what, rp_error *err)
{
	int ext = sqlite3_extended_errcode(sqlrow_db());
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return rp_error_set(err, RP_E_EXISTS, "%s: it exists already", what);
	if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
		return rp_error_set(err, RP_E_CONFLICT, "%s: it is still referenced", what);
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: the database is busy; retry", what);
	if ((rc & 0xff) == SQLITE_FULL)
		return rp_error_set(err, RP_E_IO, "%s: the disk is full", what);
	return rp_error_set(err, RP_E_IO, "%s: %s", what, sqlite3_errmsg(sqlrow_db()));
}

/* Run a statement that returns no rows. */
int sqlrow_run(sqlite3_stmt *stmt, const char *what, rp_error *err)
{
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sqlrow_error(rc, what, err);
	return 0;
}

/* Fetch one integer column of the first row; 0 when found, 1 when no row. */
int sqlrow_int(sqlite3_stmt *stmt, int64_t *out, const char *what, rp_error *err)
{
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		return sqlrow_error(rc, what, err);
	*out = sqlite3_column_int64(stmt, 0);
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool is_bool_column(const char *name)
{
	static const char *const names[] = {"allow_crash_dumps", "revoked", "service_admin", "development"};
	for (size_t i = 0; i < RP_ARRAY_SIZE(names); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* The current row as a JSON object in API shape; columns starting with '_' are internal, and
 * "_seq" (the pagination key) goes to *SEQ. */
json_t *sqlrow_json(sqlite3_stmt *stmt, int64_t *seq)
{
	json_t *obj = json_object();
	int n = sqlite3_column_count(stmt);
	for (int i = 0; i < n; i++) {
		const char *name = sqlite3_column_name(stmt, i);
		int type = sqlite3_column_type(stmt, i);
		if (strcmp(name, "_seq") == 0) {
			if (seq)
				*seq = sqlite3_column_int64(stmt, i);
			continue;
		}
		if (name[0] == '_')
			continue;
		json_t *v;
		if (type == SQLITE_NULL) {
			v = json_null();
		} else if (ends_with(name, "_at") || strcmp(name, "time") == 0) {
			char buf[TIMEUTIL_RFC3339_LEN];
			timeutil_format(sqlite3_column_int64(stmt, i), buf);
			v = json_string(buf);
		} else if (is_bool_column(name)) {
			v = json_boolean(sqlite3_column_int64(stmt, i) != 0);
		} else if (type == SQLITE_INTEGER) {
			v = json_integer(sqlite3_column_int64(stmt, i));
		} else {
			const unsigned char *text = sqlite3_column_text(stmt, i);
			v = json_stringn((const char *)text, (size_t)sqlite3_column_bytes(stmt, i));
			if (!v) /* never stored by us: every text is validated UTF-8 */
				v = json_string("");
		}
		json_object_set_new(obj, name, v);
	}
	return obj;
}

json_t *sqlrow_one(sqlite3_stmt *stmt, int64_t *seq, rp_error *err, const char *fmt, ...)
{
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		return sqlrow_json(stmt, seq);
	if (rc == SQLITE_DONE) {
		char msg[512];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		rp_error_set(err, RP_E_NOT_FOUND, "%s", msg);
	} else {
		sqlrow_error(rc, "reading", err);
	}
	return NULL;
}

/* Rows into an array; the statement was bound with LIMIT page->limit + 1. */
json_t *sqlrow_page(sqlite3_stmt *stmt, const struct store_page *page, int64_t *next,
                          int64_t *seqs_out[], rp_error *err)
{
	json_t *items = json_array();
	int64_t last = 0;
	*next = 0;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((int)json_array_size(items) == page->limit) {
			*next = last;
			break;
		}
		int64_t seq = 0;
		json_array_append_new(items, sqlrow_json(stmt, &seq));
		if (seqs_out)
			(*seqs_out)[json_array_size(items) - 1] = seq;
		last = seq;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		json_decref(items);
		sqlrow_error(rc, "listing", err);
		return NULL;
	}
	return items;
}

json_t *sqlrow_scoped_page(const char *sql, int64_t scope_seq, const struct store_page *page, int64_t *next,
                           int64_t *seqs_out[], rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep(sql, err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, scope_seq);
	sqlite3_bind_int64(stmt, 2, page->after);
	sqlite3_bind_int(stmt, 3, page->limit + 1);
	return sqlrow_page(stmt, page, next, seqs_out, err);
}

json_t *sqlrow_tenant_page(const char *sql, const char *tenant_id, const struct store_page *page, int64_t *next,
                           rp_error *err)
{
	int64_t tseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return NULL;
	return sqlrow_scoped_page(sql, tseq, page, next, NULL, err);
}

int sqlrow_tenant_seq(const char *tenant_id, int64_t *out, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep("SELECT seq FROM tenants WHERE id = ?1", err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, tenant_id);
	int rc = sqlrow_int(stmt, out, "finding the tenant", err);
	if (rc == 1)
		return rp_error_set(err, RP_E_NOT_FOUND, "tenant %s not found", tenant_id);
	return rc;
}

int sqlrow_product_seq(int64_t tseq, const char *id_or_name, int64_t *out, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep("SELECT seq FROM products WHERE tenant_seq = ?1 AND (id = ?2 OR name = ?2)", err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, tseq);
	sqlrow_bind_text(stmt, 2, id_or_name);
	int rc = sqlrow_int(stmt, out, "finding the product", err);
	if (rc == 1)
		return rp_error_set(err, RP_E_NOT_FOUND, "product \"%s\" not found in this tenant", id_or_name);
	return rc;
}

int sqlrow_group_seq(int64_t tseq, const char *group_id, int64_t *out, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep("SELECT g.seq FROM device_groups g JOIN products p ON p.seq = g.product_seq "
	                          "WHERE p.tenant_seq = ?1 AND g.id = ?2",
	                          err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, tseq);
	sqlrow_bind_text(stmt, 2, group_id);
	int rc = sqlrow_int(stmt, out, "finding the device group", err);
	if (rc == 1)
		return rp_error_set(err, RP_E_NOT_FOUND, "device group %s not found in this tenant", group_id);
	return rc;
}

int sqlrow_check_version(const char *what, const char *id, int64_t have, int64_t expect, rp_error *err)
{
	if (expect >= 0 && expect != have)
		return rp_error_set(err, RP_E_CONFLICT,
		                    "%s %s was changed by someone else (it is at version %lld, the request expected "
		                    "%lld); show it again and retry",
		                    what, id, (long long)have, (long long)expect);
	return 0;
}

