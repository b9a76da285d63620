/* bench/attest load tool: full attestations per second at rampartd from many simulated devices,
 * each with its own real P-256 identity key, registered and claimed into a product's Development
 * group, producing soft-backend evidence (one quote over the claims, the fresh nonce among them). Each
 * attestation is one fresh TLS connection (a full handshake, no session resumption) carrying one
 * evidence request whose nonce is the connection's TLS exporter value, as the device agent does
 * (--nonce tls-exporter, the default); with --nonce challenge it first asks for a nonce on the same
 * connection, and with --connections 2 (challenge only) each request opens its own connection.
 *
 * The timed attestations speak TLS through a TLS library directly so that the tool costs little
 * more than the crypto a device must do (client ECDHE, checking the service's chain and
 * CertificateVerify, the evidence quote's signature). Two clients sit behind one small interface (open,
 * write, read, close), so attest_once is one code path: GnuTLS (--tls gnutls, the default; the
 * cheaper client on Debian 12, see docs/benchmarks.md) and OpenSSL's libssl (--tls openssl). Each
 * worker thread loads its client once before the timed window (only the CA file, peer verification
 * with the service's host name or IP address, TLS >= 1.2, no session cache, no tickets; GnuTLS
 * with X25519 first, a single key share and whole-socket reads, as libssl's client does), then per
 * attestation connects a TCP socket (TCP_NODELAY), handshakes, writes the HTTP/1.1 requests as
 * plain text, reads the replies through http-parser (bounded at 1 MiB), sends close_notify and
 * closes; the CPU-per-attestation ratio of the two clients is in docs/benchmarks.md ("attest-load
 * on GnuTLS", ~0.8 on a 2-core host). A certificate that does not verify
 * fails the attestation: --attest-ca FILE (trust another CA) and --attest-name NAME (expect another
 * name) apply to the timed connections only, so a run with either must report only failures.
 * Setup (tenant, product, device registration and claim with the admin token) uses libcurl.
 *
 *   attest-load --service URL --service-ca FILE --token ADMIN_TOKEN [--devices N] [--threads T]
 *               [--seconds S] [--connections 1|2] [--service-pid PID] [--tls gnutls|openssl]
 *               [--nonce tls-exporter|challenge] [--attest-ca FILE] [--attest-name NAME]
 * Prints one JSON line: tls (the client used), attestations, seconds, per_second, failures,
 * nonce, connections (TLS connections opened per attestation), load_cpu_ms and (with --service-pid)
 * service_cpu_ms: CPU time (user+system) per attestation during the timed window. Exits 1 when no
 * attestation succeeded. bench/attest/run.sh runs it next to `openssl speed ecdsap256` and prints
 * the ratio. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "attest/evidence.h"
#include "attest/quote_verify.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/agent/agent_csr.h"
#include "device/agent/agent_tls.h"

struct sim_device {
	EVP_PKEY *key;
	char id[65];
	uint8_t id_raw[32];
	char *client_csr, *api_csr; /* reused across rounds: the service's cost is the same */
};

static const char *service, *ca_file, *token;
static struct sim_device *devices;
static size_t n_devices = 64;
static atomic_size_t done, failures, next_device, connects;
static unsigned conns_per_attestation = 1;
static bool nonce_from_challenge; /* --nonce challenge */
static atomic_bool stop_flag;
static uint32_t service_pid; /* 0: the service's CPU time is not reported */

/* utime+stime of PID in seconds from /proc/PID/stat; -1 when unreadable. */
static double proc_cpu_seconds(uint32_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct sink {
	rp_buf b;
};

static size_t sink_write(char *d, size_t s, size_t n, void *u)
{
	struct sink *k = u;
	if (k->b.len + s * n > 1 << 20)
		return 0;
	rp_buf_append(&k->b, d, s * n);
	return s * n;
}

/* POST JSON for the setup, outside the timed window, on a connection of its own. Returns the status
 * and the parsed reply. */
static long post(const char *path, json_t *body, const char *bearer, json_t **reply)
{
	CURL *c = curl_easy_init();
	_cleanup_free_ char *url = xasprintf("%s%s", service, path);
	_cleanup_free_ char *payload = rp_json_dump(body);
	_cleanup_free_ char *auth = bearer ? xasprintf("Authorization: Bearer %s", bearer) : NULL;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	if (auth)
		h = curl_slist_append(h, auth);
	struct sink k;
	rp_buf_init(&k.b);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	*reply = status ? rp_json_parse((const char *)k.b.data, k.b.len, 1 << 20, "reply", NULL) : NULL;
	rp_buf_free(&k.b);
	return status;
}

/* The timed transport. The service's address is resolved once before the timed window. */
static struct sockaddr_storage svc_addr;
static socklen_t svc_addr_len;
static char *svc_host;     /* name or IP literal (no brackets) */
static char *svc_hostport; /* the Host header */
static char *svc_prefix;   /* path of the service URL, "" for the root */
static bool svc_host_is_ip;
static unsigned char svc_ip_raw[sizeof(struct in6_addr)];
static unsigned svc_ip_len; /* 4 or 16 when the service is named by an IP address */

#define REPLY_MAX (1u << 20)

/* The name the service's certificate must hold for the timed connections: a host name, or an IP
 * address that must be one of its IP address names. */
static char *tls_name;

static void expect_name(const char *name)
{
	free(tls_name);
	tls_name = xstrdup(name);
	svc_ip_len = 0;
	if (inet_pton(AF_INET, name, svc_ip_raw) == 1)
		svc_ip_len = 4;
	else if (inet_pton(AF_INET6, name, svc_ip_raw) == 1)
		svc_ip_len = 16;
	svc_host_is_ip = svc_ip_len != 0;
}

/* Splits https://HOST[:PORT][/PREFIX] and resolves HOST. */
static int service_resolve(rp_error *err)
{
	if (strncmp(service, "https://", 8) != 0)
		return rp_error_set(err, RP_E_INVALID, "the service URL %s does not start with https://", service);
	const char *auth = service + 8, *slash = strchr(auth, '/');
	size_t auth_len = slash ? (size_t)(slash - auth) : strlen(auth);
	svc_hostport = xstrndup(auth, auth_len);
	svc_prefix = xstrdup(slash ? slash : "");
	size_t pl = strlen(svc_prefix);
	while (pl > 0 && svc_prefix[pl - 1] == '/')
		svc_prefix[--pl] = '\0';
	const char *port = NULL;
	if (svc_hostport[0] == '[') {
		char *end = strchr(svc_hostport, ']');
		if (!end || (end[1] != '\0' && end[1] != ':'))
			return rp_error_set(err, RP_E_INVALID, "the service URL %s has a malformed IPv6 address", service);
		svc_host = xstrndup(svc_hostport + 1, (size_t)(end - svc_hostport - 1));
		port = end[1] == ':' ? end + 2 : NULL;
	} else {
		char *colon = strrchr(svc_hostport, ':');
		svc_host = colon ? xstrndup(svc_hostport, (size_t)(colon - svc_hostport)) : xstrdup(svc_hostport);
		port = colon ? colon + 1 : NULL;
	}
	uint32_t port_num = 443;
	if (port && rp_parse_u32(port, 1, 65535, &port_num, err) < 0)
		return rp_error_prefix(err, "the port of the service URL %s", service);
	char port_str[8];
	snprintf(port_str, sizeof(port_str), "%u", port_num);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
	int rc = getaddrinfo(svc_host, port_str, &hints, &ai);
	if (rc != 0)
		return rp_error_set(err, RP_E_NOT_FOUND, "resolving %s: %s", svc_host, gai_strerror(rc));
	memcpy(&svc_addr, ai->ai_addr, ai->ai_addrlen);
	svc_addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	expect_name(svc_host);
	return 0;
}

/* The TLS client of the timed attestations, behind one interface so that attest_once is the same
 * code for both libraries. A worker thread's client (trust store, settings) is loaded once before
 * the timed window, as a device keeps its loaded CA store between attestations; each connection is
 * a fresh TCP socket and a full handshake. Only the timed CA is trusted and the service's
 * certificate must name the address the tool connects to: a failed check fails the attestation.
 * No session cache and no tickets: every attestation pays for a full handshake, as a device's first
 * contact after a boot does. */
struct tls_client {
	SSL_CTX *ossl;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
};

struct tls_conn {
	int fd;
	SSL *ssl;
	gnutls_session_t gs;
	bool broken; /* a transport error: no close_notify (OpenSSL forbids SSL_shutdown after one) */
	size_t rpos, rlen; /* GnuTLS's read-ahead: rbuf[rpos..rlen) is received and not yet taken */
	char rbuf[16384 + 512];
};

struct tls_transport {
	const char *name;
	int (*client_new)(struct tls_client *t, rp_error *err);
	void (*client_free)(struct tls_client *t);
	/* The handshake on C's connected fd, peer verified. */
	int (*open)(struct tls_conn *c, struct tls_client *t, rp_error *err);
	int (*write)(struct tls_conn *c, const char *data, size_t len, rp_error *err);
	/* Bytes read (> 0), 0 at the peer's close_notify, < 0 with ERR. */
	ssize_t (*read)(struct tls_conn *c, char *buf, size_t len, rp_error *err);
	/* A close_notify unless the connection broke (best effort, no wait for the service's), then
	 * the session is freed; the fd stays C's. */
	void (*close)(struct tls_conn *c);
	bool (*is_open)(const struct tls_conn *c);
	/* The connection's TLS 1.3 exporter value for EVIDENCE_TLS_EXPORTER_LABEL. */
	int (*exporter)(struct tls_conn *c, uint8_t out[EVIDENCE_NONCE_LEN], rp_error *err);
};

static const char *timed_ca; /* --attest-ca, default --service-ca */
static const char *timed_name; /* --attest-name, default the service URL's host */

static int ossl_client_new(struct tls_client *t, rp_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return rp_error_set_openssl(err, "creating the TLS context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_set_ciphersuites(ctx, AGENT_TLS13_CIPHERS) != 1 || SSL_CTX_set_cipher_list(ctx, AGENT_TLS12_CIPHERS) != 1) {
		rp_error_set_openssl(err, "setting the device agent's cipher suites");
		SSL_CTX_free(ctx);
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	/* Whole socket reads instead of one for each record header and one for its body. */
	SSL_CTX_set_read_ahead(ctx, 1);
	X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
	if (SSL_CTX_load_verify_locations(ctx, timed_ca, NULL) != 1) {
		rp_error_set_openssl(err, "loading the service CA %s", timed_ca);
		SSL_CTX_free(ctx);
		return -1;
	}
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if ((svc_host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, tls_name) : X509_VERIFY_PARAM_set1_host(vp, tls_name, 0)) != 1) {
		rp_error_set_openssl(err, "setting the expected service name %s", tls_name);
		SSL_CTX_free(ctx);
		return -1;
	}
	t->ossl = ctx;
	return 0;
}

static void ossl_client_free(struct tls_client *t)
{
	SSL_CTX_free(t->ossl);
	t->ossl = NULL;
}

static int ossl_open(struct tls_conn *c, struct tls_client *t, rp_error *err)
{
	c->ssl = SSL_new(t->ossl);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		return rp_error_set_openssl(err, "setting up TLS");
	if (!svc_host_is_ip && SSL_set_tlsext_host_name(c->ssl, tls_name) != 1)
		return rp_error_set_openssl(err, "setting the server name");
	if (SSL_connect(c->ssl) != 1) {
		long v = SSL_get_verify_result(c->ssl);
		if (v != X509_V_OK)
			return rp_error_set(err, RP_E_VERIFY, "TLS handshake with %s: %s", svc_hostport,
			                    X509_verify_cert_error_string(v));
		return rp_error_set_openssl(err, "TLS handshake with %s", svc_hostport);
	}
	return 0;
}

static int ossl_write(struct tls_conn *c, const char *data, size_t len, rp_error *err)
{
	size_t written = 0;
	if (SSL_write_ex(c->ssl, data, len, &written) != 1 || written != len)
		return rp_error_set_openssl(err, "sending a request");
	return 0;
}

static ssize_t ossl_read(struct tls_conn *c, char *buf, size_t len, rp_error *err)
{
	size_t n = 0;
	int rc = SSL_read_ex(c->ssl, buf, len, &n);
	if (rc == 1)
		return (ssize_t)n;
	if (SSL_get_error(c->ssl, rc) == SSL_ERROR_ZERO_RETURN)
		return 0;
	return rp_error_set_openssl(err, "reading");
}

static void ossl_close(struct tls_conn *c)
{
	if (c->ssl) {
		if (!c->broken)
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ERR_clear_error();
}

static bool ossl_is_open(const struct tls_conn *c)
{
	return c->ssl != NULL;
}

static int ossl_exporter(struct tls_conn *c, uint8_t out[EVIDENCE_NONCE_LEN], rp_error *err)
{
	static const char label[] = EVIDENCE_TLS_EXPORTER_LABEL;
	if (SSL_version(c->ssl) != TLS1_3_VERSION ||
	    SSL_export_keying_material(c->ssl, out, EVIDENCE_NONCE_LEN, label, sizeof(label) - 1, NULL, 0, 0) != 1)
		return rp_error_set_openssl(err, "deriving the TLS 1.3 exporter value");
	return 0;
}

static int gtls_client_new(struct tls_client *t, rp_error *err)
{
	int rc = gnutls_certificate_allocate_credentials(&t->cred);
	if (rc < 0)
		return rp_error_set(err, RP_E_CRYPTO, "creating the TLS credentials: %s", gnutls_strerror(rc));
	rc = gnutls_certificate_set_x509_trust_file(t->cred, timed_ca, GNUTLS_X509_FMT_PEM);
	if (rc <= 0)
		return rp_error_set(err, RP_E_CRYPTO, "loading the service CA %s: %s", timed_ca,
		                    rc == 0 ? "no certificate in it" : gnutls_strerror(rc));
	/* GnuTLS's secure defaults with TLS 1.0 and 1.1 taken out, the elliptic-curve groups in
	 * libssl's order (NORMAL's own order puts P-256 first, which the service accepts, so the key
	 * exchange would cost both sides more than with libssl's X25519, docs/benchmarks.md), and the
	 * ciphers in the device agent's order (agent_tls.h). */
	rc = gnutls_priority_init(&t->prio, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-GROUP-ALL:+GROUP-X25519:"
	                                    "+GROUP-SECP256R1:+GROUP-X448:+GROUP-SECP521R1:+GROUP-SECP384R1:" AGENT_TLS_GNUTLS_CIPHERS,
	                          NULL);
	if (rc < 0)
		return rp_error_set(err, RP_E_CRYPTO, "setting the TLS priorities: %s", gnutls_strerror(rc));
	return 0;
}

static void gtls_client_free(struct tls_client *t)
{
	if (t->prio)
		gnutls_priority_deinit(t->prio);
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	t->prio = NULL;
	t->cred = NULL;
}

/* GnuTLS asks its transport for each record's header and then for its body, two system calls
 * per record: whole socket reads served from C's buffer instead, as libssl's read-ahead does. */
static ssize_t gtls_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	struct tls_conn *c = p;
	if (c->rpos == c->rlen) {
		ssize_t n = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
		if (n <= 0)
			return n;
		c->rpos = 0;
		c->rlen = (size_t)n;
	}
	size_t k = len < c->rlen - c->rpos ? len : c->rlen - c->rpos;
	memcpy(data, c->rbuf + c->rpos, k);
	c->rpos += k;
	return (ssize_t)k;
}

static int gtls_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	struct tls_conn *c = p;
	if (c->rpos < c->rlen)
		return 1;
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

static int gtls_open(struct tls_conn *c, struct tls_client *t, rp_error *err)
{
	/* GNUTLS_NO_TICKETS: no ticket asked for or kept, and no session data is ever set back.
	 * GNUTLS_KEY_SHARE_TOP: one key share (X25519), as libssl sends, not one per group type. */
	int rc = gnutls_init(&c->gs, GNUTLS_CLIENT | GNUTLS_NO_TICKETS | GNUTLS_KEY_SHARE_TOP);
	if (rc < 0) {
		c->gs = NULL;
		return rp_error_set(err, RP_E_CRYPTO, "setting up TLS: %s", gnutls_strerror(rc));
	}
	if ((rc = gnutls_priority_set(c->gs, t->prio)) < 0 ||
	    (rc = gnutls_credentials_set(c->gs, GNUTLS_CRD_CERTIFICATE, t->cred)) < 0 ||
	    (!svc_host_is_ip && (rc = gnutls_server_name_set(c->gs, GNUTLS_NAME_DNS, tls_name, strlen(tls_name))) < 0))
		return rp_error_set(err, RP_E_CRYPTO, "setting up TLS: %s", gnutls_strerror(rc));
	/* The chain is verified during the handshake, which fails when it or the name does not hold.
	 * An IP address must be one of the certificate's IP address names. */
	if (svc_host_is_ip) {
		gnutls_typed_vdata_st vd = {.type = GNUTLS_DT_IP_ADDRESS, .data = svc_ip_raw, .size = svc_ip_len};
		gnutls_session_set_verify_cert2(c->gs, &vd, 1, 0);
	} else {
		gnutls_session_set_verify_cert(c->gs, tls_name, 0);
	}
	/* Reads through the buffer above; writes straight to the socket (GnuTLS's own sendmsg). */
	c->rpos = c->rlen = 0;
	gnutls_transport_set_ptr2(c->gs, c, (gnutls_transport_ptr_t)(intptr_t)c->fd);
	gnutls_transport_set_pull_function(c->gs, gtls_pull);
	gnutls_transport_set_pull_timeout_function(c->gs, gtls_pull_timeout);
	do
		rc = gnutls_handshake(c->gs);
	while (rc == GNUTLS_E_INTERRUPTED);
	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		gnutls_datum_t why = {0};
		unsigned status = gnutls_session_get_verify_cert_status(c->gs);
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0) < 0)
			why.data = NULL;
		while (why.data && why.size > 0 && (why.data[why.size - 1] == ' ' || why.data[why.size - 1] == '\0'))
			why.data[--why.size] = '\0';
		rp_error_set(err, RP_E_VERIFY, "TLS handshake with %s: %s", svc_hostport,
		             why.data ? (const char *)why.data : "the certificate is not trusted");
		gnutls_free(why.data);
		return -1;
	}
	if (rc < 0)
		return rp_error_set(err, RP_E_CRYPTO, "TLS handshake with %s: %s", svc_hostport, gnutls_strerror(rc));
	return 0;
}

static int gtls_write(struct tls_conn *c, const char *data, size_t len, rp_error *err)
{
	while (len > 0) {
		ssize_t n = gnutls_record_send(c->gs, data, len);
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			return rp_error_set(err, RP_E_UNAVAILABLE, "sending a request: %s", gnutls_strerror((int)n));
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static ssize_t gtls_read(struct tls_conn *c, char *buf, size_t len, rp_error *err)
{
	ssize_t n;
	do
		n = gnutls_record_recv(c->gs, buf, len);
	while (n == GNUTLS_E_INTERRUPTED);
	if (n < 0)
		return rp_error_set(err, RP_E_UNAVAILABLE, "reading: %s", gnutls_strerror((int)n));
	return n;
}

static void gtls_close(struct tls_conn *c)
{
	if (c->gs) {
		if (!c->broken)
			(void)gnutls_bye(c->gs, GNUTLS_SHUT_WR);
		gnutls_deinit(c->gs);
		c->gs = NULL;
	}
}

static bool gtls_is_open(const struct tls_conn *c)
{
	return c->gs != NULL;
}

static int gtls_exporter(struct tls_conn *c, uint8_t out[EVIDENCE_NONCE_LEN], rp_error *err)
{
	static const char label[] = EVIDENCE_TLS_EXPORTER_LABEL;
	if (gnutls_protocol_get_version(c->gs) != GNUTLS_TLS1_3 ||
	    gnutls_prf_rfc5705(c->gs, sizeof(label) - 1, label, 0, NULL, EVIDENCE_NONCE_LEN, (char *)out) < 0)
		return rp_error_set(err, RP_E_CRYPTO, "deriving the TLS 1.3 exporter value");
	return 0;
}

static const struct tls_transport transports[] = {
	{"gnutls", gtls_client_new, gtls_client_free, gtls_open, gtls_write, gtls_read, gtls_close, gtls_is_open,
	 gtls_exporter},
	{"openssl", ossl_client_new, ossl_client_free, ossl_open, ossl_write, ossl_read, ossl_close, ossl_is_open,
	 ossl_exporter},
};
static const struct tls_transport *tp = &transports[0];

static void conn_close(struct tls_conn *c)
{
	tp->close(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->broken = false;
}

static int conn_open(struct tls_conn *c, struct tls_client *t, rp_error *err)
{
	c->fd = socket(svc_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return rp_error_set_errno(err, errno, "creating a socket");
	int one = 1;
	struct timeval tv = {.tv_sec = 60}; /* bounds every send, receive and the connect */
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return rp_error_set_errno(err, errno, "setting socket options");
	if (connect(c->fd, (const struct sockaddr *)&svc_addr, svc_addr_len) < 0)
		return rp_error_set_errno(err, errno, "connecting to %s", svc_hostport);
	atomic_fetch_add(&connects, 1);
	return tp->open(c, t, err);
}

/* One HTTP/1.1 response, framed by http-parser (Content-Length, chunked, or until the close). */
struct http_reply {
	http_parser parser;
	rp_buf body;
	unsigned status;
	bool done, keep_alive, over;
};

static int reply_on_headers_complete(http_parser *p)
{
	struct http_reply *r = p->data;
	if (p->status_code / 100 == 1)
		return 1; /* an interim answer has no body; the final one follows */
	r->status = p->status_code;
	if (p->content_length != ULLONG_MAX && p->content_length > REPLY_MAX) {
		r->over = true;
		return -1;
	}
	return 0;
}

static int reply_on_body(http_parser *p, const char *at, size_t n)
{
	struct http_reply *r = p->data;
	if (n > REPLY_MAX - r->body.len) {
		r->over = true;
		return -1;
	}
	rp_buf_append(&r->body, at, n);
	return 0;
}

static int reply_on_message_complete(http_parser *p)
{
	struct http_reply *r = p->data;
	if (r->status == 0)
		return 0; /* the end of an interim answer */
	r->done = true;
	r->keep_alive = http_should_keep_alive(p) != 0;
	http_parser_pause(p, 1); /* nothing after this reply was asked for */
	return 0;
}

static const http_parser_settings reply_settings = {
	.on_headers_complete = reply_on_headers_complete,
	.on_body = reply_on_body,
	.on_message_complete = reply_on_message_complete,
};

static int reply_read(struct tls_conn *c, struct http_reply *r, const char *path, rp_error *err)
{
	char buf[16384];
	http_parser_init(&r->parser, HTTP_RESPONSE);
	r->parser.data = r;
	while (!r->done) {
		ssize_t got = tp->read(c, buf, sizeof(buf), err);
		if (got < 0)
			return rp_error_prefix(err, "the reply to %s", path);
		if (got == 0) {
			(void)http_parser_execute(&r->parser, &reply_settings, NULL, 0); /* ends a body sent until the close */
			break;
		}
		size_t n = (size_t)got, used = http_parser_execute(&r->parser, &reply_settings, buf, n);
		if (r->done)
			break;
		if (r->over)
			return rp_error_set(err, RP_E_INVALID, "the reply to %s is larger than %u bytes", path, REPLY_MAX);
		if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK || used != n || r->parser.upgrade)
			return rp_error_set(err, RP_E_INVALID, "the reply to %s is malformed: %s", path,
			                    http_errno_description(HTTP_PARSER_ERRNO(&r->parser)));
	}
	if (!r->done)
		return rp_error_set(err, RP_E_INVALID, "the service closed the connection before the reply to %s ended", path);
	return 0;
}

/* POST JSON on C, opened first when it is not; LAST asks the service to close the connection after
 * the reply, which C then is. Returns the status and the parsed reply, 0 with ERR on a transport
 * failure. */
static long tls_post(struct tls_conn *c, struct tls_client *t, const char *path, json_t *body, bool last,
                     json_t **reply, rp_error *err)
{
	*reply = NULL;
	if (!tp->is_open(c) && conn_open(c, t, err) < 0) {
		c->broken = true;
		conn_close(c);
		return 0;
	}
	_cleanup_free_ char *payload = rp_json_dump(body);
	size_t payload_len = strlen(payload);
	_cleanup_free_ char *req = xasprintf("POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
	                                     "Content-Length: %zu\r\nConnection: %s\r\n\r\n%s",
	                                     svc_prefix, path, svc_hostport, payload_len, last ? "close" : "keep-alive", payload);
	struct http_reply r = {0};
	rp_buf_init(&r.body);
	long status = 0;
	if (tp->write(c, req, strlen(req), err) < 0) {
		rp_error_prefix(err, "%s", path);
		c->broken = last = true;
	} else if (reply_read(c, &r, path, err) < 0) {
		c->broken = last = true;
	} else {
		status = r.status;
		*reply = rp_json_parse((const char *)r.body.data, r.body.len, REPLY_MAX, "reply", NULL);
		if (!r.keep_alive)
			last = true;
	}
	rp_buf_free(&r.body);
	if (last)
		conn_close(c);
	return status;
}

/* Soft-backend evidence for a device that measured nothing (PCRs 8..15 zero): the claims, then
 * one quote over their digest, as the monitor writes it. */
static char *make_evidence(struct sim_device *d, const uint8_t nonce[32], rp_error *err)
{
	evidence ev;
	evidence_init(&ev);
	char *out = NULL;
	rp_buf enc, att;
	rp_buf_init(&enc);
	rp_buf_init(&att);
	uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN];
	memset(values, 0, sizeof(values));
	uint8_t digest[RP_SHA256_LEN], claims[RP_SHA256_LEN];
	quote_pcr_digest(EVIDENCE_PCR_MASK, values, digest);
	uint8_t name[34] = {0x00, 0x0b};
	memcpy(name + 2, d->id_raw, 32);
	if (evidence_set_backend(&ev, "soft", true, err) < 0 || evidence_add_counter(&ev, 0, 1, err) < 0)
		goto out;
	memcpy(ev.device_id, d->id_raw, 32);
	memcpy(ev.nonce, nonce, 32);
	if (evidence_claims_digest(&ev, claims, err) < 0)
		goto out;
	quote_attest_build(&att, name, sizeof(name), claims, sizeof(claims), EVIDENCE_PCR_MASK, digest, (uint64_t)time(NULL));
	memcpy(ev.quote_attest, att.data, att.len);
	ev.quote_attest_len = att.len;
	if (rp_ecdsa_sign(d->key, att.data, att.len, ev.quote_sig, &ev.quote_sig_len, err) < 0 ||
	    evidence_encode(&ev, &enc, err) < 0)
		goto out;
	out = rp_base64_encode(enc.data, enc.len);
out:
	rp_buf_free(&enc);
	rp_buf_free(&att);
	evidence_free(&ev);
	return out;
}

/* Prints the first 3 failures, with the service's error message or the transport's. */
static void report_failure(const char *what, long st, json_t *reply, const rp_error *err)
{
	static atomic_uint reported;
	if (atomic_fetch_add(&reported, 1) >= 3)
		return;
	const char *msg = reply ? json_string_value(json_object_get(json_object_get(reply, "error"), "message")) : NULL;
	fprintf(stderr, "attest-load: %s failed (HTTP %ld): %s\n", what, st,
	        msg ? msg : rp_error_is_set(err) ? err->message : "-");
}

/* The evidence request on C over NONCE, with D's CSRs; C is closed after the reply. FIELD and VALUE
 * say where the service finds the nonce: "nonce" and its hex (from a challenge), or
 * "nonce_binding" and "tls-exporter" (the connection's own). */
static bool send_evidence(struct tls_conn *c, struct tls_client *t, struct sim_device *d,
                          const uint8_t nonce[EVIDENCE_NONCE_LEN], const char *field, const char *value)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *ev = make_evidence(d, nonce, &err);
	json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "device_id", d->id, field, value, "evidence", ev ? ev : "",
	                        "client_csr", d->client_csr, "device_api_csr", d->api_csr),
	       *reply = NULL;
	long st = tls_post(c, t, "/v1/attestation/evidence", req, true, &reply, &err);
	json_decref(req);
	bool ok = st == 200 && reply && json_object_get(reply, "client_certificate");
	if (!ok)
		report_failure("attestation", st, reply, &err);
	json_decref(reply);
	return ok;
}

/* T: the worker's TLS client, kept across attestations as a device keeps its loaded CA store;
 * every attestation still opens a fresh connection (full handshake, no session resumption) and
 * closes it after the evidence request. */
static bool attest_once(struct sim_device *d, struct tls_client *t)
{
	struct tls_conn c = {.fd = -1};
	rp_error err = RP_ERROR_INIT;
	uint8_t nonce[EVIDENCE_NONCE_LEN];
	if (!nonce_from_challenge) {
		if (conn_open(&c, t, &err) < 0 || tp->exporter(&c, nonce, &err) < 0) {
			c.broken = true;
			conn_close(&c);
			report_failure("connection", 0, NULL, &err);
			return false;
		}
		return send_evidence(&c, t, d, nonce, "nonce_binding", EVIDENCE_NONCE_BINDING_TLS);
	}
	bool own_connections = conns_per_attestation == 2;
	json_t *req = json_pack("{s:s}", "device_id", d->id), *reply = NULL;
	long st = tls_post(&c, t, "/v1/attestation/challenge", req, own_connections, &reply, &err);
	json_decref(req);
	const char *nonce_hex = reply ? json_string_value(json_object_get(reply, "nonce")) : NULL;
	if (st != 200 || !nonce_hex || rp_hex_decode(nonce_hex, nonce, sizeof(nonce), &err) < 0) {
		report_failure("challenge", st, reply, &err);
		json_decref(reply);
		conn_close(&c);
		return false;
	}
	_cleanup_free_ char *hex = xstrdup(nonce_hex);
	json_decref(reply);
	return send_evidence(&c, t, d, nonce, "nonce", hex);
}

static void *worker(void *arg)
{
	struct tls_client *t = arg;
	while (!atomic_load(&stop_flag)) {
		size_t i = atomic_fetch_add(&next_device, 1) % n_devices;
		if (attest_once(&devices[i], t))
			atomic_fetch_add(&done, 1);
		else
			atomic_fetch_add(&failures, 1);
	}
	return NULL;
}

static int setup(const char *group_id, const char *tenant)
{
	rp_error err = RP_ERROR_INIT;
	devices = xcalloc(n_devices, sizeof(*devices));
	for (size_t i = 0; i < n_devices; i++) {
		struct sim_device *d = &devices[i];
		d->key = rp_key_generate_p256(&err);
		_cleanup_free_ char *hex = d->key ? rp_key_id_hex(d->key, &err) : NULL;
		_cleanup_free_ char *pem = hex ? rp_key_public_pem(d->key, &err) : NULL;
		if (!pem)
			return fprintf(stderr, "attest-load: %s\n", err.message), -1;
		memcpy(d->id, hex, 65);
		if (rp_hex_decode(hex, d->id_raw, 32, &err) < 0)
			return -1;
		EVP_PKEY *k1 = rp_key_generate_p256(&err), *k2 = rp_key_generate_p256(&err);
		d->client_csr = agent_csr_build(k1, hex, &err);
		d->api_csr = agent_csr_build(k2, hex, &err);
		EVP_PKEY_free(k1);
		EVP_PKEY_free(k2);
		json_t *reply = NULL, *req = json_pack("{s:s, s:s}", "device_id", hex, "public_key_pem", pem);
		long st = post("/v1/devices", req, token, &reply);
		json_decref(req);
		json_decref(reply);
		if (st != 201)
			return fprintf(stderr, "attest-load: registering a device: HTTP %ld\n", st), -1;
		_cleanup_free_ char *path = xasprintf("/v1/tenants/%s/devices/claim", tenant);
		req = json_pack("{s:s, s:s}", "device_id", hex, "device_group_id", group_id);
		st = post(path, req, token, &reply);
		json_decref(req);
		json_decref(reply);
		if (st != 200 && st != 201)
			return fprintf(stderr, "attest-load: claiming a device: HTTP %ld\n", st), -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"service", required_argument, NULL, 's'}, {"service-ca", required_argument, NULL, 'c'},
		{"token", required_argument, NULL, 't'},   {"devices", required_argument, NULL, 'd'},
		{"threads", required_argument, NULL, 'n'}, {"seconds", required_argument, NULL, 'S'},
		{"connections", required_argument, NULL, 'C'}, {"service-pid", required_argument, NULL, 'P'},
		{"tls", required_argument, NULL, 'T'},     {"attest-ca", required_argument, NULL, 'A'},
		{"attest-name", required_argument, NULL, 'N'}, {"nonce", required_argument, NULL, 'O'}, {0},
	};
	uint32_t threads = 8, seconds = 10, nd = 64;
	rp_error err = RP_ERROR_INIT;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': service = optarg; break;
		case 'c': ca_file = optarg; break;
		case 't': token = optarg; break;
		case 'd': if (rp_parse_u32(optarg, 1, 100000, &nd, &err) < 0) return 2; break;
		case 'n': if (rp_parse_u32(optarg, 1, 256, &threads, &err) < 0) return 2; break;
		case 'S': if (rp_parse_u32(optarg, 1, 3600, &seconds, &err) < 0) return 2; break;
		case 'C': if (rp_parse_u32(optarg, 1, 2, &conns_per_attestation, &err) < 0) return 2; break;
		case 'P': if (rp_parse_u32(optarg, 1, UINT32_MAX, &service_pid, &err) < 0) return 2; break;
		case 'A': timed_ca = optarg; break;
		case 'N': timed_name = optarg; break;
		case 'O':
			if (strcmp(optarg, "challenge") != 0 && strcmp(optarg, EVIDENCE_NONCE_BINDING_TLS) != 0)
				return fprintf(stderr, "attest-load: --nonce is %s or challenge, not %s\n",
				               EVIDENCE_NONCE_BINDING_TLS, optarg), 2;
			nonce_from_challenge = strcmp(optarg, "challenge") == 0;
			break;
		case 'T':
			tp = NULL;
			for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
				if (strcmp(optarg, transports[i].name) == 0)
					tp = &transports[i];
			if (!tp)
				return fprintf(stderr, "attest-load: --tls is gnutls or openssl, not %s\n", optarg), 2;
			break;
		default: return 2;
		}
	}
	if (!service || !ca_file || !token) {
		fprintf(stderr, "usage: attest-load --service URL --service-ca FILE --token TOKEN [--devices N] "
		                "[--threads T] [--seconds S] [--connections 1|2] [--service-pid PID] "
		                "[--tls gnutls|openssl] [--nonce tls-exporter|challenge] [--attest-ca FILE] "
		                "[--attest-name NAME]\n");
		return 2;
	}
	if (conns_per_attestation == 2 && !nonce_from_challenge)
		return fprintf(stderr, "attest-load: --connections 2 needs --nonce challenge (a bound nonce is the "
		                       "connection's)\n"), 2;
	n_devices = nd;
	if (!timed_ca)
		timed_ca = ca_file;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* A close_notify to a service that already closed must not end the tool. */
	signal(SIGPIPE, SIG_IGN);
	/* A tenant and product of its own; devices go to the product's Development group. */
	json_t *reply = NULL, *req = json_pack("{s:s}", "name", "attest-bench");
	long st = post("/v1/tenants", req, token, &reply);
	json_decref(req);
	_cleanup_free_ char *tenant = xstrdup(st == 201 ? json_string_value(json_object_get(reply, "tenant_id")) : "");
	json_decref(reply);
	_cleanup_free_ char *ppath = xasprintf("/v1/tenants/%s/products", tenant);
	req = json_pack("{s:s}", "name", "bench");
	st = post(ppath, req, token, &reply);
	json_decref(req);
	if (st != 201 || !tenant[0])
		return fprintf(stderr, "attest-load: creating the bench tenant and product failed (HTTP %ld)\n", st), 1;
	_cleanup_free_ char *gpath = xasprintf("/v1/tenants/%s/products/%s/device-groups", tenant,
	                                       json_string_value(json_object_get(reply, "product_id")));
	json_decref(reply);
	/* The product's default device groups (a GET). */
	{
		CURL *c = curl_easy_init();
		_cleanup_free_ char *url = xasprintf("%s%s", service, gpath);
		_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", token);
		struct curl_slist *h = curl_slist_append(NULL, auth);
		struct sink k;
		rp_buf_init(&k.b);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
		curl_easy_perform(c);
		curl_slist_free_all(h);
		curl_easy_cleanup(c);
		reply = rp_json_parse((const char *)k.b.data, k.b.len, 1 << 20, "groups", &err);
		rp_buf_free(&k.b);
	}
	const char *group = NULL;
	json_t *items = reply ? json_object_get(reply, "items") : NULL;
	for (size_t i = 0; i < json_array_size(items); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(items, i), "name")), "Development") == 0)
			group = json_string_value(json_object_get(json_array_get(items, i), "device_group_id"));
	if (!group)
		return fprintf(stderr, "attest-load: the product has no Development group\n"), 1;
	_cleanup_free_ char *gid = xstrdup(group);
	json_decref(reply);
	if (setup(gid, tenant) < 0)
		return 1;
	if (service_resolve(&err) < 0)
		return fprintf(stderr, "attest-load: %s\n", err.message), 1;
	if (timed_name)
		expect_name(timed_name);
	pthread_t *t = xcalloc(threads, sizeof(*t));
	struct tls_client *clients = xcalloc(threads, sizeof(*clients));
	for (uint32_t i = 0; i < threads; i++)
		if (tp->client_new(&clients[i], &err) < 0)
			return fprintf(stderr, "attest-load: %s: %s\n", tp->name, err.message), 1;
	atomic_store(&connects, 0);
	struct timespec a, b;
	double svc0 = service_pid ? proc_cpu_seconds(service_pid) : -1, self0 = self_cpu_seconds();
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (uint32_t i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, &clients[i]);
	struct timespec sl = {.tv_sec = seconds};
	nanosleep(&sl, NULL);
	atomic_store(&stop_flag, true);
	for (uint32_t i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double svc1 = service_pid ? proc_cpu_seconds(service_pid) : -1, self1 = self_cpu_seconds();
	double n_done = atomic_load(&done) ? (double)atomic_load(&done) : 1.0;
	double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("{\"tls\": \"%s\", \"nonce\": \"%s\", \"attestations\": %zu, \"failures\": %zu, \"seconds\": %.2f, \"per_second\": %.1f, "
	       "\"devices\": %zu, \"threads\": %u, \"connections\": %.2f, \"load_cpu_ms\": %.3f, \"service_cpu_ms\": %.3f}\n",
	       tp->name, nonce_from_challenge ? "challenge" : EVIDENCE_NONCE_BINDING_TLS, atomic_load(&done), atomic_load(&failures), secs, (double)atomic_load(&done) / secs, n_devices, threads,
	       atomic_load(&done) ? (double)atomic_load(&connects) / (double)atomic_load(&done) : 0.0,
	       1000.0 * (self1 - self0) / n_done, svc0 >= 0 && svc1 >= 0 ? 1000.0 * (svc1 - svc0) / n_done : -1.0);
	for (size_t i = 0; i < n_devices; i++) {
		EVP_PKEY_free(devices[i].key);
		free(devices[i].client_csr);
		free(devices[i].api_csr);
	}
	free(devices);
	for (uint32_t i = 0; i < threads; i++)
		tp->client_free(&clients[i]);
	free(clients);
	free(t);
	free(svc_host);
	free(tls_name);
	free(svc_hostport);
	free(svc_prefix);
	curl_global_cleanup();
	return atomic_load(&done) > 0 ? 0 : 1;
}
