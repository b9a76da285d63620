/* Network operations of the per-app broker (see broker_net.h). The app's own network namespace
 * has only loopback, so every socket that reaches the outside is made here, after the allow-list
 * check, and the app receives only that socket. Defends against: connecting to hosts the
 * manifest does not list (name and literal checks), allowed names that resolve to the device's
 * own services or to link-local/multicast space (address filter after resolution; the checked
 * address is the one connected to, so DNS answers cannot change between check and use), and
 * listening on undeclared ports. */
#include "device/broker/broker_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/macros.h"

#define NET_OWN_MAX 64
#define NET_LISTEN_BACKLOG 16
#define NET_CONNECT_TIMEOUT_MS 10000
/* Addresses tried per request: the broker serves its app one request at a time, so a name with
 * many unreachable addresses must not hold it for minutes. */
#define NET_CONNECT_ATTEMPTS_MAX 4

/* ---- pure checks ---- */

static bool literal_canonical(const char *host, char *out, size_t cap)
{
	struct in6_addr a6;
	struct in_addr a4;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, (socklen_t)cap) != NULL;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return inet_ntop(AF_INET6, &a6, out, (socklen_t)cap) != NULL;
	return false;
}

/* Labels of 1..63 characters from [A-Za-z0-9-]; what the resolver will look up must be a plain
 * DNS name, so a wildcard cannot be satisfied by something the resolver reads differently. */
static bool name_ok(const char *h)
{
	size_t label = 0, n = strlen(h);
	if (n == 0 || n > BROKER_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

bool broker_net_host_allowed(char *const *allowed, size_t n, const char *host, bool *is_literal)
{
	char canon[INET6_ADDRSTRLEN];
	size_t hlen = strlen(host);

	*is_literal = literal_canonical(host, canon, sizeof(canon));
	if (*is_literal) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(allowed[i], canon) == 0)
				return true;
		return false;
	}
	if (!name_ok(host))
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *e = allowed[i];
		if (e[0] == '*' && e[1] == '.') {
			size_t slen = strlen(e + 1); /* ".example.com" */
			if (hlen > slen && strcasecmp(host + hlen - slen, e + 1) == 0)
				return true;
		} else if (strcasecmp(host, e) == 0) {
			return true;
		}
	}
	return false;
}

static const char *v4_refusal(uint32_t a, bool allow_local)
{
	if ((a >> 24) == 0)
		return "the address is in 0.0.0.0/8 (this network)";
	if ((a >> 24) == 127)
		return allow_local ? NULL : "the address is loopback (the device itself)";
	if ((a >> 16) == 0xa9fe)
		return "the address is link-local (169.254.0.0/16)";
	if ((a >> 28) == 0xe)
		return "the address is multicast";
	if (a == 0xffffffffu)
		return "the address is the broadcast address";
	return NULL;
}

const char *broker_net_addr_refusal(const struct sockaddr *sa, bool allow_local, const struct sockaddr_storage *own,
                                    size_t n_own)
{
	const char *why = NULL;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		why = v4_refusal(ntohl(s4->sin_addr.s_addr), allow_local);
		if (why)
			return why;
		for (size_t i = 0; i < n_own && !allow_local; i++)
			if (own[i].ss_family == AF_INET &&
			    ((const struct sockaddr_in *)&own[i])->sin_addr.s_addr == s4->sin_addr.s_addr)
				return "the address is one of the device's own";
		return NULL;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a)) {
			struct sockaddr_in s4 = {.sin_family = AF_INET};
			memcpy(&s4.sin_addr, &a->s6_addr[12], 4);
			if (IN6_IS_ADDR_V4COMPAT(a) && IN6_IS_ADDR_UNSPECIFIED(a))
				return "the address is unspecified";
			if (IN6_IS_ADDR_V4COMPAT(a) && IN6_IS_ADDR_LOOPBACK(a))
				return allow_local ? NULL : "the address is loopback (the device itself)";
			return broker_net_addr_refusal((const struct sockaddr *)&s4, allow_local, own, n_own);
		}
		if (IN6_IS_ADDR_UNSPECIFIED(a))
			return "the address is unspecified";
		if (IN6_IS_ADDR_LOOPBACK(a))
			return allow_local ? NULL : "the address is loopback (the device itself)";
		if (IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_SITELOCAL(a))
			return "the address is link-local";
		if (IN6_IS_ADDR_MULTICAST(a))
			return "the address is multicast";
		for (size_t i = 0; i < n_own && !allow_local; i++)
			if (own[i].ss_family == AF_INET6 &&
			    memcmp(&((const struct sockaddr_in6 *)&own[i])->sin6_addr, a, sizeof(*a)) == 0)
				return "the address is one of the device's own";
		return NULL;
	}
	return "not an IPv4 or IPv6 address";
}

/* ---- operations ---- */

static size_t own_addresses(struct sockaddr_storage *own, size_t cap)
{
	struct ifaddrs *ifa = NULL;
	size_t n = 0;
	if (getifaddrs(&ifa) < 0)
		return 0;
	for (struct ifaddrs *i = ifa; i && n < cap; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			memcpy(&own[n++], i->ifa_addr, sizeof(struct sockaddr_in));
		else if (i->ifa_addr->sa_family == AF_INET6)
			memcpy(&own[n++], i->ifa_addr, sizeof(struct sockaddr_in6));
	}
	freeifaddrs(ifa);
	return n;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect one socket without blocking past TIMEOUT_MS; returns the fd or -errno. */
static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	_cleanup_close_ int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			return -errno;
		int64_t deadline = mono_ms() + timeout_ms;
		for (;;) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int64_t left = deadline - mono_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			int r = poll(&p, 1, (int)left);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				return -ETIMEDOUT;
			break;
		}
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			return -errno;
		if (soerr)
			return -soerr;
	}
	/* The app gets an ordinary blocking socket, as socket()+connect() would have given it. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	return steal_fd(fd);
}

int broker_net_connect(const struct broker_policy *pol, const struct broker_net_options *o, const struct broker_msg *req,
                       int *out_fd, const char **why)
{
	struct sockaddr_storage own[NET_OWN_MAX];
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
	struct addrinfo *res = NULL;
	char port[8];
	bool literal = false;
	int last = EHOSTUNREACH, r;
	size_t n_own;

	*out_fd = -1;
	if (req->dir != BROKER_NET_TCP) {
		/* A passed UDP socket accepts sendto() with any destination, which nothing on the app's
		 * side can filter; outbound UDP is therefore not offered (docs/decisions.md). */
		*why = "outbound UDP is not supported by the network broker (only TCP)";
		return EPROTONOSUPPORT;
	}
	if (!broker_net_host_allowed(pol->allowed_connections, pol->allowed_connection_count, req->host, &literal)) {
		*why = "the host is not in AllowedConnections";
		return EPERM;
	}
	snprintf(port, sizeof(port), "%u", (unsigned)req->id);
	hints.ai_flags = literal ? AI_NUMERICHOST | AI_NUMERICSERV : AI_NUMERICSERV;
	r = getaddrinfo(req->host, port, &hints, &res);
	if (r != 0) {
		*why = "the host name did not resolve";
		return r == EAI_SYSTEM ? errno : EHOSTUNREACH;
	}
	n_own = o->allow_loopback_targets ? 0 : own_addresses(own, RP_ARRAY_SIZE(own));
	*why = "the host resolved only to addresses apps may not reach";
	bool any_allowed = false;
	int attempts = 0;
	for (struct addrinfo *ai = res; ai && attempts < NET_CONNECT_ATTEMPTS_MAX; ai = ai->ai_next) {
		const char *refusal = broker_net_addr_refusal(ai->ai_addr, o->allow_loopback_targets, own, n_own);
		if (refusal) {
			*why = refusal;
			continue;
		}
		any_allowed = true;
		attempts++;
		int fd = connect_one(ai, o->connect_timeout_ms > 0 ? o->connect_timeout_ms : NET_CONNECT_TIMEOUT_MS);
		if (fd >= 0) {
			freeaddrinfo(res);
			*out_fd = fd;
			return 0;
		}
		last = -fd;
	}
	freeaddrinfo(res);
	if (!any_allowed)
		return EPERM;
	*why = "connecting failed";
	return last;
}

static bool port_listed(const uint16_t *ports, size_t n, uint32_t port)
{
	for (size_t i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

int broker_net_listen(const struct broker_policy *pol, const struct broker_msg *req, int *out_fd, const char **why)
{
	bool tcp = req->dir == BROKER_NET_TCP;
	int one = 1, zero = 0;
	_cleanup_close_ int fd = -1;

	*out_fd = -1;
	if (tcp ? !port_listed(pol->tcp_server_ports, pol->tcp_server_port_count, req->id)
	        : !port_listed(pol->udp_server_ports, pol->udp_server_port_count, req->id)) {
		*why = tcp ? "the port is not in AllowedTcpServerPorts" : "the port is not in AllowedUdpServerPorts";
		return EPERM;
	}
	*why = "creating the listening socket failed";
	/* One dual-stack socket on all addresses; IPv4-only when the host has no IPv6. */
	fd = socket(AF_INET6, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)req->id),
		                          .sin6_addr = IN6ADDR_ANY_INIT};
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
		    (tcp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
		    bind(fd, (struct sockaddr *)&a6, sizeof(a6)) < 0)
			return errno;
	} else if (errno == EAFNOSUPPORT) {
		struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)req->id),
		                         .sin_addr.s_addr = htonl(INADDR_ANY)};
		fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
		if (fd < 0 || (tcp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
		    bind(fd, (struct sockaddr *)&a4, sizeof(a4)) < 0)
			return errno;
	} else {
		return errno;
	}
	if (tcp && listen(fd, NET_LISTEN_BACKLOG) < 0)
		return errno;
	*out_fd = steal_fd(fd);
	return 0;
}
