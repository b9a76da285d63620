/* Unit tests for the install-time ownership check against a board: two apps conflict when their
 * peripheral entries resolve to the same board id, however each manifest spells it ("$NAME", the
 * decimal id, or the board's AppManifestValue), and an entry the board does not define is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/xalloc.h"
#include "device/broker/board.h"
#include "pkg/manifest.h"

#define CID_A "1689d8b2-c835-2e27-27ad-e894d6d15fa9"
#define CID_B "e0b0ad7e-9f42-4b8f-a8c5-6c3fd9b2f2a1"

/* One peripheral of each type the board supports; Gpio 4 shares its id with Uart 4, and Adc 0
 * with Pwm 0, to show that ids are compared within one type only. */
static const char board_json[] =
	"{\"Metadata\":{\"Type\":\"Rampart Board Definition\",\"Version\":1},\"Name\":\"unit\",\"Peripherals\":["
	"{\"Name\":\"LED\",\"Type\":\"Gpio\",\"Id\":8,\"Simulated\":{}},"
	"{\"Name\":\"BUTTON\",\"Type\":\"Gpio\",\"Id\":12,\"AppManifestValue\":\"GPIO12\",\"Simulated\":{}},"
	"{\"Name\":\"RELAY\",\"Type\":\"Gpio\",\"Id\":4,\"Simulated\":{}},"
	"{\"Name\":\"CONSOLE\",\"Type\":\"Uart\",\"Id\":4,\"AppManifestValue\":\"ISU0\",\"Simulated\":{}},"
	"{\"Name\":\"SENSOR_BUS\",\"Type\":\"I2cMaster\",\"Id\":6,\"AppManifestValue\":\"ISU2\",\"Simulated\":{}},"
	"{\"Name\":\"FLASH_BUS\",\"Type\":\"SpiMaster\",\"Id\":5,\"AppManifestValue\":\"ISU1\",\"Simulated\":{}},"
	"{\"Name\":\"VOLTS\",\"Type\":\"Adc\",\"Id\":0,\"AppManifestValue\":\"ADC-CONTROLLER-0\","
	"\"Simulated\":{\"Bits\":12,\"ReferenceMillivolts\":2500,\"Channels\":[]}},"
	"{\"Name\":\"DIMMER\",\"Type\":\"Pwm\",\"Id\":0,\"AppManifestValue\":\"PWM-CONTROLLER-0\","
	"\"Simulated\":{\"Channels\":2}}"
	"]}";

struct fixture {
	struct board *board;
	struct board_source src;
};

static int setup(void **state)
{
	rp_error err = RP_ERROR_INIT;
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->board = board_parse(board_json, strlen(board_json), "unit-board.json", &err);
	if (!f->board) {
		print_error("board: %s\n", err.message);
		free(f);
		return -1;
	}
	f->src = (struct board_source){.board = f->board, .path = "unit-board.json"};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	board_free(f->board);
	free(f);
	return 0;
}

static struct manifest *app(const char *cid, const char *name, const char *caps)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *json = xasprintf("{\"SchemaVersion\":1,\"Name\":\"%s\",\"ComponentId\":\"%s\","
	                                      "\"EntryPoint\":\"/bin/app\",\"Capabilities\":{%s}}",
	                                      name, cid, caps);
	struct manifest *m = manifest_parse(json, strlen(json), &err);
	if (!m)
		fail_msg("manifest %s: %s", json, err.message);
	return m;
}

/* A (installed) with CAPS_A and B (new) with CAPS_B: the board check finds a conflict whose
 * message contains FRAG (NULL: no conflict). */
static void expect(struct fixture *f, const char *caps_a, const char *caps_b, const char *frag)
{
	_cleanup_(manifest_freep) struct manifest *a = app(CID_A, "first", caps_a);
	_cleanup_(manifest_freep) struct manifest *b = app(CID_B, "second", caps_b);
	rp_error err = RP_ERROR_INIT;
	if (manifest_resolve_resources(a, board_resolve_entry, &f->src, &err) < 0 ||
	    manifest_resolve_resources(b, board_resolve_entry, &f->src, &err) < 0)
		fail_msg("%s vs %s: %s", caps_a, caps_b, err.message);
	int rc = manifest_check_conflicts_resolved(a, b, board_resolve_entry, &f->src, &err);
	if (!frag) {
		if (rc != 0)
			fail_msg("%s vs %s: unexpected conflict: %s", caps_a, caps_b, err.message);
		return;
	}
	if (rc != -1)
		fail_msg("%s vs %s: conflict not found", caps_a, caps_b);
	assert_int_equal(err.code, RP_E_CONFLICT);
	if (!strstr(err.message, frag) || !strstr(err.message, CID_A " (\"first\")") ||
	    !strstr(err.message, CID_B " (\"second\")") ||
	    (strstr(frag, "resource") && !strstr(err.message, "a peripheral has one owner")))
		fail_msg("%s vs %s: error \"%s\" lacks \"%s\" or an app", caps_a, caps_b, err.message, frag);
}

/* The review's case: "$NAME" against the decimal id and against AppManifestValue. The spelling
 * check alone lets both install. */
static void name_and_id_spellings_conflict(void **state)
{
	struct fixture *f = *state;
	_cleanup_(manifest_freep) struct manifest *a = app(CID_A, "first", "\"Gpio\":[\"$LED\"],\"Uart\":[\"$CONSOLE\"]");
	_cleanup_(manifest_freep) struct manifest *b = app(CID_B, "second", "\"Gpio\":[8],\"Uart\":[\"ISU0\"]");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(manifest_check_conflicts(a, b, &err), 0);
	expect(f, "\"Gpio\":[\"$LED\"]", "\"Gpio\":[8]",
	       "Capabilities.Gpio: resource \"$LED\" (as \"8\"; both are Gpio id 8 on the board)");
	expect(f, "\"Gpio\":[\"8\"]", "\"Gpio\":[\"$LED\"]", "resource \"8\" (as \"$LED\"");
	expect(f, "\"Uart\":[\"$CONSOLE\"]", "\"Uart\":[\"ISU0\"]",
	       "Capabilities.Uart: resource \"$CONSOLE\" (as \"ISU0\"; both are Uart id 4 on the board)");
}

static void every_board_type_resolves(void **state)
{
	struct fixture *f = *state;
	expect(f, "\"Gpio\":[\"$BUTTON\"]", "\"Gpio\":[\"GPIO12\"]", "Capabilities.Gpio: resource \"$BUTTON\"");
	expect(f, "\"I2cMaster\":[\"$SENSOR_BUS\"]", "\"I2cMaster\":[\"ISU2\"]", "Capabilities.I2cMaster");
	expect(f, "\"SpiMaster\":[\"ISU1\"]", "\"SpiMaster\":[\"$FLASH_BUS\"]", "Capabilities.SpiMaster");
	expect(f, "\"Adc\":[\"$VOLTS\"]", "\"Adc\":[\"ADC-CONTROLLER-0\"]", "Capabilities.Adc");
	expect(f, "\"Pwm\":[\"PWM-CONTROLLER-0\"]", "\"Pwm\":[\"$DIMMER\"]", "Capabilities.Pwm");
	/* The same spelling on both sides still conflicts (without the "as" part). */
	expect(f, "\"Gpio\":[\"$LED\"]", "\"Gpio\":[\"$LED\"]", "Capabilities.Gpio: resource \"$LED\" is claimed");
	/* The conflict is found among several entries. */
	expect(f, "\"Gpio\":[4,\"GPIO12\"],\"Pwm\":[\"$DIMMER\"]", "\"Uart\":[\"ISU0\"],\"Gpio\":[8,\"$RELAY\"]",
	       "resource \"4\" (as \"$RELAY\"; both are Gpio id 4");
}

static void different_peripherals_do_not_conflict(void **state)
{
	struct fixture *f = *state;
	expect(f, "\"Gpio\":[\"$LED\",\"$BUTTON\"]", "\"Gpio\":[4]", NULL);
	/* Equal ids of different types are different peripherals. */
	expect(f, "\"Gpio\":[\"$RELAY\"]", "\"Uart\":[\"$CONSOLE\"]", NULL);
	expect(f, "\"Adc\":[\"$VOLTS\"]", "\"Pwm\":[\"$DIMMER\"]", NULL);
	/* A new version of the same app takes over its own claims. */
	_cleanup_(manifest_freep) struct manifest *a = app(CID_A, "first", "\"Gpio\":[\"$LED\"]");
	_cleanup_(manifest_freep) struct manifest *a2 = app(CID_A, "first", "\"Gpio\":[8]");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(manifest_check_conflicts_resolved(a, a2, board_resolve_entry, &f->src, &err), 0);
}

/* Fail closed: an entry the board does not define, named with the board and its file. */
static void unknown_entries_are_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const cases[][2] = {
		{"\"Gpio\":[\"$LED\",\"$NOT_HERE\"]", "Capabilities.Gpio entry \"$NOT_HERE\""},
		{"\"Gpio\":[99]", "Capabilities.Gpio entry \"99\""},
		{"\"Gpio\":[\"GPIO8\"]", "Capabilities.Gpio entry \"GPIO8\""}, /* LED's value is "8" */
		{"\"Gpio\":[\"$led\"]", "Capabilities.Gpio entry \"$led\""},    /* names are case-sensitive */
		{"\"Uart\":[\"ISU9\"]", "Capabilities.Uart entry \"ISU9\""},
		{"\"Uart\":[4]", "Capabilities.Uart entry \"4\""}, /* the Uart's value is ISU0, not its id */
		{"\"I2cMaster\":[\"$CONSOLE\"]", "Capabilities.I2cMaster entry \"$CONSOLE\""}, /* wrong type */
		{"\"SpiMaster\":[\"ISU2\"]", "Capabilities.SpiMaster entry \"ISU2\""},
		{"\"Adc\":[\"ADC-CONTROLLER-1\"]", "Capabilities.Adc entry \"ADC-CONTROLLER-1\""},
		{"\"Pwm\":[\"$VOLTS\"]", "Capabilities.Pwm entry \"$VOLTS\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_(manifest_freep) struct manifest *m = app(CID_B, "second", cases[i][0]);
		rp_error err = RP_ERROR_INIT;
		assert_int_equal(manifest_resolve_resources(m, board_resolve_entry, &f->src, &err), -1);
		assert_int_equal(err.code, RP_E_NOT_FOUND);
		if (!strstr(err.message, cases[i][1]) || !strstr(err.message, "board \"unit\" (unit-board.json)") ||
		    !strstr(err.message, CID_B " (\"second\")"))
			fail_msg("%s: error \"%s\" lacks \"%s\", the board or the app", cases[i][0], err.message, cases[i][1]);
	}
}

/* An installed app whose entry the board no longer defines is compared by spelling, so a new app
 * spelling it the same way is still refused. */
static void unresolved_installed_entry_falls_back_to_spelling(void **state)
{
	struct fixture *f = *state;
	_cleanup_(manifest_freep) struct manifest *a = app(CID_A, "first", "\"Gpio\":[\"GPIO8\"],\"Uart\":[\"isu7\"]");
	_cleanup_(manifest_freep) struct manifest *b = app(CID_B, "second", "\"Gpio\":[8]");
	_cleanup_(manifest_freep) struct manifest *c = app(CID_B, "second", "\"Uart\":[\"ISU7\"]");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(manifest_check_conflicts_resolved(a, b, board_resolve_entry, &f->src, &err), -1);
	assert_non_null(strstr(err.message, "resource \"GPIO8\" (as \"8\") is claimed by both"));
	rp_error_clear(&err);
	assert_int_equal(manifest_check_conflicts_resolved(a, c, board_resolve_entry, &f->src, &err), -1);
	assert_non_null(strstr(err.message, "Capabilities.Uart"));
}

/* Ports and ExternalInterrupt are not on the board: the resolved check still compares them. */
static void ports_still_conflict(void **state)
{
	struct fixture *f = *state;
	expect(f, "\"AllowedTcpServerPorts\":[8080]", "\"AllowedTcpServerPorts\":[8080]",
	       "Capabilities.AllowedTcpServerPorts: port 8080");
	expect(f, "\"AllowedTcpServerPorts\":[8080]", "\"AllowedUdpServerPorts\":[8080]", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(name_and_id_spellings_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(every_board_type_resolves, setup, teardown),
		cmocka_unit_test_setup_teardown(different_peripherals_do_not_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_entries_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(unresolved_installed_entry_falls_back_to_spelling, setup, teardown),
		cmocka_unit_test_setup_teardown(ports_still_conflict, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
