/* Attestation timing for the device agent (see agent_sched.h). */
#include "device/agent/agent_sched.h"

#include <stdio.h>
#include <time.h>

#include "device/update/update_client.h"

/* A value in [-span, span] from RND. */
static int64_t spread(uint32_t rnd, int64_t span)
{
	if (span <= 0)
		return 0;
	return (int64_t)(rnd % (uint64_t)(2 * span + 1)) - span;
}

int64_t agent_sched_renew_at(int64_t not_before, int64_t not_after, uint32_t rnd)
{
	int64_t life = not_after - not_before;
	if (life <= 120)
		return not_before;
	int64_t at = not_before + life * 2 / 3 + spread(rnd, life / 12);
	if (at > not_after - 60)
		at = not_after - 60;
	return at;
}

int64_t agent_sched_periodic(int64_t last, uint32_t rnd)
{
	return last + AGENT_PERIOD_SECONDS + spread(rnd, AGENT_PERIOD_JITTER_SECONDS);
}

int64_t agent_sched_backoff(unsigned attempt, uint32_t rnd)
{
	int64_t d = AGENT_BACKOFF_MIN_SECONDS;
	for (unsigned i = 1; i < attempt && d < AGENT_BACKOFF_MAX_SECONDS; i++)
		d *= 2;
	if (d > AGENT_BACKOFF_MAX_SECONDS)
		d = AGENT_BACKOFF_MAX_SECONDS;
	int64_t half = d / 2;
	return half + (int64_t)(rnd % (uint64_t)(d - half + 1));
}

int64_t agent_sched_next(int64_t last, int64_t not_before, int64_t not_after, uint32_t rnd)
{
	int64_t renew = agent_sched_renew_at(not_before, not_after, rnd);
	int64_t periodic = agent_sched_periodic(last, rnd >> 8);
	int64_t next = renew < periodic ? renew : periodic;
	return next < last + AGENT_RESCHEDULE_MIN_SECONDS ? last + AGENT_RESCHEDULE_MIN_SECONDS : next;
}

/* T as an ISO 8601 UTC time, or the number when it does not fit a calendar date. */
static void iso_time(int64_t t, char *out, size_t n)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, n, "%lld", (long long)t);
}

int agent_sched_cert_check(int64_t now, int64_t not_before, int64_t not_after, char *why, size_t n)
{
	char at[48], clock[48];
	iso_time(now, clock, sizeof(clock));
	if (not_after < now || not_after - now < AGENT_RESCHEDULE_MIN_SECONDS) {
		iso_time(not_after, at, sizeof(at));
		snprintf(why, n,
		         "the issued certificate expires at %s, %s this device's clock (%s): check the device clock, and "
		         "that the tenant CA is not about to expire",
		         at, not_after < now ? "before" : "just after", clock);
		return -1;
	}
	why[0] = 0;
	if (not_before > now && not_before - now > AGENT_SCHED_FUTURE_SKEW_SECONDS) {
		iso_time(not_before, at, sizeof(at));
		snprintf(why, n, "the issued certificate is valid only from %s, after this device's clock (%s): check the "
		         "device clock", at, clock);
	}
	return 0;
}

int64_t agent_sched_update_delay(uint32_t rnd)
{
	return UPDATE_CHECK_INTERVAL_S - UPDATE_CHECK_JITTER_S + (int64_t)(rnd % (2 * UPDATE_CHECK_JITTER_S + 1));
}
