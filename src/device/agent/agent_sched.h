/* When the device agent attests: on start, at about two thirds of its certificate's lifetime
 * (with jitter, so a fleet that booted together does not renew together), at least every 20 h
 * (with jitter), and after a failure with bounded, jittered exponential backoff. Pure arithmetic
 * on times and random numbers the caller supplies, so it is unit-tested without waiting. */
#pragma once

#include <stdint.h>

#define AGENT_PERIOD_SECONDS (20 * 3600)
#define AGENT_PERIOD_JITTER_SECONDS (3600)
#define AGENT_BACKOFF_MIN_SECONDS 5
#define AGENT_BACKOFF_MAX_SECONDS 3600

/* Renewal time for a certificate valid [NOT_BEFORE, NOT_AFTER): not_before + 2/3 of the lifetime,
 * moved by up to +-1/12 of the lifetime according to RND. Never after NOT_AFTER - 60 s. */
int64_t agent_sched_renew_at(int64_t not_before, int64_t not_after, uint32_t rnd);
/* The periodic attestation after a success at LAST: 20 h +- 1 h according to RND. */
int64_t agent_sched_periodic(int64_t last, uint32_t rnd);
/* Delay before retry number ATTEMPT (1 = first retry): min(max, min * 2^(attempt-1)), then a
 * random point in its upper half, so retries spread out but never exceed the bound. */
int64_t agent_sched_backoff(unsigned attempt, uint32_t rnd);
/* The next attestation after a success: the earlier of renewal and the periodic one. */
int64_t agent_sched_next(int64_t last, int64_t not_before, int64_t not_after, uint32_t rnd);
/* Seconds until the next periodic update check after a successful one: 20 h +- 2 h according to
 * RND (UPDATE_CHECK_INTERVAL_S and UPDATE_CHECK_JITTER_S, as update_next_check_delay()). */
int64_t agent_sched_update_delay(uint32_t rnd);
