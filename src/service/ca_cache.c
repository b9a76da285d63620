/* Shared, reference-counted open tenant CAs (see ca_cache.h). */
#include "service/ca_cache.h"

#include <pthread.h>
#include <string.h>

#include "common/xalloc.h"
#include "service/routes.h"

struct entry {
	char tenant_id[37];
	struct tenant_ca *ca;
	int64_t opened_at;
	unsigned refs;
	bool stale; /* replaced: freed when the last borrower gives it back */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *entries[CA_CACHE_MAX];
/* Replaced entries still borrowed. */
static struct entry *retired[CA_CACHE_MAX];

static void entry_free(struct entry *e)
{
	ca_free(e->ca);
	free(e);
}

static void retire(struct entry *e)
{
	if (e->refs == 0) {
		entry_free(e);
		return;
	}
	e->stale = true;
	for (size_t i = 0; i < CA_CACHE_MAX; i++)
		if (!retired[i]) {
			retired[i] = e;
			return;
		}
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

struct tenant_ca *ca_cache_get(struct api_ctx *ctx, const char *tenant_id, int64_t now, rp_error *err)
{
	pthread_mutex_lock(&lock);
	size_t slot = CA_CACHE_MAX, empty = CA_CACHE_MAX;
	for (size_t i = 0; i < CA_CACHE_MAX; i++) {
		if (entries[i] && strcmp(entries[i]->tenant_id, tenant_id) == 0)
			slot = i;
		else if (!entries[i] && empty == CA_CACHE_MAX)
			empty = i;
	}
	if (slot < CA_CACHE_MAX && now - entries[slot]->opened_at < CA_CACHE_TTL_SECONDS &&
	    now >= entries[slot]->opened_at) {
		entries[slot]->refs++;
		struct tenant_ca *ca = entries[slot]->ca;
		pthread_mutex_unlock(&lock);
		return ca;
	}
	/* Opened under the cache lock: one thread opens, the others wait for its result. */
	struct tenant_ca *ca = open_fresh(ctx, tenant_id, now, err);
	if (!ca) {
		pthread_mutex_unlock(&lock);
		return NULL;
	}
	struct entry *e = xcalloc(1, sizeof(*e));
	snprintf(e->tenant_id, sizeof(e->tenant_id), "%s", tenant_id);
	e->ca = ca;
	e->opened_at = now;
	e->refs = 1;
	if (slot < CA_CACHE_MAX) {
		retire(entries[slot]);
		entries[slot] = e;
	} else if (empty < CA_CACHE_MAX) {
		entries[empty] = e;
	} else {
		/* Full: this borrower keeps a private copy, freed on return. */
		e->stale = true;
		for (size_t i = 0; i < CA_CACHE_MAX && e; i++)
			if (!retired[i]) {
				retired[i] = e;
				e = NULL;
			}
		if (e)
			rp_abort("tenant CA cache exhausted");
	}
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
