/* Strict parser for board definition files (see board.h). Unknown fields, out-of-range values,
 * duplicate names or IDs and oversized documents are refused with an error naming the field,
 * because a mistaken board file would hand an app the wrong pin. */
#include "device/broker/board.h"

#include <inttypes.h>
#include <string.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"

static const char *const type_names[BOARD_TYPE_COUNT] = {
	[BOARD_GPIO] = "Gpio", [BOARD_UART] = "Uart", [BOARD_I2C] = "I2cMaster",
	[BOARD_SPI] = "SpiMaster", [BOARD_ADC] = "Adc", [BOARD_PWM] = "Pwm",
};

const char *board_type_name(enum board_type type)
{
	return (unsigned)type < BOARD_TYPE_COUNT ? type_names[type] : "unknown";
}

void board_free(struct board *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->count; i++) {
		free(b->periphs[i].i2c_targets);
		free(b->periphs[i].adc_channels);
	}
	free(b->periphs);
	free(b);
}

/* Names: letters, digits, '_' and '-', so they can become C identifiers and manifest entries. */
static int copy_name(const char *s, char out[BOARD_NAME_MAX + 1], const char *field, rp_error *err)
{
	size_t n = strlen(s);
	if (n == 0 || n > BOARD_NAME_MAX)
		return rp_error_set(err, RP_E_INVALID, "%s must be 1..%d characters", field, BOARD_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return rp_error_set(err, RP_E_INVALID, "%s \"%s\" may contain only letters, digits, '_' and '-'",
			                    field, s);
	}
	memcpy(out, s, n + 1);
	return 0;
}

/* Device paths: absolute, under /dev or /sys, no "..", no "//" (the broker opens them as root). */
static int copy_path(const char *s, char out[BOARD_PATH_MAX + 1], const char *field, rp_error *err)
{
	size_t n = strlen(s);
	if (n == 0 || n > BOARD_PATH_MAX)
		return rp_error_set(err, RP_E_INVALID, "%s must be 1..%d characters", field, BOARD_PATH_MAX);
	if (strncmp(s, "/dev/", 5) != 0 && strncmp(s, "/sys/", 5) != 0)
		return rp_error_set(err, RP_E_INVALID, "%s \"%s\" must be under /dev/ or /sys/", field, s);
	if (strstr(s, "/../") || strstr(s, "//") || (n >= 3 && strcmp(s + n - 3, "/..") == 0))
		return rp_error_set(err, RP_E_INVALID, "%s \"%s\" must not contain \"..\" or \"//\"", field, s);
	memcpy(out, s, n + 1);
	return 0;
}

static int get_u32(json_t *obj, const char *key, bool required, uint32_t min, uint32_t max, uint32_t *out,
                   rp_error *err)
{
	int64_t v = *out;
	int r = rp_json_get_int(obj, key, required, min, max, &v, err);
	if (r > 0)
		*out = (uint32_t)v;
	return r;
}

static int parse_i2c_targets(json_t *sim, struct board_periph *p, rp_error *err)
{
	static const char *const keys[] = {"Address", "Registers", NULL};
	json_t *arr = NULL;
	size_t i;
	json_t *t;

	if (rp_json_get_array(sim, "Targets", false, &arr, err) < 0)
		return -1;
	if (!arr)
		return 0;
	if (json_array_size(arr) > BOARD_I2C_TARGETS_MAX)
		return rp_error_set(err, RP_E_LIMIT, "Simulated.Targets: more than %d targets", BOARD_I2C_TARGETS_MAX);
	p->i2c_targets = xcalloc(json_array_size(arr) + 1, sizeof(*p->i2c_targets));
	json_array_foreach(arr, i, t) {
		struct board_i2c_target *tg = &p->i2c_targets[i];
		uint32_t addr = 0;
		const char *hex = NULL;
		if (!json_is_object(t))
			return rp_error_set(err, RP_E_INVALID, "Simulated.Targets[%zu] must be an object", i);
		if (rp_json_check_keys(t, keys, "Simulated.Targets[]", err) < 0 ||
		    get_u32(t, "Address", true, 0, 0x7f, &addr, err) < 0 ||
		    rp_json_get_string(t, "Registers", false, &hex, err) < 0)
			return rp_error_prefix(err, "Simulated.Targets[%zu]", i);
		for (size_t j = 0; j < i; j++)
			if (p->i2c_targets[j].address == addr)
				return rp_error_set(err, RP_E_INVALID, "Simulated.Targets[%zu]: duplicate address %" PRIu32, i,
				                    addr);
		tg->address = (uint8_t)addr;
		if (hex) {
			_cleanup_free_ uint8_t *bytes = NULL;
			size_t n = 0;
			if (strlen(hex) > 2 * BOARD_I2C_REGISTERS_MAX)
				return rp_error_set(err, RP_E_LIMIT, "Simulated.Targets[%zu].Registers: more than %d bytes", i,
				                    BOARD_I2C_REGISTERS_MAX);
			if (rp_hex_decode_alloc(hex, &bytes, &n, err) < 0)
				return rp_error_prefix(err, "Simulated.Targets[%zu].Registers", i);
			memcpy(tg->registers, bytes, n);
			tg->register_count = n;
		}
		p->i2c_target_count++;
	}
	return 0;
}

static int parse_adc_channels(json_t *sim, struct board_periph *p, rp_error *err)
{
	static const char *const keys[] = {"Channel", "Value", NULL};
	json_t *arr = NULL;
	size_t i;
	json_t *c;
	uint32_t max_value = p->adc_bits >= 32 ? UINT32_MAX : (1u << p->adc_bits) - 1;

	if (rp_json_get_array(sim, "Channels", true, &arr, err) < 0)
		return -1;
	if (json_array_size(arr) > BOARD_ADC_CHANNELS_MAX)
		return rp_error_set(err, RP_E_LIMIT, "Simulated.Channels: more than %d channels", BOARD_ADC_CHANNELS_MAX);
	p->adc_channels = xcalloc(json_array_size(arr) + 1, sizeof(*p->adc_channels));
	json_array_foreach(arr, i, c) {
		struct board_adc_channel *ch = &p->adc_channels[i];
		if (!json_is_object(c))
			return rp_error_set(err, RP_E_INVALID, "Simulated.Channels[%zu] must be an object", i);
		if (rp_json_check_keys(c, keys, "Simulated.Channels[]", err) < 0 ||
		    get_u32(c, "Channel", true, 0, 255, &ch->channel, err) < 0 ||
		    get_u32(c, "Value", true, 0, max_value, &ch->value, err) < 0)
			return rp_error_prefix(err, "Simulated.Channels[%zu]", i);
		for (size_t j = 0; j < i; j++)
			if (p->adc_channels[j].channel == ch->channel)
				return rp_error_set(err, RP_E_INVALID, "Simulated.Channels[%zu]: duplicate channel %" PRIu32, i,
				                    ch->channel);
		p->adc_channel_count++;
	}
	return 0;
}

static int parse_simulated(json_t *sim, struct board_periph *p, rp_error *err)
{
	static const char *const gpio_keys[] = {"Value", NULL};
	static const char *const loop_keys[] = {"Loopback", NULL};
	static const char *const i2c_keys[] = {"Targets", NULL};
	static const char *const adc_keys[] = {"Bits", "ReferenceMillivolts", "Channels", NULL};
	static const char *const pwm_keys[] = {"Channels", NULL};
	uint32_t v = 0;

	p->simulated = true;
	switch (p->type) {
	case BOARD_GPIO:
		if (rp_json_check_keys(sim, gpio_keys, "Simulated", err) < 0 ||
		    get_u32(sim, "Value", false, 0, 1, &v, err) < 0)
			return -1;
		p->gpio_value = (uint8_t)v;
		return 0;
	case BOARD_UART:
	case BOARD_SPI:
		if (rp_json_check_keys(sim, loop_keys, "Simulated", err) < 0 ||
		    rp_json_get_bool(sim, "Loopback", false, &p->loopback, err) < 0)
			return -1;
		return 0;
	case BOARD_I2C:
		if (rp_json_check_keys(sim, i2c_keys, "Simulated", err) < 0)
			return -1;
		return parse_i2c_targets(sim, p, err);
	case BOARD_ADC:
		p->adc_bits = 12;
		p->adc_reference_mv = 2500;
		if (rp_json_check_keys(sim, adc_keys, "Simulated", err) < 0 ||
		    get_u32(sim, "Bits", false, 1, 32, &p->adc_bits, err) < 0 ||
		    get_u32(sim, "ReferenceMillivolts", false, 1, 100000, &p->adc_reference_mv, err) < 0)
			return -1;
		return parse_adc_channels(sim, p, err);
	case BOARD_PWM:
		p->pwm_channels = 1;
		if (rp_json_check_keys(sim, pwm_keys, "Simulated", err) < 0 ||
		    get_u32(sim, "Channels", false, 1, BOARD_PWM_CHANNELS_MAX, &p->pwm_channels, err) < 0)
			return -1;
		return 0;
	default:
		break;
	}
	return rp_error_set(err, RP_E_INTERNAL, "unknown peripheral type");
}

static int parse_linux(json_t *lx, struct board_periph *p, rp_error *err)
{
	static const char *const gpio_keys[] = {"Chip", "Line", NULL};
	static const char *const dev_keys[] = {"Device", NULL};
	static const char *const spi_keys[] = {"Devices", NULL};
	static const char *const adc_keys[] = {"Device", "Bits", NULL};
	const char *s = NULL;

	p->simulated = false;
	switch (p->type) {
	case BOARD_GPIO:
		if (rp_json_check_keys(lx, gpio_keys, "Linux", err) < 0 ||
		    rp_json_get_string(lx, "Chip", true, &s, err) < 0 ||
		    get_u32(lx, "Line", true, 0, 4095, &p->gpio_line, err) < 0)
			return -1;
		/* A gpiochip name ("gpiochip0"), opened under /dev by the backend. */
		return copy_name(s, p->device, "Linux.Chip", err);
	case BOARD_UART:
	case BOARD_I2C:
	case BOARD_PWM:
		if (rp_json_check_keys(lx, dev_keys, "Linux", err) < 0 || rp_json_get_string(lx, "Device", true, &s, err) < 0)
			return -1;
		return copy_path(s, p->device, "Linux.Device", err);
	case BOARD_ADC:
		p->adc_bits = 12;
		p->adc_reference_mv = 2500;
		if (rp_json_check_keys(lx, adc_keys, "Linux", err) < 0 || rp_json_get_string(lx, "Device", true, &s, err) < 0 ||
		    get_u32(lx, "Bits", false, 1, 32, &p->adc_bits, err) < 0)
			return -1;
		return copy_path(s, p->device, "Linux.Device", err);
	case BOARD_SPI: {
		json_t *arr = NULL;
		size_t i;
		json_t *d;
		if (rp_json_check_keys(lx, spi_keys, "Linux", err) < 0 || rp_json_get_array(lx, "Devices", true, &arr, err) < 0)
			return -1;
		if (json_array_size(arr) == 0 || json_array_size(arr) > BOARD_SPI_CS_MAX)
			return rp_error_set(err, RP_E_INVALID, "Linux.Devices must list 1..%d devices (one per chip select)",
			                    BOARD_SPI_CS_MAX);
		json_array_foreach(arr, i, d) {
			if (!json_is_string(d))
				return rp_error_set(err, RP_E_INVALID, "Linux.Devices[%zu] must be a string", i);
			if (copy_path(json_string_value(d), p->spi_devices[i], "Linux.Devices[]", err) < 0)
				return -1;
			p->spi_device_count++;
		}
		return 0;
	}
	default:
		break;
	}
	return rp_error_set(err, RP_E_INTERNAL, "unknown peripheral type");
}

static int parse_periph(json_t *o, struct board_periph *p, rp_error *err)
{
	static const char *const keys[] = {"Name", "Type", "Id", "AppManifestValue", "Simulated", "Linux", NULL};
	const char *name = NULL, *type = NULL;
	json_t *mv, *sim = NULL, *lx = NULL;
	int64_t id = 0;

	if (!json_is_object(o))
		return rp_error_set(err, RP_E_INVALID, "must be an object");
	if (rp_json_check_keys(o, keys, "peripheral", err) < 0 || rp_json_get_string(o, "Name", true, &name, err) < 0 ||
	    rp_json_get_string(o, "Type", true, &type, err) < 0 ||
	    rp_json_get_int(o, "Id", true, 0, INT32_MAX, &id, err) < 0 ||
	    rp_json_get_object(o, "Simulated", false, &sim, err) < 0 || rp_json_get_object(o, "Linux", false, &lx, err) < 0)
		return -1;
	if (copy_name(name, p->name, "Name", err) < 0)
		return -1;
	p->type = BOARD_TYPE_COUNT;
	for (int t = 0; t < BOARD_TYPE_COUNT; t++)
		if (strcmp(type, type_names[t]) == 0)
			p->type = (enum board_type)t;
	if (p->type == BOARD_TYPE_COUNT)
		return rp_error_set(err, RP_E_INVALID,
		                    "Type \"%s\" is not one of Gpio, Uart, I2cMaster, SpiMaster, Adc, Pwm", type);
	p->id = (uint32_t)id;
	mv = json_object_get(o, "AppManifestValue");
	if (!mv) {
		snprintf(p->manifest_value, sizeof(p->manifest_value), "%" PRIu32, p->id);
	} else if (json_is_integer(mv) && json_integer_value(mv) >= 0 && json_integer_value(mv) <= INT32_MAX) {
		snprintf(p->manifest_value, sizeof(p->manifest_value), "%" JSON_INTEGER_FORMAT, json_integer_value(mv));
	} else if (json_is_string(mv)) {
		if (copy_name(json_string_value(mv), p->manifest_value, "AppManifestValue", err) < 0)
			return -1;
	} else {
		return rp_error_set(err, RP_E_INVALID, "AppManifestValue must be a string or a non-negative integer");
	}
	if (!sim == !lx)
		return rp_error_set(err, RP_E_INVALID, "needs exactly one of \"Simulated\" or \"Linux\"");
	if (sim && parse_simulated(sim, p, err) < 0)
		return -1;
	if (lx && parse_linux(lx, p, err) < 0)
		return -1;
	return 0;
}

/* "Clock": {"Simulated": true} or {"Linux": {"Rtc": "/dev/rtc0"}} ({} in Linux: no RTC). Absent:
 * the system clock and /dev/rtc0, what a real board has. */
static int parse_clock(json_t *o, struct board *b, rp_error *err)
{
	static const char *const keys[] = {"Simulated", "Linux", NULL};
	static const char *const lx_keys[] = {"Rtc", NULL};
	json_t *sim = json_object_get(o, "Simulated"), *lx = NULL;
	const char *rtc = NULL;

	if (rp_json_check_keys(o, keys, "Clock", err) < 0 || rp_json_get_object(o, "Linux", false, &lx, err) < 0)
		return -1;
	if (!sim == !lx)
		return rp_error_set(err, RP_E_INVALID, "Clock needs exactly one of \"Simulated\" or \"Linux\"");
	if (sim) {
		if (!json_is_true(sim))
			return rp_error_set(err, RP_E_INVALID, "Clock.Simulated must be true (use \"Linux\" for the real clock)");
		b->clock_simulated = true;
		return 0;
	}
	if (rp_json_check_keys(lx, lx_keys, "Clock.Linux", err) < 0 || rp_json_get_string(lx, "Rtc", false, &rtc, err) < 0)
		return -1;
	b->rtc_device[0] = '\0';
	return rtc ? copy_path(rtc, b->rtc_device, "Clock.Linux.Rtc", err) : 0;
}

struct board *board_parse(const char *json, size_t len, const char *what, rp_error *err)
{
	static const char *const keys[] = {"Metadata", "Name", "Peripherals", "Clock", NULL};
	static const char *const meta_keys[] = {"Type", "Version", NULL};
	_cleanup_json_ json_t *root = NULL;
	_cleanup_(board_freep) struct board *b = NULL;
	json_t *meta = NULL, *arr = NULL, *o;
	const char *type = NULL, *name = NULL;
	int64_t version = 0;
	size_t i;

	root = rp_json_parse(json, len, BOARD_FILE_MAX, what, err);
	if (!root)
		return NULL;
	if (!json_is_object(root)) {
		rp_error_set(err, RP_E_INVALID, "%s: the document must be a JSON object", what);
		return NULL;
	}
	if (rp_json_check_keys(root, keys, "board", err) < 0 || rp_json_get_object(root, "Metadata", true, &meta, err) < 0 ||
	    rp_json_check_keys(meta, meta_keys, "Metadata", err) < 0 ||
	    rp_json_get_string(meta, "Type", true, &type, err) < 0 ||
	    rp_json_get_int(meta, "Version", true, 0, INT32_MAX, &version, err) < 0 ||
	    rp_json_get_string(root, "Name", true, &name, err) < 0 ||
	    rp_json_get_array(root, "Peripherals", true, &arr, err) < 0)
		goto fail;
	if (strcmp(type, "Rampart Board Definition") != 0) {
		rp_error_set(err, RP_E_INVALID, "Metadata.Type must be \"Rampart Board Definition\"");
		goto fail;
	}
	if (version != 1) {
		rp_error_set(err, RP_E_UNSUPPORTED, "Metadata.Version %" PRId64 " is not supported (expected 1)", version);
		goto fail;
	}
	if (json_array_size(arr) > BOARD_PERIPHERALS_MAX) {
		rp_error_set(err, RP_E_LIMIT, "Peripherals: more than %d entries", BOARD_PERIPHERALS_MAX);
		goto fail;
	}
	b = xcalloc(1, sizeof(*b));
	if (copy_name(name, b->name, "Name", err) < 0)
		goto fail;
	snprintf(b->rtc_device, sizeof(b->rtc_device), "/dev/rtc0");
	if (json_object_get(root, "Clock")) {
		json_t *clock = NULL;
		if (rp_json_get_object(root, "Clock", true, &clock, err) < 0 || parse_clock(clock, b, err) < 0)
			goto fail;
	}
	b->periphs = xcalloc(json_array_size(arr) + 1, sizeof(*b->periphs));
	json_array_foreach(arr, i, o) {
		struct board_periph *p = &b->periphs[i];
		b->count = i + 1;
		if (parse_periph(o, p, err) < 0) {
			rp_error_prefix(err, "Peripherals[%zu]", i);
			goto fail;
		}
		for (size_t j = 0; j < i; j++) {
			const struct board_periph *q = &b->periphs[j];
			if (strcmp(q->name, p->name) == 0) {
				rp_error_set(err, RP_E_INVALID, "Peripherals[%zu]: name \"%s\" is already used by Peripherals[%zu]",
				             i, p->name, j);
				goto fail;
			}
			if (q->type == p->type && (q->id == p->id || strcmp(q->manifest_value, p->manifest_value) == 0)) {
				rp_error_set(err, RP_E_INVALID,
				             "Peripherals[%zu]: %s id %" PRIu32 " / \"%s\" is already used by Peripherals[%zu]", i,
				             type_names[p->type], p->id, p->manifest_value, j);
				goto fail;
			}
		}
	}
	return steal_ptr(b);
fail:
	rp_error_prefix(err, "%s", what);
	return NULL;
}

struct board *board_load(const char *path, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, BOARD_FILE_MAX, &data, &len, err) < 0)
		return NULL;
	return board_parse((const char *)data, len, path, err);
}

struct board_periph *board_find_id(struct board *b, enum board_type type, uint32_t id)
{
	for (size_t i = 0; i < b->count; i++)
		if (b->periphs[i].type == type && b->periphs[i].id == id)
			return &b->periphs[i];
	return NULL;
}

struct board_periph *board_find_manifest(struct board *b, enum board_type type, const char *entry)
{
	for (size_t i = 0; i < b->count; i++) {
		struct board_periph *p = &b->periphs[i];
		if (p->type != type)
			continue;
		if (entry[0] == '$' ? strcmp(entry + 1, p->name) == 0 : strcmp(entry, p->manifest_value) == 0)
			return p;
	}
	return NULL;
}

int board_resolve_entry(void *ctx, const char *cap, const char *entry, uint32_t *id, rp_error *err)
{
	const struct board_source *src = ctx;
	for (int t = 0; t < BOARD_TYPE_COUNT; t++) {
		if (strcmp(cap, type_names[t]) != 0)
			continue;
		const struct board_periph *p = board_find_manifest(src->board, (enum board_type)t, entry);
		if (!p)
			return rp_error_set(err, RP_E_NOT_FOUND,
			                    "Capabilities.%s entry \"%s\" is not defined by board \"%s\" (%s); add it to the "
			                    "board definition or remove it from the manifest",
			                    cap, entry, src->board->name, src->path ? src->path : "built in");
		*id = p->id;
		return 1;
	}
	return 0; /* not a board peripheral type (ExternalInterrupt) */
}
