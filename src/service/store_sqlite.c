/* SQLite backend of the storage interface (store.h): opening, connections and transactions; the
 * operations live in store_sqlite_{access,fleet,images}.c. One writer connection guarded by a
 * mutex serialises write transactions; a few read-only connections let reads proceed on WAL
 * snapshots while a writer waits for its fsync. synchronous=FULL: COMMIT returns only after the
 * change is on disk. Every statement is a constant string with bound parameters (no SQL is ever
 * built from input), prepared once per connection and cached. */
#include "service/store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/guid.h"
#include "common/xalloc.h"
#include "service/migrations.h"
#include "service/sqlrow.h"
#include "service/store_sqlite_ops.h"
#include "service/timeutil.h"

#define READERS 4

struct sq {
	struct store base;
	struct sqlrow_conn writer;
	struct sqlrow_conn readers[READERS];
	size_t nreaders;
};

static struct sq *SQ(struct store *st) { return (struct sq *)st; }

static int sq_exec(const char *sql, const char *what, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep(sql, err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	return sqlrow_run(stmt, what, err);
}

/* A free reader if there is one, else wait for one chosen by thread. */
static struct sqlrow_conn *take_reader(struct sq *s)
{
	for (size_t i = 0; i < s->nreaders; i++)
		if (pthread_mutex_trylock(&s->readers[i].lock) == 0)
			return &s->readers[i];
	struct sqlrow_conn *c = &s->readers[((uintptr_t)pthread_self() >> 6) % s->nreaders];
	pthread_mutex_lock(&c->lock);
	return c;
}

static int sq_begin(struct store *st, bool write, rp_error *err)
{
	struct sq *s = SQ(st);
	if (sqlrow_current())
		rp_abort("nested store transaction");
	struct sqlrow_conn *c;
	if (write || s->nreaders == 0) {
		c = &s->writer;
		pthread_mutex_lock(&c->lock);
	} else {
		c = take_reader(s);
	}
	sqlrow_set_current(c);
	if (sq_exec(write ? "BEGIN IMMEDIATE" : "BEGIN", "starting a transaction", err) < 0) {
		sqlrow_set_current(NULL);
		pthread_mutex_unlock(&c->lock);
		return -1;
	}
	c->in_txn = true;
	return 0;
}

/* End the current transaction's hold on its connection (it was committed or rolled back). */
static void txn_release(struct sqlrow_conn *c)
{
	c->in_txn = false;
	sqlrow_set_current(NULL);
	pthread_mutex_unlock(&c->lock);
}

static int sq_commit(struct store *st, rp_error *err)
{
	(void)st;
	struct sqlrow_conn *c = sqlrow_current();
	/* An error such as SQLITE_FULL or SQLITE_IOERR can make SQLite roll the whole transaction back
	 * on its own; COMMIT would then report only that no transaction is active. */
	if (sqlite3_get_autocommit(c->db)) {
		txn_release(c);
		return rp_error_set(err, RP_E_IO,
		                    "the database ended the transaction after an earlier write error (disk full or I/O "
		                    "error); nothing was saved; retry");
	}
	int rc = sq_exec("COMMIT", "committing", err);
	if (rc < 0 && !sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	txn_release(c);
	return rc;
}

static void sq_rollback(struct store *st)
{
	(void)st;
	struct sqlrow_conn *c = sqlrow_current();
	if (!c)
		return;
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	txn_release(c);
}

static bool sq_txn_active(struct store *st)
{
	(void)st;
	struct sqlrow_conn *c = sqlrow_current();
	return c && !sqlite3_get_autocommit(c->db);
}

static void sq_close(struct store *st)
{
	struct sq *s = SQ(st);
	for (size_t i = 0; i < s->nreaders; i++)
		sqlrow_conn_close(&s->readers[i]);
	sqlrow_conn_close(&s->writer);
	free(s);
}

static int sq_schema_version(struct store *st, int *out, rp_error *err)
{
	struct sq *s = SQ(st);
	pthread_mutex_lock(&s->writer.lock);
	int rc = migrations_current(s->writer.db, out, err);
	pthread_mutex_unlock(&s->writer.lock);
	return rc;
}

static struct store_ops sqlite_ops;
static pthread_once_t sqlite_ops_once = PTHREAD_ONCE_INIT;

static void sqlite_ops_init(void)
{
	sqlite_ops.close = sq_close;
	sqlite_ops.begin = sq_begin;
	sqlite_ops.commit = sq_commit;
	sqlite_ops.rollback = sq_rollback;
	sqlite_ops.txn_active = sq_txn_active;
	sqlite_ops.schema_version = sq_schema_version;
	store_sqlite_access_ops(&sqlite_ops);
	store_sqlite_fleet_ops(&sqlite_ops);
	store_sqlite_images_ops(&sqlite_ops);
	store_sqlite_attest_ops(&sqlite_ops);
	store_sqlite_update_ops(&sqlite_ops);
}

static int pragma(sqlite3 *db, const char *sql, const char *expect, rp_error *err)
{
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return rp_error_set(err, RP_E_IO, "%s: %s", sql, sqlite3_errmsg(db));
	int rc = sqlite3_step(stmt);
	bool ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
	if (ok && expect) {
		const char *got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
		ok = got && strcmp(got, expect) == 0;
	}
	sqlite3_finalize(stmt);
	if (!ok)
		return rp_error_set(err, RP_E_IO, "%s did not take effect: %s", sql, sqlite3_errmsg(db));
	return 0;
}

/* The database holds token hashes and the audit log, and rampartd runs as root: it opens only a
 * regular file it owns with a single link, never through a symbolic link, and sets the mode through
 * that descriptor (a chmod by path would follow a link to any file on the system). An absent
 * database is created with mode 0600. *ID receives the file's device and inode. */
static int db_file_claim(const char *path, struct stat *id, rp_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		char target[PATH_MAX];
		ssize_t n = e == ELOOP ? readlink(path, target, sizeof(target) - 1) : -1;
		if (n >= 0) {
			target[n] = '\0';
			return rp_error_set(err, RP_E_PERMISSION,
			                    "it is a symbolic link (to %s); rampartd opens only a regular file it owns: "
			                    "put the database file itself in the state directory",
			                    target);
		}
		return rp_error_set_errno(err, e, "opening the file");
	}
	if (fstat(fd, id) < 0)
		return rp_error_set_errno(err, errno, "inspecting the file");
	if (!S_ISREG(id->st_mode))
		return rp_error_set(err, RP_E_PERMISSION, "it is not a regular file; move it away and start again");
	if (id->st_uid != geteuid())
		return rp_error_set(err, RP_E_PERMISSION,
		                    "it is owned by uid %u, not by rampartd's uid %u: refusing a database another user "
		                    "can change; chown it if it is yours",
		                    (unsigned)id->st_uid, (unsigned)geteuid());
	if (id->st_nlink != 1)
		return rp_error_set(err, RP_E_PERMISSION,
		                    "it has %lu hard links; rampartd refuses a database that is also reachable under "
		                    "another name: copy it to a file of its own",
		                    (unsigned long)id->st_nlink);
	if ((id->st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
		return rp_error_set_errno(err, errno, "setting the file's mode to 0600");
	return 0;
}

/* The journal files beside the database, when present, must be regular files owned by us too. */
static int db_sidecar_check(const char *path, const char *suffix, rp_error *err)
{
	_cleanup_free_ char *side = xasprintf("%s%s", path, suffix);
	struct stat st;
	if (lstat(side, &st) < 0)
		return errno == ENOENT ? 0 : rp_error_set_errno(err, errno, "inspecting %s", side);
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
		return rp_error_set(err, RP_E_PERMISSION,
		                    "%s is not a regular file owned by rampartd's uid %u (a symbolic link or another "
		                    "user's file); remove it and start again",
		                    side, (unsigned)geteuid());
	return 0;
}

/* PATH still names the file db_file_claim() checked (nothing swapped it since). */
static int db_file_same(const char *path, const struct stat *id, rp_error *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return rp_error_set_errno(err, errno, "inspecting the file again");
	if (st.st_dev != id->st_dev || st.st_ino != id->st_ino)
		return rp_error_set(err, RP_E_PERMISSION, "the file was replaced by another one while it was being opened");
	return 0;
}

/* Settings every connection gets: the schema is not trusted to call functions with side effects,
 * and defensive mode forbids the statements that could corrupt the file (writable_schema and the
 * like), so a crafted database cannot turn a query into more than a query. */
static int conn_harden(sqlite3 *db, rp_error *err)
{
	int on = 0;
	if (sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, &on) != SQLITE_OK || on != 1)
		return rp_error_set(err, RP_E_IO, "enabling defensive mode: %s", sqlite3_errmsg(db));
	return pragma(db, "PRAGMA trusted_schema=OFF", NULL, err) < 0 ? -1 : pragma(db, "PRAGMA trusted_schema", "0", err);
}

struct store *store_sqlite_open(const char *path, int target_version, rp_error *err)
{
	sqlite3 *db = NULL;
	struct stat id;
	if (db_file_claim(path, &id, err) < 0 || db_sidecar_check(path, "-wal", err) < 0 ||
	    db_sidecar_check(path, "-shm", err) < 0 || db_sidecar_check(path, "-journal", err) < 0)
		goto fail;
	int rc = sqlite3_open_v2(path, &db,
	                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
	                         NULL);
	if (rc != SQLITE_OK) {
		rp_error_set(err, RP_E_IO, "opening database %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	if (db_file_same(path, &id, err) < 0)
		goto fail;
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	if (conn_harden(db, err) < 0)
		goto fail;
	/* WAL: readers do not block the writer; synchronous=FULL: COMMIT is durable once it returns. */
	if (pragma(db, "PRAGMA journal_mode=WAL", "wal", err) < 0 || pragma(db, "PRAGMA synchronous=FULL", NULL, err) < 0 ||
	    pragma(db, "PRAGMA foreign_keys=ON", NULL, err) < 0 || pragma(db, "PRAGMA foreign_keys", "1", err) < 0)
		goto fail;
	if (migrations_apply(db, target_version, err) < 0)
		goto fail;

	struct sq *s = xcalloc(1, sizeof(*s));
	pthread_once(&sqlite_ops_once, sqlite_ops_init);
	s->base.ops = &sqlite_ops;
	s->writer.db = db;
	pthread_mutex_init(&s->writer.lock, NULL);
	/* Readers: read-only and query_only, so a bug in a read path cannot write; each must have opened
	 * the writer's file. */
	for (size_t i = 0; i < READERS; i++) {
		sqlite3 *rdb = NULL;
		if (sqlite3_open_v2(path, &rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL) !=
		        SQLITE_OK ||
		    db_file_same(path, &id, err) < 0 || conn_harden(rdb, err) < 0 ||
		    pragma(rdb, "PRAGMA query_only=1", NULL, err) < 0 || pragma(rdb, "PRAGMA foreign_keys=ON", NULL, err) < 0) {
			if (err && err->code == RP_OK)
				rp_error_set(err, RP_E_IO, "opening a reader: %s", rdb ? sqlite3_errmsg(rdb) : "out of memory");
			rp_error_prefix(err, "opening database %s", path);
			sqlite3_close(rdb);
			store_close(&s->base);
			return NULL;
		}
		sqlite3_extended_result_codes(rdb, 1);
		sqlite3_busy_timeout(rdb, 5000);
		s->readers[i].db = rdb;
		pthread_mutex_init(&s->readers[i].lock, NULL);
		s->nreaders++;
	}
	return &s->base;
fail:
	rp_error_prefix(err, "opening database %s", path);
	sqlite3_close(db);
	return NULL;
}
