/* Unit tests for the application manager's "sysevent" control request (appmgr_sysevent_parse
 * through appmgr_ctl_parse) and the status an app sees for each event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/bytes.h"
#include "device/appmgr/appmgr_broker.h"
#include "device/appmgr/appmgr_ctl.h"
#include "device/appmgr/appmgr_sysevent.h"
#include "device/broker/broker_proto.h"
#include "device/broker/broker_wire.h"
#include "pkg/manifest.h"

static int parse(const char *json, struct appmgr_ctl_request *r, rp_error *err)
{
	rp_error_clear(err);
	return appmgr_ctl_parse(json, strlen(json), r, err);
}

static void test_update_ready(void **state)
{
	(void)state;
	struct appmgr_ctl_request r;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(parse("{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_ready\",\"update_type\":\"app\","
	                       "\"name\":\"blink\",\"image_version\":3,\"max_defer_minutes\":90}",
	                       &r, &err),
	                 0);
	assert_int_equal(r.op, APPMGR_CTL_SYSEVENT);
	assert_int_equal(r.sysevent.event, BROKER_SYSEVENT_UPDATE_READY);
	assert_int_equal(r.sysevent.update_type, BROKER_UPDATE_APP);
	assert_int_equal(r.sysevent.max_defer_minutes, 90);
	assert_int_equal(r.sysevent.wait_ms, APPMGR_SYSEVENT_WAIT_DEFAULT_MS);
	assert_int_equal(r.sysevent.image_version, 3);
	assert_string_equal(r.sysevent.name, "blink");
	assert_int_equal(appmgr_sysevent_status(&r.sysevent), BROKER_SYSEVENT_PENDING);
	/* Nothing left of the 24 h: the event is final. */
	assert_int_equal(parse("{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_ready\",\"update_type\":\"system\","
	                       "\"name\":\"os\",\"wait_ms\":100}",
	                       &r, &err),
	                 0);
	assert_int_equal(r.sysevent.update_type, BROKER_UPDATE_SYSTEM);
	assert_int_equal(r.sysevent.wait_ms, 100);
	assert_int_equal(appmgr_sysevent_status(&r.sysevent), BROKER_SYSEVENT_FINAL);
}

static void test_other_events(void **state)
{
	(void)state;
	struct appmgr_ctl_request r;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(parse("{\"version\":1,\"op\":\"sysevent\",\"event\":\"no_update\"}", &r, &err), 0);
	assert_int_equal(r.sysevent.event, BROKER_SYSEVENT_NO_UPDATE);
	assert_int_equal(appmgr_sysevent_status(&r.sysevent), BROKER_SYSEVENT_COMPLETE);
	assert_int_equal(parse("{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_started\",\"update_type\":\"app\","
	                       "\"name\":\"blink\"}",
	                       &r, &err),
	                 0);
	assert_int_equal(appmgr_sysevent_status(&r.sysevent), BROKER_SYSEVENT_FINAL);
}

static void test_refusals(void **state)
{
	(void)state;
	static const char *const bad[] = {
		/* unknown event, missing event */
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"reboot\"}",
		"{\"version\":1,\"op\":\"sysevent\"}",
		/* an update event without its type or name, or a trust update */
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_ready\",\"name\":\"x\"}",
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_ready\",\"update_type\":\"app\"}",
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_ready\",\"update_type\":\"trust\",\"name\":\"x\"}",
		/* more than 24 h, an update that started offered as deferrable, an unbounded wait */
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_ready\",\"update_type\":\"app\",\"name\":\"x\","
		"\"max_defer_minutes\":1441}",
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_started\",\"update_type\":\"app\",\"name\":\"x\","
		"\"max_defer_minutes\":1}",
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"no_update\",\"wait_ms\":60001}",
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"no_update\",\"wait_ms\":0}",
		/* names: control characters, too long */
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_ready\",\"update_type\":\"app\",\"name\":\"a\\nb\"}",
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_ready\",\"update_type\":\"app\",\"name\":\"\"}",
		/* no_update with update fields; sysevent fields on other ops; app on sysevent */
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"no_update\",\"name\":\"x\"}",
		"{\"version\":1,\"op\":\"status\",\"event\":\"no_update\"}",
		"{\"version\":1,\"op\":\"sysevent\",\"event\":\"no_update\",\"app\":\"4780b14f-8b59-4715-810e-a021efdabec8\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct appmgr_ctl_request r;
		rp_error err = RP_ERROR_INIT;
		assert_int_equal(parse(bad[i], &r, &err), -1);
		assert_true(err.message[0] != '\0');
	}
	char longname[512];
	int n = snprintf(longname, sizeof(longname),
	                 "{\"version\":1,\"op\":\"sysevent\",\"event\":\"update_ready\",\"update_type\":\"app\","
	                 "\"name\":\"%0129d\"}",
	                 0);
	assert_true(n > 0 && (size_t)n < sizeof(longname));
	struct appmgr_ctl_request r;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(parse(longname, &r, &err), -1);
}

/* A broker's acknowledgement says whether the manager waits for its app's answer; it speaks for a
 * possibly hostile app, so only an app that declares SoftwareUpdateDeferral is waited for. */
static bool ack_awaits(bool may_defer, uint32_t max_minutes)
{
	struct appmgr_broker b = APPMGR_BROKER_INIT;
	int app_fd = -1, ends[2] = {-1, -1};
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(appmgr_broker_open(&b, &app_fd, ends, &err), 0);
	assert_true(appmgr_broker_send_sysevent(&b, 7, BROKER_SYSEVENT_UPDATE_READY, 0, 0, max_minutes));
	struct broker_msg ack = {.type = BROKER_LINK_SYSEVENT | BROKER_RESPONSE, .seq = 7};
	ack.sysevent.awaiting = 1;
	rp_buf out;
	rp_buf_init(&out);
	broker_msg_encode(&ack, &out);
	assert_int_equal(broker_wire_send(ends[1], out.data, out.len, -1), 0);
	rp_buf_free(&out);
	struct manifest self = {.name = "app", .component_id = "00000000-0000-0000-0000-000000000001"};
	self.caps.software_update_deferral = may_defer;
	assert_true(appmgr_broker_serve_link(&b, &self, NULL, NULL));
	assert_true(b.se_acked);
	bool awaiting = b.se_awaiting;
	close(app_fd);
	close(ends[0]);
	close(ends[1]);
	close(b.link_fd);
	return awaiting;
}

static void test_awaiting_needs_the_deferral_capability(void **state)
{
	(void)state;
	assert_true(ack_awaits(true, 10));
	assert_false(ack_awaits(false, 10));
	assert_false(ack_awaits(true, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_update_ready),
		cmocka_unit_test(test_other_events),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_awaiting_needs_the_deferral_capability),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
