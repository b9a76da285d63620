/* Peripheral broker protocol v1: encoding and strict decoding of messages (see broker_proto.h).
 * The decoder faces a sandboxed, possibly hostile app: it checks every length and range and
 * refuses trailing bytes, so the broker's handlers only ever see well-formed requests. */
#include "device/broker/broker_proto.h"

#include <string.h>

#include "common/guid.h"
#include "common/xalloc.h"

#define MAX_ERRNO 4095u

static const struct {
	uint16_t type;
	const char *name;
} type_names[] = {
	{BROKER_GPIO_OPEN, "gpio.open"},
	{BROKER_UART_OPEN, "uart.open"},
	{BROKER_I2C_OPEN, "i2c.open"},
	{BROKER_SPI_OPEN, "spi.open"},
	{BROKER_ADC_OPEN, "adc.open"},
	{BROKER_PWM_OPEN, "pwm.open"},
	{BROKER_NET_STATUS, "net.status"},
	{BROKER_SYSEVENT_REGISTER, "sysevent.register"},
	{BROKER_SYSEVENT_DEFER, "sysevent.defer"},
	{BROKER_SYSEVENT_RESUME, "sysevent.resume"},
	{BROKER_POWER, "power"},
	{BROKER_APP_CONNECT, "app.connect"},
	{BROKER_NET_CONNECT, "net.connect"},
	{BROKER_NET_LISTEN, "net.listen"},
	{BROKER_APP_LISTEN, "app.listen"},
	{BROKER_TIME, "time"},
	{BROKER_GPIO_GET, "gpio.get"},
	{BROKER_GPIO_SET, "gpio.set"},
	{BROKER_I2C_CONFIG, "i2c.config"},
	{BROKER_I2C_TRANSFER, "i2c.transfer"},
	{BROKER_SPI_CONFIG, "spi.config"},
	{BROKER_SPI_TRANSFER, "spi.transfer"},
	{BROKER_ADC_BITS, "adc.bits"},
	{BROKER_ADC_POLL, "adc.poll"},
	{BROKER_ADC_SET_REF, "adc.set_reference"},
	{BROKER_PWM_APPLY, "pwm.apply"},
	{BROKER_SYSEVENT_NOTIFY, "sysevent.notify"},
	{BROKER_APP_INCOMING, "app.incoming"},
	{BROKER_LINK_CONNECT, "link.connect"},
	{BROKER_LINK_LISTENING, "link.listening"},
	{BROKER_LINK_INCOMING, "link.incoming"},
	{BROKER_LINK_SYSEVENT, "link.sysevent"},
	{BROKER_LINK_DEFER, "link.defer"},
	{BROKER_LINK_POWER, "link.power"},
};

const char *broker_msg_type_name(uint16_t type)
{
	type &= (uint16_t)~BROKER_RESPONSE;
	for (size_t i = 0; i < RP_ARRAY_SIZE(type_names); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	return "unknown";
}

bool broker_msg_is_control(uint16_t type)
{
	return (type >= BROKER_GPIO_OPEN && type <= BROKER_APP_LISTEN) || type == BROKER_TIME;
}

bool broker_msg_is_link(uint16_t type)
{
	type &= (uint16_t)~BROKER_RESPONSE;
	return type >= BROKER_LINK_CONNECT && type <= BROKER_LINK_POWER;
}

/* Host names, IPv4 and IPv6 literals only: the allow-list check compares bytes, so anything a
 * resolver might interpret differently (spaces, '%' zone IDs, brackets, trailing dots) is refused. */
static bool host_chars_ok(const char *h, size_t n)
{
	if (n == 0 || h[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == ':'))
			return false;
	}
	return true;
}

static bool known_type(uint16_t type)
{
	return strcmp(broker_msg_type_name(type), "unknown") != 0;
}

/* ---- encoding ---- */

static void encode_request(const struct broker_msg *m, rp_buf *b)
{
	switch (m->type) {
	case BROKER_GPIO_OPEN:
		rp_buf_u32(b, m->id);
		rp_buf_u8(b, m->dir);
		rp_buf_u8(b, m->mode);
		rp_buf_u8(b, m->value);
		break;
	case BROKER_UART_OPEN:
		rp_buf_u32(b, m->id);
		rp_buf_u32(b, m->arg);
		rp_buf_u8(b, m->uart.blocking);
		rp_buf_u8(b, m->uart.data_bits);
		rp_buf_u8(b, m->uart.parity);
		rp_buf_u8(b, m->uart.stop_bits);
		rp_buf_u8(b, m->uart.flow_control);
		break;
	case BROKER_I2C_OPEN:
	case BROKER_ADC_OPEN:
	case BROKER_PWM_OPEN:
	case BROKER_SYSEVENT_REGISTER:
	case BROKER_SYSEVENT_RESUME:
	case BROKER_ADC_BITS:
	case BROKER_ADC_POLL:
		rp_buf_u32(b, m->id);
		break;
	case BROKER_SPI_OPEN:
		rp_buf_u32(b, m->id);
		rp_buf_u32(b, m->arg);
		rp_buf_u8(b, m->value);
		break;
	case BROKER_NET_STATUS:
	case BROKER_GPIO_GET:
		break;
	case BROKER_SYSEVENT_DEFER:
	case BROKER_ADC_SET_REF:
	case BROKER_LINK_DEFER:
		rp_buf_u32(b, m->id);
		rp_buf_u32(b, m->arg);
		break;
	case BROKER_POWER:
	case BROKER_LINK_POWER:
		rp_buf_u8(b, m->dir);
		rp_buf_u32(b, m->id);
		break;
	case BROKER_APP_CONNECT:
	case BROKER_APP_INCOMING:
	case BROKER_LINK_CONNECT:
	case BROKER_LINK_INCOMING:
		if (strlen(m->component_id) != BROKER_COMPONENT_ID_LEN)
			rp_abort("broker_msg_encode: component ID must be 36 characters");
		rp_buf_append(b, m->component_id, BROKER_COMPONENT_ID_LEN);
		break;
	case BROKER_NET_CONNECT: {
		size_t n = strlen(m->host);
		if (n == 0 || n > BROKER_HOST_MAX)
			rp_abort("broker_msg_encode: host must be 1..253 bytes");
		rp_buf_u8(b, m->dir);
		rp_buf_u16(b, (uint16_t)m->id);
		rp_buf_u8(b, (uint8_t)n);
		rp_buf_append(b, m->host, n);
		break;
	}
	case BROKER_NET_LISTEN:
		rp_buf_u8(b, m->dir);
		rp_buf_u16(b, (uint16_t)m->id);
		break;
	case BROKER_APP_LISTEN:
	case BROKER_LINK_LISTENING:
		break;
	case BROKER_TIME:
		rp_buf_u8(b, m->dir);
		rp_buf_u32(b, m->time.clock_id);
		rp_buf_u64(b, (uint64_t)m->time.sec);
		rp_buf_u32(b, m->time.nsec);
		rp_buf_u8(b, m->value);
		break;
	case BROKER_GPIO_SET:
		rp_buf_u8(b, m->value);
		break;
	case BROKER_I2C_CONFIG:
	case BROKER_SPI_CONFIG:
		rp_buf_u8(b, m->dir);
		rp_buf_u32(b, m->arg);
		break;
	case BROKER_I2C_TRANSFER:
		if (m->data_len > BROKER_XFER_MAX || m->read_len > BROKER_XFER_MAX)
			rp_abort("broker_msg_encode: I2C transfer too large");
		rp_buf_u16(b, m->address);
		rp_buf_u16(b, m->data_len);
		rp_buf_append(b, m->data, m->data_len);
		rp_buf_u16(b, m->read_len);
		break;
	case BROKER_SPI_TRANSFER: {
		size_t total = 0;
		if (m->spi_count == 0 || m->spi_count > BROKER_SPI_SEGMENTS_MAX)
			rp_abort("broker_msg_encode: bad SPI segment count");
		rp_buf_u8(b, m->spi_count);
		for (size_t i = 0; i < m->spi_count; i++) {
			const struct broker_spi_segment *s = &m->spi[i];
			total += s->len;
			if (total > BROKER_XFER_MAX)
				rp_abort("broker_msg_encode: SPI transfer too large");
			rp_buf_u8(b, s->flags);
			rp_buf_u16(b, s->len);
			if (s->flags & BROKER_SPI_WRITE)
				rp_buf_append(b, s->write, s->len);
		}
		break;
	}
	case BROKER_PWM_APPLY:
		rp_buf_u32(b, m->id);
		rp_buf_u32(b, m->pwm.period_ns);
		rp_buf_u32(b, m->pwm.duty_ns);
		rp_buf_u8(b, m->pwm.polarity);
		rp_buf_u8(b, m->pwm.enabled);
		break;
	case BROKER_SYSEVENT_NOTIFY:
	case BROKER_LINK_SYSEVENT:
		rp_buf_u32(b, m->sysevent.event);
		rp_buf_u32(b, m->sysevent.status);
		rp_buf_u32(b, m->sysevent.update_type);
		rp_buf_u32(b, m->sysevent.max_defer_minutes);
		break;
	default:
		rp_abort("broker_msg_encode: unknown request type");
	}
}

static void encode_response(const struct broker_msg *m, rp_buf *b)
{
	if (m->status != 0)
		return;
	switch (m->type & ~BROKER_RESPONSE) {
	case BROKER_GPIO_GET:
	case BROKER_NET_STATUS:
	case BROKER_TIME:
		rp_buf_u8(b, m->value);
		break;
	case BROKER_I2C_TRANSFER:
	case BROKER_SPI_TRANSFER:
		if (m->data_len > BROKER_XFER_MAX)
			rp_abort("broker_msg_encode: response data too large");
		rp_buf_u16(b, m->data_len);
		rp_buf_append(b, m->data, m->data_len);
		break;
	case BROKER_ADC_BITS:
	case BROKER_ADC_POLL:
		rp_buf_u32(b, m->arg);
		break;
	case BROKER_LINK_SYSEVENT:
		rp_buf_u8(b, m->sysevent.awaiting);
		break;
	default:
		break;
	}
}

void broker_msg_encode(const struct broker_msg *m, rp_buf *out)
{
	size_t start = out->len;
	if (!known_type(m->type) || m->status > MAX_ERRNO)
		rp_abort("broker_msg_encode: bad type or status");
	rp_buf_u16(out, BROKER_PROTO_VERSION);
	rp_buf_u16(out, m->type);
	rp_buf_u32(out, m->seq);
	rp_buf_u32(out, m->status);
	if (m->type & BROKER_RESPONSE)
		encode_response(m, out);
	else
		encode_request(m, out);
	if (out->len - start > BROKER_MSG_MAX)
		rp_abort("broker_msg_encode: message exceeds BROKER_MSG_MAX");
}

/* ---- decoding ---- */

static int bad(rp_error *err, const struct broker_msg *m, const char *what)
{
	return rp_error_set(err, RP_E_INVALID, "broker message %s: %s", broker_msg_type_name(m->type), what);
}

static int range_u8(rp_error *err, const struct broker_msg *m, const char *field, uint8_t v, uint8_t lo,
                    uint8_t hi)
{
	if (v < lo || v > hi)
		return rp_error_set(err, RP_E_INVALID, "broker message %s: %s %u is out of range %u..%u",
		                    broker_msg_type_name(m->type), field, v, lo, hi);
	return 0;
}

/* One event (a single bit), a status, an update type only for update events, and a deferral
 * allowance only while the event is pending. */
static int sysevent_check(const struct broker_msg *m, rp_error *err)
{
	uint32_t ev = m->sysevent.event;
	if (ev != BROKER_SYSEVENT_UPDATE_READY && ev != BROKER_SYSEVENT_UPDATE_STARTED && ev != BROKER_SYSEVENT_NO_UPDATE)
		return bad(err, m, "event must be exactly one of UpdateReadyForInstall, UpdateStarted, NoUpdateAvailable");
	if (m->sysevent.status < BROKER_SYSEVENT_PENDING || m->sysevent.status > BROKER_SYSEVENT_COMPLETE)
		return bad(err, m, "status must be 1..4");
	if (m->sysevent.update_type > BROKER_UPDATE_SYSTEM ||
	    (ev == BROKER_SYSEVENT_NO_UPDATE) != (m->sysevent.update_type == BROKER_UPDATE_NONE))
		return bad(err, m, "update type must be App or System for update events, none otherwise");
	if (m->sysevent.max_defer_minutes > BROKER_SYSEVENT_DEFER_MAX_MINUTES ||
	    (m->sysevent.max_defer_minutes && (ev != BROKER_SYSEVENT_UPDATE_READY ||
	                                       m->sysevent.status == BROKER_SYSEVENT_FINAL)))
		return bad(err, m, "max deferral must be 0..1440, and 0 unless UpdateReadyForInstall may be deferred");
	return 0;
}

static int decode_request(rp_reader *r, struct broker_msg *m, rp_error *err)
{
	switch (m->type) {
	case BROKER_GPIO_OPEN:
		rp_reader_u32(r, "gpio id", &m->id);
		rp_reader_u8(r, "direction", &m->dir);
		rp_reader_u8(r, "output mode", &m->mode);
		rp_reader_u8(r, "value", &m->value);
		if (!rp_reader_ok(r))
			break;
		if (range_u8(err, m, "direction", m->dir, 0, 1) < 0 || range_u8(err, m, "output mode", m->mode, 0, 2) < 0 ||
		    range_u8(err, m, "value", m->value, 0, 1) < 0)
			return -1;
		break;
	case BROKER_UART_OPEN:
		rp_reader_u32(r, "uart id", &m->id);
		rp_reader_u32(r, "baud rate", &m->arg);
		rp_reader_u8(r, "blocking mode", &m->uart.blocking);
		rp_reader_u8(r, "data bits", &m->uart.data_bits);
		rp_reader_u8(r, "parity", &m->uart.parity);
		rp_reader_u8(r, "stop bits", &m->uart.stop_bits);
		rp_reader_u8(r, "flow control", &m->uart.flow_control);
		if (!rp_reader_ok(r))
			break;
		if (range_u8(err, m, "blocking mode", m->uart.blocking, 0, 1) < 0 ||
		    range_u8(err, m, "data bits", m->uart.data_bits, 5, 8) < 0 ||
		    range_u8(err, m, "parity", m->uart.parity, 0, 2) < 0 ||
		    range_u8(err, m, "stop bits", m->uart.stop_bits, 1, 2) < 0 ||
		    range_u8(err, m, "flow control", m->uart.flow_control, 0, 2) < 0)
			return -1;
		if (m->arg == 0 || m->arg > 16000000)
			return bad(err, m, "baud rate must be 1..16000000");
		break;
	case BROKER_I2C_OPEN:
	case BROKER_ADC_OPEN:
	case BROKER_PWM_OPEN:
	case BROKER_SYSEVENT_REGISTER:
	case BROKER_SYSEVENT_RESUME:
	case BROKER_ADC_BITS:
	case BROKER_ADC_POLL:
		rp_reader_u32(r, "id", &m->id);
		break;
	case BROKER_SPI_OPEN:
		rp_reader_u32(r, "spi id", &m->id);
		rp_reader_u32(r, "chip select", &m->arg);
		rp_reader_u8(r, "chip-select polarity", &m->value);
		if (rp_reader_ok(r) && range_u8(err, m, "chip-select polarity", m->value, 1, 2) < 0)
			return -1;
		break;
	case BROKER_NET_STATUS:
	case BROKER_GPIO_GET:
		break;
	case BROKER_SYSEVENT_DEFER:
	case BROKER_ADC_SET_REF:
		rp_reader_u32(r, "id", &m->id);
		rp_reader_u32(r, "argument", &m->arg);
		break;
	case BROKER_LINK_DEFER:
		rp_reader_u32(r, "event", &m->id);
		rp_reader_u32(r, "minutes", &m->arg);
		if (!rp_reader_ok(r))
			break;
		if (m->id != BROKER_SYSEVENT_UPDATE_READY)
			return bad(err, m, "only UpdateReadyForInstall can be deferred");
		if (m->arg > BROKER_SYSEVENT_DEFER_MAX_MINUTES)
			return bad(err, m, "minutes must be 0..1440");
		break;
	case BROKER_POWER:
	case BROKER_LINK_POWER:
		rp_reader_u8(r, "action", &m->dir);
		rp_reader_u32(r, "argument", &m->id);
		if (rp_reader_ok(r) && range_u8(err, m, "action", m->dir, 1, 3) < 0)
			return -1;
		break;
	case BROKER_APP_CONNECT:
	case BROKER_APP_INCOMING:
	case BROKER_LINK_CONNECT:
	case BROKER_LINK_INCOMING:
		if (rp_reader_bytes(r, "component id", m->component_id, BROKER_COMPONENT_ID_LEN)) {
			m->component_id[BROKER_COMPONENT_ID_LEN] = '\0';
			if (!rp_guid_is_valid(m->component_id))
				return bad(err, m, "component id is not a GUID");
		}
		break;
	case BROKER_NET_CONNECT: {
		uint16_t port = 0;
		uint8_t n = 0;
		rp_reader_u8(r, "socket type", &m->dir);
		rp_reader_u16(r, "port", &port);
		rp_reader_u8(r, "host length", &n);
		if (!rp_reader_ok(r))
			break;
		if (range_u8(err, m, "socket type", m->dir, BROKER_NET_TCP, BROKER_NET_UDP) < 0)
			return -1;
		if (port == 0)
			return bad(err, m, "port 0 is not a destination");
		if (n == 0 || n > BROKER_HOST_MAX)
			return bad(err, m, "host length must be 1..253");
		m->id = port;
		if (rp_reader_bytes(r, "host", m->host, n)) {
			m->host[n] = '\0';
			if (!host_chars_ok(m->host, n))
				return bad(err, m, "host must be a host name or an IP literal (letters, digits, '.', '-', ':')");
		}
		break;
	}
	case BROKER_NET_LISTEN: {
		uint16_t port = 0;
		rp_reader_u8(r, "socket type", &m->dir);
		rp_reader_u16(r, "port", &port);
		if (!rp_reader_ok(r))
			break;
		if (range_u8(err, m, "socket type", m->dir, BROKER_NET_TCP, BROKER_NET_UDP) < 0)
			return -1;
		if (port == 0)
			return bad(err, m, "port 0 cannot be listened on");
		m->id = port;
		break;
	}
	case BROKER_APP_LISTEN:
	case BROKER_LINK_LISTENING:
		break;
	case BROKER_TIME: {
		uint64_t sec = 0;
		rp_reader_u8(r, "operation", &m->dir);
		rp_reader_u32(r, "clock id", &m->time.clock_id);
		rp_reader_u64(r, "seconds", &sec);
		rp_reader_u32(r, "nanoseconds", &m->time.nsec);
		rp_reader_u8(r, "enabled", &m->value);
		if (!rp_reader_ok(r))
			break;
		m->time.sec = (int64_t)sec;
		if (range_u8(err, m, "operation", m->dir, BROKER_TIME_SET, BROKER_TIME_SYNC_GET) < 0 ||
		    range_u8(err, m, "enabled", m->value, 0, 1) < 0)
			return -1;
		break;
	}
	case BROKER_GPIO_SET:
		rp_reader_u8(r, "value", &m->value);
		if (rp_reader_ok(r) && range_u8(err, m, "value", m->value, 0, 1) < 0)
			return -1;
		break;
	case BROKER_I2C_CONFIG:
	case BROKER_SPI_CONFIG:
		rp_reader_u8(r, "setting", &m->dir);
		rp_reader_u32(r, "value", &m->arg);
		if (rp_reader_ok(r) &&
		    range_u8(err, m, "setting", m->dir, 1, m->type == BROKER_I2C_CONFIG ? 2 : 3) < 0)
			return -1;
		break;
	case BROKER_I2C_TRANSFER:
		rp_reader_u16(r, "address", &m->address);
		rp_reader_u16(r, "write length", &m->data_len);
		if (rp_reader_ok(r) && m->data_len > BROKER_XFER_MAX)
			return bad(err, m, "write length exceeds 2048 bytes");
		rp_reader_view(r, "write data", &m->data, m->data_len);
		rp_reader_u16(r, "read length", &m->read_len);
		if (!rp_reader_ok(r))
			break;
		if (m->read_len > BROKER_XFER_MAX)
			return bad(err, m, "read length exceeds 2048 bytes");
		if (m->address > 0x7f)
			return bad(err, m, "address is not a 7-bit I2C address");
		break;
	case BROKER_SPI_TRANSFER: {
		size_t total = 0;
		rp_reader_u8(r, "segment count", &m->spi_count);
		if (!rp_reader_ok(r))
			break;
		if (m->spi_count == 0 || m->spi_count > BROKER_SPI_SEGMENTS_MAX)
			return bad(err, m, "segment count must be 1..16");
		for (size_t i = 0; i < m->spi_count && rp_reader_ok(r); i++) {
			struct broker_spi_segment *s = &m->spi[i];
			s->write = NULL;
			rp_reader_u8(r, "segment flags", &s->flags);
			rp_reader_u16(r, "segment length", &s->len);
			if (!rp_reader_ok(r))
				break;
			if (s->flags == 0 || s->flags > (BROKER_SPI_READ | BROKER_SPI_WRITE))
				return bad(err, m, "segment flags must be read, write or both");
			if (s->len == 0)
				return bad(err, m, "segment length must not be 0");
			total += s->len;
			if (total > BROKER_XFER_MAX)
				return bad(err, m, "transfer exceeds 2048 bytes");
			if (s->flags & BROKER_SPI_WRITE)
				rp_reader_view(r, "segment data", &s->write, s->len);
		}
		break;
	}
	case BROKER_PWM_APPLY:
		rp_reader_u32(r, "channel", &m->id);
		rp_reader_u32(r, "period", &m->pwm.period_ns);
		rp_reader_u32(r, "duty cycle", &m->pwm.duty_ns);
		rp_reader_u8(r, "polarity", &m->pwm.polarity);
		rp_reader_u8(r, "enabled", &m->pwm.enabled);
		if (!rp_reader_ok(r))
			break;
		if (range_u8(err, m, "polarity", m->pwm.polarity, 0, 1) < 0 ||
		    range_u8(err, m, "enabled", m->pwm.enabled, 0, 1) < 0)
			return -1;
		if (m->pwm.duty_ns > m->pwm.period_ns)
			return bad(err, m, "duty cycle is longer than the period");
		break;
	case BROKER_SYSEVENT_NOTIFY:
	case BROKER_LINK_SYSEVENT:
		rp_reader_u32(r, "event", &m->sysevent.event);
		rp_reader_u32(r, "status", &m->sysevent.status);
		rp_reader_u32(r, "update type", &m->sysevent.update_type);
		rp_reader_u32(r, "max deferral", &m->sysevent.max_defer_minutes);
		if (rp_reader_ok(r) && sysevent_check(m, err) < 0)
			return -1;
		break;
	default:
		return bad(err, m, "unknown message type");
	}
	return 0;
}

static int decode_response(rp_reader *r, struct broker_msg *m, rp_error *err)
{
	if (m->status != 0)
		return 0;
	switch (m->type & ~BROKER_RESPONSE) {
	case BROKER_GPIO_GET:
	case BROKER_NET_STATUS:
	case BROKER_TIME:
		rp_reader_u8(r, "value", &m->value);
		if (rp_reader_ok(r) && range_u8(err, m, "value", m->value, 0, 1) < 0)
			return -1;
		break;
	case BROKER_I2C_TRANSFER:
	case BROKER_SPI_TRANSFER:
		rp_reader_u16(r, "data length", &m->data_len);
		if (rp_reader_ok(r) && m->data_len > BROKER_XFER_MAX)
			return bad(err, m, "data length exceeds 2048 bytes");
		rp_reader_view(r, "data", &m->data, m->data_len);
		break;
	case BROKER_ADC_BITS:
	case BROKER_ADC_POLL:
		rp_reader_u32(r, "value", &m->arg);
		break;
	case BROKER_LINK_SYSEVENT:
		rp_reader_u8(r, "awaiting", &m->sysevent.awaiting);
		if (rp_reader_ok(r) && range_u8(err, m, "awaiting", m->sysevent.awaiting, 0, 1) < 0)
			return -1;
		break;
	default:
		break;
	}
	return 0;
}

int broker_msg_decode(const uint8_t *buf, size_t len, struct broker_msg *out, rp_error *err)
{
	rp_reader r;
	uint16_t version = 0;

	memset(out, 0, sizeof(*out));
	if (len > BROKER_MSG_MAX)
		return rp_error_set(err, RP_E_INVALID, "broker message: %zu bytes exceed the %u-byte limit", len,
		                    BROKER_MSG_MAX);
	rp_reader_init(&r, buf, len);
	rp_reader_u16(&r, "version", &version);
	rp_reader_u16(&r, "type", &out->type);
	rp_reader_u32(&r, "sequence", &out->seq);
	rp_reader_u32(&r, "status", &out->status);
	if (!rp_reader_ok(&r))
		return rp_reader_finish(&r, "broker message header", err);
	if (version != BROKER_PROTO_VERSION)
		return rp_error_set(err, RP_E_UNSUPPORTED, "broker message: protocol version %u is not supported (expected %u)",
		                    version, BROKER_PROTO_VERSION);
	if (!known_type(out->type) || (out->type & BROKER_RESPONSE &&
	                                  (out->type == (BROKER_SYSEVENT_NOTIFY | BROKER_RESPONSE) ||
	                                   out->type == (BROKER_APP_INCOMING | BROKER_RESPONSE) ||
	                                   out->type == (BROKER_LINK_INCOMING | BROKER_RESPONSE) ||
	                                   out->type == (BROKER_LINK_LISTENING | BROKER_RESPONSE) ||
	                                   out->type == (BROKER_LINK_DEFER | BROKER_RESPONSE))))
		return rp_error_set(err, RP_E_INVALID, "broker message: unknown type %u", out->type);
	if (out->type & BROKER_RESPONSE) {
		if (out->status > MAX_ERRNO)
			return bad(err, out, "status is not an errno value");
		if (decode_response(&r, out, err) < 0)
			return -1;
	} else {
		if (out->status != 0)
			return bad(err, out, "a request must carry status 0");
		if (decode_request(&r, out, err) < 0)
			return -1;
	}
	return rp_reader_finish(&r, broker_msg_type_name(out->type), err);
}
