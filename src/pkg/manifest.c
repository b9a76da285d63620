/* app_manifest.json (schema version 1): strict parsing and validation of a hostile document,
 * its canonical JSON form, and the install-time ownership checks between two apps. */
#include "pkg/manifest.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/macros.h"
#include "common/xalloc.h"

/* ---- Error-message helpers --------------------------------------------------------------- */

/* Quote untrusted text for an error message: at most 64 bytes, control and non-ASCII bytes
 * escaped, so a hostile manifest cannot write escape sequences into a terminal or a log. */
#define QUOTE_BUF 300
static const char *quote(char buf[QUOTE_BUF], const char *s)
{
	size_t o = 0, i = 0;
	buf[o++] = '"';
	for (; s[i] && i < 64; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(buf + o, QUOTE_BUF - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	if (s[i]) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* Levenshtein distance, case-insensitive, for "did you mean" hints; long inputs get no hint. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return SIZE_MAX;
	size_t prev[41], cur[41];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			size_t best = prev[j - 1] + cost;
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			cur[j] = best;
		}
		memcpy(prev, cur, sizeof(prev));
	}
	return prev[lb];
}

static const char *suggest(const char *word, const char *const *known)
{
	const char *best = NULL;
	size_t best_d = 3; /* at most two edits away */
	for (size_t i = 0; known[i]; i++) {
		size_t d = edit_distance(word, known[i]);
		if (d < best_d) {
			best_d = d;
			best = known[i];
		}
	}
	return best;
}

static int unknown_name(rp_error *err, const char *path, const char *what, const char *word,
                        const char *const *known)
{
	char q[QUOTE_BUF];
	const char *hint = suggest(word, known);
	return rp_error_set(err, RP_E_INVALID, "%s%sunknown %s %s%s%s%s", path, *path ? ": " : "", what,
	                    quote(q, word), hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");
}

static int wrong_type(rp_error *err, const char *path, const char *expected, const json_t *v)
{
	return rp_error_set(err, RP_E_INVALID, "%s: must be %s, not %s", path, expected, rp_json_type_name(v));
}

/* ---- Typed access with field paths in the errors ------------------------------------------ */

static int get_string(json_t *v, const char *path, const char **out, rp_error *err)
{
	if (!json_is_string(v))
		return wrong_type(err, path, "a string", v);
	/* jansson refuses \u0000 without JSON_ALLOW_NUL; checked again so no caller can be fooled. */
	if (strlen(json_string_value(v)) != json_string_length(v))
		return rp_error_set(err, RP_E_INVALID, "%s: contains a NUL character", path);
	*out = json_string_value(v);
	return 0;
}

static int get_int(json_t *v, const char *path, int64_t min, int64_t max, int64_t *out, rp_error *err)
{
	if (!json_is_integer(v))
		return wrong_type(err, path, "an integer", v);
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return rp_error_set(err, RP_E_INVALID, "%s: %lld is out of range (allowed %lld to %lld)", path,
		                    (long long)i, (long long)min, (long long)max);
	*out = (int64_t)i;
	return 0;
}

static int get_array(json_t *v, const char *path, size_t max, rp_error *err)
{
	if (!json_is_array(v))
		return wrong_type(err, path, "an array", v);
	if (json_array_size(v) > max)
		return rp_error_set(err, RP_E_LIMIT, "%s: %zu entries, the limit is %zu", path, json_array_size(v), max);
	return 0;
}

static int check_keys(json_t *obj, const char *path, const char *what, const char *const *known, rp_error *err)
{
	const char *key;
	json_t *value;
	json_object_foreach(obj, key, value) {
		bool found = false;
		for (size_t i = 0; known[i] && !found; i++)
			found = strcmp(key, known[i]) == 0;
		if (!found)
			return unknown_name(err, path, what, key, known);
	}
	return 0;
}

static bool is_nil_guid(const char *g)
{
	return strcmp(g, "00000000-0000-0000-0000-000000000000") == 0;
}

static int get_guid(json_t *v, const char *path, char out[RP_GUID_STRLEN + 1], rp_error *err)
{
	const char *s = NULL;
	char q[QUOTE_BUF];
	if (get_string(v, path, &s, err) < 0)
		return -1;
	if (rp_guid_normalize(s, out, NULL) < 0)
		return rp_error_set(err, RP_E_INVALID, "%s: %s is not a GUID (expected 8-4-4-4-12 hex digits)", path,
		                    quote(q, s));
	if (is_nil_guid(out))
		return rp_error_set(err, RP_E_INVALID, "%s: the nil GUID is not an ID (generate one, e.g. with uuidgen)",
		                    path);
	return 0;
}

/* ---- Peripheral resources ----------------------------------------------------------------- */

/* Validate one Gpio/Uart/... entry and return its stored form: numbers (9 or "9") as canonical
 * decimal strings, names as written. Names are letters, digits, '_' and '-' ("GPIO9", "ISU0",
 * "ADC-CONTROLLER-0") or a "$NAME" hardware-definition constant. */
static char *resource_entry(json_t *v, const char *path, rp_error *err)
{
	char q[QUOTE_BUF];
	if (json_is_integer(v)) {
		int64_t n;
		if (get_int(v, path, 0, 65535, &n, err) < 0)
			return NULL;
		return xasprintf("%lld", (long long)n);
	}
	const char *s = NULL;
	if (!json_is_string(v)) {
		wrong_type(err, path, "a peripheral name or number", v);
		return NULL;
	}
	if (get_string(v, path, &s, err) < 0)
		return NULL;
	size_t len = strlen(s);
	if (len == 0) {
		rp_error_set(err, RP_E_INVALID, "%s: empty peripheral name", path);
		return NULL;
	}
	if (len > MANIFEST_RESOURCE_NAME_MAX) {
		rp_error_set(err, RP_E_LIMIT, "%s: peripheral name of %zu bytes, the limit is %d", path, len,
		             MANIFEST_RESOURCE_NAME_MAX);
		return NULL;
	}
	if (strspn(s, "0123456789") == len) {
		if ((len > 1 && s[0] == '0') || len > 5 || strtoul(s, NULL, 10) > 65535) {
			rp_error_set(err, RP_E_INVALID, "%s: %s is not a peripheral number (0 to 65535, no leading zeros)",
			             path, quote(q, s));
			return NULL;
		}
		return xstrdup(s);
	}
	const char *body = s[0] == '$' ? s + 1 : s;
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
	bool ok = *body && strspn(body, s[0] == '$' ? alnum : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                                                         "0123456789_-") == strlen(body);
	if (ok && s[0] == '$')
		ok = !isdigit((unsigned char)body[0]);
	if (!ok) {
		rp_error_set(err, RP_E_INVALID,
		             "%s: %s is not a peripheral name (use letters, digits, '_' and '-', a \"$NAME\" "
		             "hardware-definition constant, or a number)",
		             path, quote(q, s));
		return NULL;
	}
	return xstrdup(s);
}

/* The identity of a resource for duplicate and ownership checks: compared case-insensitively
 * (claiming "gpio9" must collide with "GPIO9"), and within Gpio "GPIO9" is pin 9. */
#define RESOURCE_KEY_MAX (MANIFEST_RESOURCE_NAME_MAX + 1)
static const char *resource_key(const char *entry, bool is_gpio, char key[RESOURCE_KEY_MAX])
{
	size_t n = 0;
	if (is_gpio && strncasecmp(entry, "GPIO", 4) == 0) {
		const char *digits = entry + 4;
		if (digits[0] && strspn(digits, "0123456789") == strlen(digits) && !(digits[0] == '0' && digits[1]))
			entry = digits;
	}
	for (; entry[n] && n < RESOURCE_KEY_MAX - 1; n++)
		key[n] = (char)tolower((unsigned char)entry[n]);
	key[n] = '\0';
	return key;
}

/* ---- AllowedConnections hosts ------------------------------------------------------------- */

static bool host_name_valid(const char *s, const char **why)
{
	size_t label = 0;
	const char *label_start = s;
	bool last_all_digits = true;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0) {
				*why = *p == '\0' && p != s ? "ends with '.'" : "has an empty label";
				return false;
			}
			if (label > 63) {
				*why = "has a label longer than 63 characters";
				return false;
			}
			if (label_start[0] == '-' || p[-1] == '-') {
				*why = "has a label starting or ending with '-'";
				return false;
			}
			last_all_digits = strspn(label_start, "0123456789") >= label;
			if (*p == '\0')
				break;
			label = 0;
			label_start = p + 1;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-') {
			*why = "may contain only letters, digits, '-' and '.' (RFC 1123)";
			return false;
		}
		label++;
	}
	if (last_all_digits) {
		*why = "is not a host name (its last label is all digits)";
		return false;
	}
	return true;
}

/* Validate one AllowedConnections entry and return its canonical form (lowercase host name,
 * "*.domain" wildcard, or an IP literal as inet_ntop prints it). */
static char *host_entry(json_t *v, const char *path, rp_error *err)
{
	const char *s = NULL;
	char q[QUOTE_BUF];
	if (get_string(v, path, &s, err) < 0)
		return NULL;
	size_t len = strlen(s);
	const char *why = NULL;
	if (len == 0) {
		rp_error_set(err, RP_E_INVALID, "%s: empty host name", path);
		return NULL;
	}
	if (len > MANIFEST_HOST_MAX) {
		rp_error_set(err, RP_E_LIMIT, "%s: host name of %zu bytes, the limit is %d", path, len, MANIFEST_HOST_MAX);
		return NULL;
	}
	if (strstr(s, "://") || strchr(s, '/')) {
		rp_error_set(err, RP_E_INVALID, "%s: %s is a URL or path; list only the host name (e.g. \"example.com\")",
		             path, quote(q, s));
		return NULL;
	}
	if (s[0] == '[') {
		rp_error_set(err, RP_E_INVALID, "%s: %s: write an IPv6 address without brackets or port", path,
		             quote(q, s));
		return NULL;
	}
	if (strchr(s, ':')) {
		struct in6_addr a6;
		if (inet_pton(AF_INET6, s, &a6) == 1) {
			if (IN6_IS_ADDR_UNSPECIFIED(&a6)) {
				rp_error_set(err, RP_E_INVALID, "%s: the unspecified address %s is not a host", path,
				             quote(q, s));
				return NULL;
			}
			char buf[INET6_ADDRSTRLEN];
			if (!inet_ntop(AF_INET6, &a6, buf, sizeof(buf)))
				rp_abort("formatting an IPv6 address");
			return xstrdup(buf);
		}
		const char *colon = strrchr(s, ':');
		if (strchr(s, ':') == colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
			rp_error_set(err, RP_E_INVALID,
			             "%s: %s has a port; AllowedConnections lists hosts only (ports are not restricted)",
			             path, quote(q, s));
		else
			rp_error_set(err, RP_E_INVALID, "%s: %s is not a valid IPv6 address", path, quote(q, s));
		return NULL;
	}
	if (strspn(s, "0123456789.") == len) {
		struct in_addr a4;
		if (inet_pton(AF_INET, s, &a4) != 1) {
			rp_error_set(err, RP_E_INVALID,
			             "%s: %s is not a valid IPv4 address (four decimal numbers 0-255, no leading zeros)",
			             path, quote(q, s));
			return NULL;
		}
		if (a4.s_addr == 0) {
			rp_error_set(err, RP_E_INVALID, "%s: the unspecified address %s is not a host", path, quote(q, s));
			return NULL;
		}
		return xstrdup(s);
	}
	const char *name = s;
	if (strchr(s, '*')) {
		/* Only a whole leading label may be a wildcard, and it must sit under a registrable
		 * domain: "*.example.com" yes; "*", "*.com", "a*.example.com", "x.*.example.com" no. */
		if (strncmp(s, "*.", 2) != 0 || strchr(s + 2, '*') || !strchr(s + 2, '.')) {
			rp_error_set(err, RP_E_INVALID,
			             "%s: %s: a wildcard is allowed only as a whole leading label under a domain of at "
			             "least two labels (e.g. \"*.example.com\")",
			             path, quote(q, s));
			return NULL;
		}
		name = s + 2;
	}
	if (!host_name_valid(name, &why)) {
		rp_error_set(err, RP_E_INVALID, "%s: %s %s", path, quote(q, s), why);
		return NULL;
	}
	char *out = xstrdup(s);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

/* ---- Capability table ---------------------------------------------------------------------- */

enum cap_kind {
	CAP_BOOL,      /* true/false */
	CAP_RESOURCES, /* array of peripheral names/numbers, exclusive per device */
	CAP_HOSTS,     /* AllowedConnections */
	CAP_PORTS,     /* array of 1..65535 */
	CAP_APP_IDS,   /* array of component IDs */
	CAP_STORAGE,   /* {"SizeKB": n} */
	CAP_TENANT,    /* tenant GUID */
	CAP_POWER,     /* subset of PowerControls names */
};

/* Which app types may declare a capability: real-time apps get peripherals and inter-core
 * connections only (they have no network stack, storage or OS services). */
enum cap_apps { APPS_ALL, APPS_HIGH_LEVEL, APPS_REALTIME };

struct cap_def {
	const char *name;
	enum cap_kind kind;
	enum cap_apps apps;
	size_t off;       /* bool, or the char ** / uint16_t * array */
	size_t count_off; /* size_t count for arrays */
};

#define CAP_B(n, field, apps) {n, CAP_BOOL, apps, offsetof(struct manifest_capabilities, field), 0}
#define CAP_L(n, kind, field, apps)                                                                                    \
	{n, kind, apps, offsetof(struct manifest_capabilities, field),                                                 \
	 offsetof(struct manifest_capabilities, field##_count)}

static const struct cap_def caps_table[] = {
	CAP_L("AllowedConnections", CAP_HOSTS, allowed_connections, APPS_HIGH_LEVEL),
	CAP_L("AllowedTcpServerPorts", CAP_PORTS, allowed_tcp_server_ports, APPS_HIGH_LEVEL),
	CAP_L("AllowedUdpServerPorts", CAP_PORTS, allowed_udp_server_ports, APPS_HIGH_LEVEL),
	CAP_L("AllowedApplicationConnections", CAP_APP_IDS, allowed_application_connections, APPS_ALL),
	CAP_L("Gpio", CAP_RESOURCES, gpio, APPS_ALL),
	CAP_L("Uart", CAP_RESOURCES, uart, APPS_ALL),
	CAP_L("I2cMaster", CAP_RESOURCES, i2c_master, APPS_ALL),
	CAP_L("SpiMaster", CAP_RESOURCES, spi_master, APPS_ALL),
	CAP_L("Adc", CAP_RESOURCES, adc, APPS_ALL),
	CAP_L("Pwm", CAP_RESOURCES, pwm, APPS_ALL),
	CAP_L("ExternalInterrupt", CAP_RESOURCES, external_interrupt, APPS_REALTIME),
	{"MutableStorage", CAP_STORAGE, APPS_HIGH_LEVEL, 0, 0},
	{"DeviceAuthentication", CAP_TENANT, APPS_HIGH_LEVEL, 0, 0},
	{"PowerControls", CAP_POWER, APPS_HIGH_LEVEL, 0, 0},
	CAP_B("CertStore", cert_store, APPS_HIGH_LEVEL),
	CAP_B("WifiConfig", wifi_config, APPS_HIGH_LEVEL),
	CAP_B("EnterpriseWifiConfig", enterprise_wifi_config, APPS_HIGH_LEVEL),
	CAP_B("NetworkConfig", network_config, APPS_HIGH_LEVEL),
	CAP_B("ReadNetworkProxyConfig", read_network_proxy_config, APPS_HIGH_LEVEL),
	CAP_B("HardwareAddressConfig", hardware_address_config, APPS_HIGH_LEVEL),
	CAP_B("DhcpService", dhcp_service, APPS_HIGH_LEVEL),
	CAP_B("SntpService", sntp_service, APPS_HIGH_LEVEL),
	CAP_B("SystemTime", system_time, APPS_HIGH_LEVEL),
	CAP_B("TimeSyncConfig", time_sync_config, APPS_HIGH_LEVEL),
	CAP_B("SystemEventNotifications", system_event_notifications, APPS_HIGH_LEVEL),
	CAP_B("SoftwareUpdateDeferral", software_update_deferral, APPS_HIGH_LEVEL),
	CAP_B("HeapMemStats", heap_mem_stats, APPS_HIGH_LEVEL),
};

static const char *const cap_names[] = {
	"AllowedConnections", "AllowedTcpServerPorts", "AllowedUdpServerPorts", "AllowedApplicationConnections",
	"Gpio", "Uart", "I2cMaster", "SpiMaster", "Adc", "Pwm", "ExternalInterrupt", "MutableStorage",
	"DeviceAuthentication", "PowerControls", "CertStore", "WifiConfig", "EnterpriseWifiConfig", "NetworkConfig",
	"ReadNetworkProxyConfig", "HardwareAddressConfig", "DhcpService", "SntpService", "SystemTime",
	"TimeSyncConfig", "SystemEventNotifications", "SoftwareUpdateDeferral", "HeapMemStats", NULL,
};

static const char *const power_names[] = {"ForceReboot", "ForcePowerDown", "SetPowerProfile", NULL};

const char *manifest_power_control_name(unsigned flag)
{
	for (size_t i = 0; power_names[i]; i++)
		if (flag == 1u << i)
			return power_names[i];
	return NULL;
}

#define FIELD(caps, type, off) ((type *)(void *)((char *)(caps) + (off)))

static int parse_string_list(json_t *arr, const struct cap_def *def, const char *path, const char *own_id,
                             struct manifest_capabilities *caps, rp_error *err)
{
	size_t n = json_array_size(arr);
	char **items = xcalloc(n ? n : 1, sizeof(char *));
	*FIELD(caps, char **, def->off) = items;
	size_t *count = FIELD(caps, size_t, def->count_off);
	bool is_gpio = strcmp(def->name, "Gpio") == 0;
	for (size_t i = 0; i < n; i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		json_t *v = json_array_get(arr, i);
		char *item = NULL;
		if (def->kind == CAP_HOSTS) {
			item = host_entry(v, p, err);
		} else if (def->kind == CAP_APP_IDS) {
			char id[RP_GUID_STRLEN + 1];
			if (get_guid(v, p, id, err) == 0) {
				if (strcmp(id, own_id) == 0) {
					rp_error_set(err, RP_E_INVALID, "%s: lists the app's own ComponentId %s", p, id);
					return -1;
				}
				item = xstrdup(id);
			}
		} else {
			item = resource_entry(v, p, err);
		}
		if (!item)
			return -1;
		items[(*count)++] = item;
		char ka[RESOURCE_KEY_MAX], kb[RESOURCE_KEY_MAX];
		for (size_t j = 0; j < i; j++) {
			bool dup = def->kind == CAP_RESOURCES
			                   ? strcmp(resource_key(items[j], is_gpio, ka), resource_key(item, is_gpio, kb)) == 0
			                   : strcmp(items[j], item) == 0;
			if (dup) {
				char q[QUOTE_BUF];
				const char *what = def->kind == CAP_HOSTS ? "host" : def->kind == CAP_APP_IDS ? "component ID"
				                                                                               : "resource";
				return rp_error_set(err, RP_E_INVALID, "%s: duplicate %s %s (same as [%zu])", p, what,
				                    quote(q, item), j);
			}
		}
	}
	return 0;
}

static int parse_ports(json_t *arr, const struct cap_def *def, const char *path, struct manifest_capabilities *caps,
                       rp_error *err)
{
	size_t n = json_array_size(arr);
	uint16_t *ports = xcalloc(n ? n : 1, sizeof(uint16_t));
	*FIELD(caps, uint16_t *, def->off) = ports;
	size_t *count = FIELD(caps, size_t, def->count_off);
	for (size_t i = 0; i < n; i++) {
		char p[128];
		int64_t port;
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (get_int(json_array_get(arr, i), p, 1, 65535, &port, err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (ports[j] == port)
				return rp_error_set(err, RP_E_INVALID, "%s: duplicate port %lld (same as [%zu])", p,
				                    (long long)port, j);
		ports[(*count)++] = (uint16_t)port;
	}
	return 0;
}

static int parse_power(json_t *arr, const char *path, struct manifest_capabilities *caps, rp_error *err)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char p[128];
		const char *s = NULL;
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (get_string(json_array_get(arr, i), p, &s, err) < 0)
			return -1;
		unsigned flag = 0;
		for (size_t k = 0; power_names[k]; k++)
			if (strcmp(s, power_names[k]) == 0)
				flag = 1u << k;
		if (!flag)
			return unknown_name(err, p, "power control", s, power_names);
		if (caps->power_controls & flag)
			return rp_error_set(err, RP_E_INVALID, "%s: duplicate power control \"%s\"", p, s);
		caps->power_controls |= flag;
	}
	return 0;
}

static int parse_capability(const struct cap_def *def, json_t *v, bool realtime, const char *own_id,
                            struct manifest_capabilities *caps, rp_error *err)
{
	char path[64];
	snprintf(path, sizeof(path), "Capabilities.%s", def->name);
	if (def->apps == APPS_HIGH_LEVEL && realtime)
		return rp_error_set(err, RP_E_INVALID,
		                    "%s: not available to a RealTimeCapable application (real-time apps may declare "
		                    "peripherals and AllowedApplicationConnections only)",
		                    path);
	if (def->apps == APPS_REALTIME && !realtime)
		return rp_error_set(err, RP_E_INVALID,
		                    "%s: only a RealTimeCapable application may declare it (set \"ApplicationType\": "
		                    "\"RealTimeCapable\")",
		                    path);
	switch (def->kind) {
	case CAP_BOOL:
		if (!json_is_boolean(v))
			return wrong_type(err, path, "true or false", v);
		*FIELD(caps, bool, def->off) = json_is_true(v);
		return 0;
	case CAP_RESOURCES:
	case CAP_HOSTS:
	case CAP_APP_IDS:
		if (get_array(v, path, MANIFEST_LIST_MAX, err) < 0)
			return -1;
		return parse_string_list(v, def, path, own_id, caps, err);
	case CAP_PORTS:
		if (get_array(v, path, MANIFEST_LIST_MAX, err) < 0)
			return -1;
		return parse_ports(v, def, path, caps, err);
	case CAP_POWER:
		if (get_array(v, path, MANIFEST_LIST_MAX, err) < 0)
			return -1;
		return parse_power(v, path, caps, err);
	case CAP_TENANT:
		return get_guid(v, path, caps->device_auth_tenant, err);
	case CAP_STORAGE: {
		static const char *const keys[] = {"SizeKB", NULL};
		int64_t kb;
		if (!json_is_object(v))
			return wrong_type(err, path, "an object like {\"SizeKB\": 64}", v);
		if (check_keys(v, path, "field", keys, err) < 0)
			return -1;
		json_t *size = json_object_get(v, "SizeKB");
		if (!size)
			return rp_error_set(err, RP_E_INVALID, "%s: missing required field \"SizeKB\"", path);
		if (get_int(size, "Capabilities.MutableStorage.SizeKB", MANIFEST_MUTABLE_STORAGE_MIN_KB,
		            MANIFEST_MUTABLE_STORAGE_MAX_KB, &kb, err) < 0)
			return -1;
		caps->mutable_storage_kb = (uint32_t)kb;
		return 0;
	}
	}
	return rp_error_set(err, RP_E_INTERNAL, "%s: unhandled capability kind", path);
}

/* ---- Top-level fields ---------------------------------------------------------------------- */

/* EntryPoint: an absolute, normalised path inside the package, so that it can never name a file
 * outside it (no "..", no "." or empty components) and means the same to every consumer. */
static int parse_entry_point(json_t *v, struct manifest *m, rp_error *err)
{
	const char *s = NULL;
	char q[QUOTE_BUF];
	if (get_string(v, "EntryPoint", &s, err) < 0)
		return -1;
	size_t len = strlen(s);
	if (len > MANIFEST_ENTRY_POINT_MAX)
		return rp_error_set(err, RP_E_LIMIT, "EntryPoint: %zu bytes, the limit is %d", len, MANIFEST_ENTRY_POINT_MAX);
	if (s[0] != '/' || len < 2)
		return rp_error_set(err, RP_E_INVALID,
		                    "EntryPoint: %s must be an absolute path to a file inside the package, e.g. "
		                    "\"/bin/app\"",
		                    quote(q, s));
	size_t bad = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-/");
	if (bad != len)
		return rp_error_set(err, RP_E_INVALID,
		                    "EntryPoint: %s has the character 0x%02x at offset %zu (allowed: letters, digits, "
		                    "'.', '_', '+', '-' and '/')",
		                    quote(q, s), (unsigned char)s[bad], bad);
	if (s[len - 1] == '/')
		return rp_error_set(err, RP_E_INVALID, "EntryPoint: %s ends with '/'; it must name a file", quote(q, s));
	for (const char *c = s + 1; c;) {
		const char *end = strchr(c, '/');
		size_t clen = end ? (size_t)(end - c) : strlen(c);
		if (clen == 0)
			return rp_error_set(err, RP_E_INVALID, "EntryPoint: %s contains \"//\"", quote(q, s));
		if ((clen == 1 && c[0] == '.') || (clen == 2 && c[0] == '.' && c[1] == '.'))
			return rp_error_set(err, RP_E_INVALID,
			                    "EntryPoint: %s contains a \".\" or \"..\" component; write the path "
			                    "without them",
			                    quote(q, s));
		c = end ? end + 1 : NULL;
	}
	m->entry_point = xstrdup(s);
	return 0;
}

static int parse_cmd_args(json_t *v, struct manifest *m, rp_error *err)
{
	if (get_array(v, "CmdArgs", MANIFEST_CMD_ARGS_MAX, err) < 0)
		return -1;
	size_t n = json_array_size(v), total = 0;
	m->cmd_args = xcalloc(n + 1, sizeof(char *)); /* NULL-terminated too, for execv */
	for (size_t i = 0; i < n; i++) {
		char p[64];
		const char *s = NULL;
		snprintf(p, sizeof(p), "CmdArgs[%zu]", i);
		if (get_string(json_array_get(v, i), p, &s, err) < 0)
			return -1;
		size_t len = strlen(s);
		if (len > MANIFEST_CMD_ARG_MAX)
			return rp_error_set(err, RP_E_LIMIT, "%s: %zu bytes, the limit is %d", p, len, MANIFEST_CMD_ARG_MAX);
		total += len;
		if (total > MANIFEST_CMD_ARGS_TOTAL_MAX)
			return rp_error_set(err, RP_E_LIMIT, "CmdArgs: more than %d bytes in all", MANIFEST_CMD_ARGS_TOTAL_MAX);
		m->cmd_args[m->cmd_args_count++] = xstrdup(s);
	}
	return 0;
}

static int parse_name(json_t *v, struct manifest *m, rp_error *err)
{
	const char *s = NULL;
	if (get_string(v, "Name", &s, err) < 0)
		return -1;
	size_t len = strlen(s), chars = 0;
	for (const char *p = s; *p; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	if (len == 0)
		return rp_error_set(err, RP_E_INVALID, "Name: must not be empty");
	/* Azure Sphere silently keeps the first 31 characters; two apps could then share a name
	 * nobody wrote. Rampart refuses instead (docs/decisions.md). */
	if (len > MANIFEST_NAME_MAX) {
		if (chars == len)
			return rp_error_set(err, RP_E_LIMIT, "Name: %zu characters, the limit is %d", len, MANIFEST_NAME_MAX);
		return rp_error_set(err, RP_E_LIMIT, "Name: %zu bytes of UTF-8 (%zu characters), the limit is %d bytes",
		                    len, chars, MANIFEST_NAME_MAX);
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return rp_error_set(err, RP_E_INVALID, "Name: contains the control character 0x%02x",
			                    (unsigned char)*p);
	memcpy(m->name, s, len + 1);
	return 0;
}

static const char *const top_keys[] = {
	"SchemaVersion", "Name", "ComponentId", "EntryPoint", "CmdArgs", "ApplicationType", "MallocVersion",
	"TargetApplicationRuntimeVersion", "TargetBetaApis", "Capabilities", NULL,
};

static int require(json_t *root, const char *key, json_t **out, rp_error *err)
{
	*out = json_object_get(root, key);
	if (!*out)
		return rp_error_set(err, RP_E_INVALID, "missing required field \"%s\"", key);
	return 0;
}

static int parse_app_type(json_t *v, struct manifest *m, rp_error *err)
{
	static const char *const types[] = {"Default", "RealTimeCapable", NULL};
	const char *s = NULL;
	if (get_string(v, "ApplicationType", &s, err) < 0)
		return -1;
	if (strcmp(s, "Default") == 0)
		m->realtime = false;
	else if (strcmp(s, "RealTimeCapable") == 0)
		m->realtime = true;
	else if (strcmp(s, "Debugger") == 0)
		return rp_error_set(err, RP_E_UNSUPPORTED,
		                    "ApplicationType: \"Debugger\" (a gdbserver replacement) is not supported; use "
		                    "\"Default\" or \"RealTimeCapable\"");
	else
		return unknown_name(err, "ApplicationType", "application type", s, types);
	return 0;
}

static int parse_root(json_t *root, struct manifest *m, rp_error *err)
{
	json_t *v = NULL;
	int64_t i;
	char q[QUOTE_BUF];
	if (!json_is_object(root))
		return rp_error_set(err, RP_E_INVALID, "the manifest must be a JSON object, not %s", rp_json_type_name(root));
	if (check_keys(root, "", "field", top_keys, err) < 0)
		return -1;

	if (require(root, "SchemaVersion", &v, err) < 0)
		return -1;
	if (!json_is_integer(v))
		return wrong_type(err, "SchemaVersion", "an integer", v);
	if (json_integer_value(v) != MANIFEST_SCHEMA_VERSION)
		return rp_error_set(err, RP_E_UNSUPPORTED, "SchemaVersion: %lld is not supported (this version reads %d)",
		                    (long long)json_integer_value(v), MANIFEST_SCHEMA_VERSION);
	m->schema_version = MANIFEST_SCHEMA_VERSION;

	if (require(root, "Name", &v, err) < 0 || parse_name(v, m, err) < 0)
		return -1;
	if (require(root, "ComponentId", &v, err) < 0 || get_guid(v, "ComponentId", m->component_id, err) < 0)
		return -1;
	if (require(root, "EntryPoint", &v, err) < 0 || parse_entry_point(v, m, err) < 0)
		return -1;
	if ((v = json_object_get(root, "CmdArgs")) && parse_cmd_args(v, m, err) < 0)
		return -1;
	if ((v = json_object_get(root, "ApplicationType")) && parse_app_type(v, m, err) < 0)
		return -1;
	if ((v = json_object_get(root, "MallocVersion"))) {
		if (get_int(v, "MallocVersion", 1, 1, &i, err) < 0)
			return -1;
		m->malloc_version = (int)i;
	}
	if ((v = json_object_get(root, "TargetApplicationRuntimeVersion"))) {
		if (get_int(v, "TargetApplicationRuntimeVersion", 1, MANIFEST_RUNTIME_VERSION_MAX, &i, err) < 0)
			return -1;
		m->target_runtime_version = (int)i;
	}
	if ((v = json_object_get(root, "TargetBetaApis"))) {
		const char *s = NULL;
		if (get_string(v, "TargetBetaApis", &s, err) < 0)
			return -1;
		size_t len = strlen(s);
		if (len == 0 || len > MANIFEST_BETA_APIS_MAX ||
		    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-") != len)
			return rp_error_set(err, RP_E_INVALID,
			                    "TargetBetaApis: %s must be 1 to %d letters, digits, '.', '_', '+' or '-' "
			                    "(e.g. \"Beta2004\")",
			                    quote(q, s), MANIFEST_BETA_APIS_MAX);
		m->target_beta_apis = xstrdup(s);
	}

	if (!(v = json_object_get(root, "Capabilities")))
		return 0;
	if (!json_is_object(v))
		return wrong_type(err, "Capabilities", "an object", v);
	if (check_keys(v, "Capabilities", "capability", cap_names, err) < 0)
		return -1;
	for (size_t k = 0; k < RP_ARRAY_SIZE(caps_table); k++) {
		json_t *c = json_object_get(v, caps_table[k].name);
		if (c && parse_capability(&caps_table[k], c, m->realtime, m->component_id, &m->caps, err) < 0)
			return -1;
	}
	return 0;
}

struct manifest *manifest_parse(const char *json, size_t len, rp_error *err)
{
	_cleanup_json_ json_t *root = NULL;
	if (!json)
		return rp_error_set(err, RP_E_INVALID, "no manifest given"), NULL;
	root = rp_json_parse(json, len, MANIFEST_MAX_BYTES, "app_manifest.json", err);
	if (!root)
		return NULL;
	struct manifest *m = xcalloc(1, sizeof(*m));
	if (parse_root(root, m, err) < 0) {
		manifest_free(m);
		return NULL;
	}
	return m;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	free(m->entry_point);
	free_strings(m->cmd_args, m->cmd_args_count);
	free(m->target_beta_apis);
	for (size_t k = 0; k < RP_ARRAY_SIZE(caps_table); k++) {
		const struct cap_def *d = &caps_table[k];
		if (d->kind == CAP_PORTS)
			free(*FIELD(&m->caps, uint16_t *, d->off));
		else if (d->kind == CAP_RESOURCES || d->kind == CAP_HOSTS || d->kind == CAP_APP_IDS)
			free_strings(*FIELD(&m->caps, char **, d->off), *FIELD(&m->caps, size_t, d->count_off));
	}
	free(m);
}

/* ---- Canonical form ----------------------------------------------------------------------- */

static json_t *resource_json(const char *s)
{
	/* Numbers were stored as canonical decimal strings; give them back as numbers. */
	if (s[0] && strspn(s, "0123456789") == strlen(s))
		return json_integer((json_int_t)strtoul(s, NULL, 10));
	return json_string(s);
}

static void set_new(json_t *obj, const char *key, json_t *value)
{
	if (!value || json_object_set_new(obj, key, value) < 0)
		rp_abort("building the manifest JSON");
}

json_t *manifest_to_json(const struct manifest *m)
{
	json_t *root = json_object();
	json_t *caps = json_object();
	if (!root || !caps)
		rp_abort("building the manifest JSON");
	set_new(root, "SchemaVersion", json_integer(m->schema_version));
	set_new(root, "Name", json_string(m->name));
	set_new(root, "ComponentId", json_string(m->component_id));
	set_new(root, "EntryPoint", json_string(m->entry_point ? m->entry_point : ""));
	set_new(root, "ApplicationType", json_string(m->realtime ? "RealTimeCapable" : "Default"));
	if (m->cmd_args_count) {
		json_t *a = json_array();
		for (size_t i = 0; a && i < m->cmd_args_count; i++)
			json_array_append_new(a, json_string(m->cmd_args[i]));
		set_new(root, "CmdArgs", a);
	}
	if (m->malloc_version)
		set_new(root, "MallocVersion", json_integer(m->malloc_version));
	if (m->target_runtime_version)
		set_new(root, "TargetApplicationRuntimeVersion", json_integer(m->target_runtime_version));
	if (m->target_beta_apis)
		set_new(root, "TargetBetaApis", json_string(m->target_beta_apis));

	const struct manifest_capabilities *c = &m->caps;
	for (size_t k = 0; k < RP_ARRAY_SIZE(caps_table); k++) {
		const struct cap_def *d = &caps_table[k];
		json_t *a = NULL;
		switch (d->kind) {
		case CAP_BOOL:
			if (*FIELD(c, bool, d->off))
				set_new(caps, d->name, json_true());
			break;
		case CAP_RESOURCES:
		case CAP_HOSTS:
		case CAP_APP_IDS: {
			size_t n = *FIELD(c, size_t, d->count_off);
			char **items = *FIELD(c, char **, d->off);
			if (!n)
				break;
			a = json_array();
			for (size_t i = 0; a && i < n; i++)
				json_array_append_new(a, d->kind == CAP_RESOURCES ? resource_json(items[i])
				                                                  : json_string(items[i]));
			set_new(caps, d->name, a);
			break;
		}
		case CAP_PORTS: {
			size_t n = *FIELD(c, size_t, d->count_off);
			uint16_t *ports = *FIELD(c, uint16_t *, d->off);
			if (!n)
				break;
			a = json_array();
			for (size_t i = 0; a && i < n; i++)
				json_array_append_new(a, json_integer(ports[i]));
			set_new(caps, d->name, a);
			break;
		}
		case CAP_POWER:
			if (!c->power_controls)
				break;
			a = json_array();
			for (size_t i = 0; a && power_names[i]; i++)
				if (c->power_controls & (1u << i))
					json_array_append_new(a, json_string(power_names[i]));
			set_new(caps, d->name, a);
			break;
		case CAP_TENANT:
			if (c->device_auth_tenant[0])
				set_new(caps, d->name, json_string(c->device_auth_tenant));
			break;
		case CAP_STORAGE:
			if (c->mutable_storage_kb) {
				json_t *o = json_object();
				if (o)
					set_new(o, "SizeKB", json_integer(c->mutable_storage_kb));
				set_new(caps, d->name, o);
			}
			break;
		}
	}
	set_new(root, "Capabilities", caps);
	return root;
}

/* ---- Checks between two apps ---------------------------------------------------------------- */

/* 1 and *ID when RESOLVE knows ENTRY of capability CAP, 0 otherwise (no resolver, a type the
 * resolver does not cover, or an entry it does not know: the caller compares spellings). */
static int resolve_entry(manifest_resolve_fn resolve, void *ctx, const char *cap, const char *entry, uint32_t *id)
{
	rp_error scratch = RP_ERROR_INIT;
	return resolve && resolve(ctx, cap, entry, id, &scratch) > 0 ? 1 : 0;
}

static int resource_conflict(const struct manifest *a, const struct manifest *b, const struct cap_def *d,
                             manifest_resolve_fn resolve, void *ctx, rp_error *err)
{
	bool is_gpio = strcmp(d->name, "Gpio") == 0;
	char **ia = *FIELD(&a->caps, char **, d->off), **ib = *FIELD(&b->caps, char **, d->off);
	size_t na = *FIELD(&a->caps, size_t, d->count_off), nb = *FIELD(&b->caps, size_t, d->count_off);
	char ka[RESOURCE_KEY_MAX], kb[RESOURCE_KEY_MAX], q1[QUOTE_BUF], q2[QUOTE_BUF];
	uint32_t idb[MANIFEST_LIST_MAX];
	bool rb[MANIFEST_LIST_MAX];
	for (size_t j = 0; j < nb && j < MANIFEST_LIST_MAX; j++)
		rb[j] = resolve_entry(resolve, ctx, d->name, ib[j], &idb[j]);
	for (size_t i = 0; i < na; i++) {
		uint32_t ida = 0;
		int ra = resolve_entry(resolve, ctx, d->name, ia[i], &ida);
		for (size_t j = 0; j < nb && j < MANIFEST_LIST_MAX; j++) {
			bool same_id = false;
			/* Both known to the board: its ids decide ("$SAMPLE_LED" and "8" may name one line).
			 * Otherwise the spellings do, as they did without a board. */
			if (ra && rb[j]) {
				if (ida != idb[j])
					continue;
				same_id = true;
			} else if (strcmp(resource_key(ia[i], is_gpio, ka), resource_key(ib[j], is_gpio, kb)) != 0) {
				continue;
			}
			bool differ = strcmp(ia[i], ib[j]) != 0;
			char as[QUOTE_BUF + 64] = "";
			if (differ && same_id)
				snprintf(as, sizeof(as), " (as %s; both are %s id %" PRIu32 " on the board)", quote(q2, ib[j]),
				         d->name, ida);
			else if (differ)
				snprintf(as, sizeof(as), " (as %s)", quote(q2, ib[j]));
			return rp_error_set(err, RP_E_CONFLICT,
			                    "Capabilities.%s: resource %s%s is claimed by both %s (\"%s\") and %s (\"%s\"); "
			                    "a peripheral has one owner",
			                    d->name, quote(q1, ia[i]), as, a->component_id, a->name, b->component_id, b->name);
		}
	}
	return 0;
}

int manifest_check_conflicts_resolved(const struct manifest *a, const struct manifest *b, manifest_resolve_fn resolve,
                                      void *ctx, rp_error *err)
{
	/* The same component is a new version of one app: it takes over its own claims. */
	if (strcmp(a->component_id, b->component_id) == 0)
		return 0;
	for (size_t k = 0; k < RP_ARRAY_SIZE(caps_table); k++) {
		const struct cap_def *d = &caps_table[k];
		if (d->kind == CAP_RESOURCES) {
			if (resource_conflict(a, b, d, resolve, ctx, err) < 0)
				return -1;
		} else if (d->kind == CAP_PORTS) {
			uint16_t *pa = *FIELD(&a->caps, uint16_t *, d->off), *pb = *FIELD(&b->caps, uint16_t *, d->off);
			size_t na = *FIELD(&a->caps, size_t, d->count_off), nb = *FIELD(&b->caps, size_t, d->count_off);
			for (size_t i = 0; i < na; i++)
				for (size_t j = 0; j < nb; j++)
					if (pa[i] == pb[j])
						return rp_error_set(err, RP_E_CONFLICT,
						                    "Capabilities.%s: port %u is claimed by both %s (\"%s\") and "
						                    "%s (\"%s\")",
						                    d->name, pa[i], a->component_id, a->name, b->component_id,
						                    b->name);
		}
	}
	return 0;
}

int manifest_check_conflicts(const struct manifest *a, const struct manifest *b, rp_error *err)
{
	return manifest_check_conflicts_resolved(a, b, NULL, NULL, err);
}

int manifest_resolve_resources(const struct manifest *m, manifest_resolve_fn resolve, void *ctx, rp_error *err)
{
	for (size_t k = 0; k < RP_ARRAY_SIZE(caps_table); k++) {
		const struct cap_def *d = &caps_table[k];
		if (d->kind != CAP_RESOURCES)
			continue;
		char **items = *FIELD(&m->caps, char **, d->off);
		size_t n = *FIELD(&m->caps, size_t, d->count_off);
		for (size_t i = 0; i < n; i++) {
			uint32_t id;
			if (resolve(ctx, d->name, items[i], &id, err) < 0)
				return rp_error_prefix(err, "app %s (\"%s\")", m->component_id, m->name);
		}
	}
	return 0;
}

static bool lists_app(const struct manifest *m, const char *id)
{
	for (size_t i = 0; i < m->caps.allowed_application_connections_count; i++)
		if (strcmp(m->caps.allowed_application_connections[i], id) == 0)
			return true;
	return false;
}

bool manifest_allows_app_connection(const struct manifest *from, const struct manifest *to)
{
	if (!from || !to || strcmp(from->component_id, to->component_id) == 0)
		return false;
	return lists_app(from, to->component_id) && lists_app(to, from->component_id);
}
