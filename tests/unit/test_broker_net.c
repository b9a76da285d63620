/* Unit tests for the network broker's pure checks (host allow list, address filter) and the
 * decoding of the network messages of protocol v1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/bytes.h"
#include "device/broker/broker_net.h"
#include "device/broker/broker_proto.h"

static char *allowed[] = {"example.com", "*.contoso.net", "192.0.2.10", "2001:db8::1", "localhost"};
#define N_ALLOWED (sizeof(allowed) / sizeof(allowed[0]))

static bool ok(const char *host)
{
	bool lit;
	return broker_net_host_allowed(allowed, N_ALLOWED, host, &lit);
}

static void test_exact_names(void **state)
{
	(void)state;
	assert_true(ok("example.com"));
	assert_true(ok("EXAMPLE.com"));
	assert_true(ok("localhost"));
	assert_false(ok("www.example.com"));  /* no implicit subdomains */
	assert_false(ok("example.com.evil")); /* suffix */
	assert_false(ok("xexample.com"));
	assert_false(ok("example.co"));
	assert_false(ok("example.com."));  /* trailing dot: refused, not normalised */
}

static void test_wildcards(void **state)
{
	(void)state;
	assert_true(ok("a.contoso.net"));
	assert_true(ok("a.b.contoso.net"));
	assert_true(ok("API.Contoso.NET"));
	assert_false(ok("contoso.net"));     /* the domain itself is not a subdomain */
	assert_false(ok(".contoso.net"));    /* empty label */
	assert_false(ok("a..contoso.net"));  /* empty label */
	assert_false(ok("xcontoso.net"));    /* label boundary */
	assert_false(ok("a.contoso.net.x")); /* suffix */
	assert_false(ok("a:b.contoso.net")); /* not a DNS name */
	assert_false(ok("a_b.contoso.net"));
}

static void test_literals(void **state)
{
	(void)state;
	bool lit = false;
	assert_true(broker_net_host_allowed(allowed, N_ALLOWED, "192.0.2.10", &lit));
	assert_true(lit);
	assert_false(ok("192.0.2.11"));
	assert_false(ok("192.0.2.010")); /* leading zeros are not the same literal */
	assert_true(ok("2001:DB8:0:0::1")); /* same address, other spelling */
	assert_false(ok("2001:db8::2"));
	assert_false(ok("::ffff:192.0.2.10")); /* only the literal as listed */
	assert_false(ok("127.0.0.1"));         /* "localhost" is a name, not this literal */
	/* A literal never matches a wildcard or a name entry. */
	char *names[] = {"*.contoso.net"};
	assert_false(broker_net_host_allowed(names, 1, "10.0.0.1", &lit));
	assert_false(broker_net_host_allowed(NULL, 0, "example.com", &lit));
}

static const char *refusal(const char *addr, bool allow_local)
{
	struct sockaddr_storage ss = {0};
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	struct sockaddr_storage own[1] = {0};
	struct sockaddr_in *o4 = (struct sockaddr_in *)&own[0];
	o4->sin_family = AF_INET;
	inet_pton(AF_INET, "10.1.2.3", &o4->sin_addr);
	return broker_net_addr_refusal((struct sockaddr *)&ss, allow_local, own, 1);
}

static void test_address_filter(void **state)
{
	(void)state;
	assert_null(refusal("93.184.216.34", false));
	assert_null(refusal("192.168.1.20", false)); /* LAN devices are legitimate targets */
	assert_null(refusal("2001:db8::1", false));
	assert_non_null(refusal("127.0.0.1", false));
	assert_non_null(refusal("127.3.4.5", false));
	assert_non_null(refusal("::1", false));
	assert_non_null(refusal("::ffff:127.0.0.1", false)); /* mapped loopback */
	assert_non_null(refusal("10.1.2.3", false));         /* the device's own address */
	assert_non_null(refusal("169.254.169.254", false));  /* link-local (cloud metadata) */
	assert_non_null(refusal("::ffff:169.254.1.1", false));
	assert_non_null(refusal("fe80::1", false));
	assert_non_null(refusal("0.0.0.0", false));
	assert_non_null(refusal("0.1.2.3", false));
	assert_non_null(refusal("::", false));
	assert_non_null(refusal("224.0.0.1", false));
	assert_non_null(refusal("ff02::1", false));
	assert_non_null(refusal("255.255.255.255", false));
	/* --allow-loopback-targets opens loopback and own addresses, nothing else. */
	assert_null(refusal("127.0.0.1", true));
	assert_null(refusal("::1", true));
	assert_null(refusal("10.1.2.3", true));
	assert_non_null(refusal("169.254.169.254", true));
	assert_non_null(refusal("0.0.0.0", true));
	assert_non_null(refusal("224.0.0.1", true));
}

static size_t encode(const struct broker_msg *m, uint8_t *out)
{
	rp_buf b;
	rp_buf_init(&b);
	broker_msg_encode(m, &b);
	memcpy(out, b.data, b.len);
	size_t n = b.len;
	rp_buf_free(&b);
	return n;
}

static void test_net_messages(void **state)
{
	(void)state;
	uint8_t buf[BROKER_MSG_MAX];
	struct broker_msg m = {.type = BROKER_NET_CONNECT, .seq = 3, .dir = BROKER_NET_TCP, .id = 443}, d;
	rp_error err = RP_ERROR_INIT;
	snprintf(m.host, sizeof(m.host), "example.com");
	size_t n = encode(&m, buf);
	assert_int_equal(n, BROKER_HEADER_LEN + 4 + 11);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_string_equal(d.host, "example.com");
	assert_int_equal(d.id, 443);
	assert_int_equal(d.dir, BROKER_NET_TCP);
	assert_true(broker_msg_is_control(d.type));

	/* Host length beyond the data, trailing bytes, a NUL or space inside, port 0, bad type. */
	buf[BROKER_HEADER_LEN + 3] = 12;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	buf[BROKER_HEADER_LEN + 3] = 10;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	buf[BROKER_HEADER_LEN + 3] = 11;
	buf[BROKER_HEADER_LEN + 6] = '\0';
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	buf[BROKER_HEADER_LEN + 6] = ' ';
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	buf[BROKER_HEADER_LEN + 6] = 'l';
	buf[BROKER_HEADER_LEN + 1] = 0;
	buf[BROKER_HEADER_LEN + 2] = 0;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	buf[BROKER_HEADER_LEN + 2] = 1;
	buf[BROKER_HEADER_LEN] = 3;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), -1);
	buf[BROKER_HEADER_LEN] = 1;
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);

	struct broker_msg l = {.type = BROKER_NET_LISTEN, .seq = 4, .dir = BROKER_NET_UDP, .id = 5683};
	n = encode(&l, buf);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.id, 5683);
	assert_int_equal(d.dir, BROKER_NET_UDP);

	/* Link messages are recognised as such (the broker refuses them from apps). */
	struct broker_msg k = {.type = BROKER_LINK_CONNECT};
	snprintf(k.component_id, sizeof(k.component_id), "077d9def-fa59-467f-a843-1d35e48470b6");
	n = encode(&k, buf);
	assert_int_equal(broker_msg_decode(buf, n, &d, &err), 0);
	assert_true(broker_msg_is_link(d.type));
	assert_false(broker_msg_is_control(d.type));
	assert_true(broker_msg_is_control(BROKER_APP_LISTEN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_names), cmocka_unit_test(test_wildcards), cmocka_unit_test(test_literals),
		cmocka_unit_test(test_address_filter), cmocka_unit_test(test_net_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
