/* Unit tests for the device's per-image update status: what counts as installed (so a check skips
 * it), permanent refusals, the deferral clock, persistence, and the report body. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "device/update/update_status.h"

static const uint8_t sha_a[RP_SHA256_LEN] = {1};
static const uint8_t sha_b[RP_SHA256_LEN] = {2};

static void test_done_rules(void **state)
{
	(void)state;
	struct update_status st = {.doc = json_pack("{s:i, s:{}}", "version", 1, "images")};
	assert_false(update_status_done(&st, "x", sha_a));
	update_status_set(&st, "x", "id", "os-bundle", 2, sha_a, UPDATE_STATE_DOWNLOADING, NULL, false, 100);
	assert_false(update_status_done(&st, "x", sha_a)); /* a partial download never counts */
	update_status_set(&st, "x", "id", "os-bundle", 2, sha_a, UPDATE_STATE_INSTALLED, NULL, false, 100);
	assert_true(update_status_done(&st, "x", sha_a));
	assert_false(update_status_done(&st, "x", sha_b)); /* other bytes under the same name */
	update_status_set(&st, "y", "id", "application", 1, sha_a, UPDATE_STATE_FAILED, "hash", false, 100);
	assert_false(update_status_done(&st, "y", sha_a)); /* transient: retried */
	update_status_set(&st, "y", "id", "application", 1, sha_a, UPDATE_STATE_FAILED, "older", true, 100);
	assert_true(update_status_done(&st, "y", sha_a)); /* permanent: not downloaded again */
	update_status_free(&st);
}

static void test_deferral_clock(void **state)
{
	(void)state;
	struct update_status st = {.doc = json_pack("{s:i, s:{}}", "version", 1, "images")};
	assert_int_equal(update_status_deferred_since(&st, "x", sha_a), 0);
	update_status_set(&st, "x", "id", "application", 3, sha_a, UPDATE_STATE_DEFERRED, "deferred", false, 1000);
	update_status_set(&st, "x", "id", "application", 3, sha_a, UPDATE_STATE_DOWNLOADING, NULL, false, 5000);
	update_status_set(&st, "x", "id", "application", 3, sha_a, UPDATE_STATE_DEFERRED, "deferred", false, 9000);
	assert_int_equal(update_status_deferred_since(&st, "x", sha_a), 1000); /* counted from the first */
	update_status_set(&st, "x", "id", "application", 4, sha_b, UPDATE_STATE_DOWNLOADING, NULL, false, 9500);
	assert_int_equal(update_status_deferred_since(&st, "x", sha_b), 0); /* new bytes, new clock */
	update_status_free(&st);
}

static void test_persist_and_report(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/rampart-update-status-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	struct update_status st;
	update_status_load(&st, tmpl); /* missing: empty */
	update_status_set(&st, "img", "6a0c3084-d9b0-4538-b92f-24fd209216f4", "os-bundle", 7, sha_a,
	                  UPDATE_STATE_INSTALLED, NULL, false, 1700000000);
	update_status_set_check(&st, 1700000000, NULL);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(update_status_save(&st, tmpl, &err), 0);
	update_status_free(&st);
	update_status_load(&st, tmpl);
	assert_true(update_status_done(&st, "img", sha_a));
	_cleanup_free_ char *body = update_status_report_json(&st, "dev1");
	_cleanup_json_ json_t *j = json_loads(body, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "device_id")), "dev1");
	json_t *img = json_array_get(json_object_get(j, "images"), 0);
	assert_string_equal(json_string_value(json_object_get(img, "state")), "installed");
	assert_null(json_object_get(img, "permanent"));
	update_status_free(&st);
	/* A damaged file gives an empty status, not a failure. */
	_cleanup_free_ char *path = xasprintf("%s/update/status.json", tmpl);
	assert_int_equal(rp_write_file_atomic(path, "{not json", 9, 0600, &err), 0);
	update_status_load(&st, tmpl);
	assert_false(update_status_done(&st, "img", sha_a));
	update_status_free(&st);
	assert_int_equal(rp_remove_tree(tmpl, &err), 0);
}

static const char *state_of(const struct update_status *st, const char *name)
{
	return json_string_value(json_object_get(update_status_get(st, name), "state"));
}

static void test_supersede(void **state)
{
	(void)state;
	struct update_status st = {.doc = json_pack("{s:i, s:{}}", "version", 1, "images")};
	const char *app = "4780b14f-8b59-4715-810e-a021efdabec8", *other = "5b0e6a1c-2f3d-4e5f-8a9b-0c1d2e3f4a5b";
	update_status_set(&st, "hello-1", "i1", "application", 1, sha_a, UPDATE_STATE_INSTALLED, NULL, false, 100);
	update_status_supersede(&st, "hello-1", app, 100);
	update_status_set(&st, "blink-1", "i3", "application", 1, sha_a, UPDATE_STATE_INSTALLED, NULL, false, 100);
	update_status_supersede(&st, "blink-1", other, 100);
	update_status_set(&st, "hello-2", "i2", "application", 2, sha_b, UPDATE_STATE_INSTALLED, NULL, false, 200);
	update_status_supersede(&st, "hello-2", app, 200);
	assert_string_equal(state_of(&st, "hello-1"), "superseded");
	assert_string_equal(state_of(&st, "hello-2"), "installed");
	assert_string_equal(state_of(&st, "blink-1"), "installed"); /* another component */
	assert_false(update_status_done(&st, "hello-1", sha_a));
	/* An OS bundle supersedes only once committed; the component ID may be the entry's own string. */
	const char *os = "0f5e1a52-7d1c-4a4e-9a43-2f0c1d9e8b11";
	update_status_set(&st, "os-1", "o1", "os-bundle", 1, sha_a, UPDATE_STATE_COMMITTED, NULL, false, 100);
	update_status_set(&st, "os-2", "o2", "os-bundle", 2, sha_b, UPDATE_STATE_INSTALLED, NULL, false, 100);
	update_status_supersede(&st, "os-2", os, 100);
	assert_string_equal(state_of(&st, "os-1"), "committed");
	json_t *os2 = update_status_get(&st, "os-2");
	json_object_set_new(os2, "state", json_string("committed"));
	update_status_supersede(&st, "os-2", json_string_value(json_object_get(os2, "component_id")), 300);
	assert_string_equal(state_of(&st, "os-1"), "superseded");
	assert_string_equal(state_of(&st, "os-2"), "committed");
	/* The report keeps its fixed keys: the component ID stays on the device. */
	_cleanup_free_ char *body = update_status_report_json(&st, "dev");
	assert_null(strstr(body, "component_id"));
	assert_non_null(strstr(body, "\"superseded\""));
	update_status_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_done_rules),
	    cmocka_unit_test(test_deferral_clock),
	    cmocka_unit_test(test_persist_and_report),
	    cmocka_unit_test(test_supersede),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
