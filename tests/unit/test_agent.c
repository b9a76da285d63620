/* Unit tests for the device agent's pure parts: attestation timing (renewal at two thirds with
 * jitter, 20 h period, bounded backoff), local API request parsing, and its CSRs passing the
 * tenant CA's checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/crypto.h"
#include "device/agent/agent_csr.h"
#include "device/agent/agent_local.h"
#include "device/agent/agent_sched.h"

static void renewal_at_two_thirds_with_jitter(void **state)
{
	(void)state;
	const int64_t nb = 1000000, life = 24 * 3600, na = nb + life;
	int64_t lo = INT64_MAX, hi = 0;
	for (uint32_t r = 0; r < 100000; r += 7) {
		int64_t at = agent_sched_renew_at(nb, na, r * 2654435761u);
		assert_true(at >= nb + life * 2 / 3 - life / 12);
		assert_true(at <= nb + life * 2 / 3 + life / 12);
		assert_true(at < na);
		lo = at < lo ? at : lo;
		hi = at > hi ? at : hi;
	}
	assert_true(hi - lo > 3600); /* the jitter really spreads renewals */
	/* A tiny lifetime renews at once rather than after expiry. */
	assert_int_equal(agent_sched_renew_at(nb, nb + 100, 5), nb);
}

static void periodic_and_next(void **state)
{
	(void)state;
	for (uint32_t r = 0; r < 5000; r++) {
		int64_t p = agent_sched_periodic(0, r * 40503u);
		assert_true(p >= 19 * 3600 && p <= 21 * 3600);
	}
	/* A 24 h certificate renews before the 20 h period; a 7-day one at 20 h. */
	assert_true(agent_sched_next(0, 0, 24 * 3600, 12345) <= 18 * 3600);
	assert_true(agent_sched_next(0, 0, 7 * 24 * 3600, 12345) <= 21 * 3600);
}

static void backoff_is_bounded(void **state)
{
	(void)state;
	int64_t prev_max = 0;
	for (unsigned a = 1; a < 40; a++) {
		int64_t mx = 0;
		for (uint32_t r = 0; r < 2000; r++) {
			int64_t d = agent_sched_backoff(a, r * 2246822519u);
			assert_true(d >= AGENT_BACKOFF_MIN_SECONDS / 2);
			assert_true(d <= AGENT_BACKOFF_MAX_SECONDS);
			mx = d > mx ? d : mx;
		}
		assert_true(mx >= prev_max);
		prev_max = mx;
	}
	assert_true(prev_max > AGENT_BACKOFF_MAX_SECONDS / 2);
}

static void local_requests(void **state)
{
	(void)state;
	assert_int_equal(agent_local_parse("attest-now\n", 11), AGENT_LOCAL_ATTEST_NOW);
	assert_int_equal(agent_local_parse("status", 6), AGENT_LOCAL_STATUS);
	assert_int_equal(agent_local_parse("status\n\n", 8), AGENT_LOCAL_BAD);
	assert_int_equal(agent_local_parse("attest-nowx", 11), AGENT_LOCAL_BAD);
	assert_int_equal(agent_local_parse("", 0), AGENT_LOCAL_BAD);
	assert_int_equal(agent_local_parse("stat\0s", 6), AGENT_LOCAL_BAD);
}

static void csr_is_p256_without_extensions(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *k = rp_key_generate_p256(&err);
	assert_non_null(k);
	char *pem = agent_csr_build(k, "abc", &err);
	assert_non_null(pem);
	assert_non_null(strstr(pem, "BEGIN CERTIFICATE REQUEST"));
	free(pem);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(renewal_at_two_thirds_with_jitter),
		cmocka_unit_test(periodic_and_next),
		cmocka_unit_test(backoff_is_bounded),
		cmocka_unit_test(local_requests),
		cmocka_unit_test(csr_is_p256_without_extensions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
