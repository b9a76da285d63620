/* Unit tests for the device agent's pure parts: attestation timing (renewal at two thirds with
 * jitter, 20 h period, bounded backoff, never at once after a success, certificates that lapse by
 * the device's clock), local API request parsing, its CSRs passing the tenant CA's checks, and
 * failure reasons cut inside a UTF-8 character. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "device/agent/agent_attest.h"
#include "device/agent/agent_csr.h"
#include "device/agent/agent_local.h"
#include "device/agent/agent_sched.h"
#include "device/agent/agent_worker_msg.h"

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

/* The service dates certificates by its clock and may cut them short; by the device's clock the
 * renewal time can be in the past. The next round still waits AGENT_RESCHEDULE_MIN_SECONDS. */
static void next_never_sooner_than_the_floor(void **state)
{
	(void)state;
	const int64_t now = 1800000000;
	for (uint32_t r = 0; r < 5000; r++) {
		uint32_t rnd = r * 2654435761u;
		/* Device clock two days ahead: the certificate is already over. */
		assert_int_equal(agent_sched_next(now, now - 2 * 86400, now - 86400, rnd), now + AGENT_RESCHEDULE_MIN_SECONDS);
		/* Cut at its CA generation's end: 200 s, or 100 s (renewal "at once"). */
		assert_true(agent_sched_next(now, now - 300, now - 100, rnd) >= now + AGENT_RESCHEDULE_MIN_SECONDS);
		assert_true(agent_sched_next(now, now - 5, now + 195, rnd) >= now + AGENT_RESCHEDULE_MIN_SECONDS);
		assert_true(agent_sched_next(now, now - 5, now + 95, rnd) >= now + AGENT_RESCHEDULE_MIN_SECONDS);
		/* A normal 24 h certificate is untouched: renewal at about 16 h. */
		int64_t n = agent_sched_next(now, now - 300, now + 86400 - 300, rnd);
		assert_true(n >= now + 13 * 3600 && n <= now + 18 * 3600);
	}
	assert_true(AGENT_RESCHEDULE_MIN_SECONDS >= 60);
}

static void certificate_checked_against_the_device_clock(void **state)
{
	(void)state;
	const int64_t now = 1800000000; /* 2027-01-15T08:00:00Z */
	char why[AGENT_SCHED_WHY_MAX];
	/* Expired by the device's clock (the clock is ahead of the service's). */
	assert_int_equal(agent_sched_cert_check(now, now - 2 * 86400, now - 86400, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "expires at 2027-01-14T08:00:00Z, before this device's clock (2027-01-15T08:00:00Z)"));
	assert_non_null(strstr(why, "check the device clock"));
	/* Valid for less than the floor: it would lapse before the next round. */
	assert_int_equal(agent_sched_cert_check(now, now - 300, now + AGENT_RESCHEDULE_MIN_SECONDS - 1, why, sizeof(why)),
	                 -1);
	assert_non_null(strstr(why, "just after this device's clock"));
	/* Exactly the floor, or a day: fine, and nothing to warn about. */
	snprintf(why, sizeof(why), "x");
	assert_int_equal(agent_sched_cert_check(now, now - 300, now + AGENT_RESCHEDULE_MIN_SECONDS, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(agent_sched_cert_check(now, now + 600, now + 86400, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	/* Valid only from hours ahead: the device's clock is behind. A warning, not a failure. */
	assert_int_equal(agent_sched_cert_check(now, now + 5 * 3600, now + 29 * 3600, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "valid only from 2027-01-15T13:00:00Z"));
	/* A small buffer is cut, not overrun. */
	char small[16];
	assert_int_equal(agent_sched_cert_check(now, 0, 0, small, sizeof(small)), -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

/* A reason cut at a byte limit inside a two-byte UTF-8 character ("ä" is C3 A4). */
static void truncated_utf8_reason_becomes_printable(void **state)
{
	(void)state;
	char reason[64];
	snprintf(reason, sizeof(reason), "%s", "HTTP 422 evidence_refused: Ger\xc3\xa4t ung\xc3\xbcltig");
	reason[31] = 0; /* ends with the lone lead byte C3 */
	assert_int_equal((unsigned char)reason[30], 0xc3);
	json_t *j = json_pack("{s:s}", "reason", reason);
	assert_null(j); /* what used to reach rp_json_dump */
	agent_worker_reason_sanitize(reason);
	assert_string_equal(reason, "HTTP 422 evidence_refused: Ger?");
	j = json_pack("{s:s}", "reason", reason);
	assert_non_null(j);
	json_decref(j);
	char ctl[] = "a\x01" "b\x7f\xff";
	agent_worker_reason_sanitize(ctl);
	assert_string_equal(ctl, "a?b??");
}

/* A failed round whose error chain holds a cut UTF-8 character (here through the monitor socket's
 * path in the message) reports the error and records it, rather than aborting the worker. */
static void attest_failure_with_cut_utf8_is_reported(void **state)
{
	(void)state;
	/* Two path lengths of different parity: one of them puts the cut inside an "ä". */
	for (int extra = 0; extra < 2; extra++) {
		char tmpl[] = "/tmp/rp-agent-test-XXXXXX";
		assert_non_null(mkdtemp(tmpl));
		char sock[RP_ERROR_MESSAGE_MAX + 64];
		size_t n = (size_t)snprintf(sock, sizeof(sock), "%s/%s", tmpl, extra ? "x" : "");
		while (n + 2 < sizeof(sock) - 1) {
			sock[n++] = (char)0xc3;
			sock[n++] = (char)0xa4;
		}
		sock[n] = 0;
		struct agent_config cfg = {.state_dir = tmpl, .monitor_socket = sock};
		struct agent_result res;
		rp_error err = RP_ERROR_INIT;
		assert_int_equal(agent_attest_once(&cfg, 1800000000, &res, &err), -1);
		assert_false(res.ok);
		assert_non_null(strstr(res.reason, "security monitor"));
		assert_true(strlen(res.reason) > RP_ERROR_MESSAGE_MAX - 8); /* it was cut */
		for (const char *c = res.reason; *c; c++)
			assert_true(*c >= 0x20 && *c < 0x7f);
		char *agent_dir = xasprintf("%s/%s", tmpl, AGENT_DIR);
		char *status_path = xasprintf("%s/status.json", agent_dir);
		uint8_t *txt = NULL;
		size_t len = 0;
		assert_int_equal(rp_read_file(status_path, 64 * 1024, &txt, &len, &err), 0);
		json_error_t je;
		json_t *st = json_loadb((const char *)txt, len, 0, &je);
		assert_non_null(st);
		assert_false(json_is_true(json_object_get(st, "ok")));
		assert_string_equal(json_string_value(json_object_get(st, "reason")), res.reason);
		json_decref(st);
		free(txt);
		unlink(status_path);
		rmdir(agent_dir);
		rmdir(tmpl);
		free(status_path);
		free(agent_dir);
	}
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
		cmocka_unit_test(next_never_sooner_than_the_floor),
		cmocka_unit_test(certificate_checked_against_the_device_clock),
		cmocka_unit_test(truncated_utf8_reason_becomes_printable),
		cmocka_unit_test(attest_failure_with_cut_utf8_is_reported),
		cmocka_unit_test(local_requests),
		cmocka_unit_test(csr_is_p256_without_extensions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
