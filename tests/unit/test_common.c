/* Unit tests for the core library: errors, parsing, encodings, JSON, files and crypto. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/error.h"

static void error_prefix_builds_chain(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_error_set(&err, RP_E_VERIFY, "signature does not match"), -1);
	rp_error_prefix(&err, "verifying package");
	rp_error_prefix(&err, "installing app %d", 1234);
	assert_string_equal(err.message, "installing app 1234: verifying package: signature does not match");
	assert_int_equal(err.code, RP_E_VERIFY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_prefix_builds_chain),
	};
	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
