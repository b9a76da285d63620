/* net_probe: a static test app for the network broker, run inside real sandboxes by
 * tests/blackbox/test_net_broker.py. Each command prints one line "<cmd> ok ..." or
 * "<cmd> err ERRNO" to stdout (the app's log):
 *   connect HOST PORT       Networking_Connect (TCP), send "ping\n", print the reply line
 *   connect-udp HOST PORT   Networking_Connect with UDP (refused by design)
 *   direct IP PORT          socket()+connect() from inside the sandbox (must fail)
 *   listen tcp|udp PORT     Networking_Listen; serve one client ("hello from app\n")
 *   udp-serve PORT OTHER    Networking_Listen (UDP); answer one client, then sendto 127.0.0.1:OTHER
 *                           from the same socket: "udp-serve ok stray ok|err ERRNO"
 *   app-listen              Application_Listen; accept one app connection and greet it
 *   app-connect ID [TRIES]  Application_Connect, retrying (default 100 times, 0.1 s apart) while
 *                           the peer is not listening yet */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <applibs/application.h>
#include <applibs/networking.h>

static const char *errname(int e)
{
	static const struct {
		int e;
		const char *n;
	} t[] = {{EPERM, "EPERM"}, {EACCES, "EACCES"}, {ECONNREFUSED, "ECONNREFUSED"}, {ENETUNREACH, "ENETUNREACH"},
	         {EHOSTUNREACH, "EHOSTUNREACH"}, {ETIMEDOUT, "ETIMEDOUT"}, {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
	         {EINVAL, "EINVAL"}, {ENOTCONN, "ENOTCONN"}, {EBUSY, "EBUSY"}, {EADDRINUSE, "EADDRINUSE"},
	         {EPROTO, "EPROTO"}, {EAGAIN, "EAGAIN"}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].e == e)
			return t[i].n;
	return strerror(e);
}

static int fail(const char *cmd)
{
	printf("%s err %s\n", cmd, errname(errno));
	fflush(stdout);
	return 1;
}

static int readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1;
}

static void read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap && readable(fd, 10000)) {
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0 || buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
}

static uint16_t port_arg(const char *s)
{
	long v = strtol(s, NULL, 10);
	return v > 0 && v < 65536 ? (uint16_t)v : 0;
}

int main(int argc, char **argv)
{
	char line[256];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	const char *cmd = argv[1];
	if ((strcmp(cmd, "connect") == 0 || strcmp(cmd, "connect-udp") == 0) && argc == 4) {
		int fd = Networking_Connect(argv[2], port_arg(argv[3]),
		                            strcmp(cmd, "connect") == 0 ? Networking_Socket_Tcp : Networking_Socket_Udp);
		if (fd < 0)
			return fail(cmd);
		if (write(fd, "ping\n", 5) != 5)
			return fail(cmd);
		read_line(fd, line, sizeof(line));
		printf("%s ok %s\n", cmd, line);
		close(fd);
		return 0;
	}
	if (strcmp(cmd, "direct") == 0 && argc == 4) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port_arg(argv[3]))};
		inet_pton(AF_INET, argv[2], &a.sin_addr);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return fail(cmd);
		printf("direct ok\n");
		return 0;
	}
	if (strcmp(cmd, "listen") == 0 && argc == 4) {
		bool tcp = strcmp(argv[2], "tcp") == 0;
		int fd = Networking_Listen(port_arg(argv[3]), tcp ? Networking_Socket_Tcp : Networking_Socket_Udp);
		if (fd < 0)
			return fail(cmd);
		printf("listen ok\n");
		if (!readable(fd, 20000)) {
			printf("listen err no client\n");
			return 1;
		}
		if (tcp) {
			int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				return fail(cmd);
			if (write(c, "hello from app\n", 15) != 15)
				return fail(cmd);
			close(c);
		} else {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(fd, line, sizeof(line), 0, (struct sockaddr *)&from, &fl);
			if (n < 0 || sendto(fd, "hello from app\n", 15, 0, (struct sockaddr *)&from, fl) != 15)
				return fail(cmd);
		}
		printf("served ok\n");
		return 0;
	}
	if (strcmp(cmd, "udp-serve") == 0 && argc == 4) {
		int fd = Networking_Listen(port_arg(argv[2]), Networking_Socket_Udp);
		if (fd < 0)
			return fail(cmd);
		printf("udp-serve listening\n");
		if (!readable(fd, 20000)) {
			printf("udp-serve err no client\n");
			return 1;
		}
		struct sockaddr_storage from, self;
		socklen_t fl = sizeof(from), sl = sizeof(self);
		ssize_t n = recvfrom(fd, line, sizeof(line), 0, (struct sockaddr *)&from, &fl);
		if (n < 0 || sendto(fd, "hello from app\n", 15, 0, (struct sockaddr *)&from, fl) != 15 ||
		    getsockname(fd, (struct sockaddr *)&self, &sl) < 0)
			return fail(cmd);
		/* A peer that never sent anything: the same address family as the socket. */
		struct sockaddr_in6 o6 = {.sin6_family = AF_INET6, .sin6_port = htons(port_arg(argv[3]))};
		struct sockaddr_in o4 = {.sin_family = AF_INET, .sin_port = htons(port_arg(argv[3])),
		                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &o6.sin6_addr);
		bool v6 = self.ss_family == AF_INET6;
		if (sendto(fd, "stray\n", 6, 0, v6 ? (struct sockaddr *)&o6 : (struct sockaddr *)&o4,
		           v6 ? sizeof(o6) : sizeof(o4)) != 6) {
			printf("udp-serve ok stray err %s\n", errname(errno));
			return 0;
		}
		printf("udp-serve ok stray ok\n");
		return 0;
	}
	if (strcmp(cmd, "app-listen") == 0) {
		char peer[37];
		int l = Application_Listen();
		if (l < 0)
			return fail(cmd);
		printf("app-listen ok\n");
		if (!readable(l, 20000)) {
			printf("app-listen err no peer\n");
			return 1;
		}
		int c = Application_Accept(l, peer);
		if (c < 0)
			return fail("app-accept");
		dprintf(c, "hi %s\n", peer);
		printf("accepted %s\n", peer);
		close(c);
		return 0;
	}
	if (strcmp(cmd, "app-connect") == 0 && (argc == 3 || argc == 4)) {
		int fd = -1, tries = argc == 4 ? (int)strtol(argv[3], NULL, 10) : 100;
		for (int i = 0; i < tries && i < 1000; i++) { /* bounded: the peer may still be starting */
			fd = Application_Connect(argv[2]);
			if (fd >= 0 || errno != ECONNREFUSED)
				break;
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		if (fd < 0)
			return fail(cmd);
		read_line(fd, line, sizeof(line));
		printf("app-connect ok %s\n", line);
		return 0;
	}
	return 2;
}
