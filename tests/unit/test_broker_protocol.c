/* Unit tests for the peripheral broker protocol v1 (encode/decode, hostile inputs), the wire
 * helpers (SCM_RIGHTS) and the broker's manifest policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <unistd.h>

#include "common/bytes.h"
#include "device/broker/broker_policy.h"
#include "device/broker/broker_proto.h"
#include "device/broker/broker_time.h"
#include "device/broker/broker_wire.h"

static size_t encode(const struct broker_msg *m, uint8_t *out)
{
	rp_buf b;
	rp_buf_init(&b);
	broker_msg_encode(m, &b);
	assert_true(b.len <= BROKER_MSG_MAX);
	memcpy(out, b.data, b.len);
	size_t n = b.len;
	rp_buf_free(&b);
	return n;
}

static void test_roundtrip_gpio_open(void **state)
{
	(void)state;
	struct broker_msg m = {.type = BROKER_GPIO_OPEN, .seq = 7, .id = 8, .dir = 1, .mode = 2, .value = 1}, d;
	uint8_t buf[BROKER_MSG_MAX];
	rp_error err = RP_ERROR_INIT;
	size_t n = encode(&m, buf);
	assert_int_equal(n, BROKER_HEADER_LEN + 7);
	assert_int_equal(buf[1], BROKER_PROTO_VERSION);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.type, BROKER_GPIO_OPEN);
	assert_int_equal(d.seq, 7);
	assert_int_equal(d.id, 8);
	assert_int_equal(d.dir, 1);
	assert_int_equal(d.mode, 2);
	assert_int_equal(d.value, 1);
}

static void test_roundtrip_i2c_and_spi(void **state)
{
	(void)state;
	const uint8_t wr[3] = {1, 2, 3};
	struct broker_msg m = {.type = BROKER_I2C_TRANSFER, .address = 0x48, .data = wr, .data_len = 3, .read_len = 2}, d;
	uint8_t buf[BROKER_MSG_MAX];
	rp_error err = RP_ERROR_INIT;
	size_t n = encode(&m, buf);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.address, 0x48);
	assert_int_equal(d.data_len, 3);
	assert_memory_equal(d.data, wr, 3);
	assert_int_equal(d.read_len, 2);

	struct broker_msg s = {.type = BROKER_SPI_TRANSFER, .spi_count = 2};
	s.spi[0] = (struct broker_spi_segment){.flags = BROKER_SPI_WRITE, .len = 3, .write = wr};
	s.spi[1] = (struct broker_spi_segment){.flags = BROKER_SPI_READ, .len = 4};
	n = encode(&s, buf);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.spi_count, 2);
	assert_int_equal(d.spi[0].len, 3);
	assert_memory_equal(d.spi[0].write, wr, 3);
	assert_null(d.spi[1].write);

	struct broker_msg r = {.type = BROKER_I2C_TRANSFER | BROKER_RESPONSE, .seq = 9, .data = wr, .data_len = 2};
	n = encode(&r, buf);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.data_len, 2);
	assert_memory_equal(d.data, wr, 2);
}

static void test_error_response_has_no_body(void **state)
{
	(void)state;
	struct broker_msg m = {.type = BROKER_GPIO_GET | BROKER_RESPONSE, .seq = 3, .status = EPERM, .value = 1}, d;
	uint8_t buf[BROKER_MSG_MAX];
	rp_error err = RP_ERROR_INIT;
	size_t n = encode(&m, buf);
	assert_int_equal(n, BROKER_HEADER_LEN);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.status, EPERM);
	/* A body after an error status is trailing data. */
	buf[n] = 0;
	assert_int_equal(broker_msg_decode(buf, n + 1, &d, &err), -1);
}

static void test_hostile_inputs(void **state)
{
	(void)state;
	struct broker_msg m = {.type = BROKER_GPIO_OPEN, .id = 8, .dir = 1}, d;
	uint8_t buf[BROKER_MSG_MAX + 16];
	rp_error err = RP_ERROR_INIT;
	size_t n = encode(&m, buf);

	/* truncated at every length */
	for (size_t i = 0; i < n; i++) {
		rp_error_clear(&err);
		assert_int_equal(broker_msg_decode(buf, i, &d, &err), -1);
		assert_int_equal(err.code, RP_E_INVALID);
	}
	/* trailing byte */
	assert_int_equal(broker_msg_decode(buf, n + 1, &d, &err), -1);
	assert_non_null(strstr(err.message, "trailing"));
	/* wrong version */
	buf[1] = 2;
	rp_error_clear(&err);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	assert_int_equal(err.code, RP_E_UNSUPPORTED);
	buf[1] = 1;
	/* out-of-range direction */
	buf[BROKER_HEADER_LEN + 4] = 2;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	assert_non_null(strstr(err.message, "direction"));
	buf[BROKER_HEADER_LEN + 4] = 1;
	/* a request carrying a status */
	buf[11] = 1;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	buf[11] = 0;
	/* unknown type */
	buf[3] = 99;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	/* oversized datagram */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(broker_msg_decode(buf, BROKER_MSG_MAX + 1, &d, &err), -1);
}

static void test_hostile_transfers(void **state)
{
	(void)state;
	uint8_t buf[BROKER_MSG_MAX];
	struct broker_msg d;
	rp_error err = RP_ERROR_INIT;
	rp_buf b;

	/* I2C write length larger than the data that follows */
	rp_buf_init(&b);
	rp_buf_u16(&b, 1);
	rp_buf_u16(&b, BROKER_I2C_TRANSFER);
	rp_buf_u32(&b, 1);
	rp_buf_u32(&b, 0);
	rp_buf_u16(&b, 0x48);
	rp_buf_u16(&b, 100);
	rp_buf_u8(&b, 1);
	assert_int_equal(broker_msg_decode(b.data, b.len, &d, &err), -1);
	rp_buf_free(&b);

	/* I2C read length over the limit */
	rp_buf_init(&b);
	rp_buf_u16(&b, 1);
	rp_buf_u16(&b, BROKER_I2C_TRANSFER);
	rp_buf_u32(&b, 1);
	rp_buf_u32(&b, 0);
	rp_buf_u16(&b, 0x48);
	rp_buf_u16(&b, 0);
	rp_buf_u16(&b, BROKER_XFER_MAX + 1);
	assert_int_equal(broker_msg_decode(b.data, b.len, &d, &err), -1);
	rp_buf_free(&b);

	/* SPI: 17 segments, and segments summing past the limit */
	rp_buf_init(&b);
	rp_buf_u16(&b, 1);
	rp_buf_u16(&b, BROKER_SPI_TRANSFER);
	rp_buf_u32(&b, 1);
	rp_buf_u32(&b, 0);
	rp_buf_u8(&b, 17);
	assert_int_equal(broker_msg_decode(b.data, b.len, &d, &err), -1);
	rp_buf_free(&b);
	rp_buf_init(&b);
	rp_buf_u16(&b, 1);
	rp_buf_u16(&b, BROKER_SPI_TRANSFER);
	rp_buf_u32(&b, 1);
	rp_buf_u32(&b, 0);
	rp_buf_u8(&b, 2);
	rp_buf_u8(&b, BROKER_SPI_READ);
	rp_buf_u16(&b, 2000);
	rp_buf_u8(&b, BROKER_SPI_READ);
	rp_buf_u16(&b, 2000);
	assert_int_equal(broker_msg_decode(b.data, b.len, &d, &err), -1);
	assert_non_null(strstr(err.message, "2048"));
	rp_buf_free(&b);

	/* PWM duty longer than period */
	struct broker_msg p = {.type = BROKER_PWM_APPLY, .pwm = {.period_ns = 10, .duty_ns = 5}};
	size_t n = encode(&p, buf);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	rp_put_u32be(buf + BROKER_HEADER_LEN + 8, 11);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);

	/* app connect with a non-GUID */
	struct broker_msg a = {.type = BROKER_APP_CONNECT};
	memcpy(a.component_id, "4780b14f-8b59-4715-810e-a021efdabec8", 37);
	n = encode(&a, buf);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_string_equal(d.component_id, a.component_id);
	buf[BROKER_HEADER_LEN + 8] = 'x';
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
}

/* System events: notify and link.sysevent share one validated body; link.defer carries minutes
 * within the 24 h; link.sysevent's answer says whether the app may still defer. */
static void test_sysevent_messages(void **state)
{
	(void)state;
	uint8_t buf[BROKER_MSG_MAX];
	rp_error err = RP_ERROR_INIT;
	struct broker_msg d;
	struct broker_msg m = {.type = BROKER_LINK_SYSEVENT, .seq = 9};
	m.sysevent.event = BROKER_SYSEVENT_UPDATE_READY;
	m.sysevent.status = BROKER_SYSEVENT_PENDING;
	m.sysevent.update_type = BROKER_UPDATE_APP;
	m.sysevent.max_defer_minutes = 1440;
	size_t n = encode(&m, buf);
	assert_int_equal(n, BROKER_HEADER_LEN + 16);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.seq, 9);
	assert_int_equal(d.sysevent.max_defer_minutes, 1440);
	assert_true(broker_msg_is_link(BROKER_LINK_SYSEVENT) && broker_msg_is_link(BROKER_LINK_DEFER));
	assert_false(broker_msg_is_control(BROKER_LINK_DEFER));

	struct broker_msg bad = m;
	bad.sysevent.event = BROKER_SYSEVENT_UPDATE_READY | BROKER_SYSEVENT_UPDATE_STARTED; /* one event only */
	assert_int_equal(broker_msg_decode(buf, encode(&bad, buf), &d, &err), -1);
	bad = m;
	bad.sysevent.max_defer_minutes = 1441;
	assert_int_equal(broker_msg_decode(buf, encode(&bad, buf), &d, &err), -1);
	bad = m;
	bad.sysevent.status = BROKER_SYSEVENT_FINAL; /* a final event is not deferrable */
	assert_int_equal(broker_msg_decode(buf, encode(&bad, buf), &d, &err), -1);
	bad = m;
	bad.type = BROKER_SYSEVENT_NOTIFY;
	bad.sysevent.event = BROKER_SYSEVENT_NO_UPDATE; /* no update: no update type, no deferral */
	bad.sysevent.status = BROKER_SYSEVENT_COMPLETE;
	assert_int_equal(broker_msg_decode(buf, encode(&bad, buf), &d, &err), -1);
	bad.sysevent.update_type = BROKER_UPDATE_NONE;
	bad.sysevent.max_defer_minutes = 0;
	assert_int_equal(broker_msg_decode(buf, encode(&bad, buf), &d, &err), 0);

	struct broker_msg ack = {.type = BROKER_LINK_SYSEVENT | BROKER_RESPONSE, .seq = 9};
	ack.sysevent.awaiting = 1;
	n = encode(&ack, buf);
	assert_int_equal(n, BROKER_HEADER_LEN + 1);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.sysevent.awaiting, 1);
	buf[n - 1] = 2;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);

	struct broker_msg defer = {.type = BROKER_LINK_DEFER, .seq = 9, .id = BROKER_SYSEVENT_UPDATE_READY, .arg = 60};
	n = encode(&defer, buf);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.arg, 60);
	defer.arg = 1441;
	assert_int_equal(broker_msg_decode(buf, encode(&defer, buf), &d, &err), -1);
	defer.arg = 1;
	defer.id = BROKER_SYSEVENT_UPDATE_STARTED;
	assert_int_equal(broker_msg_decode(buf, encode(&defer, buf), &d, &err), -1);
	/* link.defer has no response */
	struct broker_msg r = {.type = BROKER_LINK_DEFER | BROKER_RESPONSE};
	rp_buf b;
	rp_buf_init(&b);
	broker_msg_encode(&r, &b);
	assert_int_equal(broker_msg_decode(b.data, b.len, &d, &err), -1);
	rp_buf_free(&b);
}

/* link.power: a granted power request forwarded to the app manager, answered with a status. */
static void test_link_power(void **state)
{
	(void)state;
	uint8_t buf[BROKER_MSG_MAX];
	struct broker_msg d;
	rp_error err = RP_ERROR_INIT;
	assert_true(broker_msg_is_link(BROKER_LINK_POWER));
	assert_false(broker_msg_is_control(BROKER_LINK_POWER)); /* an app may never send it */
	struct broker_msg m = {.type = BROKER_LINK_POWER, .seq = 5, .dir = BROKER_POWER_PROFILE, .id = 2};
	size_t n = encode(&m, buf);
	assert_int_equal(n, BROKER_HEADER_LEN + 5);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.type, BROKER_LINK_POWER);
	assert_int_equal(d.dir, BROKER_POWER_PROFILE);
	assert_int_equal(d.id, 2);
	assert_int_equal(d.seq, 5);
	buf[BROKER_HEADER_LEN] = 4; /* no such action */
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	assert_int_equal(broker_msg_decode(buf, n - 1, &d, &err), -1);
	struct broker_msg r = {.type = BROKER_LINK_POWER | BROKER_RESPONSE, .seq = 5, .status = ENOTSUP};
	n = encode(&r, buf);
	assert_int_equal(n, BROKER_HEADER_LEN);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.status, ENOTSUP);
}

static void test_channel_rules(void **state)
{
	(void)state;
	assert_true(broker_msg_is_control(BROKER_GPIO_OPEN));
	assert_true(broker_msg_is_control(BROKER_APP_CONNECT));
	assert_false(broker_msg_is_control(BROKER_GPIO_SET));
	assert_false(broker_msg_is_control(BROKER_SYSEVENT_NOTIFY));
	assert_string_equal(broker_msg_type_name(BROKER_GPIO_SET | BROKER_RESPONSE), "gpio.set");
	assert_string_equal(broker_msg_type_name(1234), "unknown");
}

static void test_wire_fd_passing(void **state)
{
	(void)state;
	int sv[2], pipefd[2], got = -1;
	uint8_t buf[64];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	assert_int_equal(broker_wire_send(sv[0], "hi", 2, pipefd[1]), 0);
	assert_int_equal(broker_wire_recv(sv[1], buf, sizeof(buf), &got), 2);
	assert_true(got >= 0);
	assert_int_equal(fcntl(got, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(write(got, "x", 1), 1);
	close(got);
	/* an oversized datagram is refused, not truncated */
	uint8_t big[128] = {0};
	assert_int_equal(broker_wire_send(sv[0], big, sizeof(big), -1), 0);
	assert_int_equal(broker_wire_recv(sv[1], buf, 16, &got), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(got, -1);
	/* end of stream */
	close(sv[0]);
	assert_int_equal(broker_wire_recv(sv[1], buf, sizeof(buf), &got), 0);
	close(sv[1]);
	close(pipefd[0]);
	close(pipefd[1]);
}

#define MANIFEST_HEAD                                                                                          \
	"{\"SchemaVersion\":1,\"Name\":\"Blink\",\"ComponentId\":\"077d9def-fa59-467f-a843-1d35e48470b6\","     \
	"\"EntryPoint\":\"/bin/app\",\"ApplicationType\":\"Default\",\"Capabilities\":"

static struct broker_policy *policy(const char *caps, rp_error *err)
{
	char doc[2048];
	snprintf(doc, sizeof(doc), MANIFEST_HEAD "%s}", caps);
	rp_error_clear(err);
	return broker_policy_from_manifest_json(doc, strlen(doc), "app_manifest.json", err);
}

static void test_policy(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct broker_policy *p = policy("{\"Gpio\":[\"$SAMPLE_LED\",9],\"Uart\":[\"ISU0\"],"
	                                 "\"PowerControls\":[\"ForceReboot\"],\"SystemEventNotifications\":true,"
	                                 "\"AllowedApplicationConnections\":[\"4780B14F-8B59-4715-810E-A021EFDABEC8\"]}",
	                                 &err);
	if (!p)
		fail_msg("%s", err.message);
	assert_string_equal(p->app_name, "Blink");
	assert_int_equal(p->periph_count[BOARD_GPIO], 2);
	assert_string_equal(p->periph[BOARD_GPIO][0], "$SAMPLE_LED");
	assert_string_equal(p->periph[BOARD_GPIO][1], "9");
	assert_int_equal(p->periph_count[BOARD_UART], 1);
	assert_int_equal(p->power_controls, BROKER_POWER_FORCE_REBOOT);
	assert_true(p->system_event_notifications);
	assert_false(p->software_update_deferral);
	assert_string_equal(p->app_connections[0], "4780b14f-8b59-4715-810e-a021efdabec8");
	broker_policy_free(p);

	/* Anything the manifest module refuses, the broker refuses, naming the file. */
	assert_null(policy("{\"Gpio\":\"8\"}", &err));
	assert_non_null(strstr(err.message, "Gpio"));
	assert_non_null(strstr(err.message, "app_manifest.json"));
	assert_null(policy("{\"PowerControls\":[\"Explode\"]}", &err));
	assert_non_null(strstr(err.message, "Explode"));
	assert_null(policy("{\"Gpio\":[-1]}", &err));
	p = policy("{}", &err);
	assert_non_null(p);
	assert_int_equal(p->periph_count[BOARD_GPIO], 0);
	assert_int_equal(p->power_controls, 0);
	broker_policy_free(p);
}

/* BROKER_TIME: one fixed-size body for every operation; the decoder checks structure (operation,
 * enabled flag, length), the broker checks values (broker_time_check). */
static void test_time_message(void **state)
{
	(void)state;
	struct broker_msg m = {.type = BROKER_TIME, .seq = 3, .dir = BROKER_TIME_SET,
	                       .time = {.clock_id = 0, .sec = -5, .nsec = 999999999}}, d;
	uint8_t buf[BROKER_MSG_MAX];
	rp_error err = RP_ERROR_INIT;
	size_t n = encode(&m, buf);
	assert_int_equal(n, BROKER_HEADER_LEN + 18);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.dir, BROKER_TIME_SET);
	assert_true(d.time.sec == -5); /* two's complement round trip */
	assert_int_equal(d.time.nsec, 999999999);
	assert_true(broker_msg_is_control(BROKER_TIME));
	assert_false(broker_msg_is_link(BROKER_TIME));
	assert_string_equal(broker_msg_type_name(BROKER_TIME), "time");

	/* Responses carry the time-sync state. */
	struct broker_msg r = {.type = BROKER_TIME | BROKER_RESPONSE, .seq = 3, .value = 1};
	n = encode(&r, buf);
	assert_int_equal(n, BROKER_HEADER_LEN + 1);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.value, 1);
	buf[BROKER_HEADER_LEN] = 2;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);

	/* Operation 0 or 5, enabled 2, short and long bodies. */
	m.time.sec = 1900000000;
	n = encode(&m, buf);
	buf[BROKER_HEADER_LEN] = 0;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	assert_non_null(strstr(err.message, "operation"));
	buf[BROKER_HEADER_LEN] = 5;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	buf[BROKER_HEADER_LEN] = BROKER_TIME_SYNC_SET;
	buf[n - 1] = 2;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	assert_non_null(strstr(err.message, "enabled"));
	buf[n - 1] = 1;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.value, 1);
	assert_int_equal(broker_msg_decode(buf, n - 1, &d, &err), -1);
	buf[n] = 0;
	assert_int_equal(broker_msg_decode(buf, n + 1, &d, &err), -1);
}

static void test_time_values(void **state)
{
	(void)state;
	const char *why = NULL;
	struct broker_msg m = {.type = BROKER_TIME, .dir = BROKER_TIME_SET,
	                       .time = {.clock_id = 0, .sec = 1900000000, .nsec = 0}};
	assert_int_equal(broker_time_check(&m, &why), 0);
	m.time.sec = BROKER_TIME_MIN_SEC;
	assert_int_equal(broker_time_check(&m, &why), 0);
	m.time.sec = BROKER_TIME_MAX_SEC;
	m.time.nsec = 999999999;
	assert_int_equal(broker_time_check(&m, &why), 0);
	m.time.nsec = 1000000000;
	assert_int_equal(broker_time_check(&m, &why), EINVAL);
	assert_non_null(strstr(why, "nanoseconds"));
	m.time.nsec = 0;
	m.time.sec = BROKER_TIME_MAX_SEC + 1;
	assert_int_equal(broker_time_check(&m, &why), EINVAL);
	m.time.sec = BROKER_TIME_MIN_SEC - 1;
	assert_int_equal(broker_time_check(&m, &why), EINVAL);
	m.time.sec = INT64_MIN;
	assert_int_equal(broker_time_check(&m, &why), EINVAL);
	assert_non_null(strstr(why, "seconds"));
	m.time.sec = 1900000000;
	m.time.clock_id = 1; /* CLOCK_MONOTONIC */
	assert_int_equal(broker_time_check(&m, &why), EINVAL);
	assert_non_null(strstr(why, "CLOCK_REALTIME"));
	m.time.clock_id = 0xfffffffeu; /* a CPU-time clock */
	assert_int_equal(broker_time_check(&m, &why), EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_gpio_open),
		cmocka_unit_test(test_roundtrip_i2c_and_spi),
		cmocka_unit_test(test_error_response_has_no_body),
		cmocka_unit_test(test_hostile_inputs),
		cmocka_unit_test(test_hostile_transfers),
		cmocka_unit_test(test_sysevent_messages),
		cmocka_unit_test(test_link_power),
		cmocka_unit_test(test_channel_rules),
		cmocka_unit_test(test_wire_fd_passing),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_time_message),
		cmocka_unit_test(test_time_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
