/* Statement and row helpers shared by the SQLite store's files (store_sqlite*.c): the connection
 * the calling thread's transaction uses, a per-connection cache of prepared statements, error
 * mapping, rows as API-shaped JSON, keyset pages, and lookups of internal sequence numbers. */
#pragma once

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "common/error.h"
#include "service/store.h"

#define SQLROW_STMT_CACHE_MAX 96

struct sqlrow_conn {
	sqlite3 *db;
	pthread_mutex_t lock;
	bool in_txn; /* the store began a transaction here and has not ended it */
	struct {
		const char *sql; /* identity: every statement is a string literal */
		sqlite3_stmt *stmt;
	} cache[SQLROW_STMT_CACHE_MAX];
	size_t ncache;
};

/* The connection of the transaction this thread has open (a thread has at most one), or NULL. */
struct sqlrow_conn *sqlrow_current(void);
void sqlrow_set_current(struct sqlrow_conn *c);
sqlite3 *sqlrow_db(void);
void sqlrow_conn_close(struct sqlrow_conn *c);

/* A cached prepared statement of the current connection for the literal SQL. Reset it after use
 * with _cleanup_sqlrow_ on a guard variable. Fails (RP_E_IO) once SQLite has ended the store's
 * transaction on its own (disk full, I/O error), so that a caller that went on after such an error
 * cannot write outside the transaction, one statement at a time. */
sqlite3_stmt *sqlrow_prep(const char *sql, rp_error *err);
void sqlrow_resetp(sqlite3_stmt **p);
#define _cleanup_sqlrow_ _cleanup_(sqlrow_resetp)
/* Bind S, or NULL when S is NULL. */
void sqlrow_bind_text(sqlite3_stmt *stmt, int idx, const char *s);
/* Map a failed step to an error code (UNIQUE -> EXISTS, busy -> UNAVAILABLE, ...). */
int sqlrow_error(int rc, const char *what, rp_error *err);
int sqlrow_run(sqlite3_stmt *stmt, const char *what, rp_error *err) RP_MUST_CHECK;
/* First column of the first row: 0 found, 1 no row, -1 error. */
int sqlrow_int(sqlite3_stmt *stmt, int64_t *out, const char *what, rp_error *err) RP_MUST_CHECK;
/* The current row as a JSON object: columns "_seq" (to *SEQ) and "_*" are internal, "*_at" and
 * "time" are RFC 3339 times, known flags are booleans. */
json_t *sqlrow_json(sqlite3_stmt *stmt, int64_t *seq);
/* One row, or RP_E_NOT_FOUND with the formatted message. */
json_t *sqlrow_one(sqlite3_stmt *stmt, int64_t *seq, rp_error *err, const char *fmt, ...) RP_PRINTF(4, 5);
/* Up to page->limit rows (the statement asks for limit + 1 to learn whether more follow);
 * SEQS_OUT, when non-NULL, receives each row's sequence. */
json_t *sqlrow_page(sqlite3_stmt *stmt, const struct store_page *page, int64_t *next, int64_t *seqs_out[],
                    rp_error *err);

/* One keyset page of SQL, whose parameters are ?1 the scope's sequence (tenant, device group),
 * ?2 the sequence to start after and ?3 the row limit (page->limit + 1 is bound). */
json_t *sqlrow_scoped_page(const char *sql, int64_t scope_seq, const struct store_page *page, int64_t *next,
                           int64_t *seqs_out[], rp_error *err);
/* The same, scoped to the tenant TENANT_ID. */
json_t *sqlrow_tenant_page(const char *sql, const char *tenant_id, const struct store_page *page, int64_t *next,
                           rp_error *err);

int sqlrow_tenant_seq(const char *tenant_id, int64_t *out, rp_error *err) RP_MUST_CHECK;
int sqlrow_product_seq(int64_t tseq, const char *id_or_name, int64_t *out, rp_error *err) RP_MUST_CHECK;
int sqlrow_group_seq(int64_t tseq, const char *group_id, int64_t *out, rp_error *err) RP_MUST_CHECK;
/* RP_E_CONFLICT when EXPECT (>= 0) differs from HAVE. */
int sqlrow_check_version(const char *what, const char *id, int64_t have, int64_t expect, rp_error *err) RP_MUST_CHECK;
