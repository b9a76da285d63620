/* When the device agent attests: on start, at about two thirds of its certificate's lifetime
 * (with jitter, so a fleet that booted together does not renew together), at least every 20 h
 * (with jitter), never sooner than a minute after a success, and after a failure with bounded,
 * jittered exponential backoff. Pure arithmetic on times and random numbers the caller supplies,
 * so it is unit-tested without waiting. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/macros.h"

#define AGENT_PERIOD_SECONDS (20 * 3600)
#define AGENT_PERIOD_JITTER_SECONDS (3600)
#define AGENT_BACKOFF_MIN_SECONDS 5
#define AGENT_BACKOFF_MAX_SECONDS 3600
/* The earliest the agent attests again after a successful round, whatever the certificate's dates
 * say. The service dates certificates by its own clock and cuts them short at the end of their CA
 * generation, so by the device's clock (which an app with SystemTime may set anywhere) the renewal
 * time can lie in the past; attesting again at once would repeat a whole round (two key
 * generations, a quote, two requests, several synced writes, rows at the service) without pause.
 * A minute still renews a short certificate before it lapses. A certificate that expires sooner
 * than this by the device's clock does not count as a success (agent_sched_cert_check), so the
 * failure backoff applies to it. */
#define AGENT_RESCHEDULE_MIN_SECONDS 60
/* Room for the text agent_sched_cert_check writes. */
#define AGENT_SCHED_WHY_MAX 256
/* A notBefore further than this after the device's clock means the clock is behind (the service
 * backdates certificates by a few minutes): worth a warning, not a failed round. */
#define AGENT_SCHED_FUTURE_SKEW_SECONDS 3600

/* Renewal time for a certificate valid [NOT_BEFORE, NOT_AFTER): not_before + 2/3 of the lifetime,
 * moved by up to +-1/12 of the lifetime according to RND. Never after NOT_AFTER - 60 s. */
int64_t agent_sched_renew_at(int64_t not_before, int64_t not_after, uint32_t rnd);
/* The periodic attestation after a success at LAST: 20 h +- 1 h according to RND. */
int64_t agent_sched_periodic(int64_t last, uint32_t rnd);
/* Delay before retry number ATTEMPT (1 = first retry): min(max, min * 2^(attempt-1)), then a
 * random point in its upper half, so retries spread out but never exceed the bound. */
int64_t agent_sched_backoff(unsigned attempt, uint32_t rnd);
/* The next attestation after a success at LAST: the earlier of renewal and the periodic one, but
 * never before LAST + AGENT_RESCHEDULE_MIN_SECONDS. */
int64_t agent_sched_next(int64_t last, int64_t not_before, int64_t not_after, uint32_t rnd);
/* Whether a certificate valid [NOT_BEFORE, NOT_AFTER) that the service just issued is of use by
 * the device's clock NOW. -1 with the reason and what to do in WHY (N bytes) when it expires before
 * NOW + AGENT_RESCHEDULE_MIN_SECONDS, that is before the next round could replace it (the device's
 * clock is ahead of the service's, or the certificate was cut short). Otherwise 0, with WHY empty
 * or, when NOT_BEFORE is more than AGENT_SCHED_FUTURE_SKEW_SECONDS after NOW, a warning: that alone
 * is no failure, since relying parties judge the certificate by their own clocks. */
int agent_sched_cert_check(int64_t now, int64_t not_before, int64_t not_after, char *why, size_t n) RP_MUST_CHECK;
/* Seconds until the next periodic update check after a successful one: 20 h +- 2 h according to
 * RND (UPDATE_CHECK_INTERVAL_S and UPDATE_CHECK_JITTER_S, as update_next_check_delay()). */
int64_t agent_sched_update_delay(uint32_t rnd);
