/* https_client: a mutual-TLS client of an allowed host that authenticates with the device
 * certificate (DeviceAuthentication), using OpenSSL.
 *   app HOST PORT [ADDRESS [CA_FILE]]
 * HOST is verified against the server certificate and sent as SNI; ADDRESS (default: HOST) is
 * where to connect, through the network broker (Networking_Connect) in a container. CA_FILE (default certs/ca.pem in the image package) holds
 * the CAs that may sign the server certificate. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <applibs/application.h>
#include <applibs/log.h>
#include <applibs/networking.h>
#include <applibs/storage.h>
#include <tlsutils/deviceauth.h>

static void log_ssl_error(const char *what)
{
	char reason[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, reason, sizeof(reason));
	Log_Debug("ERROR: %s: %s\n", what, e ? reason : "unknown TLS error");
}

/* Outside a container there is no broker (ENOTCONN): connect directly, as during development. */
static int connect_directly(const char *address, unsigned long port)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	struct sockaddr_in a4 = {.sin_family = AF_INET};
	int fd = -1;

	if (inet_pton(AF_INET, address, &a4.sin_addr) == 1) {
		a4.sin_port = htons((uint16_t)port);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a4, sizeof(a4)) == 0)
			return fd;
	} else if (inet_pton(AF_INET6, address, &a6.sin6_addr) == 1) {
		a6.sin6_port = htons((uint16_t)port);
		fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0)
			return fd;
	} else {
		/* Without the broker nothing resolves names: a static app has no NSS modules. */
		Log_Debug("ERROR: \"%s\" is not an IP address and there is no network broker; pass ADDRESS\n", address);
		return -1;
	}
	Log_Debug("ERROR: connecting to %s port %lu: %s\n", address, port, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* In a container the app's network namespace has only loopback: the network broker checks ADDRESS
 * against AllowedConnections, resolves it and hands back a connected socket. */
static int connect_to(const char *address, const char *port_text)
{
	char *end = NULL;
	unsigned long port = strtoul(port_text, &end, 10);
	int fd;

	if (!*port_text || *end || port == 0 || port > 65535) {
		Log_Debug("ERROR: bad port \"%s\"\n", port_text);
		return -1;
	}
	fd = Networking_Connect(address, (uint16_t)port, Networking_Socket_Tcp);
	if (fd >= 0)
		return fd;
	if (errno == ENOTCONN)
		return connect_directly(address, port);
	Log_Debug("ERROR: connecting to %s port %lu through the network broker: %s\n", address, port, strerror(errno));
	return -1;
}

int main(int argc, char **argv)
{
	const char *host, *port, *address;
	char *ca_file = NULL;
	bool ready = false;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char request[512], response[1024];
	int fd = -1, rc = 1, n;

	if (argc < 3) {
		Log_Debug("usage: https_client HOST PORT [ADDRESS [CA_FILE]]\n");
		return 2;
	}
	host = argv[1];
	port = argv[2];
	address = argc > 3 ? argv[3] : host;
	ca_file = argc > 4 ? strdup(argv[4]) : Storage_GetAbsolutePathInImagePackage("certs/ca.pem");

	if (Networking_IsNetworkingReady(&ready) < 0)
		Log_Debug("WARNING: networking readiness unknown: %s\n", strerror(errno));
	else if (!ready)
		Log_Debug("WARNING: networking is not ready; trying anyway\n");
	if (Application_IsDeviceAuthReady(&ready) < 0 || !ready) {
		Log_Debug("ERROR: the device certificate is not available yet (%s)\n", DeviceAuth_GetCertificatePath());
		goto out;
	}

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		log_ssl_error("creating the TLS context");
		goto out;
	}
	/* The certificate file holds the chain then the key (tlsutils/deviceauth.h). */
	if (SSL_CTX_use_certificate_chain_file(ctx, DeviceAuth_GetCertificatePath()) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, DeviceAuth_GetCertificatePath(), SSL_FILETYPE_PEM) != 1) {
		log_ssl_error("loading the device certificate");
		goto out;
	}
	if (!ca_file || SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		log_ssl_error("loading the server CA file");
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

	fd = connect_to(address, port);
	if (fd < 0)
		goto out;
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, host) || !SSL_set1_host(ssl, host)) {
		log_ssl_error("setting up the TLS session");
		goto out;
	}
	if (SSL_connect(ssl) != 1) {
		log_ssl_error("TLS handshake");
		goto out;
	}
	n = snprintf(request, sizeof(request), "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
	if (n < 0 || (size_t)n >= sizeof(request) || SSL_write(ssl, request, n) != n) {
		log_ssl_error("sending the request");
		goto out;
	}
	n = SSL_read(ssl, response, sizeof(response) - 1);
	if (n <= 0) {
		log_ssl_error("reading the response");
		goto out;
	}
	response[n] = '\0';
	response[strcspn(response, "\r\n")] = '\0';
	Log_Debug("connected to %s with the device certificate (%s); response: %s\n", host, SSL_get_version(ssl),
	          response);
	rc = 0;
out:
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	free(ca_file);
	return rc;
}
