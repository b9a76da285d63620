/* HTTP transport of the update client: plain TCP or TLS 1.2 through mbedTLS (ECDHE-ECDSA, the
 * pinned service CA only), one kept-alive connection per host, with the size and speed bounds that
 * stop the endless-data and slow-retrieval attacks (TUF specification, section 1.5.2). Responses
 * are read by update_http.c; this file does sockets, TLS and files. */
#include "device/update/update_fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <http_parser.h>
#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/boot/boot_fault.h"
#include "device/update/update_http.h"

#define UPDATE_FETCH_HASH_CHUNK (256u * 1024)
/* The one receive buffer: a TLS record is at most 16 KiB, plain http takes bigger reads. */
#define UPDATE_FETCH_RECV_BUF (64u * 1024)
#define UPDATE_FETCH_POST_MAX (64u * 1024)

/* What a URL names: where to connect and what to ask for. */
struct target {
	bool tls;
	char host[256];     /* without the brackets of an IPv6 literal */
	char port[8];
	char authority[280]; /* the Host header */
	const char *path;    /* path and query, not NUL-terminated */
	size_t path_len;
	bool ip;             /* HOST is an IP literal: checked against the certificate's iPAddress SANs */
	uint8_t ip_addr[16];
	size_t ip_len;
};

/* The speed bound (slow retrieval) and, while connecting, the connect deadline. */
struct pace {
	int64_t window_start; /* ms */
	uint64_t window_bytes;
	long limit;           /* bytes/s; <= 0: off */
	long time_s;
	int64_t deadline;     /* ms; 0: none */
};

struct conn {
	int fd;
	bool tls;
	bool tls_init;
	bool tls_up;
	bool peer_closed; /* EOF, reset or broken pipe: a kept connection the server dropped */
	bool unclean_close; /* TLS ended without close_notify */
	char key[300];    /* scheme, host and port this connection goes to */
	uint8_t ip_addr[16];
	size_t ip_len;
	struct pace pace;
	int sys_errno;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca;
	mbedtls_x509_crt own_cert;
	mbedtls_pk_context own_key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	uint8_t *rbuf;
};

static const int tls_suites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	0,
};

static const mbedtls_ecp_group_id tls_curves[] = {
	MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE,
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pace_start(struct pace *p, const struct update_fetch_config *cfg)
{
	p->window_start = now_ms();
	p->window_bytes = 0;
	/* A caller cannot switch the slow-retrieval bound off: at least 1 byte/s over 5 minutes. */
	p->limit = cfg->low_speed_limit > 0 ? cfg->low_speed_limit : 1;
	p->time_s = cfg->low_speed_time > 0 ? cfg->low_speed_time : 300;
	p->deadline = 0;
}

static bool pace_on(const struct pace *p)
{
	return p->limit > 0 && p->time_s > 0;
}

/* How long poll may wait before the bounds are checked again (-1: no bound). */
static int pace_wait_ms(const struct pace *p)
{
	int64_t now = now_ms(), t = -1;
	if (p->deadline)
		t = p->deadline > now ? p->deadline - now : 0;
	if (pace_on(p)) {
		int64_t w = p->window_start + (int64_t)p->time_s * 1000 - now;
		if (w < 0)
			w = 0;
		if (t < 0 || w < t)
			t = w;
	}
	return t > INT_MAX ? INT_MAX : (int)t;
}

/* After every wait: too slow over the last window, or past the connect deadline? */
static int pace_check(struct pace *p, const char **why)
{
	int64_t now = now_ms();
	if (p->deadline && now >= p->deadline) {
		*why = "connect";
		return -1;
	}
	if (pace_on(p) && now - p->window_start >= (int64_t)p->time_s * 1000) {
		if (p->window_bytes < (uint64_t)p->limit * (uint64_t)p->time_s) {
			*why = "slow";
			return -1;
		}
		p->window_start = now;
		p->window_bytes = 0;
	}
	return 0;
}

static int wait_fd(struct conn *c, short events, const struct update_fetch_config *cfg, rp_error *err)
{
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = events};
		int r = poll(&pfd, 1, pace_wait_ms(&c->pace));
		if (r < 0 && errno != EINTR)
			return rp_error_set_errno(err, errno, "waiting for the connection");
		const char *why = NULL;
		if (pace_check(&c->pace, &why) < 0) {
			if (strcmp(why, "connect") == 0)
				return rp_error_set(err, RP_E_UNAVAILABLE, "no connection within %ld s", cfg->connect_timeout);
			return rp_error_set(err, RP_E_UNAVAILABLE,
			                    "transfer too slow (under %ld bytes/s for %ld s; slow-retrieval protection)",
			                    cfg->low_speed_limit, cfg->low_speed_time);
		}
		if (r > 0)
			return 0;
	}
}

static bool closed_errno(int e)
{
	return e == ECONNRESET || e == EPIPE || e == ECONNABORTED;
}

static int bio_send(void *ud, const unsigned char *buf, size_t len)
{
	struct conn *c = ud;
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	c->sys_errno = errno;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ud, unsigned char *buf, size_t len)
{
	struct conn *c = ud;
	ssize_t n = recv(c->fd, buf, len, 0);
	if (n >= 0) {
		c->pace.window_bytes += (uint64_t)n;
		return (int)n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	c->sys_errno = errno;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

static int tls_fail(struct conn *c, int ret, const char *what, rp_error *err)
{
	if ((ret == MBEDTLS_ERR_NET_SEND_FAILED || ret == MBEDTLS_ERR_NET_RECV_FAILED) && c->sys_errno) {
		c->peer_closed = closed_errno(c->sys_errno);
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: %s", what, strerror(c->sys_errno));
	}
	char msg[160];
	mbedtls_strerror(ret, msg, sizeof(msg));
	return rp_error_set(err, RP_E_UNAVAILABLE, "%s: %s", what, msg);
}

/* Read up to N bytes: > 0, 0 at the end of the stream, -1 on failure. */
static ssize_t conn_read(struct conn *c, uint8_t *buf, size_t n, const struct update_fetch_config *cfg, rp_error *err)
{
	for (;;) {
		int r;
		if (c->tls) {
			r = mbedtls_ssl_read(&c->ssl, buf, n);
			if (r > 0)
				return r;
			if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == MBEDTLS_ERR_SSL_CONN_EOF) {
				c->peer_closed = true;
				/* Without close_notify the end may be an attacker's TCP FIN (truncation). */
				c->unclean_close = r != MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY;
				return 0;
			}
		} else {
			ssize_t got = recv(c->fd, buf, n, 0);
			if (got > 0) {
				c->pace.window_bytes += (uint64_t)got;
				return got;
			}
			if (got == 0) {
				c->peer_closed = true;
				return 0;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				c->peer_closed = closed_errno(errno);
				return rp_error_set(err, RP_E_UNAVAILABLE, "receiving: %s", strerror(errno));
			}
			r = MBEDTLS_ERR_SSL_WANT_READ;
		}
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
			if (wait_fd(c, r == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT, cfg, err) < 0)
				return -1;
			continue;
		}
		return tls_fail(c, r, "receiving", err);
	}
}

static int conn_write_all(struct conn *c, const uint8_t *p, size_t n, const struct update_fetch_config *cfg,
                          rp_error *err)
{
	while (n > 0) {
		int r;
		if (c->tls) {
			r = mbedtls_ssl_write(&c->ssl, p, n);
		} else {
			ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				c->peer_closed = closed_errno(errno);
				return rp_error_set(err, RP_E_UNAVAILABLE, "sending: %s", strerror(errno));
			}
			r = w < 0 ? MBEDTLS_ERR_SSL_WANT_WRITE : (int)w;
		}
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
			if (wait_fd(c, r == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT, cfg, err) < 0)
				return -1;
			continue;
		}
		return tls_fail(c, r, "sending", err);
	}
	return 0;
}

/* mbedTLS 2.28 matches only dNSName SANs against the host name: for an IP literal, the leaf
 * certificate must carry that address as an iPAddress SAN, or the handshake fails. */
static bool crt_has_ip_san(const mbedtls_x509_crt *crt, const uint8_t *ip, size_t ip_len)
{
	unsigned char *p = crt->v3_ext.p;
	if (!p || crt->v3_ext.len == 0)
		return false;
	const unsigned char *end = p + crt->v3_ext.len;
	size_t len;
	if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
		return false;
	end = p + len;
	while (p < end) {
		size_t ext_len;
		if (mbedtls_asn1_get_tag(&p, end, &ext_len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
			return false;
		const unsigned char *ext_end = p + ext_len;
		mbedtls_asn1_buf oid = {.tag = MBEDTLS_ASN1_OID};
		if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID) != 0)
			return false;
		oid.p = p;
		p += oid.len;
		int critical = 0;
		int r = mbedtls_asn1_get_bool(&p, ext_end, &critical);
		if (r != 0 && r != MBEDTLS_ERR_ASN1_UNEXPECTED_TAG)
			return false;
		size_t val_len;
		if (mbedtls_asn1_get_tag(&p, ext_end, &val_len, MBEDTLS_ASN1_OCTET_STRING) != 0)
			return false;
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) == 0) {
			unsigned char *q = p;
			const unsigned char *names_end = p + val_len;
			size_t names_len;
			if (mbedtls_asn1_get_tag(&q, names_end, &names_len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
			    0)
				return false;
			names_end = q + names_len;
			while (q < names_end) {
				unsigned char tag = *q++;
				size_t n;
				if (mbedtls_asn1_get_len(&q, names_end, &n) != 0)
					return false;
				if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && n == ip_len && memcmp(q, ip, ip_len) == 0)
					return true;
				q += n;
			}
		}
		p = (unsigned char *)ext_end;
	}
	return false;
}

static int verify_ip_san(void *ud, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	const struct conn *c = ud;
	if (depth == 0 && !crt_has_ip_san(crt, c->ip_addr, c->ip_len))
		*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

static int mbed_fail(int ret, const char *what, const char *path, rp_error *err)
{
	char msg[160];
	mbedtls_strerror(ret, msg, sizeof(msg));
	return rp_error_set(err, RP_E_UNAVAILABLE, "%s %s: %s", what, path, msg);
}

/* The TLS client: the pinned CA is the only trust anchor (no system store), TLS 1.2 or later with
 * ECDHE-ECDSA suites, the host name checked (SNI + dNSName) or, for an IP literal, its iPAddress
 * SAN; the device certificate when the service asks for mutual TLS. */
static int tls_setup(struct conn *c, const struct target *t, const struct update_fetch_config *cfg, rp_error *err)
{
	mbedtls_ssl_init(&c->ssl);
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_x509_crt_init(&c->own_cert);
	mbedtls_pk_init(&c->own_key);
	mbedtls_entropy_init(&c->entropy);
	mbedtls_ctr_drbg_init(&c->drbg);
	c->tls_init = true;
	static const unsigned char pers[] = "rampart-update";
	int r = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, pers, sizeof(pers) - 1);
	if (r != 0)
		return mbed_fail(r, "seeding the TLS random generator", "", err);
	r = mbedtls_x509_crt_parse_file(&c->ca, cfg->ca_file);
	if (r != 0)
		return r < 0 ? mbed_fail(r, "loading the service CA", cfg->ca_file, err)
		             : rp_error_set(err, RP_E_UNAVAILABLE, "loading the service CA %s: %d certificates unreadable",
		                            cfg->ca_file, r);
	if (cfg->client_cert) {
		const char *key = cfg->client_key ? cfg->client_key : cfg->client_cert;
		if ((r = mbedtls_x509_crt_parse_file(&c->own_cert, cfg->client_cert)) != 0)
			return r < 0 ? mbed_fail(r, "loading the client certificate", cfg->client_cert, err)
			             : rp_error_set(err, RP_E_UNAVAILABLE, "loading the client certificate %s", cfg->client_cert);
		if ((r = mbedtls_pk_parse_keyfile(&c->own_key, key, NULL)) != 0)
			return mbed_fail(r, "loading the client key", key, err);
	}
	if ((r = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                     MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		return mbed_fail(r, "configuring TLS", "", err);
	mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
	mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
	mbedtls_ssl_conf_ciphersuites(&c->conf, tls_suites);
	mbedtls_ssl_conf_curves(&c->conf, tls_curves);
	if (cfg->client_cert && (r = mbedtls_ssl_conf_own_cert(&c->conf, &c->own_cert, &c->own_key)) != 0)
		return mbed_fail(r, "using the client certificate", cfg->client_cert, err);
	if (t->ip) {
		memcpy(c->ip_addr, t->ip_addr, t->ip_len);
		c->ip_len = t->ip_len;
		mbedtls_ssl_conf_verify(&c->conf, verify_ip_san, c);
	}
	if ((r = mbedtls_ssl_setup(&c->ssl, &c->conf)) != 0)
		return mbed_fail(r, "setting up TLS", "", err);
	/* An IP literal is no SNI name (RFC 6066) and mbedTLS would compare it as a DNS name:
	 * verify_ip_san checks it instead. */
	if (!t->ip && (r = mbedtls_ssl_set_hostname(&c->ssl, t->host)) != 0)
		return mbed_fail(r, "setting the TLS server name", t->host, err);
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	return 0;
}

static int tls_handshake(struct conn *c, const struct update_fetch_config *cfg, rp_error *err)
{
	for (;;) {
		int r = mbedtls_ssl_handshake(&c->ssl);
		if (r == 0)
			break;
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
			if (wait_fd(c, r == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT, cfg, err) < 0)
				return -1;
			continue;
		}
		uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
		if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0 && flags != (uint32_t)-1) {
			char info[256];
			mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
			info[strcspn(info, "\n")] = 0;
			return rp_error_set(err, RP_E_UNAVAILABLE, "TLS handshake: the server certificate is not trusted (%s)",
			                    info);
		}
		return tls_fail(c, r, "TLS handshake", err);
	}
	/* Belt and braces: the handshake fails on any verification flag already. */
	if (mbedtls_ssl_get_verify_result(&c->ssl) != 0)
		return rp_error_set(err, RP_E_UNAVAILABLE, "TLS handshake: the server certificate is not trusted");
	c->tls_up = true;
	return 0;
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	if (c->tls_init) {
		if (c->tls_up && !c->peer_closed)
			(void)mbedtls_ssl_close_notify(&c->ssl); /* one try: the socket does not block */
		mbedtls_ssl_free(&c->ssl);
		mbedtls_ssl_config_free(&c->conf);
		mbedtls_x509_crt_free(&c->ca);
		mbedtls_x509_crt_free(&c->own_cert);
		mbedtls_pk_free(&c->own_key);
		mbedtls_ctr_drbg_free(&c->drbg);
		mbedtls_entropy_free(&c->entropy);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	free(c);
}

/* The addresses of a host name tried, at most (the resolver's answer is cut there). */
#define UPDATE_FETCH_ADDR_MAX 8

struct resolved {
	int family;
	socklen_t addrlen;
	struct sockaddr_storage addr;
};

/* What the resolver child hands back, in one write (well under PIPE_BUF, so never torn). */
struct resolve_msg {
	int gai;    /* getaddrinfo's result */
	int gai_errno;
	unsigned n;
	struct resolved a[UPDATE_FETCH_ADDR_MAX];
};
_Static_assert(sizeof(struct resolve_msg) <= PIPE_BUF, "the resolver answer must fit one pipe write");

static void resolve_copy(const struct addrinfo *res, struct resolve_msg *m)
{
	m->n = 0;
	for (const struct addrinfo *ai = res; ai && m->n < UPDATE_FETCH_ADDR_MAX; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(m->a[0].addr))
			continue;
		m->a[m->n].family = ai->ai_family;
		m->a[m->n].addrlen = ai->ai_addrlen;
		memcpy(&m->a[m->n].addr, ai->ai_addr, ai->ai_addrlen);
		m->n++;
	}
}

static void resolve_lookup(const struct target *t, struct resolve_msg *m)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | (t->ip ? AI_NUMERICHOST : 0)};
	struct addrinfo *res = NULL;
	memset(m, 0, sizeof(*m));
	m->gai = getaddrinfo(t->host, t->port, &hints, &res);
	m->gai_errno = errno;
	if (m->gai == 0) {
		resolve_copy(res, m);
		freeaddrinfo(res);
	}
}

/* Wait for the resolver child PID (killed first when KILL), whatever signals arrive. */
static void resolve_reap(pid_t pid, bool kill_it)
{
	if (kill_it)
		(void)kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
	}
}

/* Resolve a host name within TIMEOUT_S (until DEADLINE, ms). getaddrinfo has no time bound of its
 * own (resolv.conf attempts x timeout, NSS modules): it runs in a child process that is killed when
 * the time is up, so nothing is left running and nothing is leaked. IP literals never reach the
 * resolver (AI_NUMERICHOST, in this process). See docs/decisions.md. */
static int resolve(const struct target *t, int64_t deadline, long timeout_s, struct resolve_msg *m, rp_error *err)
{
	if (t->ip) {
		resolve_lookup(t, m);
	} else {
		int pfd[2];
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return rp_error_set_errno(err, errno, "resolving %s: creating a pipe", t->host);
		pid_t parent = getpid();
		pid_t pid = fork();
		if (pid < 0) {
			int e = errno;
			close(pfd[0]);
			close(pfd[1]);
			return rp_error_set_errno(err, e, "resolving %s: starting the resolver process", t->host);
		}
		if (pid == 0) {
			/* The child ends with its parent, and a stop signal ends it too (not the parent's
			 * handlers): it never outlives the lookup it was started for. */
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent) /* the parent died before PDEATHSIG was set */
				_exit(1);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			signal(SIGHUP, SIG_DFL);
			close(pfd[0]);
			resolve_lookup(t, m);
			_exit(write(pfd[1], m, sizeof(*m)) == (ssize_t)sizeof(*m) ? 0 : 1);
		}
		close(pfd[1]);
		_cleanup_close_ int rfd = pfd[0];
		size_t got = 0;
		bool timed_out = false;
		while (got < sizeof(*m)) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				timed_out = true;
				break;
			}
			struct pollfd p = {.fd = rfd, .events = POLLIN};
			int pr = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr < 0) {
				int e = errno;
				resolve_reap(pid, true);
				return rp_error_set_errno(err, e, "resolving %s: waiting for the resolver", t->host);
			}
			if (pr == 0)
				continue; /* the deadline check above ends it */
			ssize_t n = read(rfd, (uint8_t *)m + got, sizeof(*m) - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		resolve_reap(pid, got < sizeof(*m));
		if (timed_out)
			return rp_error_set(err, RP_E_UNAVAILABLE, "resolving %s: no answer within %ld s", t->host, timeout_s);
		if (got != sizeof(*m) || m->n > UPDATE_FETCH_ADDR_MAX)
			return rp_error_set(err, RP_E_UNAVAILABLE, "resolving %s: the resolver process failed", t->host);
	}
	if (m->gai == EAI_SYSTEM)
		return rp_error_set(err, RP_E_UNAVAILABLE, "resolving %s: %s", t->host, strerror(m->gai_errno));
	if (m->gai != 0)
		return rp_error_set(err, RP_E_UNAVAILABLE, "resolving %s: %s", t->host, gai_strerror(m->gai));
	if (m->n == 0)
		return rp_error_set(err, RP_E_UNAVAILABLE, "resolving %s: no IPv4 or IPv6 address", t->host);
	return 0;
}

static int tcp_connect(struct conn *c, const struct target *t, const struct update_fetch_config *cfg, long timeout_s,
                       rp_error *err)
{
	struct resolve_msg m;
	if (resolve(t, c->pace.deadline, timeout_s, &m, err) < 0)
		return -1;
	int last = ECONNREFUSED;
	for (unsigned i = 0; i < m.n; i++) {
		const struct resolved *a = &m.a[i];
		int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last = errno;
			continue;
		}
		c->fd = fd;
		if (connect(fd, (const struct sockaddr *)&a->addr, a->addrlen) < 0 && errno != EINPROGRESS) {
			last = errno;
		} else {
			rp_error werr = RP_ERROR_INIT;
			if (wait_fd(c, POLLOUT, cfg, &werr) < 0)
				return rp_error_set(err, RP_E_UNAVAILABLE, "connecting to %s port %s: %s", t->host, t->port,
				                    werr.message);
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				soerr = errno;
			if (soerr == 0) {
				int one = 1;
				(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				return 0;
			}
			last = soerr;
		}
		close(fd);
		c->fd = -1;
	}
	return rp_error_set(err, RP_E_UNAVAILABLE, "connecting to %s port %s: %s", t->host, t->port, strerror(last));
}

/* A kept connection the server closed (or wrote to unasked) is not worth a request. */
static bool conn_idle_ok(struct conn *c)
{
	if (c->tls && mbedtls_ssl_get_bytes_avail(&c->ssl) > 0)
		return false;
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
	return poll(&pfd, 1, 0) == 0;
}

static void target_key(const struct target *t, char *key, size_t cap)
{
	snprintf(key, cap, "%s://%s:%s", t->tls ? "https" : "http", t->host, t->port);
}

/* The connection to T: the kept one when it goes there and is still open, else a new one. */
static struct conn *conn_get(struct update_fetch_config *cfg, const struct target *t, bool *reused, rp_error *err)
{
	char key[sizeof(((struct conn *)0)->key)];
	target_key(t, key, sizeof(key));
	struct conn *c = cfg->conn;
	*reused = false;
	if (c && strcmp(c->key, key) == 0 && conn_idle_ok(c)) {
		*reused = true;
		pace_start(&c->pace, cfg);
		return c;
	}
	update_fetch_close(cfg);
	c = xcalloc(1, sizeof(*c));
	c->fd = -1;
	c->tls = t->tls;
	snprintf(c->key, sizeof(c->key), "%s", key);
	pace_start(&c->pace, cfg);
	/* Every connection attempt is bounded; a caller's 0 means the default, not "forever". */
	/* The bound covers the name lookup, the TCP connect and the TLS handshake together. */
	long timeout_s = cfg->connect_timeout > 0 ? cfg->connect_timeout : UPDATE_FETCH_DEFAULT_CONNECT_TIMEOUT;
	c->pace.deadline = now_ms() + (int64_t)timeout_s * 1000;
	if (tcp_connect(c, t, cfg, timeout_s, err) < 0 ||
	    (t->tls && (tls_setup(c, t, cfg, err) < 0 || tls_handshake(c, cfg, err) < 0))) {
		conn_free(c);
		return NULL;
	}
	c->pace.deadline = 0;
	c->rbuf = xmalloc(UPDATE_FETCH_RECV_BUF);
	cfg->conn = c;
	return c;
}

static int parse_target(const struct update_fetch_config *cfg, const char *url, struct target *t, rp_error *err)
{
	memset(t, 0, sizeof(*t));
	bool https = strncmp(url, "https://", 8) == 0;
	if (!https && strncmp(url, "http://", 7) != 0)
		return rp_error_set(err, RP_E_INVALID, "%s: only http and https URLs are supported", url);
	if (https && !cfg->ca_file)
		return rp_error_set(err, RP_E_INVALID, "%s: https needs the service CA (--service-ca FILE)", url);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return rp_error_set(err, RP_E_INVALID, "%s: the URL holds a space or control character", url);
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, strlen(url), 0, &u) != 0 || !(u.field_set & (1 << UF_HOST)))
		return rp_error_set(err, RP_E_INVALID, "%s: not a valid URL", url);
	if (u.field_set & (1 << UF_USERINFO))
		return rp_error_set(err, RP_E_INVALID, "%s: credentials in the URL are not supported", url);
	t->tls = https;
	size_t hlen = u.field_data[UF_HOST].len;
	if (hlen == 0 || hlen >= sizeof(t->host))
		return rp_error_set(err, RP_E_INVALID, "%s: bad host name", url);
	memcpy(t->host, url + u.field_data[UF_HOST].off, hlen);
	t->host[hlen] = 0;
	unsigned port = (u.field_set & (1 << UF_PORT)) ? u.port : (https ? 443u : 80u);
	snprintf(t->port, sizeof(t->port), "%u", port);
	bool v6 = strchr(t->host, ':') != NULL;
	if (v6) {
		if (inet_pton(AF_INET6, t->host, t->ip_addr) != 1)
			return rp_error_set(err, RP_E_INVALID, "%s: bad IPv6 address", url);
		t->ip = true;
		t->ip_len = 16;
	} else if (inet_pton(AF_INET, t->host, t->ip_addr) == 1) {
		t->ip = true;
		t->ip_len = 4;
	}
	if (u.field_set & (1 << UF_PORT))
		snprintf(t->authority, sizeof(t->authority), "%s%s%s:%u", v6 ? "[" : "", t->host, v6 ? "]" : "", port);
	else
		snprintf(t->authority, sizeof(t->authority), "%s%s%s", v6 ? "[" : "", t->host, v6 ? "]" : "");
	if (u.field_set & (1 << UF_PATH)) {
		t->path = url + u.field_data[UF_PATH].off;
		size_t end = u.field_data[UF_PATH].off + u.field_data[UF_PATH].len;
		if (u.field_set & (1 << UF_QUERY))
			end = u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len;
		t->path_len = end - u.field_data[UF_PATH].off;
	} else {
		t->path = "/";
		t->path_len = 1;
	}
	return 0;
}

void update_fetch_config_default(struct update_fetch_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->low_speed_limit = UPDATE_FETCH_DEFAULT_LOW_SPEED_LIMIT;
	cfg->low_speed_time = UPDATE_FETCH_DEFAULT_LOW_SPEED_TIME;
	cfg->connect_timeout = UPDATE_FETCH_DEFAULT_CONNECT_TIMEOUT;
}

void update_fetch_close(struct update_fetch_config *cfg)
{
	conn_free(cfg->conn);
	cfg->conn = NULL;
}

int update_fetch_global_init(rp_error *err)
{
	(void)err; /* each connection seeds its own TLS random generator */
	return 0;
}

/* Where received bytes go: a bounded memory buffer or a file descriptor, with a hard cap. */
struct sink {
	rp_buf buf;
	int fd;           /* >= 0: write to the file */
	uint64_t written; /* bytes accepted in this response */
	uint64_t cap;     /* accept at most this many */
	int write_errno;  /* a failed write (disk full) */
	uint64_t range_from; /* > 0: a Range was asked for */
	uint64_t full_len;   /* the whole blob's length, for a server that ignores the Range */
	bool restarted;      /* the server answered the Range with the whole blob (200) */
	bool range_refused;  /* a 206 that is not the range asked for: RANGE_ERR says why */
	rp_error range_err;
	rp_sha256 *hash;     /* when set: every byte written to FD, as it arrives */
};

/* A header value as it can be shown in a message: printable ASCII only. */
static void shown(const char *v, char *out, size_t cap)
{
	size_t i = 0;
	for (; v[i] && i + 1 < cap; i++)
		out[i] = (unsigned char)v[i] >= 0x20 && (unsigned char)v[i] < 0x7f ? v[i] : '?';
	out[i] = 0;
}

/* A 206 must answer exactly the Range asked for, "bytes=FROM-": Content-Range "bytes
 * FROM-(LEN-1)/LEN" with LEN the signed length. Anything else would append bytes of another
 * range or another blob to the partial file. */
static int check_partial(const struct sink *s, const struct update_http_response *r, rp_error *err)
{
	if (s->range_from == 0)
		return rp_error_set(err, RP_E_UNAVAILABLE, "a 206 Partial Content answer to a request without Range");
	char asked[48], cr[UPDATE_HTTP_CONTENT_RANGE_MAX + 1];
	snprintf(asked, sizeof(asked), "\"Range: bytes=%" PRIu64 "-\"", s->range_from);
	shown(r->content_range, cr, sizeof(cr));
	if (r->multipart)
		return rp_error_set(err, RP_E_UNAVAILABLE,
		                    "the 206 answer to %s is multipart (several ranges), not one Content-Range", asked);
	if (r->content_range_count == 0)
		return rp_error_set(err, RP_E_UNAVAILABLE, "the 206 answer to %s has no Content-Range", asked);
	if (r->content_range_count > 1)
		return rp_error_set(err, RP_E_UNAVAILABLE, "the 206 answer to %s has %u Content-Range fields", asked,
		                    r->content_range_count);
	if (r->content_range_long)
		return rp_error_set(err, RP_E_UNAVAILABLE, "the 206 answer to %s has a Content-Range longer than %u bytes",
		                    asked, UPDATE_HTTP_CONTENT_RANGE_MAX);
	struct update_http_range rg;
	rp_error perr = RP_ERROR_INIT;
	if (update_http_content_range_parse(r->content_range, r->content_range_len, &rg, &perr) < 0)
		return rp_error_set(err, RP_E_UNAVAILABLE, "the 206 answer to %s has an unusable Content-Range '%s': %s",
		                    asked, cr, perr.message);
	if (rg.first != s->range_from)
		return rp_error_set(err, RP_E_UNAVAILABLE,
		                    "the 206 answer to %s has Content-Range '%s', which starts at byte %" PRIu64
		                    ", not %" PRIu64,
		                    asked, cr, rg.first, s->range_from);
	if (!rg.complete_known)
		return rp_error_set(err, RP_E_UNAVAILABLE,
		                    "the 206 answer to %s has Content-Range '%s', which gives no length (expected %" PRIu64
		                    ")",
		                    asked, cr, s->full_len);
	if (rg.complete != s->full_len)
		return rp_error_set(err, RP_E_UNAVAILABLE,
		                    "the 206 answer to %s has Content-Range '%s', whose length %" PRIu64
		                    " is not the %" PRIu64 " bytes signed",
		                    asked, cr, rg.complete, s->full_len);
	if (rg.last != s->full_len - 1)
		return rp_error_set(err, RP_E_UNAVAILABLE,
		                    "the 206 answer to %s has Content-Range '%s', which ends at byte %" PRIu64
		                    ", not at the last byte %" PRIu64,
		                    asked, cr, rg.last, s->full_len - 1);
	return 0;
}

static int sink_head(void *ud, struct update_http_response *r)
{
	struct sink *s = ud;
	if (s->fd < 0)
		return 0;
	/* An error response: its body must not land in the download. */
	r->discard = r->status != 200 && r->status != 206;
	if (r->status == 206 && check_partial(s, r, &s->range_err) < 0) {
		s->range_refused = true;
		return -1;
	}
	if (s->range_from > 0 && r->status == 200) {
		/* The server ignored the Range: take the whole blob from the start. */
		if (lseek(s->fd, 0, SEEK_SET) < 0 || ftruncate(s->fd, 0) < 0) {
			s->write_errno = errno;
			return -1;
		}
		if (s->hash) {
			rp_sha256_free(s->hash);
			if (rp_sha256_init(s->hash, NULL) < 0) {
				s->write_errno = ENOMEM;
				return -1;
			}
		}
		s->cap = s->full_len;
		r->cap = s->full_len;
		s->restarted = true;
	}
	return 0;
}

static int sink_body(void *ud, const uint8_t *p, size_t n)
{
	struct sink *s = ud;
	if (s->fd >= 0) {
		boot_fault_point("update.download.write"); /* power-cut tests: mid-download */
		if (rp_write_full(s->fd, p, n) < 0) {
			s->write_errno = errno;
			return -1;
		}
		if (s->hash)
			rp_sha256_update(s->hash, p, n);
	} else {
		rp_buf_append(&s->buf, p, n);
	}
	s->written += n;
	return 0;
}

static const struct update_http_ops sink_ops = {.on_head = sink_head, .on_body = sink_body};

static bool token_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Whether T is the bearer token's origin (same scheme, host and port). Blobs may come from another
 * host (a mirror, a CDN): the service's credential is not theirs to see. */
static bool token_origin(const struct update_fetch_config *cfg, const struct target *t)
{
	struct target o;
	rp_error err = RP_ERROR_INIT;
	if (!cfg->bearer_origin || parse_target(cfg, cfg->bearer_origin, &o, &err) < 0)
		return false;
	return o.tls == t->tls && strcasecmp(o.host, t->host) == 0 && strcmp(o.port, t->port) == 0;
}

/* The request head and BODY in one piece (one TLS record for a small request). */
static void request_build(rp_buf *req, const struct update_fetch_config *cfg, const struct target *t,
                          const char *body, uint64_t range_from)
{
	_cleanup_free_ char *auth = cfg->bearer_token && token_origin(cfg, t)
	                                ? xasprintf("Authorization: Bearer %s\r\n", cfg->bearer_token)
	                                : xstrdup("");
	char range[64] = "", clen[96] = "";
	if (range_from > 0)
		snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-\r\n", range_from);
	if (body)
		snprintf(clen, sizeof(clen), "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body));
	_cleanup_free_ char *head = xasprintf("%s %.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: rampart-update/1\r\n"
	                                      "Accept: */*\r\n%s%s%s\r\n",
	                                      body ? "POST" : "GET", (int)t->path_len, t->path, t->authority, auth,
	                                      range, clen);
	rp_buf_append(req, head, strlen(head));
	if (body)
		rp_buf_append(req, body, strlen(body));
}

static int read_response(struct conn *c, struct update_http_response *resp, const struct update_fetch_config *cfg,
                         rp_error *err)
{
	for (;;) {
		ssize_t n = conn_read(c, c->rbuf, UPDATE_FETCH_RECV_BUF, cfg, err);
		if (n < 0)
			return -1;
		if (n == 0) {
			/* Under TLS a body that ends with the connection needs close_notify to be whole. */
			if (c->unclean_close && !resp->done)
				return rp_error_set(err, RP_E_UNAVAILABLE,
				                    "the TLS connection ended without close_notify before the response was complete");
			return update_http_eof(resp);
		}
		if (update_http_feed(resp, c->rbuf, (size_t)n) < 0)
			return -1;
		if (resp->done)
			return 0;
	}
}

/* One request on the kept connection (or a new one), and its outcome as one error. A kept
 * connection the server closed meanwhile is replaced once, transparently, as long as no byte of
 * the answer arrived. */
static int perform(struct update_fetch_config *cfg, const char *url, const char *body, struct sink *s,
                   long *status, rp_error *err)
{
	*status = 0;
	struct target t;
	if (parse_target(cfg, url, &t, err) < 0)
		return -1;
	if (cfg->bearer_token && !token_ok(cfg->bearer_token))
		return rp_error_set(err, RP_E_INVALID, "the bearer token holds a control character");
	rp_buf req;
	rp_buf_init(&req);
	request_build(&req, cfg, &t, body, s->range_from);
	struct update_http_response resp;
	update_http_response_init(&resp, &sink_ops, s, s->cap);
	rp_error ioerr = RP_ERROR_INIT;
	int rc = -1;
	cfg->requests++;
	for (int attempt = 0; attempt < 2; attempt++) {
		rp_error_clear(&ioerr);
		bool reused = false;
		struct conn *c = conn_get(cfg, &t, &reused, &ioerr);
		if (!c)
			break;
		update_http_response_init(&resp, &sink_ops, s, s->cap);
		rc = conn_write_all(c, req.data, req.len, cfg, &ioerr);
		if (rc == 0)
			rc = read_response(c, &resp, cfg, &ioerr);
		bool keep = rc == 0 && resp.done && resp.keep_alive && !c->peer_closed;
		bool retry = rc < 0 && reused && !resp.started && c->peer_closed;
		if (!keep)
			update_fetch_close(cfg);
		if (!retry)
			break;
		rp_debug("%s: the kept connection was closed by the server; reconnecting", url);
	}
	rp_buf_free(&req);
	cfg->bytes_received += s->written;
	if (resp.head_done)
		*status = (long)resp.status;
	if (s->range_refused)
		return rp_error_set(err, RP_E_UNAVAILABLE,
		                    "%s: %s; the partial download is discarded and the next attempt starts from byte 0", url,
		                    s->range_err.message);
	if (resp.over)
		return rp_error_set(err, RP_E_LIMIT, "%s: the server sent more than the %" PRIu64 " bytes expected", url,
		                    s->cap);
	if (s->write_errno)
		return rp_error_set_errno(err, s->write_errno, "%s: writing the download", url);
	if (resp.announced_over)
		return rp_error_set(err, RP_E_LIMIT, "%s: the server announced more than the %" PRIu64 " bytes expected",
		                    url, s->cap);
	if (rc < 0 && ioerr.code != RP_OK)
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: %s", url, ioerr.message);
	if (resp.malformed)
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: malformed HTTP response (%s)", url,
		                    http_errno_description(resp.http_err));
	if (rc < 0 || !resp.done)
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: the connection closed before the response was complete",
		                    url);
	if (*status == 404)
		return rp_error_set(err, RP_E_NOT_FOUND, "%s: not found (HTTP 404)", url);
	return 0;
}

int update_fetch_buffer(struct update_fetch_config *cfg, const char *url, size_t max_len, uint8_t **data,
                        size_t *len, rp_error *err)
{
	struct sink s = {.fd = -1, .cap = max_len};
	rp_buf_init(&s.buf);
	long status;
	if (perform(cfg, url, NULL, &s, &status, err) < 0) {
		rp_buf_free(&s.buf);
		return -1;
	}
	if (status != 200) {
		rp_buf_free(&s.buf);
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: HTTP status %ld", url, status);
	}
	rp_buf_append(&s.buf, "", 1);
	*len = s.buf.len - 1;
	*data = s.buf.data;
	return 0;
}

/* Hash the first HAVE bytes already in FD (a download being resumed), once. */
static int hash_prefix(int fd, uint64_t have, rp_sha256 *h, const char *partial, rp_error *err)
{
	(void)posix_fadvise(fd, 0, (off_t)have, POSIX_FADV_SEQUENTIAL);
	_cleanup_free_ uint8_t *buf = xmalloc(UPDATE_FETCH_HASH_CHUNK);
	for (uint64_t off = 0; off < have;) {
		size_t want = have - off < UPDATE_FETCH_HASH_CHUNK ? (size_t)(have - off) : UPDATE_FETCH_HASH_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rp_error_set_errno(err, errno, "reading %s", partial);
		if (n == 0)
			return rp_error_set(err, RP_E_IO, "%s shrank while being read", partial);
		rp_sha256_update(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	return 0;
}

static int fetch_file(struct update_fetch_config *cfg, const char *url, const char *partial, uint64_t expected_len,
                      rp_sha256 *hash, rp_error *err)
{
	/* O_NONBLOCK: a FIFO put in its place must not block the open; it is refused just below. */
	_cleanup_close_ int fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening %s", partial);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rp_error_set_errno(err, errno, "stat %s", partial);
	/* Only a file of our own: a hard link would make the download truncate another file. */
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		return rp_error_set(err, RP_E_INVALID, "%s is not a regular file with one link; remove it", partial);
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return rp_error_set_errno(err, errno, "configuring %s", partial);
	uint64_t have = (uint64_t)st.st_size;
	if (have > expected_len) {
		/* Longer than the signed length: nothing in it can be right. */
		if (ftruncate(fd, 0) < 0)
			return rp_error_set_errno(err, errno, "truncating %s", partial);
		have = 0;
	}
	if (hash && have > 0 && hash_prefix(fd, have, hash, partial, err) < 0)
		return -1;
	/* Two rounds at most: a server that ignores or refuses the Range gets one full download. */
	for (int round = 0; have < expected_len && round < 2; round++) {
		if (lseek(fd, (off_t)have, SEEK_SET) < 0)
			return rp_error_set_errno(err, errno, "seeking in %s", partial);
		struct sink s = {.fd = fd, .cap = expected_len - have, .range_from = have, .full_len = expected_len,
		                 .hash = hash};
		long status;
		int r = perform(cfg, url, NULL, &s, &status, err);
		if (s.restarted) {
			rp_info("%s ignored the Range request; downloaded from the start", url);
			have = 0;
		}
		if (r < 0 && s.range_refused) {
			/* Not the range asked for: nothing of it was written, and the prefix is not resumed
			 * from this server's answers again. */
			if (ftruncate(fd, 0) < 0)
				return rp_error_set_errno(err, errno, "truncating %s", partial);
			if (hash) {
				rp_sha256_free(hash);
				rp_error herr = RP_ERROR_INIT;
				if (rp_sha256_init(hash, &herr) < 0)
					rp_warn("%s", herr.message);
			}
			return -1;
		}
		if (r < 0) {
			/* Keep what arrived for the next attempt (resume), unless it overflowed. */
			if (err && err->code == RP_E_LIMIT && ftruncate(fd, (off_t)have) < 0)
				rp_warn("could not trim %s", partial);
			return -1;
		}
		if (have > 0 && status == 416) {
			if (ftruncate(fd, 0) < 0)
				return rp_error_set_errno(err, errno, "truncating %s", partial);
			have = 0;
			if (hash) {
				rp_sha256_free(hash);
				if (rp_sha256_init(hash, err) < 0)
					return -1;
			}
			continue;
		}
		if (status != 200 && status != 206)
			return rp_error_set(err, RP_E_UNAVAILABLE, "%s: HTTP status %ld", url, status);
		have += s.written;
		if (have < expected_len)
			return rp_error_set(err, RP_E_UNAVAILABLE,
			                    "%s: the transfer ended after %" PRIu64 " of %" PRIu64 " bytes (will resume)", url,
			                    have, expected_len);
	}
	if (have != expected_len)
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: download incomplete", url);
	/* No fsync. The signed hash is taken while the bytes arrive (and over a kept prefix when a
	 * later run resumes or re-checks the file), not again right before install: what protects the
	 * install is the package signature it checks over the bytes it reads from this file, so a
	 * power cut that damages it costs a new download, never an install of wrong bytes. The file is
	 * deleted once installed, usually before writeback: only the slot copy has to reach the flash. */
	return 0;
}

int update_fetch_file(struct update_fetch_config *cfg, const char *url, const char *partial, uint64_t expected_len,
                      rp_error *err)
{
	return fetch_file(cfg, url, partial, expected_len, NULL, err);
}

int update_fetch_file_hashed(struct update_fetch_config *cfg, const char *url, const char *partial,
                             uint64_t expected_len, uint8_t sha256[RP_SHA256_LEN], rp_error *err)
{
	rp_sha256 h = {0};
	if (rp_sha256_init(&h, err) < 0)
		return -1;
	int rc = fetch_file(cfg, url, partial, expected_len, &h, err);
	if (rc == 0)
		rc = rp_sha256_final(&h, sha256, err);
	rp_sha256_free(&h);
	return rc;
}

int update_fetch_post_json(struct update_fetch_config *cfg, const char *url, const char *body, rp_error *err)
{
	struct sink s = {.fd = -1, .cap = UPDATE_FETCH_POST_MAX};
	rp_buf_init(&s.buf);
	long status;
	int r = perform(cfg, url, body, &s, &status, err);
	rp_buf_free(&s.buf);
	if (r < 0)
		return -1;
	if (status < 200 || status > 299)
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: HTTP status %ld", url, status);
	return 0;
}
