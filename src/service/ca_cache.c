/* Shared, reference-counted open tenant CAs (see ca_cache.h). */
#include "service/ca_cache.h"

#include <pthread.h>
#include <string.h>

#include "common/xalloc.h"
#include "service/routes.h"

struct entry {
	char tenant_id[37];
	struct tenant_ca *ca; /* NULL while its first borrower opens it */
	int64_t opened_at;
	uint64_t used;        /* cache clock at the last borrow: the least recently used goes first */
	unsigned refs;
	bool stale; /* replaced: freed when the last borrower gives it back */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t opened = PTHREAD_COND_INITIALIZER;
static struct entry *entries[CA_CACHE_MAX];
/* Replaced entries still borrowed. */
static struct entry *retired[CA_CACHE_MAX];
static uint64_t clock_ticks;

static void entry_free(struct entry *e)
{
	ca_free(e->ca);
	free(e);
}

/* Park E until its last borrower returns it; false when no room is left. */
static bool park(struct entry *e)
{
	e->stale = true;
	for (size_t i = 0; i < CA_CACHE_MAX; i++)
		if (!retired[i]) {
			retired[i] = e;
			return true;
		}
	return false;
}

static void retire(struct entry *e)
{
	if (e->refs == 0)
		entry_free(e);
	else if (!park(e))
		rp_abort("too many retired tenant CAs still borrowed");
}

static struct tenant_ca *open_fresh(struct api_ctx *ctx, const char *tenant_id, int64_t now, rp_error *err)
{
	_cleanup_free_ char *dir = routes_ca_dir(ctx, tenant_id);
	pthread_mutex_lock(&ctx->ca_lock);
	struct tenant_ca *ca = ca_open(dir, tenant_id, err);
	if (ca && ca_ensure_successor(ca, (time_t)now, err) < 0) {
		ca_free(ca);
		ca = NULL;
	}
	pthread_mutex_unlock(&ctx->ca_lock);
	return ca;
}

static size_t find(const char *tenant_id)
{
	for (size_t i = 0; i < CA_CACHE_MAX; i++)
		if (entries[i] && strcmp(entries[i]->tenant_id, tenant_id) == 0)
			return i;
	return CA_CACHE_MAX;
}

/* A slot for a new entry: an empty one, else the least recently used entry nobody borrows (freed
 * here); CA_CACHE_MAX when every entry is borrowed or being opened. */
static size_t free_slot(void)
{
	size_t victim = CA_CACHE_MAX;
	for (size_t i = 0; i < CA_CACHE_MAX; i++) {
		if (!entries[i])
			return i;
		if (entries[i]->ca && entries[i]->refs == 0 && (victim == CA_CACHE_MAX || entries[i]->used < entries[victim]->used))
			victim = i;
	}
	if (victim < CA_CACHE_MAX) {
		entry_free(entries[victim]);
		entries[victim] = NULL;
	}
	return victim;
}

struct tenant_ca *ca_cache_get(struct api_ctx *ctx, const char *tenant_id, int64_t now, rp_error *err)
{
	pthread_mutex_lock(&lock);
	size_t slot;
	/* Another borrower is opening this tenant's CA: wait for it rather than open it twice. */
	while ((slot = find(tenant_id)) < CA_CACHE_MAX && !entries[slot]->ca)
		pthread_cond_wait(&opened, &lock);
	if (slot < CA_CACHE_MAX && now - entries[slot]->opened_at < CA_CACHE_TTL_SECONDS &&
	    now >= entries[slot]->opened_at) {
		entries[slot]->refs++;
		entries[slot]->used = ++clock_ticks;
		struct tenant_ca *ca = entries[slot]->ca;
		pthread_mutex_unlock(&lock);
		return ca;
	}
	/* Missing or too old: open it WITHOUT the cache lock (disk reads, key checks, perhaps a new
	 * generation), so borrowers of other tenants' CAs are not held up. A placeholder in the slot
	 * makes borrowers of this tenant wait instead of opening it too. */
	struct entry *old = NULL;
	if (slot < CA_CACHE_MAX) {
		old = entries[slot];
	} else {
		slot = free_slot();
	}
	struct entry *e = xcalloc(1, sizeof(*e));
	snprintf(e->tenant_id, sizeof(e->tenant_id), "%s", tenant_id);
	e->refs = 1;
	if (slot < CA_CACHE_MAX)
		entries[slot] = e;
	if (old)
		retire(old);
	pthread_mutex_unlock(&lock);

	struct tenant_ca *ca = open_fresh(ctx, tenant_id, now, err);

	pthread_mutex_lock(&lock);
	if (!ca) {
		if (slot < CA_CACHE_MAX)
			entries[slot] = NULL;
		free(e);
		pthread_cond_broadcast(&opened);
		pthread_mutex_unlock(&lock);
		return NULL;
	}
	e->ca = ca;
	e->opened_at = now;
	e->used = ++clock_ticks;
	/* Every entry borrowed: this borrower keeps a private copy, freed on return. */
	if (slot == CA_CACHE_MAX && !park(e))
		rp_abort("tenant CA cache exhausted");
	pthread_cond_broadcast(&opened);
	pthread_mutex_unlock(&lock);
	return ca;
}

void ca_cache_put(struct tenant_ca *ca)
{
	if (!ca)
		return;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < CA_CACHE_MAX; i++) {
		if (entries[i] && entries[i]->ca == ca) {
			entries[i]->refs--;
			pthread_mutex_unlock(&lock);
			return;
		}
		if (retired[i] && retired[i]->ca == ca) {
			if (--retired[i]->refs == 0) {
				entry_free(retired[i]);
				retired[i] = NULL;
			}
			pthread_mutex_unlock(&lock);
			return;
		}
	}
	pthread_mutex_unlock(&lock);
	rp_abort("returning a tenant CA that was not borrowed");
}
