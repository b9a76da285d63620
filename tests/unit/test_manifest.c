/* Unit tests for the app_manifest.json parser: every field valid and invalid, the canonical
 * form, resource conflicts between apps and mutual app-to-app connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "pkg/manifest.h"

#define CID "1689d8b2-c835-2e27-27ad-e894d6d15fa9"
#define CID2 "e0b0ad7e-9f42-4b8f-a8c5-6c3fd9b2f2a1"
#define CID3 "5b4b3a70-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
#define BASE "\"SchemaVersion\":1,\"Name\":\"app\",\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/bin/app\""
#define WITH(extra) "{" BASE "," extra "}"
#define CAPS(c) WITH("\"Capabilities\":{" c "}")
#define RT_CAPS(c) WITH("\"ApplicationType\":\"RealTimeCapable\",\"Capabilities\":{" c "}")

static struct manifest *parse(const char *json, rp_error *err)
{
	return manifest_parse(json, strlen(json), err);
}

static struct manifest *ok(const char *json)
{
	rp_error err = RP_ERROR_INIT;
	struct manifest *m = parse(json, &err);
	if (!m)
		fail_msg("expected success for %s, got: %s", json, err.message);
	return m;
}

/* The parse fails and the message contains every fragment given. */
static void bad(const char *json, const char *frag1, const char *frag2)
{
	rp_error err = RP_ERROR_INIT;
	struct manifest *m = parse(json, &err);
	if (m) {
		manifest_free(m);
		fail_msg("expected failure for %s", json);
	}
	assert_int_not_equal(err.code, RP_OK);
	if (!strstr(err.message, frag1) || (frag2 && !strstr(err.message, frag2)))
		fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err.message, frag1, frag2 ? frag2 : "");
}

static void minimal_manifest_parses(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m = ok("{" BASE "}");
	assert_int_equal(m->schema_version, 1);
	assert_string_equal(m->name, "app");
	assert_string_equal(m->component_id, CID);
	assert_string_equal(m->entry_point, "/bin/app");
	assert_false(m->realtime);
	assert_int_equal(m->cmd_args_count, 0);
	assert_int_equal(m->caps.mutable_storage_kb, 0);
	assert_string_equal(m->caps.device_auth_tenant, "");
	assert_int_equal(m->caps.power_controls, 0);
}

static void full_manifest_parses_every_capability(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m = ok(WITH(
		"\"CmdArgs\":[\"--verbose\",\"\"],\"ApplicationType\":\"Default\",\"MallocVersion\":1,"
		"\"TargetApplicationRuntimeVersion\":17,\"TargetBetaApis\":\"Beta2004\","
		"\"Capabilities\":{\"AllowedConnections\":[\"Global.Azure-Devices-Provisioning.net\",\"10.0.0.1\","
		"\"2001:DB8::1\",\"*.example.com\"],\"AllowedTcpServerPorts\":[80,8080],\"AllowedUdpServerPorts\":[80],"
		"\"AllowedApplicationConnections\":[\"" CID2 "\"],\"Gpio\":[\"$SAMPLE_LED\",9],\"Uart\":[\"ISU0\"],"
		"\"I2cMaster\":[\"ISU1\"],\"SpiMaster\":[\"ISU2\"],\"Adc\":[\"ADC-CONTROLLER-0\"],"
		"\"Pwm\":[\"PWM-CONTROLLER-0\"],\"MutableStorage\":{\"SizeKB\":64},"
		"\"DeviceAuthentication\":\"" CID3 "\",\"CertStore\":true,\"WifiConfig\":true,"
		"\"EnterpriseWifiConfig\":true,\"NetworkConfig\":false,\"ReadNetworkProxyConfig\":true,"
		"\"HardwareAddressConfig\":true,\"DhcpService\":true,\"SntpService\":true,\"SystemTime\":true,"
		"\"TimeSyncConfig\":true,\"SystemEventNotifications\":true,\"SoftwareUpdateDeferral\":true,"
		"\"HeapMemStats\":true,\"PowerControls\":[\"ForceReboot\",\"SetPowerProfile\"]}"));
	const struct manifest_capabilities *c = &m->caps;
	assert_int_equal(m->cmd_args_count, 2);
	assert_string_equal(m->cmd_args[0], "--verbose");
	assert_null(m->cmd_args[2]);
	assert_int_equal(m->malloc_version, 1);
	assert_int_equal(m->target_runtime_version, 17);
	assert_string_equal(m->target_beta_apis, "Beta2004");
	assert_int_equal(c->allowed_connections_count, 4);
	assert_string_equal(c->allowed_connections[0], "global.azure-devices-provisioning.net");
	assert_string_equal(c->allowed_connections[2], "2001:db8::1");
	assert_string_equal(c->allowed_connections[3], "*.example.com");
	assert_int_equal(c->allowed_tcp_server_ports_count, 2);
	assert_int_equal(c->allowed_tcp_server_ports[1], 8080);
	assert_int_equal(c->allowed_udp_server_ports[0], 80);
	assert_string_equal(c->allowed_application_connections[0], CID2);
	assert_int_equal(c->gpio_count, 2);
	assert_string_equal(c->gpio[0], "$SAMPLE_LED");
	assert_string_equal(c->gpio[1], "9");
	assert_string_equal(c->uart[0], "ISU0");
	assert_string_equal(c->adc[0], "ADC-CONTROLLER-0");
	assert_int_equal(c->mutable_storage_kb, 64);
	assert_string_equal(c->device_auth_tenant, CID3);
	assert_true(c->cert_store && c->wifi_config && c->enterprise_wifi_config && c->read_network_proxy_config);
	assert_true(c->hardware_address_config && c->dhcp_service && c->sntp_service && c->system_time);
	assert_true(c->time_sync_config && c->system_event_notifications && c->software_update_deferral);
	assert_true(c->heap_mem_stats);
	assert_false(c->network_config);
	assert_int_equal(c->power_controls, MANIFEST_POWER_FORCE_REBOOT | MANIFEST_POWER_SET_POWER_PROFILE);
}

static void canonical_json_round_trips(void **state)
{
	(void)state;
	const char *in = WITH("\"CmdArgs\":[\"a\"],\"TargetBetaApis\":\"Beta2004\",\"Capabilities\":{"
	                      "\"AllowedConnections\":[\"EXAMPLE.com\",\"::FFFF:10.0.0.1\"],\"Gpio\":[\"GPIO9\",\"12\",3],"
	                      "\"PowerControls\":[\"SetPowerProfile\",\"ForceReboot\"],\"MutableStorage\":{\"SizeKB\":8},"
	                      "\"DeviceAuthentication\":\"" "5B4B3A70-1A2B-4C3D-8E9F-0A1B2C3D4E5F" "\","
	                      "\"AllowedUdpServerPorts\":[5353],\"CertStore\":false}");
	_cleanup_(manifest_freep) struct manifest *m = ok(in);
	_cleanup_json_ json_t *j = manifest_to_json(m);
	_cleanup_free_ char *s1 = rp_json_dump(j);
	assert_non_null(strstr(s1, "\"Gpio\":[\"GPIO9\",12,3]"));
	assert_non_null(strstr(s1, "\"example.com\",\"::ffff:10.0.0.1\""));
	assert_non_null(strstr(s1, "\"DeviceAuthentication\":\"5b4b3a70-1a2b-4c3d-8e9f-0a1b2c3d4e5f\""));
	assert_non_null(strstr(s1, "\"PowerControls\":[\"ForceReboot\",\"SetPowerProfile\"]"));
	assert_null(strstr(s1, "CertStore")); /* only what is granted */
	assert_non_null(strstr(s1, "\"ApplicationType\":\"Default\""));
	_cleanup_(manifest_freep) struct manifest *m2 = ok(s1);
	_cleanup_json_ json_t *j2 = manifest_to_json(m2);
	_cleanup_free_ char *s2 = rp_json_dump(j2);
	assert_string_equal(s1, s2);
}

static void not_json_or_not_object(void **state)
{
	(void)state;
	bad("{\"SchemaVersion\":1,", "not valid JSON", NULL);
	bad("[1,2]", "must be a JSON object", NULL);
	bad("", "not valid JSON", NULL);
}

static void duplicate_keys_are_refused(void **state)
{
	(void)state;
	bad("{" BASE ",\"Name\":\"other\"}", "not valid JSON", "duplicate");
	bad(CAPS("\"Gpio\":[1],\"Gpio\":[2]"), "duplicate", NULL);
}

static void document_size_limit(void **state)
{
	(void)state;
	size_t n = MANIFEST_MAX_BYTES + 100;
	_cleanup_free_ char *big = xmalloc(n + 1);
	memset(big, ' ', n);
	memcpy(big, "{" BASE "}", strlen("{" BASE "}"));
	big[n] = '\0';
	rp_error err = RP_ERROR_INIT;
	assert_null(manifest_parse(big, n, &err));
	assert_int_equal(err.code, RP_E_LIMIT);
	assert_non_null(strstr(err.message, "over the limit"));
}

static void unknown_fields_get_suggestions(void **state)
{
	(void)state;
	bad(WITH("\"Nmae\":\"x\""), "unknown field \"Nmae\"", "did you mean \"Name\"?");
	bad(WITH("\"FutureField\":true"), "unknown field \"FutureField\"", NULL);
	bad(CAPS("\"Gpios\":[1]"), "Capabilities: unknown capability \"Gpios\"", "(did you mean \"Gpio\"?)");
	bad(CAPS("\"allowedconnections\":[]"), "did you mean \"AllowedConnections\"?", NULL);
	bad(CAPS("\"Teleport\":true"), "unknown capability \"Teleport\"", NULL);
}

static void unknown_key_is_escaped_in_error(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	assert_null(parse(CAPS("\"\\u001b[31mEvil\":true"), &err));
	assert_null(strchr(err.message, 0x1b));
	assert_non_null(strstr(err.message, "\\x1b[31mEvil"));
}

static void schema_version(void **state)
{
	(void)state;
	bad("{\"Name\":\"a\",\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/bin/app\"}",
	    "missing required field \"SchemaVersion\"", NULL);
	bad("{\"SchemaVersion\":2,\"Name\":\"a\",\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/a\"}",
	    "SchemaVersion: 2 is not supported", NULL);
	bad("{\"SchemaVersion\":\"1\",\"Name\":\"a\",\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/a\"}",
	    "SchemaVersion: must be an integer, not string", NULL);
	bad("{\"SchemaVersion\":1.0,\"Name\":\"a\",\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/a\"}",
	    "must be an integer, not number", NULL);
}

static void name_rules(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m =
		ok("{\"SchemaVersion\":1,\"Name\":\"abcdefghijklmnopqrstuvwxyz01234\",\"ComponentId\":\"" CID
		   "\",\"EntryPoint\":\"/bin/app\"}");
	assert_int_equal(strlen(m->name), 31);
	bad("{\"SchemaVersion\":1,\"Name\":\"abcdefghijklmnopqrstuvwxyz0123456789abcd\",\"ComponentId\":\"" CID
	    "\",\"EntryPoint\":\"/bin/app\"}",
	    "Name: 40 characters, the limit is 31", NULL);
	bad("{\"SchemaVersion\":1,\"Name\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
	    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\",\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/a\"}",
	    "Name: 32 bytes of UTF-8 (16 characters)", NULL);
	bad("{\"SchemaVersion\":1,\"Name\":\"\",\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/a\"}", "Name: must not be empty",
	    NULL);
	bad("{\"SchemaVersion\":1,\"Name\":\"a\\nb\",\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/a\"}",
	    "control character 0x0a", NULL);
	bad("{\"SchemaVersion\":1,\"Name\":7,\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/a\"}",
	    "Name: must be a string, not integer", NULL);
	bad("{\"SchemaVersion\":1,\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/a\"}", "missing required field \"Name\"",
	    NULL);
}

static void nul_in_string_is_refused(void **state)
{
	(void)state;
	bad("{\"SchemaVersion\":1,\"Name\":\"a\\u0000b\",\"ComponentId\":\"" CID "\",\"EntryPoint\":\"/a\"}", "JSON",
	    NULL);
}

static void component_id_rules(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m = ok(
		"{\"SchemaVersion\":1,\"Name\":\"a\",\"ComponentId\":\"1689D8B2-C835-2E27-27AD-E894D6D15FA9\","
		"\"EntryPoint\":\"/a\"}");
	assert_string_equal(m->component_id, CID);
	bad("{\"SchemaVersion\":1,\"Name\":\"a\",\"ComponentId\":\"xyz\",\"EntryPoint\":\"/a\"}",
	    "ComponentId: \"xyz\" is not a GUID (expected 8-4-4-4-12 hex digits)", NULL);
	bad("{\"SchemaVersion\":1,\"Name\":\"a\",\"ComponentId\":\"{1689d8b2-c835-2e27-27ad-e894d6d15fa9}\","
	    "\"EntryPoint\":\"/a\"}",
	    "is not a GUID", NULL);
	bad("{\"SchemaVersion\":1,\"Name\":\"a\",\"ComponentId\":\"00000000-0000-0000-0000-000000000000\","
	    "\"EntryPoint\":\"/a\"}",
	    "ComponentId: the nil GUID", NULL);
	bad("{\"SchemaVersion\":1,\"Name\":\"a\",\"ComponentId\":12,\"EntryPoint\":\"/a\"}",
	    "ComponentId: must be a string", NULL);
	bad("{\"SchemaVersion\":1,\"Name\":\"a\",\"EntryPoint\":\"/a\"}", "missing required field \"ComponentId\"", NULL);
}

#define EP(p) "{\"SchemaVersion\":1,\"Name\":\"a\",\"ComponentId\":\"" CID "\",\"EntryPoint\":\"" p "\"}"

static void entry_point_rules(void **state)
{
	(void)state;
	manifest_free(ok(EP("/bin/app")));
	manifest_free(ok(EP("/bin/my-app_v2.1+x")));
	bad(EP("bin/app"), "EntryPoint: \"bin/app\" must be an absolute path", NULL);
	bad(EP("/"), "must be an absolute path", NULL);
	bad(EP(""), "must be an absolute path", NULL);
	bad(EP("/bin/../etc/passwd"), "a \".\" or \"..\" component", NULL);
	bad(EP("/bin/./app"), "a \".\" or \"..\" component", NULL);
	bad(EP("/.."), "a \".\" or \"..\" component", NULL);
	bad(EP("/bin//app"), "contains \"//\"", NULL);
	bad(EP("/bin/"), "ends with '/'", NULL);
	bad(EP("/bin/a pp"), "character 0x20 at offset 6", NULL);
	bad(EP("/bin/\\u00e9"), "character 0xc3", NULL);
	bad("{\"SchemaVersion\":1,\"Name\":\"a\",\"ComponentId\":\"" CID "\"}", "missing required field \"EntryPoint\"",
	    NULL);
	char long_ep[300] = "/";
	memset(long_ep + 1, 'a', 256);
	long_ep[257] = '\0';
	_cleanup_free_ char *json = xasprintf("{" "\"SchemaVersion\":1,\"Name\":\"a\",\"ComponentId\":\"" CID
	                                      "\",\"EntryPoint\":\"%s\"}", long_ep);
	bad(json, "EntryPoint: 257 bytes, the limit is 255", NULL);
}

static void cmd_args_rules(void **state)
{
	(void)state;
	bad(WITH("\"CmdArgs\":\"-v\""), "CmdArgs: must be an array, not string", NULL);
	bad(WITH("\"CmdArgs\":[\"-v\",3]"), "CmdArgs[1]: must be a string, not integer", NULL);
	/* 65 entries */
	char buf[1024] = "{" BASE ",\"CmdArgs\":[";
	for (int i = 0; i < 65; i++)
		strncat(buf, i ? ",\"x\"" : "\"x\"", sizeof(buf) - strlen(buf) - 1);
	strncat(buf, "]}", sizeof(buf) - strlen(buf) - 1);
	bad(buf, "CmdArgs: 65 entries, the limit is 64", NULL);
	_cleanup_free_ char *longarg = xmalloc(MANIFEST_CMD_ARG_MAX + 2);
	memset(longarg, 'a', MANIFEST_CMD_ARG_MAX + 1);
	longarg[MANIFEST_CMD_ARG_MAX + 1] = '\0';
	_cleanup_free_ char *json = xasprintf("{" BASE ",\"CmdArgs\":[\"%s\"]}", longarg);
	bad(json, "CmdArgs[0]: 1025 bytes, the limit is 1024", NULL);
	/* Nine 1000-byte arguments pass each limit but not the total. */
	longarg[1000] = '\0';
	_cleanup_free_ char *json2 = xasprintf("{" BASE ",\"CmdArgs\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\",\"%s\",\"%s\","
	                                       "\"%s\",\"%s\"]}",
	                                       longarg, longarg, longarg, longarg, longarg, longarg, longarg, longarg,
	                                       longarg);
	bad(json2, "CmdArgs: more than 8192 bytes in all", NULL);
}

static void application_type_rules(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m = ok(WITH("\"ApplicationType\":\"RealTimeCapable\""));
	assert_true(m->realtime);
	bad(WITH("\"ApplicationType\":\"Realtime\""), "ApplicationType: unknown application type \"Realtime\"", NULL);
	bad(WITH("\"ApplicationType\":\"Defualt\""), "did you mean \"Default\"?", NULL);
	bad(WITH("\"ApplicationType\":\"Debugger\""), "not supported", NULL);
	bad(WITH("\"ApplicationType\":true"), "ApplicationType: must be a string, not boolean", NULL);
}

static void version_fields(void **state)
{
	(void)state;
	bad(WITH("\"MallocVersion\":2"), "MallocVersion: 2 is out of range (allowed 1 to 1)", NULL);
	bad(WITH("\"MallocVersion\":\"1\""), "MallocVersion: must be an integer", NULL);
	bad(WITH("\"TargetApplicationRuntimeVersion\":0"), "TargetApplicationRuntimeVersion: 0 is out of range", NULL);
	bad(WITH("\"TargetApplicationRuntimeVersion\":99999999999999"), "out of range", NULL);
	bad(WITH("\"TargetBetaApis\":\"\""), "TargetBetaApis: \"\" must be 1 to 32", NULL);
	bad(WITH("\"TargetBetaApis\":\"Beta 2004\""), "TargetBetaApis", NULL);
	bad(WITH("\"TargetBetaApis\":true"), "TargetBetaApis: must be a string", NULL);
}

static void capabilities_must_be_object(void **state)
{
	(void)state;
	bad(WITH("\"Capabilities\":[]"), "Capabilities: must be an object, not array", NULL);
	_cleanup_(manifest_freep) struct manifest *m = ok(CAPS(""));
	assert_int_equal(m->caps.gpio_count, 0);
}

static void host_names_valid(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m = ok(CAPS(
		"\"AllowedConnections\":[\"localhost\",\"a-b.c0.example\",\"1.2.3.4\",\"::1\",\"*.Azure-Devices.net\","
		"\"xn--bcher-kva.example\"]"));
	assert_int_equal(m->caps.allowed_connections_count, 6);
	assert_string_equal(m->caps.allowed_connections[4], "*.azure-devices.net");
}

static void host_names_invalid(void **state)
{
	(void)state;
	bad(CAPS("\"AllowedConnections\":[\"\"]"), "Capabilities.AllowedConnections[0]: empty host name", NULL);
	bad(CAPS("\"AllowedConnections\":[\"https://example.com\"]"), "is a URL or path", NULL);
	bad(CAPS("\"AllowedConnections\":[\"example.com/path\"]"), "is a URL or path", NULL);
	bad(CAPS("\"AllowedConnections\":[\"example.com:443\"]"), "has a port", NULL);
	bad(CAPS("\"AllowedConnections\":[\"1.2.3.4:443\"]"), "has a port", NULL);
	bad(CAPS("\"AllowedConnections\":[\"[::1]\"]"), "without brackets", NULL);
	bad(CAPS("\"AllowedConnections\":[\"-bad.example\"]"), "starting or ending with '-'", NULL);
	bad(CAPS("\"AllowedConnections\":[\"bad-.example\"]"), "starting or ending with '-'", NULL);
	bad(CAPS("\"AllowedConnections\":[\"under_score.example\"]"), "RFC 1123", NULL);
	bad(CAPS("\"AllowedConnections\":[\"a..b\"]"), "empty label", NULL);
	bad(CAPS("\"AllowedConnections\":[\"example.com.\"]"), "ends with '.'", NULL);
	bad(CAPS("\"AllowedConnections\":[\"a b.com\"]"), "RFC 1123", NULL);
	bad(CAPS("\"AllowedConnections\":[\"host.123\"]"), "last label is all digits", NULL);
	bad(CAPS("\"AllowedConnections\":[\"256.1.1.1\"]"), "not a valid IPv4 address", NULL);
	bad(CAPS("\"AllowedConnections\":[\"01.2.3.4\"]"), "not a valid IPv4 address", NULL);
	bad(CAPS("\"AllowedConnections\":[\"1.2.3\"]"), "not a valid IPv4 address", NULL);
	bad(CAPS("\"AllowedConnections\":[\"0.0.0.0\"]"), "unspecified address", NULL);
	bad(CAPS("\"AllowedConnections\":[\"::\"]"), "unspecified address", NULL);
	bad(CAPS("\"AllowedConnections\":[\"fe80::1%eth0\"]"), "not a valid IPv6 address", NULL);
	bad(CAPS("\"AllowedConnections\":[\"1:2:3\"]"), "not a valid IPv6 address", NULL);
	bad(CAPS("\"AllowedConnections\":[7]"), "Capabilities.AllowedConnections[0]: must be a string, not integer",
	    NULL);
	bad(CAPS("\"AllowedConnections\":\"example.com\""), "Capabilities.AllowedConnections: must be an array", NULL);
	char label[80];
	memset(label, 'a', 64);
	label[64] = '\0';
	_cleanup_free_ char *json = xasprintf(CAPS("\"AllowedConnections\":[\"%s.com\"]"), label);
	bad(json, "label longer than 63", NULL);
	_cleanup_free_ char *longhost = xmalloc(300);
	memset(longhost, 'a', 299);
	for (int i = 50; i < 299; i += 50)
		longhost[i] = '.';
	longhost[299] = '\0';
	_cleanup_free_ char *json2 = xasprintf(CAPS("\"AllowedConnections\":[\"%s\"]"), longhost);
	bad(json2, "host name of 299 bytes, the limit is 253", NULL);
}

static void host_wildcards(void **state)
{
	(void)state;
	bad(CAPS("\"AllowedConnections\":[\"*\"]"), "wildcard is allowed only", NULL);
	bad(CAPS("\"AllowedConnections\":[\"*.com\"]"), "wildcard is allowed only", NULL);
	bad(CAPS("\"AllowedConnections\":[\"a*.example.com\"]"), "wildcard is allowed only", NULL);
	bad(CAPS("\"AllowedConnections\":[\"x.*.example.com\"]"), "wildcard is allowed only", NULL);
	bad(CAPS("\"AllowedConnections\":[\"*.*.example.com\"]"), "wildcard is allowed only", NULL);
	bad(CAPS("\"AllowedConnections\":[\"*.1.2.3\"]"), "last label is all digits", NULL);
}

static void host_duplicates_after_normalisation(void **state)
{
	(void)state;
	bad(CAPS("\"AllowedConnections\":[\"a.example\",\"b.example\",\"A.Example\"]"),
	    "Capabilities.AllowedConnections[2]: duplicate host \"a.example\" (same as [0])", NULL);
	bad(CAPS("\"AllowedConnections\":[\"2001:db8::1\",\"2001:DB8:0::1\"]"), "duplicate host", NULL);
}

static void ports_rules(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m =
		ok(CAPS("\"AllowedTcpServerPorts\":[1,65535],\"AllowedUdpServerPorts\":[1]"));
	assert_int_equal(m->caps.allowed_tcp_server_ports[1], 65535);
	bad(CAPS("\"AllowedTcpServerPorts\":[0]"), "Capabilities.AllowedTcpServerPorts[0]: 0 is out of range", NULL);
	bad(CAPS("\"AllowedUdpServerPorts\":[65536]"), "Capabilities.AllowedUdpServerPorts[0]: 65536 is out of range",
	    NULL);
	bad(CAPS("\"AllowedTcpServerPorts\":[-1]"), "out of range", NULL);
	bad(CAPS("\"AllowedTcpServerPorts\":[\"80\"]"), "must be an integer, not string", NULL);
	bad(CAPS("\"AllowedTcpServerPorts\":[80.5]"), "must be an integer, not number", NULL);
	bad(CAPS("\"AllowedTcpServerPorts\":[80,443,80]"),
	    "Capabilities.AllowedTcpServerPorts[2]: duplicate port 80 (same as [0])", NULL);
	bad(CAPS("\"AllowedTcpServerPorts\":80"), "must be an array", NULL);
}

static void app_connection_ids(void **state)
{
	(void)state;
	bad(CAPS("\"AllowedApplicationConnections\":[\"nope\"]"),
	    "Capabilities.AllowedApplicationConnections[0]: \"nope\" is not a GUID", NULL);
	bad(CAPS("\"AllowedApplicationConnections\":[\"" CID2 "\",\"E0B0AD7E-9F42-4B8F-A8C5-6C3FD9B2F2A1\"]"),
	    "duplicate component ID", NULL);
	bad(CAPS("\"AllowedApplicationConnections\":[\"" CID "\"]"), "the app's own ComponentId", NULL);
}

static void peripherals_valid(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m =
		ok(CAPS("\"Gpio\":[\"$MT3620_RDB_LED1_RED\",\"GPIO9\",0,65535,\"17\"],\"Uart\":[],\"Pwm\":[\"$_X\"]"));
	assert_int_equal(m->caps.gpio_count, 5);
	assert_string_equal(m->caps.gpio[2], "0");
	assert_string_equal(m->caps.gpio[3], "65535");
	assert_string_equal(m->caps.gpio[4], "17");
	assert_int_equal(m->caps.uart_count, 0);
}

static void peripherals_invalid(void **state)
{
	(void)state;
	bad(CAPS("\"Gpio\":[\"GPIO 9\"]"), "Capabilities.Gpio[0]: \"GPIO 9\" is not a peripheral name", NULL);
	bad(CAPS("\"Uart\":[\"\"]"), "Capabilities.Uart[0]: empty peripheral name", NULL);
	bad(CAPS("\"Gpio\":[65536]"), "Capabilities.Gpio[0]: 65536 is out of range", NULL);
	bad(CAPS("\"Gpio\":[-1]"), "out of range", NULL);
	bad(CAPS("\"Gpio\":[\"007\"]"), "no leading zeros", NULL);
	bad(CAPS("\"Gpio\":[\"99999\"]"), "is not a peripheral number", NULL);
	bad(CAPS("\"Gpio\":[\"$\"]"), "is not a peripheral name", NULL);
	bad(CAPS("\"Gpio\":[\"$9LED\"]"), "is not a peripheral name", NULL);
	bad(CAPS("\"Adc\":[\"$LED-1\"]"), "is not a peripheral name", NULL);
	bad(CAPS("\"I2cMaster\":[true]"), "Capabilities.I2cMaster[0]: must be a peripheral name or number, not boolean",
	    NULL);
	bad(CAPS("\"SpiMaster\":[1.5]"), "not number", NULL);
	bad(CAPS("\"Pwm\":{}"), "Capabilities.Pwm: must be an array, not object", NULL);
	bad(CAPS("\"Gpio\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]"),
	    "peripheral name of 65 bytes, the limit is 64", NULL);
}

static void peripheral_duplicates(void **state)
{
	(void)state;
	bad(CAPS("\"Gpio\":[1,\"$LED\",\"GPIO9\"," "\"GPIO9\"]"), "Capabilities.Gpio[3]: duplicate resource \"GPIO9\"",
	    NULL);
	bad(CAPS("\"Gpio\":[9,\"GPIO9\"]"), "Capabilities.Gpio[1]: duplicate resource \"GPIO9\" (same as [0])", NULL);
	bad(CAPS("\"Gpio\":[9,\"9\"]"), "duplicate resource", NULL);
	bad(CAPS("\"Uart\":[\"ISU0\",\"isu0\"]"), "duplicate resource", NULL);
	/* Only Gpio treats "GPIO9" as pin 9. */
	manifest_free(ok(CAPS("\"Pwm\":[9,\"GPIO9\"]")));
}

static void list_length_limit(void **state)
{
	(void)state;
	size_t cap = 16 * (MANIFEST_LIST_MAX + 2);
	_cleanup_free_ char *json = xmalloc(cap);
	snprintf(json, cap, "%s", "{" BASE ",\"Capabilities\":{\"Gpio\":[");
	for (int i = 0; i <= MANIFEST_LIST_MAX; i++) {
		size_t used = strlen(json);
		snprintf(json + used, cap - used, "%s%d", i ? "," : "", i);
	}
	size_t used = strlen(json);
	snprintf(json + used, cap - used, "]}}");
	bad(json, "Capabilities.Gpio: 257 entries, the limit is 256", NULL);
}

static void mutable_storage_rules(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m = ok(CAPS("\"MutableStorage\":{\"SizeKB\":65536}"));
	assert_int_equal(m->caps.mutable_storage_kb, 65536);
	bad(CAPS("\"MutableStorage\":{\"SizeKB\":0}"), "Capabilities.MutableStorage.SizeKB: 0 is out of range", NULL);
	bad(CAPS("\"MutableStorage\":{\"SizeKB\":65537}"), "65537 is out of range (allowed 1 to 65536)", NULL);
	bad(CAPS("\"MutableStorage\":{}"), "Capabilities.MutableStorage: missing required field \"SizeKB\"", NULL);
	bad(CAPS("\"MutableStorage\":{\"SizeKb\":8}"), "unknown field \"SizeKb\" (did you mean \"SizeKB\"?)", NULL);
	bad(CAPS("\"MutableStorage\":{\"SizeKB\":8,\"Path\":\"/x\"}"), "unknown field \"Path\"", NULL);
	bad(CAPS("\"MutableStorage\":64"), "must be an object like", NULL);
	bad(CAPS("\"MutableStorage\":{\"SizeKB\":\"64\"}"), "must be an integer, not string", NULL);
}

static void device_authentication_rules(void **state)
{
	(void)state;
	bad(CAPS("\"DeviceAuthentication\":\"tenant\""), "Capabilities.DeviceAuthentication: \"tenant\" is not a GUID",
	    NULL);
	bad(CAPS("\"DeviceAuthentication\":true"), "Capabilities.DeviceAuthentication: must be a string", NULL);
	bad(CAPS("\"DeviceAuthentication\":\"00000000-0000-0000-0000-000000000000\""), "nil GUID", NULL);
}

static void bool_capabilities_type_checked(void **state)
{
	(void)state;
	static const char *const names[] = {
		"CertStore", "WifiConfig", "EnterpriseWifiConfig", "NetworkConfig", "ReadNetworkProxyConfig",
		"HardwareAddressConfig", "DhcpService", "SntpService", "SystemTime", "TimeSyncConfig",
		"SystemEventNotifications", "SoftwareUpdateDeferral", "HeapMemStats",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		_cleanup_free_ char *json = xasprintf(CAPS("\"%s\":1"), names[i]);
		_cleanup_free_ char *want = xasprintf("Capabilities.%s: must be true or false, not integer", names[i]);
		bad(json, want, NULL);
		_cleanup_free_ char *good = xasprintf(CAPS("\"%s\":true"), names[i]);
		manifest_free(ok(good));
	}
}

static void power_controls_rules(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m =
		ok(CAPS("\"PowerControls\":[\"ForceReboot\",\"ForcePowerDown\",\"SetPowerProfile\"]"));
	assert_int_equal(m->caps.power_controls, 7);
	assert_string_equal(manifest_power_control_name(MANIFEST_POWER_FORCE_POWER_DOWN), "ForcePowerDown");
	assert_null(manifest_power_control_name(8));
	bad(CAPS("\"PowerControls\":[\"Reboot\"]"), "Capabilities.PowerControls[0]: unknown power control \"Reboot\"",
	    NULL);
	bad(CAPS("\"PowerControls\":[\"ForceRebot\"]"), "did you mean \"ForceReboot\"?", NULL);
	bad(CAPS("\"PowerControls\":[\"ForceReboot\",\"ForceReboot\"]"), "PowerControls[1]: duplicate power control",
	    NULL);
	bad(CAPS("\"PowerControls\":true"), "must be an array", NULL);
}

static void realtime_capability_rules(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *m = ok(
		RT_CAPS("\"Gpio\":[8,12],\"Uart\":[\"ISU0\"],\"ExternalInterrupt\":[\"EINT8\"],"
		        "\"AllowedApplicationConnections\":[\"" CID2 "\"]"));
	assert_true(m->realtime);
	assert_string_equal(m->caps.external_interrupt[0], "EINT8");
	bad(RT_CAPS("\"AllowedConnections\":[\"example.com\"]"),
	    "Capabilities.AllowedConnections: not available to a RealTimeCapable application", NULL);
	bad(RT_CAPS("\"MutableStorage\":{\"SizeKB\":1}"), "not available to a RealTimeCapable", NULL);
	bad(RT_CAPS("\"CertStore\":true"), "not available to a RealTimeCapable", NULL);
	bad(CAPS("\"ExternalInterrupt\":[\"EINT8\"]"), "Capabilities.ExternalInterrupt: only a RealTimeCapable", NULL);
}

static struct manifest *app(const char *cid, const char *name, const char *caps)
{
	_cleanup_free_ char *json = xasprintf("{\"SchemaVersion\":1,\"Name\":\"%s\",\"ComponentId\":\"%s\","
	                                      "\"EntryPoint\":\"/bin/app\",\"Capabilities\":{%s}}",
	                                      name, cid, caps);
	return ok(json);
}

static void conflicts_on_peripherals(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *a = app(CID, "blink", "\"Gpio\":[\"GPIO9\",10],\"Uart\":[\"ISU0\"]");
	_cleanup_(manifest_freep) struct manifest *b = app(CID2, "other", "\"Gpio\":[11,9]");
	_cleanup_(manifest_freep) struct manifest *c = app(CID3, "third", "\"Uart\":[\"isu0\"],\"Gpio\":[12]");
	_cleanup_(manifest_freep) struct manifest *d = app(CID3, "fourth", "\"Pwm\":[9],\"Gpio\":[13]");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(manifest_check_conflicts(a, b, &err), -1);
	assert_int_equal(err.code, RP_E_CONFLICT);
	assert_non_null(strstr(err.message, "Capabilities.Gpio: resource \"GPIO9\" (as \"9\") is claimed by both"));
	assert_non_null(strstr(err.message, CID));
	assert_non_null(strstr(err.message, CID2));
	rp_error_clear(&err);
	assert_int_equal(manifest_check_conflicts(a, c, &err), -1);
	assert_non_null(strstr(err.message, "Capabilities.Uart"));
	assert_int_equal(manifest_check_conflicts(a, d, &err), 0); /* Pwm 9 is not Gpio 9 */
	assert_int_equal(manifest_check_conflicts(b, d, &err), 0);
	/* A new version of the same component takes over its own claims. */
	assert_int_equal(manifest_check_conflicts(a, a, &err), 0);
}

static void conflicts_on_ports(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *a = app(CID, "web", "\"AllowedTcpServerPorts\":[80,443]");
	_cleanup_(manifest_freep) struct manifest *b = app(CID2, "web2", "\"AllowedTcpServerPorts\":[8080,443]");
	_cleanup_(manifest_freep) struct manifest *c = app(CID3, "dns", "\"AllowedUdpServerPorts\":[443]");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(manifest_check_conflicts(a, b, &err), -1);
	assert_non_null(strstr(err.message, "Capabilities.AllowedTcpServerPorts: port 443 is claimed by both"));
	assert_non_null(strstr(err.message, "(\"web\")"));
	assert_int_equal(manifest_check_conflicts(a, c, &err), 0); /* TCP 443 and UDP 443 are different */
	_cleanup_(manifest_freep) struct manifest *d = app(CID2, "dns2", "\"AllowedUdpServerPorts\":[443]");
	assert_int_equal(manifest_check_conflicts(c, d, &err), -1);
	assert_non_null(strstr(err.message, "AllowedUdpServerPorts: port 443"));
}

static void app_connections_need_both_sides(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *a = app(CID, "a", "\"AllowedApplicationConnections\":[\"" CID2 "\"]");
	_cleanup_(manifest_freep) struct manifest *b = app(CID2, "b", "\"AllowedApplicationConnections\":[\"" CID "\"]");
	_cleanup_(manifest_freep) struct manifest *c = app(CID3, "c", "\"AllowedApplicationConnections\":[\"" CID "\"]");
	assert_true(manifest_allows_app_connection(a, b));
	assert_true(manifest_allows_app_connection(b, a));
	assert_false(manifest_allows_app_connection(c, a)); /* a does not list c */
	assert_false(manifest_allows_app_connection(a, c));
	assert_false(manifest_allows_app_connection(a, a));
	assert_false(manifest_allows_app_connection(NULL, a));
}

static void error_values_are_truncated(void **state)
{
	(void)state;
	char longname[200];
	memset(longname, 'x', 150);
	longname[150] = '\0';
	_cleanup_free_ char *json = xasprintf(CAPS("\"AllowedConnections\":[\"%s!\"]"), longname);
	rp_error err = RP_ERROR_INIT;
	assert_null(parse(json, &err));
	assert_true(strlen(err.message) < 400);
	assert_non_null(strstr(err.message, "xxxx\"..."));
}

static void null_input_is_an_error(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	assert_null(manifest_parse(NULL, 0, &err));
	assert_int_equal(err.code, RP_E_INVALID);
	manifest_free(NULL);
}

/* Every sample parses. */
static void samples_parse(void **state)
{
	(void)state;
	static const char *const good[] = {"hello", "blink", "mutable-storage", "device-auth"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		_cleanup_free_ char *path = xasprintf("%s/samples/manifests/%s/app_manifest.json", SOURCE_ROOT, good[i]);
		_cleanup_free_ uint8_t *data = NULL;
		size_t len = 0;
		rp_error err = RP_ERROR_INIT;
		if (rp_read_file(path, MANIFEST_MAX_BYTES, &data, &len, &err) < 0)
			fail_msg("%s", err.message);
		struct manifest *m = manifest_parse((const char *)data, len, &err);
		if (!m)
			fail_msg("%s: %s", path, err.message);
		manifest_free(m);
	}
}

/* Every "valid-" seed of the fuzz corpus parses; every "invalid-" seed is refused. */
static void corpus_seeds_are_labelled_right(void **state)
{
	(void)state;
	_cleanup_free_ char *dir = xasprintf("%s/tests/fuzz/corpus/manifest", SOURCE_ROOT);
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	int valid = 0, invalid = 0;
	while ((de = readdir(d))) {
		bool want_ok = strncmp(de->d_name, "valid-", 6) == 0;
		if (!want_ok && strncmp(de->d_name, "invalid-", 8) != 0)
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
		_cleanup_free_ uint8_t *data = NULL;
		size_t len = 0;
		rp_error err = RP_ERROR_INIT;
		if (rp_read_file(path, 1024 * 1024, &data, &len, &err) < 0)
			fail_msg("%s", err.message);
		struct manifest *m = manifest_parse((const char *)data, len, &err);
		if (want_ok && !m)
			fail_msg("%s: %s", de->d_name, err.message);
		if (!want_ok && m)
			fail_msg("%s was accepted", de->d_name);
		manifest_free(m);
		want_ok ? valid++ : invalid++;
	}
	closedir(d);
	assert_true(valid >= 10);
	assert_true(invalid >= 30);
}

/* $NAME constants are compared by name only, case-insensitively. */
static void conflicts_on_named_peripherals(void **state)
{
	(void)state;
	_cleanup_(manifest_freep) struct manifest *a = app(CID, "a", "\"Gpio\":[\"$SAMPLE_LED\"]");
	_cleanup_(manifest_freep) struct manifest *b = app(CID2, "b", "\"Gpio\":[\"$sample_led\"]");
	_cleanup_(manifest_freep) struct manifest *c = app(CID3, "c", "\"Gpio\":[\"$OTHER_LED\"]");
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(manifest_check_conflicts(a, b, &err), -1);
	assert_non_null(strstr(err.message, "\"$SAMPLE_LED\" (as \"$sample_led\")"));
	assert_int_equal(manifest_check_conflicts(a, c, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(minimal_manifest_parses),
		cmocka_unit_test(full_manifest_parses_every_capability),
		cmocka_unit_test(canonical_json_round_trips),
		cmocka_unit_test(not_json_or_not_object),
		cmocka_unit_test(duplicate_keys_are_refused),
		cmocka_unit_test(document_size_limit),
		cmocka_unit_test(unknown_fields_get_suggestions),
		cmocka_unit_test(unknown_key_is_escaped_in_error),
		cmocka_unit_test(schema_version),
		cmocka_unit_test(name_rules),
		cmocka_unit_test(nul_in_string_is_refused),
		cmocka_unit_test(component_id_rules),
		cmocka_unit_test(entry_point_rules),
		cmocka_unit_test(cmd_args_rules),
		cmocka_unit_test(application_type_rules),
		cmocka_unit_test(version_fields),
		cmocka_unit_test(capabilities_must_be_object),
		cmocka_unit_test(host_names_valid),
		cmocka_unit_test(host_names_invalid),
		cmocka_unit_test(host_wildcards),
		cmocka_unit_test(host_duplicates_after_normalisation),
		cmocka_unit_test(ports_rules),
		cmocka_unit_test(app_connection_ids),
		cmocka_unit_test(peripherals_valid),
		cmocka_unit_test(peripherals_invalid),
		cmocka_unit_test(peripheral_duplicates),
		cmocka_unit_test(list_length_limit),
		cmocka_unit_test(mutable_storage_rules),
		cmocka_unit_test(device_authentication_rules),
		cmocka_unit_test(bool_capabilities_type_checked),
		cmocka_unit_test(power_controls_rules),
		cmocka_unit_test(realtime_capability_rules),
		cmocka_unit_test(conflicts_on_peripherals),
		cmocka_unit_test(conflicts_on_ports),
		cmocka_unit_test(app_connections_need_both_sides),
		cmocka_unit_test(error_values_are_truncated),
		cmocka_unit_test(null_input_is_an_error),
		cmocka_unit_test(samples_parse),
		cmocka_unit_test(corpus_seeds_are_labelled_right),
		cmocka_unit_test(conflicts_on_named_peripherals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
