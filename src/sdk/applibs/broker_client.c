/* applibs side of the peripheral broker protocol (docs/protocol.md, "Peripheral broker protocol
 * v1"). Calls on one fd are serialised with a lock so threads cannot interleave responses. */
#include "broker_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/parse.h"
#include "device/broker/broker_wire.h"

static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t next_seq = 1;

int broker_client_control_fd(void)
{
	const char *env = getenv("RAMPART_BROKER_FD");
	uint32_t fd = BROKER_APP_FD;
	int type = 0;
	socklen_t len = sizeof(type);

	if (env) {
		rp_error err = RP_ERROR_INIT;
		if (rp_parse_u32(env, 0, 65535, &fd, &err) < 0) {
			errno = ENOTCONN;
			return -1;
		}
	}
	if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
		errno = ENOTCONN;
		return -1;
	}
	return (int)fd;
}

int broker_client_call(int fd, const struct broker_msg *req, struct broker_msg *resp, uint8_t *buf, int *out_fd)
{
	struct broker_msg m = *req;
	rp_error err = RP_ERROR_INIT;
	rp_buf out;
	ssize_t n;
	int got_fd = -1;
	int rc = -1, saved;

	if (out_fd)
		*out_fd = -1;
	pthread_mutex_lock(&call_lock);
	m.seq = next_seq++;
	rp_buf_init(&out);
	broker_msg_encode(&m, &out);
	if (broker_wire_send(fd, out.data, out.len, -1) < 0) {
		saved = errno == ENOTSOCK || errno == EBADF ? EBADF : errno;
		goto done;
	}
	n = broker_wire_recv(fd, buf, BROKER_MSG_MAX, &got_fd);
	if (n <= 0) {
		saved = n == 0 ? ECONNRESET : errno;
		goto done;
	}
	if (broker_msg_decode(buf, (size_t)n, resp, &err) < 0 || resp->seq != m.seq ||
	    resp->type != (uint16_t)(m.type | BROKER_RESPONSE)) {
		saved = EPROTO;
		goto done;
	}
	if (resp->status != 0) {
		saved = (int)resp->status;
		goto done;
	}
	if (out_fd) {
		*out_fd = got_fd;
		got_fd = -1;
	}
	rc = 0;
	saved = 0;
done:
	pthread_mutex_unlock(&call_lock);
	rp_buf_free(&out);
	if (got_fd >= 0)
		close(got_fd);
	if (rc < 0)
		errno = saved;
	return rc;
}

int broker_client_open(const struct broker_msg *req)
{
	uint8_t buf[BROKER_MSG_MAX];
	struct broker_msg resp;
	int fd = -1;
	int control = broker_client_control_fd();

	if (control < 0)
		return -1;
	if (broker_client_call(control, req, &resp, buf, &fd) < 0)
		return -1;
	if (fd < 0) {
		errno = EPROTO;
		return -1;
	}
	return fd;
}
