/* Unit tests for the security monitor protocol and its server dispatch: round trips, and short,
 * long, wrong-type, wrong-version, trailing and unauthorised messages refused with a precise
 * reason while nothing is issued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "attest/evidence.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "device/monitor/monitor_eventlog.h"
#include "device/monitor/monitor_protocol.h"
#include "device/monitor/monitor_server.h"

static void encode(const monitor_request *req, rp_buf *out)
{
	rp_error err = RP_ERROR_INIT;
	rp_buf_init(out);
	assert_int_equal(monitor_request_encode(req, out, &err), 0);
}

static void round_trips(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	monitor_request *req = xcalloc(1, sizeof(*req)), *back = xcalloc(1, sizeof(*back));
	req->type = MONITOR_MSG_EXTEND;
	req->u.extend.pcr = 9;
	snprintf(req->u.extend.name, sizeof(req->u.extend.name), "%s", "rampart-agent");
	snprintf(req->u.extend.version, sizeof(req->u.extend.version), "%s", "0.1.0");
	memset(req->u.extend.digest, 7, 32);
	rp_buf b;
	encode(req, &b);
	assert_int_equal(monitor_request_decode(b.data, b.len, back, &err), 0);
	assert_int_equal(back->type, MONITOR_MSG_EXTEND);
	assert_string_equal(back->u.extend.name, "rampart-agent");
	assert_memory_equal(back->u.extend.digest, req->u.extend.digest, 32);
	rp_buf_free(&b);
	memset(req, 0, sizeof(*req));
	req->type = MONITOR_MSG_ATTEST;
	memset(req->u.attest.nonce, 3, 32);
	req->u.attest.n_images = 1;
	snprintf(req->u.attest.images[0].id, sizeof(req->u.attest.images[0].id), "%s", "aaaaaaaa-2222-3333-4444-555555555555");
	snprintf(req->u.attest.images[0].version, sizeof(req->u.attest.images[0].version), "%s", "7");
	encode(req, &b);
	assert_int_equal(monitor_request_decode(b.data, b.len, back, &err), 0);
	assert_int_equal(back->u.attest.n_images, 1);
	assert_string_equal(back->u.attest.images[0].id, "aaaaaaaa-2222-3333-4444-555555555555");
	rp_buf_free(&b);
	memset(req, 0, sizeof(*req));
	req->type = MONITOR_MSG_ADVANCE_COUNTER;
	req->u.advance.index = 2;
	req->u.advance.value = 1234567890123ull;
	encode(req, &b);
	assert_int_equal(monitor_request_decode(b.data, b.len, back, &err), 0);
	assert_int_equal(back->u.advance.value, 1234567890123ull);
	rp_buf_free(&b);
	free(req);
	free(back);
}

static void hostile_messages_are_refused(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	monitor_request *back = xcalloc(1, sizeof(*back));
	monitor_request req = {.type = MONITOR_MSG_ADVANCE_COUNTER, .u.advance = {.index = 1, .value = 2}};
	rp_buf b;
	encode(&req, &b);
	/* short: every truncation */
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(monitor_request_decode(b.data, n, back, &err), -1);
	assert_int_equal(monitor_request_decode(b.data, 5, back, &err), -1);
	assert_non_null(strstr(err.message, "shorter than the 12-byte header"));
	/* header length disagrees with what arrived */
	assert_int_equal(monitor_request_decode(b.data, b.len - 1, back, &err), -1);
	assert_non_null(strstr(err.message, "header says the body is 9 bytes but 8 arrived"));
	/* body shorter than the type needs, with a consistent header */
	uint8_t msg[64];
	memcpy(msg, b.data, 12);
	rp_put_u32be(msg + 8, 3);
	memcpy(msg + 12, b.data + 12, 3);
	assert_int_equal(monitor_request_decode(msg, 15, back, &err), -1);
	assert_non_null(strstr(err.message, "ADVANCE_COUNTER is truncated: no room for counter value"));
	/* trailing data */
	memcpy(msg, b.data, b.len);
	rp_put_u32be(msg + 8, 10);
	msg[b.len] = 0;
	assert_int_equal(monitor_request_decode(msg, b.len + 1, back, &err), -1);
	assert_non_null(strstr(err.message, "trailing"));
	/* long */
	uint8_t *big = xcalloc(1, MONITOR_MSG_MAX + 1);
	assert_int_equal(monitor_request_decode(big, MONITOR_MSG_MAX + 1, back, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	free(big);
	/* wrong magic, version, type */
	memcpy(msg, b.data, b.len);
	msg[0] = 'X';
	assert_int_equal(monitor_request_decode(msg, b.len, back, &err), -1);
	assert_non_null(strstr(err.message, "magic"));
	memcpy(msg, b.data, b.len);
	msg[5] = 9;
	assert_int_equal(monitor_request_decode(msg, b.len, back, &err), -1);
	assert_non_null(strstr(err.message, "protocol version 9"));
	memcpy(msg, b.data, b.len);
	msg[7] = 77;
	assert_int_equal(monitor_request_decode(msg, b.len, back, &err), -1);
	assert_non_null(strstr(err.message, "unknown message type 77"));
	rp_buf_free(&b);
	/* bad fields */
	monitor_request ext = {.type = MONITOR_MSG_EXTEND, .u.extend = {.pcr = 3, .name = "x"}};
	encode(&ext, &b);
	assert_int_equal(monitor_request_decode(b.data, b.len, back, &err), -1);
	assert_non_null(strstr(err.message, "PCR 3 is outside 8..15"));
	rp_buf_free(&b);
	monitor_request rnd = {.type = MONITOR_MSG_GET_RANDOM, .u.random.len = 1000};
	encode(&rnd, &b);
	assert_int_equal(monitor_request_decode(b.data, b.len, back, &err), -1);
	assert_non_null(strstr(err.message, "GET_RANDOM: length 1000"));
	rp_buf_free(&b);
	free(back);
}

static void policy_parsing(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	monitor_policy p = {0};
	assert_int_equal(monitor_policy_add(&p, "agent=1001", &err), 0);
	assert_int_equal(monitor_policy_add(&p, "boot=1001", &err), 0);
	assert_int_equal(monitor_policy_add(&p, "appmgr=1002", &err), 0);
	assert_int_equal(monitor_policy_roles(&p, 1001), MONITOR_ROLE_AGENT | MONITOR_ROLE_BOOT);
	assert_int_equal(monitor_policy_roles(&p, 1003), 0);
	assert_int_equal(monitor_policy_add(&p, "root=0", &err), -1);
	assert_non_null(strstr(err.message, "unknown role 'root'"));
	assert_int_equal(monitor_policy_add(&p, "agent=-1", &err), -1);
	assert_int_equal(monitor_policy_add(&p, "agent", &err), -1);
}

/* Send MSG through the server's dispatcher and decode the reply. */
static int call(monitor_server *s, uint32_t roles, const monitor_request *req, rp_buf *reply, const uint8_t **payload,
                size_t *len, rp_error *err)
{
	rp_buf msg;
	encode(req, &msg);
	rp_buf_init(reply);
	monitor_server_handle(s, 1234, roles, msg.data, msg.len, reply);
	rp_buf_free(&msg);
	return monitor_response_decode(reply->data, reply->len, req->type, payload, len, err);
}

static void server_authorises_and_attests(void **state)
{
	(void)state;
	char *dir = xstrdup("/tmp/rp-monproto-XXXXXX");
	assert_non_null(mkdtemp(dir));
	rp_error err = RP_ERROR_INIT;
	rot_config cfg = {.create = true};
	rot *r = rot_open("soft", dir, &cfg, NULL, &err);
	assert_non_null(r);
	EVP_PKEY *pub = rot_identity_public_key(r, &err);
	_cleanup_free_ char *log = xasprintf("%s/eventlog.bin", dir);
	monitor_policy p = {0};
	monitor_server *s = monitor_server_new(r, &p, log, &err);
	assert_non_null(s);
	rp_buf reply;
	const uint8_t *pl = NULL;
	size_t len = 0;
	/* appmgr: device ID yes, identity / attest / extend no */
	monitor_request req = {.type = MONITOR_MSG_GET_DEVICE_ID};
	assert_int_equal(call(s, MONITOR_ROLE_APPMGR, &req, &reply, &pl, &len, &err), 0);
	rp_buf_free(&reply);
	req.type = MONITOR_MSG_GET_IDENTITY;
	assert_int_equal(call(s, MONITOR_ROLE_APPMGR, &req, &reply, &pl, &len, &err), -1);
	assert_int_equal(err.code, RP_E_PERMISSION);
	assert_non_null(strstr(err.message, "GET_IDENTITY is not allowed for uid 1234 (roles: appmgr"));
	rp_buf_free(&reply);
	monitor_request ext = {.type = MONITOR_MSG_EXTEND, .u.extend = {.pcr = 8, .name = "os-bundle", .version = "1"}};
	assert_int_equal(call(s, MONITOR_ROLE_AGENT, &ext, &reply, &pl, &len, &err), -1);
	assert_int_equal(err.code, RP_E_PERMISSION);
	rp_buf_free(&reply);
	/* boot stage measures */
	assert_int_equal(call(s, MONITOR_ROLE_BOOT, &ext, &reply, &pl, &len, &err), 0);
	assert_int_equal(len, 32);
	rp_buf_free(&reply);
	/* boot may not attest; the agent may */
	monitor_request *att = xcalloc(1, sizeof(*att));
	att->type = MONITOR_MSG_ATTEST;
	memset(att->u.attest.nonce, 9, 32);
	assert_int_equal(call(s, MONITOR_ROLE_BOOT, att, &reply, &pl, &len, &err), -1);
	rp_buf_free(&reply);
	assert_int_equal(call(s, MONITOR_ROLE_AGENT, att, &reply, &pl, &len, &err), 0);
	evidence ev;
	assert_int_equal(evidence_decode(pl, len, &ev, &err), 0);
	assert_int_equal(evidence_verify(&ev, pub, att->u.attest.nonce, &err), 0);
	assert_int_equal(ev.n_log, 1);
	assert_int_equal(ev.n_counters, ROT_COUNTER_COUNT);
	evidence_free(&ev);
	rp_buf_free(&reply);
	/* garbage gets an error reply of type 0x8000, not a crash */
	uint8_t junk[3] = {1, 2, 3};
	rp_buf_init(&reply);
	monitor_server_handle(s, 1234, MONITOR_ROLE_AGENT, junk, sizeof(junk), &reply);
	assert_int_equal(monitor_response_decode(reply.data, reply.len, MONITOR_MSG_NONE, &pl, &len, &err), -1);
	assert_non_null(strstr(err.message, "shorter than the 12-byte header"));
	rp_buf_free(&reply);
	free(att);
	EVP_PKEY_free(pub);
	monitor_server_free(s);
	assert_int_equal(rp_remove_tree(dir, &err), 0);
	free(dir);
}

/* The boot stage measures before the monitor runs; the monitor must pick that log up. */
static void boot_measurement_reaches_evidence(void **state)
{
	(void)state;
	char *dir = xstrdup("/tmp/rp-evlog-XXXXXX");
	assert_non_null(mkdtemp(dir));
	rp_error err = RP_ERROR_INIT;
	rot_config cfg = {.create = true};
	rot *r = rot_open("soft", dir, &cfg, NULL, &err);
	assert_non_null(r);
	uint8_t d[32];
	memset(d, 0x66, sizeof(d));
	assert_int_equal(monitor_eventlog_measure(r, dir, 8, "os-bundle", "3", d, &err), 0);
	assert_int_equal(monitor_eventlog_measure(r, dir, 8, "bad name", "3", d, &err), -1);
	EVP_PKEY *pub = rot_identity_public_key(r, &err);
	_cleanup_free_ char *log = monitor_eventlog_path(dir);
	monitor_policy p = {0};
	monitor_server *s = monitor_server_new(r, &p, log, &err);
	assert_non_null(s);
	monitor_request *att = xcalloc(1, sizeof(*att));
	att->type = MONITOR_MSG_ATTEST;
	memset(att->u.attest.nonce, 4, 32);
	rp_buf reply;
	const uint8_t *pl = NULL;
	size_t len = 0;
	assert_int_equal(call(s, MONITOR_ROLE_AGENT, att, &reply, &pl, &len, &err), 0);
	evidence ev;
	assert_int_equal(evidence_decode(pl, len, &ev, &err), 0);
	assert_int_equal(evidence_verify(&ev, pub, att->u.attest.nonce, &err), 0);
	assert_int_equal(ev.n_log, 1);
	assert_string_equal(ev.log[0].name, "os-bundle");
	evidence_free(&ev);
	rp_buf_free(&reply);
	monitor_server_free(s);
	/* a PCR moved behind the log's back: measuring still extends, attestation is refused */
	r = rot_open("soft", dir, &cfg, NULL, &err);
	assert_non_null(r);
	assert_int_equal(rot_pcr_extend(r, 9, d, &err), 0);
	assert_int_equal(monitor_eventlog_measure(r, dir, 8, "os-bundle", "4", d, &err), 0);
	s = monitor_server_new(r, &p, log, &err);
	assert_non_null(s);
	assert_int_equal(call(s, MONITOR_ROLE_AGENT, att, &reply, &pl, &len, &err), -1);
	assert_int_equal(err.code, RP_E_CONFLICT);
	rp_buf_free(&reply);
	monitor_server_free(s);
	free(att);
	EVP_PKEY_free(pub);
	assert_int_equal(rp_remove_tree(dir, &err), 0);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trips),
		cmocka_unit_test(hostile_messages_are_refused),
		cmocka_unit_test(policy_parsing),
		cmocka_unit_test(server_authorises_and_attests),
		cmocka_unit_test(boot_measurement_reaches_evidence),
	};
	return cmocka_run_group_tests_name("monitor_protocol", tests, NULL, NULL);
}
