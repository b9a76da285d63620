/* Peripheral broker protocol v1 (docs/protocol.md, "Peripheral broker protocol v1"): typed,
 * versioned, length-checked messages between an app's applibs and its broker. Pure: no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bytes.h"
#include "common/error.h"

#define BROKER_PROTO_VERSION 1
#define BROKER_HEADER_LEN 12
/* One SOCK_SEQPACKET datagram; anything larger is refused by both ends. */
#define BROKER_MSG_MAX 4096
/* Bytes of data in one I2C or SPI transfer message (write or read). */
#define BROKER_XFER_MAX 2048
#define BROKER_SPI_SEGMENTS_MAX 16
#define BROKER_COMPONENT_ID_LEN 36
/* Longest host name or IP literal in net.connect (an AllowedConnections entry's limit). */
#define BROKER_HOST_MAX 253
/* The fd on which a sandboxed app inherits its broker socket. */
#define BROKER_APP_FD 3

/* A response's type is the request's type with this bit set. */
#define BROKER_RESPONSE 0x8000u

enum broker_msg_type {
	/* Control channel (the inherited socket). Opens answer with a new fd (SCM_RIGHTS). */
	BROKER_GPIO_OPEN = 1,
	BROKER_UART_OPEN = 2,
	BROKER_I2C_OPEN = 3,
	BROKER_SPI_OPEN = 4,
	BROKER_ADC_OPEN = 5,
	BROKER_PWM_OPEN = 6,
	BROKER_NET_STATUS = 7,
	BROKER_SYSEVENT_REGISTER = 8,
	BROKER_SYSEVENT_DEFER = 9,
	BROKER_SYSEVENT_RESUME = 10,
	BROKER_POWER = 11,
	BROKER_APP_CONNECT = 12,
	/* Network broker operations (protocol section "Network broker operations v1"). */
	BROKER_NET_CONNECT = 13,
	BROKER_NET_LISTEN = 14,
	BROKER_APP_LISTEN = 15,
	/* System time (SystemTime / TimeSyncConfig capabilities): one type, the operation in `dir`. */
	BROKER_TIME = 16,
	/* Handle channels (the fd an open returned), bound to one peripheral. */
	BROKER_GPIO_GET = 32,
	BROKER_GPIO_SET = 33,
	BROKER_I2C_CONFIG = 34,
	BROKER_I2C_TRANSFER = 35,
	BROKER_SPI_CONFIG = 36,
	BROKER_SPI_TRANSFER = 37,
	BROKER_ADC_BITS = 38,
	BROKER_ADC_POLL = 39,
	BROKER_ADC_SET_REF = 40,
	BROKER_PWM_APPLY = 41,
	/* Unsolicited, broker to app, on a system-event channel. */
	BROKER_SYSEVENT_NOTIFY = 64,
	/* Unsolicited, broker to app, on an app-connection channel: a peer's socket. */
	BROKER_APP_INCOMING = 65,
	/* Link channel between a broker and the app manager, never valid from an app. */
	BROKER_LINK_CONNECT = 96,   /* broker -> manager: connect my app to this component */
	BROKER_LINK_LISTENING = 97, /* broker -> manager: my app accepts app connections */
	BROKER_LINK_INCOMING = 98,  /* manager -> broker: a peer's socket for my app */
	BROKER_LINK_SYSEVENT = 99,  /* manager -> broker: a system event for my app (answered: awaiting?) */
	BROKER_LINK_DEFER = 100,    /* broker -> manager: my app deferred (minutes) or resumed (0) */
	BROKER_LINK_POWER = 101,    /* broker -> manager: my app's granted power request (answered: status) */
};

/* System events (applibs sysevent.h values). */
#define BROKER_SYSEVENT_UPDATE_READY 0x1u
#define BROKER_SYSEVENT_UPDATE_STARTED 0x2u
#define BROKER_SYSEVENT_NO_UPDATE 0x4u
#define BROKER_SYSEVENT_MASK 0x7u
enum broker_sysevent_status {
	BROKER_SYSEVENT_PENDING = 1,
	BROKER_SYSEVENT_FINAL = 2,
	BROKER_SYSEVENT_DEFERRED = 3,
	BROKER_SYSEVENT_COMPLETE = 4,
};
enum broker_sysevent_update_type { BROKER_UPDATE_NONE = 0, BROKER_UPDATE_APP = 1, BROKER_UPDATE_SYSTEM = 2 };
/* The longest one deferral may be, and the total a target may be held back (24 h). */
#define BROKER_SYSEVENT_DEFER_MAX_MINUTES 1440u

enum broker_net_socket { BROKER_NET_TCP = 1, BROKER_NET_UDP = 2 };

enum broker_gpio_dir { BROKER_GPIO_INPUT = 0, BROKER_GPIO_OUTPUT = 1 };
enum broker_power_action { BROKER_POWER_REBOOT = 1, BROKER_POWER_DOWN = 2, BROKER_POWER_PROFILE = 3 };
/* BROKER_TIME operations: set CLOCK_REALTIME, copy the system time to the RTC, enable or
 * disable time sync, query time sync (the response's `value`). */
enum broker_time_op { BROKER_TIME_SET = 1, BROKER_TIME_SYSTOHC = 2, BROKER_TIME_SYNC_SET = 3, BROKER_TIME_SYNC_GET = 4 };
enum broker_i2c_setting { BROKER_I2C_SPEED = 1, BROKER_I2C_TIMEOUT = 2 };
enum broker_spi_setting { BROKER_SPI_SPEED = 1, BROKER_SPI_MODE = 2, BROKER_SPI_BIT_ORDER = 3 };
#define BROKER_SPI_READ 0x1u
#define BROKER_SPI_WRITE 0x2u

struct broker_spi_segment {
	uint8_t flags;        /* BROKER_SPI_READ | BROKER_SPI_WRITE */
	uint16_t len;         /* bytes clocked */
	const uint8_t *write; /* len bytes when flags has WRITE (points into the decoded buffer) */
};

/* One decoded message. Only the fields of its type are meaningful; pointers borrow from the
 * buffer that was decoded (or that will be encoded). */
struct broker_msg {
	uint16_t type;   /* enum broker_msg_type, | BROKER_RESPONSE for responses */
	uint32_t seq;    /* echoed by the response */
	uint32_t status; /* responses: 0 or a positive errno value; requests: 0 */

	uint32_t id;      /* peripheral ID (opens), ADC/PWM channel, event mask, power argument */
	uint32_t arg;     /* SPI chip select, UART baud rate, ADC value/bits, setting value, minutes */
	uint8_t dir;      /* GPIO direction, power action, I2C/SPI setting */
	uint8_t mode;     /* GPIO output mode */
	uint8_t value;    /* GPIO value, net readiness, SPI chip-select polarity */
	struct {
		uint8_t blocking, data_bits, parity, stop_bits, flow_control;
	} uart;
	struct {
		uint32_t period_ns, duty_ns;
		uint8_t polarity, enabled;
	} pwm;
	struct {
		uint32_t event, status, update_type, max_defer_minutes;
		uint8_t awaiting; /* link.sysevent response: the app may still defer or resume */
	} sysevent;
	struct {
		uint32_t clock_id; /* BROKER_TIME_SET: the clockid_t the app passed */
		int64_t sec;       /* seconds since the epoch (two's complement on the wire) */
		uint32_t nsec;     /* validated by the broker (EINVAL), not the decoder */
	} time;
	uint16_t address;     /* I2C target address */
	uint16_t read_len;    /* I2C bytes to read */
	const uint8_t *data;  /* I2C write data (requests) or read data (responses) */
	uint16_t data_len;
	struct broker_spi_segment spi[BROKER_SPI_SEGMENTS_MAX];
	uint8_t spi_count;
	char component_id[BROKER_COMPONENT_ID_LEN + 1];
	char host[BROKER_HOST_MAX + 1]; /* net.connect: host name or IP literal, NUL-terminated */
};

/* Append the encoded message to OUT. Aborts on a message that violates the limits above (a bug
 * in the caller, never input from the peer). */
void broker_msg_encode(const struct broker_msg *m, rp_buf *out);
/* Decode and validate one datagram: version, known type, exact body length, value ranges. */
int broker_msg_decode(const uint8_t *buf, size_t len, struct broker_msg *out, rp_error *err) RP_MUST_CHECK;

/* True when TYPE (a request type) belongs on the control channel. */
bool broker_msg_is_control(uint16_t type);
/* True for the broker <-> app manager link types, which an app may never send. */
bool broker_msg_is_link(uint16_t type);
/* Name for logs ("gpio.open"); "unknown" for anything else. */
const char *broker_msg_type_name(uint16_t type);
