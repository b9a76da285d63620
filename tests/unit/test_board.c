/* Unit tests for board definition parsing (including hostile files) and the broker's resolution
 * of manifest entries against the board. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/xalloc.h"
#include "device/broker/board.h"
#include "device/broker/broker.h"
#include "device/broker/broker_policy.h"
#include "device/broker/broker_privs.h"

#define HEAD "{\"Metadata\":{\"Type\":\"Rampart Board Definition\",\"Version\":1},\"Name\":\"t\",\"Peripherals\":["
#define TAIL "]}"

static struct board *parse(const char *text, rp_error *err)
{
	rp_error_clear(err);
	return board_parse(text, strlen(text), "test.json", err);
}

static void expect_error(const char *text, const char *needle)
{
	rp_error err = RP_ERROR_INIT;
	struct board *b = parse(text, &err);
	if (b)
		fail_msg("accepted: %s", text);
	if (!strstr(err.message, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err.message, needle);
}

/* samples/boards/simulated.json: __FILE__ is absolute, or relative to the build root, and unit
 * tests run in <build>/tests/unit. */
static char *source_path(const char *rel)
{
	const char *f = __FILE__;
	const char *suffix = "tests/unit/test_board.c";
	size_t keep = strlen(f) - strlen(suffix);
	assert_true(strlen(f) >= strlen(suffix) && strcmp(f + keep, suffix) == 0);
	return xasprintf("%s%.*s%s", f[0] == '/' ? "" : "../../", (int)keep, f, rel);
}

static char *sample_board_path(void)
{
	return source_path("samples/boards/simulated.json");
}

/* Every sample's manifest is valid and its peripherals exist on the simulated board. */
static void test_sample_manifests(void **state)
{
	(void)state;
	static const char *const samples[] = {"hello", "blink", "mutable_storage", "https_client", "crash"};
	rp_error err = RP_ERROR_INIT;
	char *path = sample_board_path();
	struct board *b = board_load(path, &err);
	free(path);
	assert_non_null(b);
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		char *rel = xasprintf("samples/%s/app_manifest.json", samples[i]);
		char *mpath = source_path(rel);
		struct broker_policy *p = broker_policy_load(mpath, &err);
		if (!p)
			fail_msg("%s", err.message);
		struct broker_options opts = {.network_ready = 0};
		struct broker *br = broker_new(b, p, &opts, &err);
		if (!br)
			fail_msg("%s: %s", samples[i], err.message);
		broker_free(br);
		broker_policy_free(p);
		free(mpath);
		free(rel);
	}
	board_free(b);
}

static void test_sample_board(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char *path = sample_board_path();
	struct board *b = board_load(path, &err);
	free(path);
	if (!b)
		fail_msg("%s", err.message);
	struct board_periph *led = board_find_id(b, BOARD_GPIO, 8);
	assert_non_null(led);
	assert_string_equal(led->name, "SAMPLE_LED");
	assert_true(led->simulated);
	assert_ptr_equal(board_find_manifest(b, BOARD_GPIO, "$SAMPLE_LED"), led);
	assert_ptr_equal(board_find_manifest(b, BOARD_GPIO, "8"), led);
	assert_null(board_find_manifest(b, BOARD_UART, "8"));
	assert_null(board_find_id(b, BOARD_GPIO, 99));
	struct board_periph *uart = board_find_manifest(b, BOARD_UART, "ISU0");
	assert_non_null(uart);
	assert_int_equal(uart->id, 4);
	assert_true(uart->loopback);
	struct board_periph *i2c = board_find_id(b, BOARD_I2C, 6);
	assert_non_null(i2c);
	assert_int_equal(i2c->i2c_target_count, 1);
	assert_int_equal(i2c->i2c_targets[0].address, 72);
	assert_int_equal(i2c->i2c_targets[0].registers[0], 0x19);
	struct board_periph *adc = board_find_manifest(b, BOARD_ADC, "ADC-CONTROLLER-0");
	assert_non_null(adc);
	assert_int_equal(adc->adc_bits, 12);
	assert_int_equal(adc->adc_channels[0].value, 2048);
	board_free(b);
}

static void test_linux_board(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct board *b = parse(HEAD
	                        "{\"Name\":\"LED\",\"Type\":\"Gpio\",\"Id\":40,\"Linux\":{\"Chip\":\"gpiochip0\",\"Line\":5}},"
	                        "{\"Name\":\"U\",\"Type\":\"Uart\",\"Id\":1,\"Linux\":{\"Device\":\"/dev/ttyS1\"}},"
	                        "{\"Name\":\"S\",\"Type\":\"SpiMaster\",\"Id\":1,\"Linux\":{\"Devices\":[\"/dev/spidev0.0\","
	                        "\"/dev/spidev0.1\"]}},"
	                        "{\"Name\":\"A\",\"Type\":\"Adc\",\"Id\":0,\"Linux\":{\"Device\":"
	                        "\"/sys/bus/iio/devices/iio:device0\",\"Bits\":10}}" TAIL,
	                        &err);
	if (!b)
		fail_msg("%s", err.message);
	assert_false(b->periphs[0].simulated);
	assert_string_equal(b->periphs[0].device, "gpiochip0");
	assert_int_equal(b->periphs[0].gpio_line, 5);
	assert_int_equal(b->periphs[2].spi_device_count, 2);
	assert_int_equal(b->periphs[3].adc_bits, 10);
	board_free(b);
}

/* "Clock": simulated, or the system clock with an optional RTC; absent: system clock, /dev/rtc0. */
static void test_board_clock(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct board *b = parse(HEAD TAIL, &err);
	assert_non_null(b);
	assert_false(b->clock_simulated);
	assert_string_equal(b->rtc_device, "/dev/rtc0");
	board_free(b);
	b = parse(HEAD "],\"Clock\":{\"Simulated\":true}}", &err);
	assert_non_null(b);
	assert_true(b->clock_simulated);
	board_free(b);
	b = parse(HEAD "],\"Clock\":{\"Linux\":{\"Rtc\":\"/dev/rtc1\"}}}", &err);
	assert_non_null(b);
	assert_false(b->clock_simulated);
	assert_string_equal(b->rtc_device, "/dev/rtc1");
	board_free(b);
	b = parse(HEAD "],\"Clock\":{\"Linux\":{}}}", &err);
	assert_non_null(b);
	assert_string_equal(b->rtc_device, "");
	board_free(b);
	expect_error(HEAD "],\"Clock\":{}}", "exactly one");
	expect_error(HEAD "],\"Clock\":{\"Simulated\":true,\"Linux\":{}}}", "exactly one");
	expect_error(HEAD "],\"Clock\":{\"Simulated\":false}}", "Simulated must be true");
	expect_error(HEAD "],\"Clock\":{\"Linux\":{\"Rtc\":\"/etc/shadow\"}}}", "must be under /dev/");
	expect_error(HEAD "],\"Clock\":{\"Linux\":{\"Rtc\":\"/dev/../etc\"}}}", "..");
	expect_error(HEAD "],\"Clock\":{\"Linux\":{\"Device\":\"/dev/rtc0\"}}}", "Device");
	expect_error(HEAD "],\"Clock\":true}", "Clock");
}

/* What a broker keeps after dropping privileges follows the grants and the board. */
static void test_broker_privileges_needed(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct board *b = parse(HEAD "{\"Name\":\"SIM\",\"Type\":\"Gpio\",\"Id\":8,\"Simulated\":{}},"
	                        "{\"Name\":\"LED\",\"Type\":\"Gpio\",\"Id\":40,\"Linux\":{\"Chip\":\"gpiochip0\","
	                        "\"Line\":5}}],\"Clock\":{\"Simulated\":true}}",
	                        &err);
	assert_non_null(b);
	static const char head[] = "{\"SchemaVersion\":1,\"Name\":\"A\",\"ComponentId\":"
	                           "\"077d9def-fa59-467f-a843-1d35e48470b6\",\"EntryPoint\":\"/bin/app\",\"CmdArgs\":[],"
	                           "\"ApplicationType\":\"Default\",\"Capabilities\":";
	static const struct {
		const char *caps;
		bool simulated_clock;
		struct broker_privs want;
	} cases[] = {
		{"{}", true, {false, false, false}},
		{"{\"Gpio\":[\"$SIM\"],\"SystemTime\":true}", true, {false, false, false}},
		{"{\"SystemTime\":true}", false, {true, false, false}},
		{"{\"TimeSyncConfig\":true}", false, {false, false, false}},
		{"{\"Gpio\":[\"$LED\"]}", true, {false, true, false}},
		{"{\"AllowedTcpServerPorts\":[1024],\"AllowedUdpServerPorts\":[5000]}", true, {false, false, false}},
		{"{\"AllowedUdpServerPorts\":[123]}", true, {false, false, true}},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *doc = xasprintf("%s%s}", head, cases[i].caps);
		struct broker_policy *p = broker_policy_from_manifest_json(doc, strlen(doc), "m", &err);
		if (!p)
			fail_msg("%s: %s", cases[i].caps, err.message);
		b->clock_simulated = cases[i].simulated_clock;
		struct broker_privs got;
		broker_privs_needed(p, b, &got);
		if (got.sys_time != cases[i].want.sys_time || got.dac_override != cases[i].want.dac_override ||
		    got.net_bind_service != cases[i].want.net_bind_service)
			fail_msg("case %zu (%s): got time=%d dac=%d bind=%d", i, cases[i].caps, got.sys_time, got.dac_override,
			         got.net_bind_service);
		broker_policy_free(p);
		free(doc);
	}
	board_free(b);
}

static void test_hostile_boards(void **state)
{
	(void)state;
	expect_error("[]", "object");
	expect_error("{\"Metadata\":{\"Type\":\"Rampart Board Definition\",\"Version\":2},\"Name\":\"t\",\"Peripherals\":[]}",
	             "Version");
	expect_error("{\"Metadata\":{\"Type\":\"Other\",\"Version\":1},\"Name\":\"t\",\"Peripherals\":[]}", "Type");
	expect_error(HEAD TAIL "x", "test.json");
	expect_error("{\"Metadata\":{\"Type\":\"Rampart Board Definition\",\"Version\":1},\"Name\":\"t\",\"Peripherals\":[],"
	             "\"Extra\":1}",
	             "Extra");
	expect_error(HEAD "{\"Name\":\"L\",\"Type\":\"Gpio\",\"Id\":8,\"Simulated\":{},\"Colour\":\"red\"}" TAIL, "Colour");
	expect_error(HEAD "{\"Name\":\"L\",\"Type\":\"Laser\",\"Id\":8,\"Simulated\":{}}" TAIL, "Laser");
	expect_error(HEAD "{\"Name\":\"L\",\"Type\":\"Gpio\",\"Id\":-1,\"Simulated\":{}}" TAIL, "Id");
	expect_error(HEAD "{\"Name\":\"L\",\"Type\":\"Gpio\",\"Id\":8}" TAIL, "exactly one");
	expect_error(HEAD "{\"Name\":\"L\",\"Type\":\"Gpio\",\"Id\":8,\"Simulated\":{},\"Linux\":{}}" TAIL, "exactly one");
	expect_error(HEAD "{\"Name\":\"L ED\",\"Type\":\"Gpio\",\"Id\":8,\"Simulated\":{}}" TAIL, "letters");
	expect_error(HEAD "{\"Name\":\"L\",\"Type\":\"Gpio\",\"Id\":8,\"Simulated\":{\"Value\":2}}" TAIL, "Value");
	expect_error(HEAD "{\"Name\":\"L\",\"Type\":\"Gpio\",\"Id\":8,\"Simulated\":{}},"
	                  "{\"Name\":\"L\",\"Type\":\"Gpio\",\"Id\":9,\"Simulated\":{}}" TAIL,
	             "already used");
	expect_error(HEAD "{\"Name\":\"L\",\"Type\":\"Gpio\",\"Id\":8,\"Simulated\":{}},"
	                  "{\"Name\":\"M\",\"Type\":\"Gpio\",\"Id\":8,\"Simulated\":{}}" TAIL,
	             "already used");
	expect_error(HEAD "{\"Name\":\"U\",\"Type\":\"Uart\",\"Id\":1,\"Linux\":{\"Device\":\"/etc/shadow\"}}" TAIL, "/dev/");
	expect_error(HEAD "{\"Name\":\"U\",\"Type\":\"Uart\",\"Id\":1,\"Linux\":{\"Device\":\"/dev/../etc/shadow\"}}" TAIL,
	             "..");
	expect_error(HEAD "{\"Name\":\"I\",\"Type\":\"I2cMaster\",\"Id\":1,\"Simulated\":{\"Targets\":[{\"Address\":200}]}}" TAIL,
	             "Address");
	expect_error(HEAD "{\"Name\":\"I\",\"Type\":\"I2cMaster\",\"Id\":1,\"Simulated\":{\"Targets\":[{\"Address\":1,"
	                  "\"Registers\":\"zz\"}]}}" TAIL,
	             "Registers");
	expect_error(HEAD "{\"Name\":\"A\",\"Type\":\"Adc\",\"Id\":0,\"Simulated\":{\"Bits\":8,\"Channels\":[{\"Channel\":0,"
	                  "\"Value\":256}]}}" TAIL,
	             "Value");
	expect_error(HEAD "{\"Name\":\"S\",\"Type\":\"SpiMaster\",\"Id\":0,\"Linux\":{\"Devices\":[]}}" TAIL, "Devices");
	expect_error(HEAD "{\"Name\":\"G\",\"Type\":\"Gpio\",\"Id\":0,\"Linux\":{\"Chip\":\"../x\",\"Line\":1}}" TAIL, "Chip");

	/* size limit */
	size_t big = BOARD_FILE_MAX + 10;
	char *text = xmalloc(big + 1);
	memset(text, ' ', big);
	text[big] = '\0';
	expect_error(text, "limit");
	free(text);

	/* too many peripherals */
	size_t cap = 64 * 1024;
	char *many = xmalloc(cap);
	size_t len = (size_t)snprintf(many, cap, "%s", HEAD);
	for (int i = 0; i <= BOARD_PERIPHERALS_MAX; i++)
		len += (size_t)snprintf(many + len, cap - len, "%s{\"Name\":\"G%d\",\"Type\":\"Gpio\",\"Id\":%d,\"Simulated\":{}}",
		                        i ? "," : "", i, i);
	snprintf(many + len, cap - len, "%s", TAIL);
	expect_error(many, "more than");
	free(many);
}

static void test_broker_resolves_manifest(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct board *b = parse(HEAD "{\"Name\":\"SAMPLE_LED\",\"Type\":\"Gpio\",\"Id\":8,\"Simulated\":{}}" TAIL, &err);
	assert_non_null(b);
#define M(caps)                                                                                                        \
	"{\"SchemaVersion\":1,\"Name\":\"x\",\"ComponentId\":\"077d9def-fa59-467f-a843-1d35e48470b6\","          \
	"\"EntryPoint\":\"/bin/app\",\"ApplicationType\":\"Default\",\"Capabilities\":" caps "}"
	static const char ok[] = M("{\"Gpio\":[\"$SAMPLE_LED\"]}");
	static const char missing[] = M("{\"Gpio\":[\"$SAMPLE_LED\",\"$NOT_THERE\"]}");
	struct broker_options opts = {.network_ready = 0};
	struct broker_policy *p = broker_policy_from_manifest_json(ok, sizeof(ok) - 1, "m", &err);
	assert_non_null(p);
	struct broker *br = broker_new(b, p, &opts, &err);
	assert_non_null(br);
	broker_free(br);
	broker_policy_free(p);

	p = broker_policy_from_manifest_json(missing, sizeof(missing) - 1, "m", &err);
	assert_non_null(p);
	assert_null(broker_new(b, p, &opts, &err));
	assert_int_equal(err.code, RP_E_NOT_FOUND);
	assert_non_null(strstr(err.message, "$NOT_THERE"));
	broker_policy_free(p);
	board_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_board),
		cmocka_unit_test(test_linux_board),
		cmocka_unit_test(test_hostile_boards),
		cmocka_unit_test(test_board_clock),
		cmocka_unit_test(test_broker_privileges_needed),
		cmocka_unit_test(test_broker_resolves_manifest),
		cmocka_unit_test(test_sample_manifests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
