/* Unit tests for the boot-state record and os.json parsing of the boot stage: round trips, and
 * hostile files (truncated, oversized, bad checksum, bad magic/version, out-of-range fields). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/xalloc.h"
#include "device/boot/boot_osconf.h"
#include "device/boot/boot_state.h"

static struct boot_state sample(void)
{
	struct boot_state st;
	boot_state_init(&st);
	st.generation = 7;
	st.active = 1;
	st.previous = 0;
	st.pending = true;
	st.attempts_left = 2;
	st.committed_version = 41;
	boot_state_set_result(&st, "installed version %d", 42);
	return st;
}

static void encode(const struct boot_state *st, rp_buf *b)
{
	rp_error err = RP_ERROR_INIT;
	rp_buf_init(b);
	assert_int_equal(boot_state_encode(st, b, &err), 0);
}

/* Recompute the trailing checksum after editing a byte, as an attacker could. */
static void reseal(rp_buf *b)
{
	rp_sha256_buf(b->data, b->len - RP_SHA256_LEN, b->data + b->len - RP_SHA256_LEN);
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct boot_state st = sample(), out;
	rp_buf b;
	encode(&st, &b);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(boot_state_decode(b.data, b.len, &out, &err), 0);
	assert_int_equal(out.generation, 7);
	assert_int_equal(out.active, 1);
	assert_int_equal(out.previous, 0);
	assert_true(out.pending);
	assert_int_equal(out.attempts_left, 2);
	assert_int_equal(out.committed_version, 41);
	assert_string_equal(out.last_result, "installed version 42");
	rp_buf_free(&b);
}

static void test_every_truncation_refused(void **state)
{
	(void)state;
	struct boot_state st = sample(), out;
	rp_buf b;
	encode(&st, &b);
	for (size_t n = 0; n < b.len; n++) {
		rp_error err = RP_ERROR_INIT;
		assert_int_equal(boot_state_decode(b.data, n, &out, &err), -1);
		assert_true(err.message[0] != '\0');
	}
	rp_buf_free(&b);
}

static void test_every_bitflip_refused(void **state)
{
	(void)state;
	struct boot_state st = sample(), out;
	rp_buf b;
	encode(&st, &b);
	for (size_t i = 0; i < b.len; i++) {
		b.data[i] ^= 0x01;
		rp_error err = RP_ERROR_INIT;
		assert_int_equal(boot_state_decode(b.data, b.len, &out, &err), -1);
		b.data[i] ^= 0x01;
	}
	rp_buf_free(&b);
}

static void test_oversized_refused(void **state)
{
	(void)state;
	uint8_t *big = xcalloc(1, BOOT_STATE_MAX_LEN + 1);
	struct boot_state out;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(boot_state_decode(big, BOOT_STATE_MAX_LEN + 1, &out, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	free(big);
}

/* Offsets: magic 0, version 4, generation 6, active 14, previous 15, flags 16, attempts 17, bad 18. */
static void expect_resealed_refused(size_t off, uint8_t value, enum rp_errc code, const char *needle)
{
	struct boot_state st = sample(), out;
	rp_buf b;
	encode(&st, &b);
	b.data[off] = value;
	reseal(&b);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(boot_state_decode(b.data, b.len, &out, &err), -1);
	assert_int_equal(err.code, code);
	assert_non_null(strstr(err.message, needle));
	rp_buf_free(&b);
}

static void test_hostile_fields(void **state)
{
	(void)state;
	expect_resealed_refused(0, 'X', RP_E_INVALID, "magic");
	expect_resealed_refused(5, 2, RP_E_UNSUPPORTED, "version 2");
	expect_resealed_refused(14, 2, RP_E_INVALID, "active slot");
	expect_resealed_refused(15, 1, RP_E_INVALID, "previous slot"); /* same as active */
	expect_resealed_refused(15, 7, RP_E_INVALID, "previous slot");
	expect_resealed_refused(16, 0x80, RP_E_INVALID, "unknown flags");
	expect_resealed_refused(17, BOOT_ATTEMPTS_MAX + 1, RP_E_INVALID, "attempts");
	expect_resealed_refused(18, 0x04, RP_E_INVALID, "bad-slot mask");
	expect_resealed_refused(16, 0, RP_E_INVALID, "attempts left without a pending");
}

static void test_trailing_and_control_bytes(void **state)
{
	(void)state;
	struct boot_state st = sample(), out;
	rp_buf b;
	encode(&st, &b);
	/* Make the result text contain a control byte, resealed. */
	size_t rstart = b.len - RP_SHA256_LEN - strlen(st.last_result);
	b.data[rstart] = '\n';
	reseal(&b);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(boot_state_decode(b.data, b.len, &out, &err), -1);
	assert_non_null(strstr(err.message, "printable"));
	b.data[rstart] = 'i';
	/* One extra byte before the checksum: the length no longer matches. */
	rp_buf c;
	rp_buf_init(&c);
	rp_buf_append(&c, b.data, b.len - RP_SHA256_LEN);
	rp_buf_u8(&c, 'x');
	uint8_t sum[RP_SHA256_LEN];
	rp_sha256_buf(c.data, c.len, sum);
	rp_buf_append(&c, sum, sizeof(sum));
	assert_int_equal(boot_state_decode(c.data, c.len, &out, &err), -1);
	rp_buf_free(&c);
	rp_buf_free(&b);
}

static void test_encode_refuses_invalid(void **state)
{
	(void)state;
	struct boot_state st = sample();
	st.previous = st.active;
	rp_buf b;
	rp_buf_init(&b);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(boot_state_encode(&st, &b, &err), -1);
	rp_buf_free(&b);
}

static void test_result_sanitized(void **state)
{
	(void)state;
	struct boot_state st;
	boot_state_init(&st);
	boot_state_set_result(&st, "a\nb\x1b[31m");
	assert_string_equal(st.last_result, "a?b?[31m");
	char longtext[600];
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	boot_state_set_result(&st, "%s", longtext);
	assert_int_equal(strlen(st.last_result), BOOT_RESULT_MAX);
}

static void test_osconf(void **state)
{
	(void)state;
	const char *ok = "{\"version\":1,\"components\":[{\"name\":\"monitor\",\"exec\":\"bin/m\",\"args\":[\"--state\","
	                 "\"${STATE}\"]},{\"name\":\"agent\",\"exec\":\"bin/a\",\"required\":false}],"
	                 "\"health\":{\"settle_ms\":250}}";
	struct boot_osconf conf;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(boot_osconf_parse(ok, strlen(ok), &conf, &err), 0);
	assert_int_equal(conf.ncomponents, 2);
	assert_int_equal(conf.settle_ms, 250);
	assert_true(conf.components[0].required);
	assert_false(conf.components[1].required);
	struct boot_osconf_vars v = {.state = "/s", .root = "/r", .version = "3"};
	char *a = boot_osconf_expand(conf.components[0].args[1], &v, &err);
	assert_string_equal(a, "/s");
	free(a);
	a = boot_osconf_expand("x${ROOT}/${VERSION}y", &v, &err);
	assert_string_equal(a, "x/r/3y");
	free(a);
	v.device_id = "ab12";
	a = boot_osconf_expand("--device-id=${DEVICE_ID}", &v, &err);
	assert_string_equal(a, "--device-id=ab12");
	free(a);
	assert_null(boot_osconf_expand("${HOME}", &v, &err));
	assert_null(boot_osconf_expand("${STATE", &v, &err));
	boot_osconf_free(&conf);

	static const char *bad[] = {
		"{\"version\":1,\"components\":[{\"name\":\"m\",\"exec\":\"/bin/sh\"}]}",
		"{\"version\":1,\"components\":[{\"name\":\"m\",\"exec\":\"../x\"}]}",
		"{\"version\":1,\"components\":[{\"name\":\"m\",\"exec\":\"bin/../../x\"}]}",
		"{\"version\":1,\"components\":[{\"name\":\"M!\",\"exec\":\"x\"}]}",
		"{\"version\":1,\"components\":[]}",
		"{\"version\":2,\"components\":[{\"name\":\"m\",\"exec\":\"x\"}]}",
		"{\"version\":1,\"components\":[{\"name\":\"m\",\"exec\":\"x\"},{\"name\":\"m\",\"exec\":\"y\"}]}",
		"{\"version\":1,\"components\":[{\"name\":\"m\",\"exec\":\"x\",\"extra\":1}]}",
		"{\"version\":1,\"components\":[{\"name\":\"m\",\"exec\":\"x\",\"args\":[1]}]}",
		"{\"version\":1,\"components\":[{\"name\":\"m\",\"exec\":\"x\"}],\"health\":{\"settle_ms\":-1}}",
		"[1]",
		"{",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rp_error e = RP_ERROR_INIT;
		if (boot_osconf_parse(bad[i], strlen(bad[i]), &conf, &e) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_true(e.message[0] != '\0');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_every_truncation_refused),
		cmocka_unit_test(test_every_bitflip_refused),
		cmocka_unit_test(test_oversized_refused),
		cmocka_unit_test(test_hostile_fields),
		cmocka_unit_test(test_trailing_and_control_bytes),
		cmocka_unit_test(test_encode_refuses_invalid),
		cmocka_unit_test(test_result_sanitized),
		cmocka_unit_test(test_osconf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
