/* SQLite store: users, token hashes, roles, tenants and the audit log. */
#include "service/store_sqlite_ops.h"

#include <stdio.h>
#include <string.h>
#include "service/sqlrow.h"

/* ---- users, tokens, roles ---- */

#define ROLE_NAME_SQL "CASE r.role WHEN 3 THEN 'Administrator' WHEN 2 THEN 'Contributor' ELSE 'Reader' END"

static int sq_user_create(struct store *st, const char *name, bool service_admin,
                          const uint8_t token_hash[RP_SHA256_LEN], int64_t now, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO users (name, service_admin, created_at) VALUES (?1, ?2, ?3)", err);
	if (!stmt)
		return -1;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlrow_bind_text(stmt, 1, name);
		sqlite3_bind_int(stmt, 2, service_admin ? 1 : 0);
		sqlite3_bind_int64(stmt, 3, now);
		if (sqlrow_run(stmt, "creating the user", err) < 0)
			return -1;
	}
	int64_t user_seq = sqlite3_last_insert_rowid(sqlrow_db());
	stmt = sqlrow_prep("INSERT INTO tokens (hash, user_seq, created_at) VALUES (?1, ?2, ?3)", err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_blob(stmt, 1, token_hash, RP_SHA256_LEN, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, user_seq);
	sqlite3_bind_int64(stmt, 3, now);
	return sqlrow_run(stmt, "storing the token", err);
}

static int sq_user_exists(struct store *st, const char *name, bool *exists, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT seq FROM users WHERE name = ?1", err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, name);
	int64_t seq;
	int rc = sqlrow_int(stmt, &seq, "finding the user", err);
	if (rc < 0)
		return -1;
	*exists = rc == 0;
	return 0;
}

static int sq_token_lookup(struct store *st, const uint8_t hash[RP_SHA256_LEN], struct store_principal *out,
                           rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT u.seq, u.name, u.service_admin FROM tokens k JOIN users u ON u.seq = k.user_seq "
	                          "WHERE k.hash = ?1",
	                          err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_blob(stmt, 1, hash, RP_SHA256_LEN, SQLITE_TRANSIENT);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return rp_error_set(err, RP_E_PERMISSION, "the token is not known to this service");
	if (rc != SQLITE_ROW)
		return sqlrow_error(rc, "checking the token", err);
	out->user_seq = sqlite3_column_int64(stmt, 0);
	snprintf(out->user, sizeof(out->user), "%s", (const char *)sqlite3_column_text(stmt, 1));
	out->service_admin = sqlite3_column_int(stmt, 2) != 0;
	return 0;
}

static int sq_role_get(struct store *st, int64_t user_seq, const char *tenant_id, enum store_role *out, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT r.role FROM roles r JOIN tenants t ON t.seq = r.tenant_seq "
	                          "WHERE r.user_seq = ?1 AND t.id = ?2",
	                          err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, user_seq);
	sqlrow_bind_text(stmt, 2, tenant_id);
	int64_t role = 0;
	int rc = sqlrow_int(stmt, &role, "reading the role", err);
	if (rc < 0)
		return -1;
	*out = rc == 1 ? STORE_ROLE_NONE : (enum store_role)role;
	return 0;
}

static json_t *sq_user_roles(struct store *st, int64_t user_seq, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT t.id AS tenant_id, t.name AS tenant_name, " ROLE_NAME_SQL " AS role "
	                          "FROM roles r JOIN tenants t ON t.seq = r.tenant_seq WHERE r.user_seq = ?1 "
	                          "ORDER BY r.seq LIMIT ?2",
	                          err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, user_seq);
	sqlite3_bind_int(stmt, 2, 10001);
	struct store_page page = {.after = 0, .limit = 10000};
	int64_t next;
	return sqlrow_page(stmt, &page, &next, NULL, err);
}

/* ---- tenants ---- */

#define TENANT_SELECT "SELECT t.seq AS _seq, t.id AS tenant_id, t.name, t.created_at, t.version FROM tenants t "

static json_t *sq_tenant_get(struct store *st, const char *tenant_id, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep(TENANT_SELECT "WHERE t.id = ?1", err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, tenant_id);
	return sqlrow_one(stmt, NULL, err, "tenant %s not found", tenant_id);
}

static json_t *sq_tenant_create(struct store *st, const char *tenant_id, const char *name, int64_t now,
                                rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)", err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlrow_bind_text(stmt, 1, tenant_id);
		sqlrow_bind_text(stmt, 2, name);
		sqlite3_bind_int64(stmt, 3, now);
		if (sqlrow_run(stmt, "creating the tenant", err) < 0) {
			if (err && err->code == RP_E_EXISTS)
				rp_error_set(err, RP_E_EXISTS, "a tenant named \"%s\" exists already", name);
			return NULL;
		}
	}
	return sq_tenant_get(st, tenant_id, err);
}

static json_t *sq_tenant_list(struct store *st, int64_t user_seq, const struct store_page *page, int64_t *next,
                              rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep(TENANT_SELECT "WHERE t.seq > ?1 AND (?2 = 0 OR EXISTS (SELECT 1 FROM roles r "
	                                        "WHERE r.tenant_seq = t.seq AND r.user_seq = ?2)) ORDER BY t.seq LIMIT ?3",
	                          err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, page->after);
	sqlite3_bind_int64(stmt, 2, user_seq);
	sqlite3_bind_int(stmt, 3, page->limit + 1);
	return sqlrow_page(stmt, page, next, NULL, err);
}

/* ---- roles ---- */

#define ROLE_SELECT                                                                                                    \
	"SELECT r.seq AS _seq, t.id AS tenant_id, u.name AS user, " ROLE_NAME_SQL " AS role, r.created_at "           \
	"FROM roles r JOIN tenants t ON t.seq = r.tenant_seq JOIN users u ON u.seq = r.user_seq "

/* The role (STORE_ROLE_NONE when none) the user named USER holds in the tenant TSEQ. */
static int role_by_name(int64_t tseq, const char *user, enum store_role *out, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep("SELECT r.role FROM roles r JOIN users u ON u.seq = r.user_seq "
	                                 "WHERE r.tenant_seq = ?1 AND u.name = ?2",
	                                 err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, tseq);
	sqlrow_bind_text(stmt, 2, user);
	int64_t role = 0;
	int rc = sqlrow_int(stmt, &role, "finding the role", err);
	if (rc < 0)
		return -1;
	*out = rc == 1 ? STORE_ROLE_NONE : (enum store_role)role;
	return 0;
}

/* Refuses (RP_E_CONFLICT) when USER is the tenant's last Administrator; WHAT: "removed", "demoted". */
static int keep_last_admin(int64_t tseq, const char *user, const char *what, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep("SELECT count(*) FROM roles WHERE tenant_seq = ?1 AND role = 3", err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, tseq);
	int64_t admins = 0;
	if (sqlrow_int(stmt, &admins, "counting administrators", err) < 0)
		return -1;
	if (admins <= 1)
		return rp_error_set(err, RP_E_CONFLICT,
		                    "user \"%s\" is the tenant's last Administrator and cannot be %s; add another first",
		                    user, what);
	return 0;
}

static int sq_role_of(struct store *st, const char *tenant_id, const char *user, enum store_role *out, rp_error *err)
{
	(void)st;
	int64_t tseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return -1;
	return role_by_name(tseq, user, out, err);
}

static json_t *sq_role_add(struct store *st, const char *tenant_id, const char *user, enum store_role role,
                           int64_t now, rp_error *err)
{
	(void)st;
	int64_t tseq;
	enum store_role had = STORE_ROLE_NONE;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || role_by_name(tseq, user, &had, err) < 0)
		return NULL;
	if (had == STORE_ROLE_ADMINISTRATOR && role != STORE_ROLE_ADMINISTRATOR &&
	    keep_last_admin(tseq, user, "demoted", err) < 0)
		return NULL;
	/* One role per user and tenant: a second one replaces the first (keeping when it was given). */
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO roles (tenant_seq, user_seq, role, created_at) "
	                                 "SELECT ?1, u.seq, ?3, ?4 FROM users u WHERE u.name = ?2 "
	                                 "ON CONFLICT (tenant_seq, user_seq) DO UPDATE SET role = excluded.role",
	                                 err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, tseq);
		sqlrow_bind_text(stmt, 2, user);
		sqlite3_bind_int(stmt, 3, (int)role);
		sqlite3_bind_int64(stmt, 4, now);
		if (sqlrow_run(stmt, "adding the role", err) < 0)
			return NULL;
		if (sqlite3_changes(sqlrow_db()) != 1) {
			rp_error_set(err, RP_E_NOT_FOUND, "user \"%s\" not found", user);
			return NULL;
		}
	}
	stmt = sqlrow_prep(ROLE_SELECT "WHERE r.tenant_seq = ?1 AND u.name = ?2", err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, tseq);
	sqlrow_bind_text(stmt, 2, user);
	return sqlrow_one(stmt, NULL, err, "role not found");
}

static json_t *sq_role_list(struct store *st, const char *tenant_id, const struct store_page *page, int64_t *next,
                            rp_error *err)
{
	(void)st;
	return sqlrow_tenant_page(ROLE_SELECT "WHERE r.tenant_seq = ?1 AND r.seq > ?2 ORDER BY r.seq LIMIT ?3", tenant_id, page, next, err);
}

static int sq_role_delete(struct store *st, const char *tenant_id, const char *user, rp_error *err)
{
	(void)st;
	int64_t tseq;
	enum store_role role = STORE_ROLE_NONE;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || role_by_name(tseq, user, &role, err) < 0)
		return -1;
	if (role == STORE_ROLE_NONE)
		return rp_error_set(err, RP_E_NOT_FOUND, "user \"%s\" has no role in this tenant", user);
	if (role == STORE_ROLE_ADMINISTRATOR && keep_last_admin(tseq, user, "removed", err) < 0)
		return -1;
	sqlite3_stmt *stmt = sqlrow_prep("DELETE FROM roles WHERE tenant_seq = ?1 AND "
	                                 "user_seq = (SELECT seq FROM users WHERE name = ?2)",
	                                 err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, tseq);
	sqlrow_bind_text(stmt, 2, user);
	return sqlrow_run(stmt, "deleting the role", err);
}

/* ---- audit ---- */

static int sq_audit_append(struct store *st, const struct store_audit_entry *e, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO audit (time, actor, tenant_id, action, target, result, detail) "
	                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	                          err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, e->time);
	sqlrow_bind_text(stmt, 2, e->actor);
	sqlrow_bind_text(stmt, 3, e->tenant_id);
	sqlrow_bind_text(stmt, 4, e->action);
	sqlrow_bind_text(stmt, 5, e->target ? e->target : "");
	sqlrow_bind_text(stmt, 6, store_audit_result_name(e->result));
	sqlrow_bind_text(stmt, 7, e->detail ? e->detail : "");
	return sqlrow_run(stmt, "writing the audit log", err);
}

static json_t *sq_audit_list(struct store *st, const struct store_audit_filter *f, const struct store_page *page,
                             int64_t *next, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT seq AS _seq, seq AS audit_id, time, actor, tenant_id, action, target, result, "
	                          "detail FROM audit WHERE seq > ?1 AND (?2 IS NULL OR tenant_id = ?2) "
	                          "AND (?3 IS NULL OR actor = ?3) AND (?4 IS NULL OR action = ?4) "
	                          "AND (?5 IS NULL OR result = ?5) AND (?6 = 0 OR time >= ?6) AND (?7 = 0 OR time < ?7) "
	                          "ORDER BY seq LIMIT ?8",
	                          err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, page->after);
	sqlrow_bind_text(stmt, 2, f->tenant_id);
	sqlrow_bind_text(stmt, 3, f->actor);
	sqlrow_bind_text(stmt, 4, f->action);
	sqlrow_bind_text(stmt, 5, f->has_result ? store_audit_result_name(f->result) : NULL);
	sqlite3_bind_int64(stmt, 6, f->since);
	sqlite3_bind_int64(stmt, 7, f->until);
	sqlite3_bind_int(stmt, 8, page->limit + 1);
	return sqlrow_page(stmt, page, next, NULL, err);
}

void store_sqlite_access_ops(struct store_ops *ops)
{
	ops->user_create = sq_user_create;
	ops->user_exists = sq_user_exists;
	ops->token_lookup = sq_token_lookup;
	ops->role_get = sq_role_get;
	ops->user_roles = sq_user_roles;
	ops->tenant_create = sq_tenant_create;
	ops->tenant_get = sq_tenant_get;
	ops->tenant_list = sq_tenant_list;
	ops->role_of = sq_role_of;
	ops->role_add = sq_role_add;
	ops->role_list = sq_role_list;
	ops->role_delete = sq_role_delete;
	ops->audit_append = sq_audit_append;
	ops->audit_list = sq_audit_list;
}
