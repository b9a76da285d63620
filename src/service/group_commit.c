/* Group commit (group_commit.h): the leader/follower scheme without a thread of its own. A caller
 * queues its write; if no batch is being written it becomes the leader, takes every queued write
 * for the same store (at most GROUP_MAX), runs them in one transaction and commits; meanwhile new
 * callers queue and wait for the next leader. Each caller sleeps on its own condition variable and
 * is woken once its write is final, or when it is first in the queue as a batch ends (it leads
 * next): callers still queued are not woken by every batch that does not hold their write, a
 * context switch each that the attestation benchmark counted. */
#include "service/group_commit.h"

#include <pthread.h>
#include <stdbool.h>
#include "common/log.h"
#include "common/xalloc.h"

#define GROUP_MAX 64

struct item {
	struct store *st;
	group_write_fn fn;
	void *arg;
	int rc;
	rp_error err;
	bool done_write; /* its result is final (written and committed, or failed) */
	bool done;       /* ... and its caller may return */
	pthread_cond_t wake; /* signalled under LOCK: done, or first in the queue after a batch */
	struct item *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct item *queue_head, **queue_tail = &queue_head;
static bool writing;

/* Up to GROUP_MAX queued items for ST, unlinked from the queue in arrival order. Under LOCK. */
static struct item *take_batch(struct store *st)
{
	struct item *batch = NULL, **bt = &batch;
	size_t n = 0;
	for (struct item **p = &queue_head; *p && n < GROUP_MAX;) {
		struct item *it = *p;
		if (it->st != st) {
			p = &it->next;
			continue;
		}
		*p = it->next;
		it->next = NULL;
		*bt = it;
		bt = &it->next;
		n++;
	}
	queue_tail = &queue_head;
	while (*queue_tail)
		queue_tail = &(*queue_tail)->next;
	return batch;
}

/* One transaction for the whole batch. Writers rarely fail, so no savepoints (each costs a
 * statement journal): if one fails, the transaction is rolled back, that writer gets its error,
 * and the others are written again without it. */
static void write_batch(struct store *st, struct item *batch)
{
	for (size_t attempt = 0; attempt <= GROUP_MAX; attempt++) {
		rp_error err = RP_ERROR_INIT;
		bool pending = false;
		for (struct item *it = batch; it; it = it->next)
			pending |= !it->done_write;
		if (!pending)
			return;
		if (st->ops->begin(st, true, &err) < 0)
			goto fail_all;
		struct item *failed = NULL;
		for (struct item *it = batch; it && !failed; it = it->next) {
			if (it->done_write)
				continue;
			it->rc = it->fn(st, it->arg, &it->err);
			/* A writer whose error made the store end the transaction (even one it then ignored)
			 * fails: the writes after it would be durable on their own, outside the group. */
			if (it->rc >= 0 && !st->ops->txn_active(st))
				it->rc = rp_error_set(&it->err, RP_E_IO,
				                      "the store ended the transaction during this write, which was not committed");
			if (it->rc < 0)
				failed = it;
		}
		if (failed) {
			st->ops->rollback(st);
			failed->done_write = true; /* keeps its own error */
			for (struct item *it = batch; it; it = it->next)
				if (it != failed && !it->done_write)
					it->err = (rp_error)RP_ERROR_INIT;
			continue;
		}
		if (st->ops->commit(st, &err) < 0)
			goto fail_all;
		for (struct item *it = batch; it; it = it->next)
			it->done_write = true;
		return;
	fail_all:
		rp_log_event(RP_LOG_ERROR, "store.group_commit.failed", "writing a group of writes: %s", err.message);
		for (struct item *it = batch; it; it = it->next)
			if (!it->done_write)
				it->rc = -1, it->err = err, it->done_write = true;
		return;
	}
	rp_abort("group commit: more retries than writers");
}

int group_commit_run(struct store *st, group_write_fn fn, void *arg, rp_error *err)
{
	struct item me = {.st = st, .fn = fn, .arg = arg, .err = RP_ERROR_INIT};
	pthread_cond_init(&me.wake, NULL);
	pthread_mutex_lock(&lock);
	*queue_tail = &me;
	queue_tail = &me.next;
	while (!me.done) {
		if (writing) {
			pthread_cond_wait(&me.wake, &lock);
			continue;
		}
		/* Lead: write everything queued for this store (this caller's write included: it is
		 * still queued, or an earlier leader would have marked it done). */
		writing = true;
		struct item *batch = take_batch(st);
		pthread_mutex_unlock(&lock);
		write_batch(st, batch);
		pthread_mutex_lock(&lock);
		for (struct item *it = batch, *next; it; it = next) {
			next = it->next;
			it->done = true;
			if (it != &me)
				pthread_cond_signal(&it->wake);
		}
		writing = false;
		/* Whoever is first in the queue leads the next batch (unless a new caller takes the lead
		 * first; then this one is woken again when its write is final). */
		if (queue_head)
			pthread_cond_signal(&queue_head->wake);
	}
	pthread_mutex_unlock(&lock);
	pthread_cond_destroy(&me.wake);
	if (me.rc < 0) {
		*err = me.err;
		return -1;
	}
	return 0;
}
