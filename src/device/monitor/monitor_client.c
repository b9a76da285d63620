/* Security monitor client: connect, send one request, receive and check one response. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "common/xalloc.h"
#include "device/monitor/monitor_client.h"

struct monitor_client {
	int fd;
	uint8_t buf[MONITOR_MSG_MAX];
};

monitor_client *monitor_client_connect(const char *socket_path, rp_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		rp_error_set(err, RP_E_INVALID, "socket path %s is too long", socket_path);
		return NULL;
	}
	memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rp_error_set_errno(err, errno, "creating a socket");
		return NULL;
	}
	/* The TPM can take a while (key loading, quotes); a wedged monitor must not hang us forever. */
	struct timeval tv = {.tv_sec = 60};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rp_error_set(err, errno == ENOENT || errno == ECONNREFUSED ? RP_E_UNAVAILABLE : RP_E_IO,
		             "cannot reach the security monitor at %s: %s (is rampart-monitor running?)", socket_path,
		             strerror(errno));
		return NULL;
	}
	monitor_client *c = xmalloc(sizeof(*c));
	c->fd = steal_fd(fd);
	return c;
}

void monitor_client_close(monitor_client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

static int client_call(monitor_client *c, const monitor_request *req, const uint8_t **payload, size_t *len,
                       rp_error *err)
{
	rp_buf msg;
	rp_buf_init(&msg);
	if (monitor_request_encode(req, &msg, err) < 0)
		return -1;
	ssize_t n = send(c->fd, msg.data, msg.len, MSG_NOSIGNAL);
	rp_buf_free(&msg);
	if (n < 0)
		return rp_error_set_errno(err, errno, "sending %s to the security monitor", monitor_msg_name(req->type));
	n = recv(c->fd, c->buf, sizeof(c->buf), MSG_TRUNC);
	if (n < 0)
		return rp_error_set_errno(err, errno, "waiting for the security monitor's answer to %s",
		                          monitor_msg_name(req->type));
	if (n == 0)
		return rp_error_set(err, RP_E_UNAVAILABLE, "the security monitor closed the connection");
	if ((size_t)n > sizeof(c->buf))
		return rp_error_set(err, RP_E_LIMIT, "the security monitor's answer is too large");
	return monitor_response_decode(c->buf, (size_t)n, req->type, payload, len, err);
}

static int client_identity(monitor_client *c, uint16_t type, monitor_identity *out, rp_error *err)
{
	memset(out, 0, sizeof(*out));
	monitor_request req = {.type = type};
	const uint8_t *p = NULL;
	size_t len = 0;
	if (client_call(c, &req, &p, &len, err) < 0)
		return -1;
	rp_reader r;
	rp_reader_init(&r, p, len);
	uint8_t blen = 0, insecure = 0;
	const uint8_t *b = NULL;
	rp_reader_bytes(&r, "device id", out->device_id, RP_KEY_ID_LEN);
	if (!rp_reader_u8(&r, "backend length", &blen) || blen > EVIDENCE_BACKEND_MAX ||
	    !rp_reader_view(&r, "backend", &b, blen) || !rp_reader_u8(&r, "insecure", &insecure))
		return rp_error_set(err, RP_E_INVALID, "malformed identity from the security monitor");
	memcpy(out->backend, b, blen);
	out->backend[blen] = '\0';
	out->insecure = insecure != 0;
	if (type == MONITOR_MSG_GET_IDENTITY) {
		uint16_t klen = 0;
		const uint8_t *k = NULL;
		if (!rp_reader_u16(&r, "key length", &klen) || !rp_reader_view(&r, "key", &k, klen))
			return rp_error_set(err, RP_E_INVALID, "malformed identity key from the security monitor");
		out->public_key = rp_key_from_public_der(k, klen, err);
		if (!out->public_key)
			return -1;
	}
	if (rp_reader_finish(&r, "identity response", err) < 0) {
		rp_key_free(out->public_key);
		out->public_key = NULL;
		return -1;
	}
	return 0;
}

int monitor_client_get_device_id(monitor_client *c, monitor_identity *out, rp_error *err)
{
	return client_identity(c, MONITOR_MSG_GET_DEVICE_ID, out, err);
}

int monitor_client_get_identity(monitor_client *c, monitor_identity *out, rp_error *err)
{
	return client_identity(c, MONITOR_MSG_GET_IDENTITY, out, err);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int monitor_client_extend(monitor_client *c, unsigned pcr, const char *name, const char *version,
                          const uint8_t digest[RP_SHA256_LEN], uint8_t new_value[RP_SHA256_LEN], rp_error *err)
{
	monitor_request req = {.type = MONITOR_MSG_EXTEND};
	if (pcr > 255 || strlen(name) > EVIDENCE_NAME_MAX || strlen(version) > EVIDENCE_VERSION_MAX)
		return rp_error_set(err, RP_E_INVALID, "measurement PCR, name or version out of range");
	req.u.extend.pcr = (uint8_t)pcr;
	copy_str(req.u.extend.name, sizeof(req.u.extend.name), name);
	copy_str(req.u.extend.version, sizeof(req.u.extend.version), version);
	memcpy(req.u.extend.digest, digest, RP_SHA256_LEN);
	const uint8_t *p = NULL;
	size_t len = 0;
	if (client_call(c, &req, &p, &len, err) < 0)
		return -1;
	if (len != RP_SHA256_LEN)
		return rp_error_set(err, RP_E_INVALID, "malformed EXTEND response");
	memcpy(new_value, p, RP_SHA256_LEN);
	return 0;
}

int monitor_client_read_measurements(monitor_client *c, uint8_t values[8][RP_SHA256_LEN], evidence *log,
                                     rp_error *err)
{
	monitor_request req = {.type = MONITOR_MSG_READ_MEASUREMENTS};
	const uint8_t *p = NULL;
	size_t len = 0;
	if (client_call(c, &req, &p, &len, err) < 0)
		return -1;
	rp_reader r;
	rp_reader_init(&r, p, len);
	uint16_t n = 0;
	if (!rp_reader_bytes(&r, "pcrs", values, 8 * RP_SHA256_LEN) || !rp_reader_u16(&r, "count", &n) ||
	    n > EVIDENCE_MAX_LOG)
		return rp_error_set(err, RP_E_INVALID, "malformed READ_MEASUREMENTS response");
	for (size_t i = 0; i < n; i++) {
		uint8_t pcr = 0, l1 = 0, l2 = 0, digest[RP_SHA256_LEN];
		const uint8_t *s1 = NULL, *s2 = NULL;
		char name[EVIDENCE_NAME_MAX + 1], version[EVIDENCE_VERSION_MAX + 1];
		if (!rp_reader_u8(&r, "pcr", &pcr) || !rp_reader_u8(&r, "l", &l1) || l1 > EVIDENCE_NAME_MAX ||
		    !rp_reader_view(&r, "name", &s1, l1) || !rp_reader_u8(&r, "l", &l2) || l2 > EVIDENCE_VERSION_MAX ||
		    !rp_reader_view(&r, "version", &s2, l2) || !rp_reader_bytes(&r, "digest", digest, sizeof(digest)))
			return rp_error_set(err, RP_E_INVALID, "malformed measurement log entry %zu", i);
		memcpy(name, s1, l1);
		name[l1] = '\0';
		memcpy(version, s2, l2);
		version[l2] = '\0';
		if (evidence_add_measurement(log, pcr, name, version, digest, err) < 0)
			return -1;
	}
	return rp_reader_finish(&r, "READ_MEASUREMENTS response", err);
}

int monitor_client_attest(monitor_client *c, const uint8_t nonce[EVIDENCE_NONCE_LEN], const monitor_image_claim *images,
                          size_t n_images, rp_buf *out, rp_error *err)
{
	if (n_images > EVIDENCE_MAX_IMAGES)
		return rp_error_set(err, RP_E_LIMIT, "at most %d images", EVIDENCE_MAX_IMAGES);
	monitor_request *req = xcalloc(1, sizeof(*req));
	req->type = MONITOR_MSG_ATTEST;
	memcpy(req->u.attest.nonce, nonce, EVIDENCE_NONCE_LEN);
	for (size_t i = 0; i < n_images; i++)
		req->u.attest.images[i] = images[i];
	req->u.attest.n_images = n_images;
	const uint8_t *p = NULL;
	size_t len = 0;
	int rc = client_call(c, req, &p, &len, err);
	free(req);
	if (rc < 0)
		return -1;
	rp_buf_append(out, p, len);
	return 0;
}

int monitor_client_read_counters(monitor_client *c, evidence_counter out[EVIDENCE_MAX_COUNTERS], size_t *n,
                                 rp_error *err)
{
	monitor_request req = {.type = MONITOR_MSG_READ_COUNTERS};
	const uint8_t *p = NULL;
	size_t len = 0;
	if (client_call(c, &req, &p, &len, err) < 0)
		return -1;
	rp_reader r;
	rp_reader_init(&r, p, len);
	uint8_t count = 0;
	if (!rp_reader_u8(&r, "count", &count) || count > EVIDENCE_MAX_COUNTERS)
		return rp_error_set(err, RP_E_INVALID, "malformed READ_COUNTERS response");
	for (size_t i = 0; i < count; i++)
		if (!rp_reader_u8(&r, "index", &out[i].index) || !rp_reader_u64(&r, "value", &out[i].value))
			return rp_error_set(err, RP_E_INVALID, "malformed READ_COUNTERS response");
	*n = count;
	return rp_reader_finish(&r, "READ_COUNTERS response", err);
}

int monitor_client_advance_counter(monitor_client *c, unsigned index, uint64_t value, uint64_t *now, rp_error *err)
{
	if (index > 255)
		return rp_error_set(err, RP_E_INVALID, "counter index %u out of range", index);
	monitor_request req = {.type = MONITOR_MSG_ADVANCE_COUNTER, .u.advance = {.index = (uint8_t)index, .value = value}};
	const uint8_t *p = NULL;
	size_t len = 0;
	if (client_call(c, &req, &p, &len, err) < 0)
		return -1;
	if (len != 8)
		return rp_error_set(err, RP_E_INVALID, "malformed ADVANCE_COUNTER response");
	*now = rp_get_u64be(p);
	return 0;
}

int monitor_client_random(monitor_client *c, void *buf, size_t len, rp_error *err)
{
	if (len == 0 || len > MONITOR_RANDOM_MAX)
		return rp_error_set(err, RP_E_INVALID, "random length %zu outside 1..%d", len, MONITOR_RANDOM_MAX);
	monitor_request req = {.type = MONITOR_MSG_GET_RANDOM, .u.random.len = (uint16_t)len};
	const uint8_t *p = NULL;
	size_t plen = 0;
	if (client_call(c, &req, &p, &plen, err) < 0)
		return -1;
	if (plen != len)
		return rp_error_set(err, RP_E_INVALID, "GET_RANDOM returned %zu bytes, asked for %zu", plen, len);
	memcpy(buf, p, len);
	return 0;
}
