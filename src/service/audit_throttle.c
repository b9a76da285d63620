/* Token buckets for refused attestation audit rows (see audit_throttle.h). */
#include "service/audit_throttle.h"

#include <pthread.h>
#include <string.h>
#include "common/crypto.h"

#define ID_LEN 64

struct bucket {
	char device_id[ID_LEN + 1]; /* "" for a free slot */
	int64_t refilled_at;        /* when tokens was last topped up */
	uint32_t tokens;
	uint64_t suppressed;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct bucket buckets[AUDIT_THROTTLE_SLOTS];
static struct bucket global = {.tokens = AUDIT_THROTTLE_GLOBAL_BURST};
static uint8_t slot_key[16];
static bool slot_key_set;

static size_t slot_of(const char *device_id)
{
	if (!slot_key_set) {
		rp_error err = RP_ERROR_INIT;
		/* Without randomness the key stays zero: collisions become predictable, which only
		 * lets IDs share buckets, never lifts a bound. */
		if (rp_random_bytes(slot_key, sizeof(slot_key), &err) < 0)
			memset(slot_key, 0, sizeof(slot_key));
		slot_key_set = true;
	}
	uint8_t in[sizeof(slot_key) + ID_LEN], digest[RP_SHA256_LEN];
	size_t n = strlen(device_id);
	memcpy(in, slot_key, sizeof(slot_key));
	memcpy(in + sizeof(slot_key), device_id, n);
	rp_sha256_buf(in, sizeof(slot_key) + n, digest);
	return ((size_t)digest[0] << 8 | digest[1]) % AUDIT_THROTTLE_SLOTS;
}

/* Top B up for the time since it was last refilled, one token per PERIOD seconds (PER_SECOND
 * tokens a second when PERIOD is 0), at most BURST. */
static void refill(struct bucket *b, int64_t now, int64_t period, uint32_t per_second, uint32_t burst)
{
	if (now < b->refilled_at) {
		b->refilled_at = now; /* the clock stepped back: count from now, never refill early */
		return;
	}
	int64_t elapsed = now - b->refilled_at;
	int64_t gained = period > 0 ? elapsed / period : elapsed * per_second;
	if (gained <= 0)
		return;
	b->tokens = gained >= (int64_t)(burst - b->tokens) ? burst : b->tokens + (uint32_t)gained;
	b->refilled_at = period > 0 ? b->refilled_at + gained * period : now;
}

bool audit_throttle_admit(const char *device_id, int64_t now, uint64_t *suppressed)
{
	*suppressed = 0;
	size_t id_len = device_id ? strlen(device_id) : 0;
	if (id_len == 0 || id_len > ID_LEN)
		return true; /* not an ID the attestation routes accept: nothing to key on */
	pthread_mutex_lock(&lock);
	struct bucket *b = &buckets[slot_of(device_id)];
	if (b->device_id[0])
		refill(b, now, AUDIT_THROTTLE_REFILL_SECONDS, 0, AUDIT_THROTTLE_BURST);
	/* A free slot, or one whose bucket is full again with nothing left out, holds nothing worth
	 * keeping: it becomes this ID's. Otherwise this ID shares it. */
	if (strcmp(b->device_id, device_id) != 0 &&
	    (!b->device_id[0] || (b->tokens == AUDIT_THROTTLE_BURST && b->suppressed == 0))) {
		memcpy(b->device_id, device_id, id_len + 1);
		b->tokens = AUDIT_THROTTLE_BURST;
		b->refilled_at = now;
		b->suppressed = 0;
	}
	if (global.refilled_at == 0)
		global.refilled_at = now;
	refill(&global, now, 0, AUDIT_THROTTLE_GLOBAL_PER_SECOND, AUDIT_THROTTLE_GLOBAL_BURST);
	bool admit = b->tokens > 0 && global.tokens > 0;
	if (admit) {
		b->tokens--;
		global.tokens--;
		*suppressed = b->suppressed;
		b->suppressed = 0;
	} else {
		b->suppressed++;
	}
	pthread_mutex_unlock(&lock);
	return admit;
}
