/* Unit tests for the text of the UDP server reply-only filter (appmgr_fw_install_text and
 * appmgr_fw_remove_text): uid and ports come out as the validated integers, nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "device/appmgr/appmgr_firewall.h"

static void test_install_text(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	const uint16_t ports[] = {5683, 53, 5683, 65535};
	char *t = appmgr_fw_install_text(101000, ports, 4, &err);
	assert_non_null(t);
	assert_string_equal(t, "add table inet rampart\n"
	                       "add chain inet rampart udp_servers_101000 { type filter hook output priority 0; policy accept; }\n"
	                       "flush chain inet rampart udp_servers_101000\n"
	                       "add rule inet rampart udp_servers_101000 meta skuid 101000 udp sport { 5683, 53, 65535 } "
	                       "ct state != { established, related } drop\n");
	free(t);
}

static void test_remove_text(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char *t = appmgr_fw_remove_text(4294967294u, &err);
	assert_non_null(t);
	assert_string_equal(t, "add table inet rampart\n"
	                       "add chain inet rampart udp_servers_4294967294 { type filter hook output priority 0; policy accept; }\n"
	                       "flush chain inet rampart udp_servers_4294967294\n"
	                       "delete chain inet rampart udp_servers_4294967294\n");
	free(t);
}

static void test_refuses_bad_input(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	const uint16_t ok[] = {53}, zero[] = {53, 0};
	assert_null(appmgr_fw_install_text(0, ok, 1, &err)); /* root's sockets must never match */
	assert_int_equal(err.code, RP_E_INVALID);
	rp_error_clear(&err);
	assert_null(appmgr_fw_install_text(UINT32_MAX, ok, 1, &err));
	rp_error_clear(&err);
	assert_null(appmgr_fw_install_text(101000, zero, 2, &err));
	assert_int_equal(err.code, RP_E_INVALID);
	rp_error_clear(&err);
	assert_null(appmgr_fw_install_text(101000, ok, 0, &err));
	rp_error_clear(&err);
	assert_null(appmgr_fw_remove_text(0, &err));
}

static void test_longest_list_fits(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	uint16_t ports[APPMGR_FW_MAX_PORTS + 1];
	for (size_t i = 0; i < APPMGR_FW_MAX_PORTS + 1; i++)
		ports[i] = (uint16_t)(65535 - i);
	char *t = appmgr_fw_install_text(101000, ports, APPMGR_FW_MAX_PORTS, &err);
	assert_non_null(t);
	assert_non_null(strstr(t, "{ 65535, 65534, "));
	assert_non_null(strstr(t, ", 65280 } ct state"));
	free(t);
	assert_null(appmgr_fw_install_text(101000, ports, APPMGR_FW_MAX_PORTS + 1, &err));
	assert_int_equal(err.code, RP_E_LIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_text),
		cmocka_unit_test(test_remove_text),
		cmocka_unit_test(test_refuses_bad_input),
		cmocka_unit_test(test_longest_list_fits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
