/* deviceauth_probe: a static test app for DeviceAuthentication, run inside real sandboxes by
 * tests/blackbox/test_deviceauth.py. Each command prints lines "<cmd> ..." to stdout (the app's log):
 *   tls HOST PORT CA_FILE   "cert ready|absent", then mutual TLS to HOST (through the network
 *                           broker) with the device certificate if there is one, else without
 *                           any: "tls ok RESPONSE-LINE" or "tls refused REASON"
 *   write                   try to replace, create and chmod in the certificate directory
 *   wait-change SECONDS     wait (polling 0.1 s) until the certificate file's bytes change:
 *                           "wait-change ok" or "wait-change timeout" */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <applibs/application.h>
#include <applibs/networking.h>
#include <tlsutils/deviceauth.h>

static int refused(const char *what)
{
	char reason[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, reason, sizeof(reason));
	printf("tls refused %s: %s\n", what, e ? reason : strerror(errno));
	return 1;
}

static int cmd_tls(const char *host, const char *port, const char *ca)
{
	bool ready = false;
	const char *cert = DeviceAuth_GetCertificatePath();
	if (Application_IsDeviceAuthReady(&ready) < 0)
		ready = false;
	printf("cert %s %s\n", ready ? "ready" : "absent", access(cert, R_OK) == 0 ? "readable" : strerror(errno));
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return refused("context");
	if (ready && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	              SSL_CTX_use_PrivateKey_file(ctx, cert, SSL_FILETYPE_PEM) != 1))
		return refused("loading the device certificate");
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		return refused("loading the CA");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int fd = Networking_Connect(host, (uint16_t)strtoul(port, NULL, 10), Networking_Socket_Tcp);
	if (fd < 0)
		return refused("Networking_Connect");
	SSL *ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, host) || !SSL_set1_host(ssl, host))
		return refused("setup");
	if (SSL_connect(ssl) != 1)
		return refused("handshake");
	/* With TLS 1.3 the server judges the client certificate after the client's Finished: the
	 * refusal arrives on the first read. */
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	char resp[512];
	if (SSL_write(ssl, req, (int)strlen(req)) != (int)strlen(req))
		return refused("write");
	int n = SSL_read(ssl, resp, sizeof(resp) - 1);
	if (n <= 0)
		return refused("read");
	resp[n] = '\0';
	resp[strcspn(resp, "\r\n")] = '\0';
	printf("tls ok %s\n", resp);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return 0;
}

static void report(const char *what, int rc)
{
	printf("write %s %s\n", what, rc < 0 ? strerror(errno) : "SUCCEEDED");
}

static int cmd_write(void)
{
	const char *cert = DeviceAuth_GetCertificatePath();
	int fd = open(cert, O_WRONLY | O_CLOEXEC);
	report("open-existing", fd);
	fd = open("/run/rampart/deviceauth/new.pem", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	report("create", fd);
	report("chmod", chmod(cert, 0644));
	report("unlink", unlink(cert));
	return 0;
}

static size_t read_cert(char *buf, size_t len)
{
	FILE *f = fopen(DeviceAuth_GetCertificatePath(), "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, len, f);
	fclose(f);
	return n;
}

static int cmd_wait_change(const char *seconds)
{
	static char first[65536], now[65536];
	size_t n0 = read_cert(first, sizeof(first));
	printf("wait-change watching %zu bytes\n", n0);
	fflush(stdout);
	long rounds = strtol(seconds, NULL, 10) * 10;
	for (long i = 0; i < rounds; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		size_t n = read_cert(now, sizeof(now));
		if (n != n0 || memcmp(first, now, n) != 0) {
			printf("wait-change ok %zu bytes\n", n);
			return 0;
		}
	}
	printf("wait-change timeout\n");
	return 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 5 && !strcmp(argv[1], "tls"))
		return cmd_tls(argv[2], argv[3], argv[4]);
	if (argc >= 2 && !strcmp(argv[1], "write"))
		return cmd_write();
	if (argc >= 3 && !strcmp(argv[1], "wait-change"))
		return cmd_wait_change(argv[2]);
	fprintf(stderr, "usage: deviceauth_probe tls HOST PORT CA_FILE | write | wait-change SECONDS\n");
	return 2;
}
