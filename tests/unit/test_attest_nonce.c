/* attest_nonce: a nonce opens only for the service that issued it, names the device it was issued
 * to, keeps its expiry, and any changed byte makes it unknown; the key file is created once and
 * refused when damaged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/fileio.h"
#include "common/macros.h"
#include "common/xalloc.h"
#include "service/attest_nonce.h"

static const char dev_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char dev_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static void fixed_key(struct attest_nonce_key *k, uint8_t fill)
{
	memset(k->bytes, fill, sizeof(k->bytes));
}

static void issued_nonce_opens_for_its_device(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct attest_nonce_key k;
	fixed_key(&k, 7);
	uint8_t n1[EVIDENCE_NONCE_LEN], n2[EVIDENCE_NONCE_LEN];
	assert_int_equal(attest_nonce_issue(&k, dev_a, 1900000000, n1, &err), 0);
	assert_int_equal(attest_nonce_issue(&k, dev_a, 1900000000, n2, &err), 0);
	assert_memory_not_equal(n1, n2, sizeof(n1)); /* fresh randomness each time */
	struct attest_nonce o;
	attest_nonce_open(&k, dev_a, n1, &o);
	assert_true(o.found);
	assert_string_equal(o.device_id, dev_a);
	assert_int_equal(o.expires_at, 1900000000);
	assert_false(o.used);
	/* Another device presenting it: issued by us, but not to that device. */
	attest_nonce_open(&k, dev_b, n1, &o);
	assert_true(o.found);
	assert_string_not_equal(o.device_id, dev_b);
	assert_string_not_equal(o.device_id, dev_a);
	/* Another service's key: unknown. */
	struct attest_nonce_key other;
	fixed_key(&other, 8);
	attest_nonce_open(&other, dev_a, n1, &o);
	assert_false(o.found);
}

static void every_changed_bit_is_noticed(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct attest_nonce_key k;
	fixed_key(&k, 1);
	uint8_t n[EVIDENCE_NONCE_LEN];
	assert_int_equal(attest_nonce_issue(&k, dev_a, 1900000000, n, &err), 0);
	for (size_t i = 0; i < sizeof(n) * 8; i++) {
		uint8_t t[EVIDENCE_NONCE_LEN];
		memcpy(t, n, sizeof(t));
		t[i / 8] ^= (uint8_t)(1u << (i % 8));
		struct attest_nonce o;
		attest_nonce_open(&k, dev_a, t, &o);
		/* Bytes 0..21 (random, expiry, service tag): unknown. Bytes 22..31 (device tag): issued
		 * here, but not to this device. Never both found and bound to dev_a. */
		if (i / 8 < 22)
			assert_false(o.found);
		else
			assert_true(o.found && strcmp(o.device_id, dev_a) != 0);
	}
}

static void bad_inputs_are_refused(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct attest_nonce_key k;
	fixed_key(&k, 2);
	uint8_t n[EVIDENCE_NONCE_LEN];
	assert_int_equal(attest_nonce_issue(&k, dev_a, 0, n, &err), -1);
	rp_error_clear(&err);
	assert_int_equal(attest_nonce_issue(&k, dev_a, (int64_t)UINT32_MAX + 1, n, &err), -1);
	rp_error_clear(&err);
	assert_int_equal(attest_nonce_issue(&k, "short", 1900000000, n, &err), -1);
	rp_error_clear(&err);
	/* A device ID of the wrong length never opens a nonce as its own. */
	assert_int_equal(attest_nonce_issue(&k, dev_a, 1900000000, n, &err), 0);
	struct attest_nonce o;
	attest_nonce_open(&k, "aaaa", n, &o);
	assert_true(o.found);
	assert_string_not_equal(o.device_id, "aaaa");
}

static void key_file_is_made_once_and_checked(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char tmpl[] = "/tmp/rp-nonce-key-XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	struct attest_nonce_key k1, k2;
	assert_int_equal(attest_nonce_key_load(dir, &k1, &err), 0);
	assert_int_equal(attest_nonce_key_load(dir, &k2, &err), 0);
	assert_memory_equal(k1.bytes, k2.bytes, sizeof(k1.bytes)); /* read back, not made again */
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, ATTEST_NONCE_KEY_FILE);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Readable by others: refused, since its reader could make nonces the service accepts. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(attest_nonce_key_load(dir, &k2, &err), -1);
	assert_non_null(strstr(err.message, "mode 0600"));
	rp_error_clear(&err);
	/* A symlink in its place (to a key someone else knows): refused, not followed. */
	_cleanup_free_ char *other = xasprintf("%s/other", dir);
	assert_int_equal(rp_write_file_atomic(other, k1.bytes, sizeof(k1.bytes), 0600, &err), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(other, path), 0);
	assert_int_equal(attest_nonce_key_load(dir, &k2, &err), -1);
	rp_error_clear(&err);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(unlink(other), 0);
	/* A damaged key stops the service with a message naming the file. */
	assert_int_equal(rp_write_file_atomic(path, "short", 5, 0600, &err), 0);
	assert_int_equal(attest_nonce_key_load(dir, &k2, &err), -1);
	assert_non_null(strstr(err.message, ATTEST_NONCE_KEY_FILE));
	rp_error_clear(&err);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(issued_nonce_opens_for_its_device),
		cmocka_unit_test(every_changed_bit_is_noticed),
		cmocka_unit_test(bad_inputs_are_refused),
		cmocka_unit_test(key_file_is_made_once_and_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
