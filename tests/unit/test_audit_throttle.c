/* audit_throttle: a device gets a burst of audited refusals and then one per refill period; the
 * refusals left out are counted into the next audited one; a clock stepped back refills nothing;
 * the whole service's bucket caps what many device IDs together can cause. Each test uses its own
 * device IDs and times far apart, because the buckets are process-wide. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "service/audit_throttle.h"

static void device_id(char out[65], unsigned test, unsigned n)
{
	snprintf(out, 65, "%02x%062x", test, n);
}

static void burst_then_one_per_period(void **state)
{
	(void)state;
	char id[65];
	device_id(id, 1, 0);
	int64_t t = 1000000;
	uint64_t suppressed = 99;
	for (int i = 0; i < AUDIT_THROTTLE_BURST; i++) {
		assert_true(audit_throttle_admit(id, t, &suppressed));
		assert_int_equal(suppressed, 0);
	}
	assert_false(audit_throttle_admit(id, t, &suppressed));
	assert_false(audit_throttle_admit(id, t + AUDIT_THROTTLE_REFILL_SECONDS - 1, &suppressed));
	/* One period later exactly one more is audited, carrying the two left out. */
	assert_true(audit_throttle_admit(id, t + AUDIT_THROTTLE_REFILL_SECONDS, &suppressed));
	assert_int_equal(suppressed, 2);
	assert_false(audit_throttle_admit(id, t + AUDIT_THROTTLE_REFILL_SECONDS, &suppressed));
	/* Long idle: the bucket is full again, never fuller. */
	int64_t later = t + 100 * AUDIT_THROTTLE_REFILL_SECONDS;
	for (int i = 0; i < AUDIT_THROTTLE_BURST; i++)
		assert_true(audit_throttle_admit(id, later, &suppressed));
	assert_int_equal(suppressed, 0);
	assert_false(audit_throttle_admit(id, later, &suppressed));
}

static void clock_stepped_back_refills_nothing(void **state)
{
	(void)state;
	char id[65];
	device_id(id, 2, 0);
	int64_t t = 2000000;
	uint64_t suppressed;
	for (int i = 0; i < AUDIT_THROTTLE_BURST; i++)
		assert_true(audit_throttle_admit(id, t, &suppressed));
	assert_false(audit_throttle_admit(id, t - 3600, &suppressed));
	/* Counted from the stepped-back time: a full period after it, not after t. */
	assert_false(audit_throttle_admit(id, t - 3600 + AUDIT_THROTTLE_REFILL_SECONDS - 1, &suppressed));
	assert_true(audit_throttle_admit(id, t - 3600 + AUDIT_THROTTLE_REFILL_SECONDS, &suppressed));
	assert_int_equal(suppressed, 2);
}

static void many_devices_share_the_global_cap(void **state)
{
	(void)state;
	int64_t t = 3000000; /* far from the other tests: the global bucket is full again */
	uint64_t suppressed;
	unsigned admitted = 0;
	char id[65];
	for (unsigned n = 0; n < AUDIT_THROTTLE_GLOBAL_BURST + 50; n++) {
		device_id(id, 3, n);
		admitted += audit_throttle_admit(id, t, &suppressed);
	}
	assert_int_equal(admitted, AUDIT_THROTTLE_GLOBAL_BURST);
	/* A second later the service may audit AUDIT_THROTTLE_GLOBAL_PER_SECOND more. */
	admitted = 0;
	for (unsigned n = 0; n < 50; n++) {
		device_id(id, 4, n);
		admitted += audit_throttle_admit(id, t + 1, &suppressed);
	}
	assert_int_equal(admitted, AUDIT_THROTTLE_GLOBAL_PER_SECOND);
}

static void ids_that_are_not_device_ids_are_not_keyed(void **state)
{
	(void)state;
	uint64_t suppressed = 7;
	char longer[80];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_true(audit_throttle_admit(longer, 4000000, &suppressed));
	assert_int_equal(suppressed, 0);
	assert_true(audit_throttle_admit("", 4000000, &suppressed));
	assert_true(audit_throttle_admit(NULL, 4000000, &suppressed));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_one_per_period),
		cmocka_unit_test(clock_stepped_back_refills_nothing),
		cmocka_unit_test(many_devices_share_the_global_cap),
		cmocka_unit_test(ids_that_are_not_device_ids_are_not_keyed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
