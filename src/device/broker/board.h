/* Board definitions (docs/protocol.md, "Board definition file"): which peripherals a board has,
 * the IDs apps use for them, the names manifests use, and whether each is simulated or backed by
 * a Linux device. Parsed strictly: the file may come from an untrusted package or operator. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/macros.h"

#define BOARD_FILE_MAX (256u * 1024u)
#define BOARD_PERIPHERALS_MAX 256
#define BOARD_NAME_MAX 64
#define BOARD_PATH_MAX 255
#define BOARD_I2C_TARGETS_MAX 16
#define BOARD_I2C_REGISTERS_MAX 256
#define BOARD_ADC_CHANNELS_MAX 32
#define BOARD_PWM_CHANNELS_MAX 32
#define BOARD_SPI_CS_MAX 8

enum board_type {
	BOARD_GPIO,
	BOARD_UART,
	BOARD_I2C,
	BOARD_SPI,
	BOARD_ADC,
	BOARD_PWM,
	BOARD_TYPE_COUNT
};

struct board_i2c_target {
	uint8_t address;
	uint8_t registers[BOARD_I2C_REGISTERS_MAX];
	size_t register_count;
};

struct board_adc_channel {
	uint32_t channel;
	uint32_t value;
};

struct board_periph {
	enum board_type type;
	char name[BOARD_NAME_MAX + 1];           /* manifests say "$name" */
	char manifest_value[BOARD_NAME_MAX + 1]; /* or this ("ISU0", "8"); defaults to the decimal id */
	uint32_t id;                             /* what the app passes (GPIO_OpenAsOutput(8)) */
	bool simulated;                          /* otherwise a Linux device */

	/* Simulated */
	uint8_t gpio_value;     /* initial level */
	bool loopback;          /* UART: echo writes; SPI: read back what was written */
	struct board_i2c_target *i2c_targets;
	size_t i2c_target_count;
	uint32_t adc_bits;
	uint32_t adc_reference_mv;
	struct board_adc_channel *adc_channels;
	size_t adc_channel_count;
	uint32_t pwm_channels;

	/* Linux: gpiochip name, tty, /dev/i2c-N, IIO device dir, pwmchip dir; SPI: one per chip select */
	char device[BOARD_PATH_MAX + 1];
	char spi_devices[BOARD_SPI_CS_MAX][BOARD_PATH_MAX + 1];
	size_t spi_device_count;
	uint32_t gpio_line;
};

struct board {
	char name[BOARD_NAME_MAX + 1];
	struct board_periph *periphs;
	size_t count;
	/* The clock apps with SystemTime set: simulated (an offset kept by the broker, so tests and the
	 * demo never move the host's clock) or the system clock plus an RTC device (empty: none). */
	bool clock_simulated;
	char rtc_device[BOARD_PATH_MAX + 1];
};

/* Parse LEN bytes of a board file; WHAT names it in errors. */
struct board *board_parse(const char *json, size_t len, const char *what, rp_error *err) RP_MUST_CHECK;
struct board *board_load(const char *path, rp_error *err) RP_MUST_CHECK;
void board_free(struct board *b);

/* The capability / Type name of a peripheral type ("Gpio", "I2cMaster"). */
const char *board_type_name(enum board_type type);
/* Look up by the ID an app passes; NULL when the board has no such peripheral. */
struct board_periph *board_find_id(struct board *b, enum board_type type, uint32_t id);
/* Look up by a manifest entry ("$SAMPLE_LED", "ISU0", "8"); NULL when not on the board. */
struct board_periph *board_find_manifest(struct board *b, enum board_type type, const char *entry);

/* The board a device's apps are checked against at install, and the file it came from (errors). */
struct board_source {
	struct board *board;
	const char *path;
};
/* A manifest_resolve_fn (pkg/manifest.h) over a struct board_source: the Gpio, Uart, I2cMaster,
 * SpiMaster, Adc and Pwm entries resolve to the board's id for them, as the broker grants them;
 * -1 when the board does not define the entry; 0 for other capabilities. */
int board_resolve_entry(void *ctx, const char *cap, const char *entry, uint32_t *id, rp_error *err);

RP_DEFINE_CLEANUP(struct board, board_free)
