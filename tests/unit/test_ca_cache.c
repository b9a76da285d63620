/* ca_cache: a borrowed tenant CA is shared while cached; with more tenants than slots the least
 * recently used entry nobody borrows makes room (the service never aborts for a large fleet of
 * tenants); borrowers of one uncached tenant arriving together share one open. A CA directory
 * removed after its CA was cached shows which tenants are still served from the cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/fileio.h"
#include "common/xalloc.h"
#include "service/ca_cache.h"

#define T0 ((int64_t)1790000000)
#define TENANTS (CA_CACHE_MAX + 2)

/* tmpfs: the 258 CAs are written with fsync, which costs nothing there. */
static char state_dir[] = "/dev/shm/rampart-test-ca-cache-XXXXXX";
static struct api_ctx ctx;

static void tenant_id(char out[37], unsigned n)
{
	snprintf(out, 37, "3f2504e0-4f89-41d3-9a0c-%012x", n);
}

static void remove_ca_dir(unsigned n)
{
	char id[37];
	tenant_id(id, n);
	_cleanup_free_ char *dir = xasprintf("%s/ca/%s", state_dir, id);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_remove_tree(dir, &err), 0);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(state_dir))
		return -1;
	ctx.state_dir = state_dir;
	pthread_mutex_init(&ctx.ca_lock, NULL);
	for (unsigned n = 0; n < TENANTS; n++) {
		char id[37];
		tenant_id(id, n);
		_cleanup_free_ char *dir = xasprintf("%s/ca/%s", state_dir, id);
		rp_error err = RP_ERROR_INIT;
		struct tenant_ca *ca = ca_create(dir, id, (time_t)T0, &err);
		if (!ca) {
			fprintf(stderr, "ca_create: %s\n", err.message);
			return -1;
		}
		ca_free(ca);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	return rp_remove_tree(state_dir, &err);
}

static struct tenant_ca *borrow(unsigned n)
{
	char id[37];
	tenant_id(id, n);
	rp_error err = RP_ERROR_INIT;
	return ca_cache_get(&ctx, id, T0, &err);
}

static void more_tenants_than_slots_evict_the_least_recently_used(void **state)
{
	(void)state;
	/* Fill every slot, then touch tenant 0 again so tenant 1 is the least recently used. */
	for (unsigned n = 0; n < CA_CACHE_MAX; n++) {
		struct tenant_ca *ca = borrow(n);
		assert_non_null(ca);
		ca_cache_put(ca);
	}
	struct tenant_ca *first = borrow(0);
	assert_non_null(first);
	ca_cache_put(first);
	/* Two tenants past the end: each takes the slot of the least recently used (1, then 2). */
	for (unsigned n = CA_CACHE_MAX; n < TENANTS; n++) {
		struct tenant_ca *ca = borrow(n);
		assert_non_null(ca);
		ca_cache_put(ca);
	}
	remove_ca_dir(0);
	remove_ca_dir(1);
	remove_ca_dir(3);
	/* Tenants 0 and 3 are still cached: served although their directories are gone. */
	struct tenant_ca *again = borrow(0);
	assert_ptr_equal(again, first);
	ca_cache_put(again);
	struct tenant_ca *third = borrow(3);
	assert_non_null(third);
	ca_cache_put(third);
	/* Tenant 1 was evicted: it must be opened again, and its directory is gone. */
	assert_null(borrow(1));
}

struct racer {
	unsigned tenant;
	struct tenant_ca *got;
};

static pthread_barrier_t start, hold;

static void *race(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(&start);
	r->got = borrow(r->tenant);
	pthread_barrier_wait(&hold); /* every racer holds its borrow until all have one */
	ca_cache_put(r->got);
	return NULL;
}

static void simultaneous_borrowers_share_one_open(void **state)
{
	(void)state;
	enum { RACERS = 8 };
	pthread_barrier_init(&start, NULL, RACERS);
	pthread_barrier_init(&hold, NULL, RACERS);
	pthread_t th[RACERS];
	struct racer r[RACERS];
	for (unsigned i = 0; i < RACERS; i++) {
		r[i] = (struct racer){.tenant = TENANTS - 1};
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (unsigned i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&hold);
	for (unsigned i = 0; i < RACERS; i++) {
		assert_non_null(r[i].got);
		assert_ptr_equal(r[i].got, r[0].got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(more_tenants_than_slots_evict_the_least_recently_used),
		cmocka_unit_test(simultaneous_borrowers_share_one_open),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
