/* Unit tests for the agent worker's result message: round trips of both kinds, and refusal of
 * short, long, trailing or out-of-range messages (agent_worker_msg.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "device/agent/agent_worker_msg.h"

static int parse(const rp_buf *b, struct agent_worker_result *out)
{
	rp_error err = RP_ERROR_INIT;
	return agent_worker_msg_parse(b->data, b->len, out, &err);
}

static void attest_round_trip(void **state)
{
	(void)state;
	struct agent_worker_result in = {.kind = AGENT_WORKER_ATTEST, .ok = true, .not_before = 1700000000,
	                                 .not_after = 1700086400};
	memset(in.device_id, 'a', AGENT_WORKER_DEVICE_ID_MAX);
	rp_buf b;
	rp_buf_init(&b);
	agent_worker_msg_encode(&in, &b);
	struct agent_worker_result out;
	assert_int_equal(parse(&b, &out), 0);
	assert_int_equal(out.kind, AGENT_WORKER_ATTEST);
	assert_true(out.ok);
	assert_int_equal(out.not_before, 1700000000);
	assert_int_equal(out.not_after, 1700086400);
	assert_string_equal(out.device_id, in.device_id);
	assert_string_equal(out.reason, "");
	/* Every shorter prefix and one trailing byte are refused. */
	for (size_t n = 0; n < b.len; n++) {
		rp_error err = RP_ERROR_INIT;
		assert_int_equal(agent_worker_msg_parse(b.data, n, &out, &err), -1);
	}
	rp_buf_u8(&b, 0);
	assert_int_equal(parse(&b, &out), -1);
	rp_buf_free(&b);
}

static void update_round_trip_and_reason_cleaned(void **state)
{
	(void)state;
	struct agent_worker_result in = {.kind = AGENT_WORKER_UPDATE, .ok = false, .targets = 3, .installed = 1,
	                                 .skipped = 1, .failed = 1, .deferred = 0, .os_installed = true};
	snprintf(in.reason, sizeof(in.reason), "service said:\n\"no\"\x01");
	rp_buf b;
	rp_buf_init(&b);
	agent_worker_msg_encode(&in, &b);
	struct agent_worker_result out;
	assert_int_equal(parse(&b, &out), 0);
	assert_int_equal(out.kind, AGENT_WORKER_UPDATE);
	assert_false(out.ok);
	assert_int_equal(out.targets, 3);
	assert_int_equal(out.installed, 1);
	assert_int_equal(out.failed, 1);
	assert_true(out.os_installed);
	/* Control bytes never reach the daemon's JSON and logs. */
	assert_string_equal(out.reason, "service said:?\"no\"?");
	rp_buf_free(&b);
}

static void hostile_fields_refused(void **state)
{
	(void)state;
	struct agent_worker_result in = {.kind = AGENT_WORKER_ATTEST, .ok = true};
	snprintf(in.device_id, sizeof(in.device_id), "00ff");
	rp_buf b;
	rp_buf_init(&b);
	agent_worker_msg_encode(&in, &b);
	struct agent_worker_result out;
	assert_int_equal(parse(&b, &out), 0);
	b.data[0] = 2; /* version */
	assert_int_equal(parse(&b, &out), -1);
	b.data[0] = 1;
	b.data[1] = 9; /* kind */
	assert_int_equal(parse(&b, &out), -1);
	b.data[1] = AGENT_WORKER_ATTEST;
	b.data[2] = 2; /* ok flag */
	assert_int_equal(parse(&b, &out), -1);
	b.data[2] = 1;
	b.data[3 + 16 + 1] = 'G'; /* device ID not hex */
	assert_int_equal(parse(&b, &out), -1);
	b.data[3 + 16 + 1] = 0; /* or with a NUL inside */
	assert_int_equal(parse(&b, &out), -1);
	b.data[3 + 16 + 1] = '0';
	b.data[3 + 16] = AGENT_WORKER_DEVICE_ID_MAX + 1; /* device ID longer than allowed */
	assert_int_equal(parse(&b, &out), -1);
	rp_buf_free(&b);
	/* A reason length beyond the maximum. */
	uint8_t big[AGENT_WORKER_MSG_MAX + 1] = {1, AGENT_WORKER_UPDATE, 0};
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(agent_worker_msg_parse(big, sizeof(big), &out, &err), -1);
	uint8_t upd[3 + 21 + 2] = {1, AGENT_WORKER_UPDATE, 0};
	upd[3 + 21] = 0xff;
	upd[3 + 21 + 1] = 0xff;
	assert_int_equal(agent_worker_msg_parse(upd, sizeof(upd), &out, &err), -1);
	upd[3 + 21] = 0, upd[3 + 21 + 1] = 0;
	assert_int_equal(agent_worker_msg_parse(upd, sizeof(upd), &out, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attest_round_trip),
		cmocka_unit_test(update_round_trip_and_reason_cleaned),
		cmocka_unit_test(hostile_fields_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
