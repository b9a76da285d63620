/* Group commit (service/group_commit.c) on a real SQLite store: every acknowledged write is in the
 * database, a failing writer's changes are undone without undoing the others' in its group, and
 * many threads writing at once all get their own result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/fileio.h"
#include "common/xalloc.h"
#include "service/group_commit.h"
#include "service/sqlrow.h"
#include "service/store_sqlite.h"

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rampart-test-group-commit-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_remove_tree(tmpdir, &err), 0);
	return 0;
}

struct write {
	int index;
	bool fail_after_insert; /* insert its nonce, then fail: the insert must not survive */
	bool ends_txn;          /* insert, then end the transaction as SQLite does on SQLITE_FULL, and ignore it */
};

static int nonce_write(struct store *st, void *arg, rp_error *err)
{
	struct write *w = arg;
	char nonce[65], device[65];
	snprintf(nonce, sizeof(nonce), "%064d", w->index);
	snprintf(device, sizeof(device), "%064x", (unsigned)w->index);
	bool was_used;
	if (st->ops->nonce_use(st, nonce, device, 2000000000, 1000, &was_used, err) < 0)
		return -1;
	if (w->fail_after_insert)
		return rp_error_set(err, RP_E_INVALID, "writer %d refuses", w->index);
	if (w->ends_txn)
		sqlite3_exec(sqlrow_db(), "ROLLBACK", NULL, NULL, NULL);
	return 0;
}

/* Looks nonce INDEX up through the store: 1 present, 0 absent. */
static int nonce_present(struct store *st, int index)
{
	char nonce[65];
	snprintf(nonce, sizeof(nonce), "%064d", index);
	rp_error err = RP_ERROR_INIT;
	bool used = false;
	assert_int_equal(st->ops->begin(st, false, &err), 0);
	assert_int_equal(st->ops->nonce_used(st, nonce, 2000000000, &used, &err), 0);
	st->ops->rollback(st);
	return used;
}

/* Used nonces are dropped an hour after expiry; the floor keeps a dropped one used even when the
 * service's clock is later stepped back to before its expiry. */
static void test_nonce_floor(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/db", tmpdir);
	rp_error err = RP_ERROR_INIT;
	struct store *st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	const char *a = "aa00000000000000000000000000000000000000000000000000000000000000";
	const char *b = "bb00000000000000000000000000000000000000000000000000000000000000";
	const char *c = "cc00000000000000000000000000000000000000000000000000000000000000";
	const char *dev = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
	bool used = true;
	assert_int_equal(st->ops->begin(st, true, &err), 0);
	assert_int_equal(st->ops->nonce_use(st, a, dev, 10000, 9900, &used, &err), 0);
	assert_false(used);
	assert_int_equal(st->ops->nonce_use(st, a, dev, 10000, 9901, &used, &err), 0);
	assert_true(used); /* the replay */
	/* Much later: A's record goes, and the floor passes its expiry. */
	assert_int_equal(st->ops->nonce_use(st, b, dev, 30300, 30000, &used, &err), 0);
	assert_false(used);
	assert_int_equal(st->ops->commit(st, &err), 0);
	assert_int_equal(st->ops->begin(st, false, &err), 0);
	assert_int_equal(st->ops->nonce_used(st, a, 10000, &used, &err), 0);
	assert_true(used); /* below the floor: still used, whatever the clock says now */
	assert_int_equal(st->ops->nonce_used(st, c, 30300, &used, &err), 0);
	assert_false(used);
	st->ops->rollback(st);
	/* Clock stepped back to before A's expiry: A cannot be used again. */
	assert_int_equal(st->ops->begin(st, true, &err), 0);
	assert_int_equal(st->ops->nonce_use(st, a, dev, 10000, 9950, &used, &err), 0);
	assert_true(used);
	assert_int_equal(st->ops->commit(st, &err), 0);
	/* The clock runs a day ahead for one request (B's record goes), then is put right: the floor
	 * covers what was dropped and nothing more, so the next nonces are new. */
	assert_int_equal(st->ops->begin(st, true, &err), 0);
	assert_int_equal(st->ops->nonce_use(st, c, dev, 30300 + 86400, 30010 + 86400, &used, &err), 0);
	assert_false(used);
	assert_int_equal(st->ops->commit(st, &err), 0);
	const char *d = "dd00000000000000000000000000000000000000000000000000000000000000";
	assert_int_equal(st->ops->begin(st, true, &err), 0);
	assert_int_equal(st->ops->nonce_use(st, b, dev, 30300, 30020, &used, &err), 0);
	assert_true(used); /* dropped during the jump, under the floor */
	assert_int_equal(st->ops->nonce_use(st, d, dev, 30320, 30020, &used, &err), 0);
	assert_false(used); /* issued after the clock was put right */
	assert_int_equal(st->ops->commit(st, &err), 0);
	store_close(st);
}

static void test_single_writes(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/db", tmpdir);
	rp_error err = RP_ERROR_INIT;
	struct store *st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	struct write ok = {.index = 1}, bad = {.index = 2, .fail_after_insert = true};
	assert_int_equal(group_commit_run(st, nonce_write, &ok, &err), 0);
	assert_int_equal(group_commit_run(st, nonce_write, &bad, &err), -1);
	assert_non_null(strstr(err.message, "writer 2 refuses"));
	assert_int_equal(nonce_present(st, 1), 1);
	assert_int_equal(nonce_present(st, 2), 0);
	store_close(st);
	/* Acknowledged means on disk: a fresh open sees it. */
	st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	assert_int_equal(nonce_present(st, 1), 1);
	store_close(st);
}

/* A writer after which the transaction is gone fails alone: the others in its group are written in
 * a new transaction, not in autocommit behind a COMMIT that then fails. The two writes are queued
 * while a first one holds the writer, so they usually share a group. */
struct queued {
	struct store *st;
	struct write w;
	int rc;
	rp_error err;
};

static void *queued_main(void *arg)
{
	struct queued *q = arg;
	q->rc = group_commit_run(q->st, nonce_write, &q->w, &q->err);
	return NULL;
}

struct holder {
	pthread_t t[2];
	struct queued *q;
};

static int hold_then_write(struct store *st, void *arg, rp_error *err)
{
	struct holder *h = arg;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_create(&h->t[i], NULL, queued_main, &h->q[i]), 0);
		struct timespec pause = {0, 50 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	struct write w = {.index = 30};
	return nonce_write(st, &w, err);
}

static void test_writer_that_ends_the_transaction(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/db", tmpdir);
	rp_error err = RP_ERROR_INIT;
	struct store *st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	struct queued q[2] = {{.st = st, .w = {.index = 31, .ends_txn = true}, .err = RP_ERROR_INIT},
	                      {.st = st, .w = {.index = 32}, .err = RP_ERROR_INIT}};
	struct holder h = {.q = q};
	assert_int_equal(group_commit_run(st, hold_then_write, &h, &err), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(h.t[i], NULL), 0);
	assert_int_equal(q[0].rc, -1);
	assert_non_null(strstr(q[0].err.message, "ended the transaction"));
	assert_int_equal(q[1].rc, 0);
	store_close(st);
	st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	assert_int_equal(nonce_present(st, 30), 1);
	assert_int_equal(nonce_present(st, 31), 0);
	assert_int_equal(nonce_present(st, 32), 1);
	store_close(st);
}

#define THREADS 16
#define PER_THREAD 40

struct worker {
	struct store *st;
	int first;
	int ok, failed, wrong;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		struct write w = {.index = wk->first + i, .fail_after_insert = (wk->first + i) % 3 == 0};
		rp_error err = RP_ERROR_INIT;
		int rc = group_commit_run(wk->st, nonce_write, &w, &err);
		if (rc == 0 && !w.fail_after_insert)
			wk->ok++;
		else if (rc < 0 && w.fail_after_insert && strstr(err.message, "refuses"))
			wk->failed++;
		else
			wk->wrong++;
	}
	return NULL;
}

/* Writers of two stores at once: a batch holds one store's writes, and when it ends the first
 * queued caller leads next, whichever store it writes to; every write ends up in its own store. */
static void test_concurrent_writers(void **state)
{
	(void)state;
	_cleanup_free_ char *path_a = xasprintf("%s/db", tmpdir);
	_cleanup_free_ char *path_b = xasprintf("%s/db-b", tmpdir);
	rp_error err = RP_ERROR_INIT;
	struct store *st[2] = {store_sqlite_open(path_a, 0, &err), store_sqlite_open(path_b, 0, &err)};
	assert_non_null(st[0]);
	assert_non_null(st[1]);
	pthread_t t[THREADS];
	struct worker wk[THREADS];
	for (int i = 0; i < THREADS; i++) {
		wk[i] = (struct worker){.st = st[i % 2], .first = 1000 + i * PER_THREAD};
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &wk[i]), 0);
	}
	int ok = 0, failed = 0;
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(wk[i].wrong, 0);
		ok += wk[i].ok;
		failed += wk[i].failed;
	}
	assert_int_equal(ok + failed, THREADS * PER_THREAD);
	store_close(st[0]);
	store_close(st[1]);
	st[0] = store_sqlite_open(path_a, 0, &err);
	st[1] = store_sqlite_open(path_b, 0, &err);
	assert_non_null(st[0]);
	assert_non_null(st[1]);
	for (int i = 1000; i < 1000 + THREADS * PER_THREAD; i++) {
		int owner = (i - 1000) / PER_THREAD % 2;
		assert_int_equal(nonce_present(st[owner], i), i % 3 != 0);
		assert_int_equal(nonce_present(st[1 - owner], i), 0);
	}
	store_close(st[0]);
	store_close(st[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_single_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nonce_floor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_that_ends_the_transaction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
