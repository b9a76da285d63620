/* Security monitor server: peer authorisation, the measurement log and the handlers.
 * Defends the root of trust against its local peers: every connection's UID is read from the
 * kernel (SO_PEERCRED), every message type is checked against that UID's roles before its body
 * is parsed, and the only signatures made are over evidence the monitor assembled itself. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "attest/evidence.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/monitor/monitor_eventlog.h"
#include "device/idle_release.h"
#include "device/monitor/monitor_protocol.h"
#include "device/monitor/monitor_server.h"


struct monitor_client_slot {
	int fd;
	uid_t uid;
	pid_t pid;
	uint32_t roles;  /* 0: refused (a stranger, or over its UID's limit); evicted first */
	bool over_limit; /* refused because its UID already held MONITOR_MAX_CLIENTS_PER_UID */
};

/* Refused connects are logged once per UID and kind per window, with a count of the ones not
 * logged: a local loop of connects must not flood the log. */
#define MONITOR_REFUSAL_WINDOW_S 60
#define MONITOR_REFUSAL_UIDS 8

struct monitor_refusal {
	bool used;
	uid_t uid;
	const char *event; /* a string literal */
	time_t window_start; /* CLOCK_MONOTONIC seconds */
	unsigned long suppressed;
};

struct monitor_server {
	rot *rot;
	monitor_policy policy;
	char *eventlog_path;
	char *socket_path;
	int listen_fd;
	evidence log; /* only .log / .n_log are used: the measurement log since boot */
	bool log_consistent;
	uint8_t device_id[RP_KEY_ID_LEN];
	uint8_t *spki;
	size_t spki_len;
	struct monitor_client_slot clients[MONITOR_MAX_CLIENTS];
	struct monitor_refusal refusals[MONITOR_REFUSAL_UIDS];
	uint8_t buf[MONITOR_MSG_MAX];
};

int monitor_policy_add(monitor_policy *p, const char *spec, rp_error *err)
{
	const char *eq = strchr(spec, '=');
	if (!eq)
		return rp_error_set(err, RP_E_INVALID, "--allow '%s': expected ROLE=UID (roles: agent, boot, appmgr)", spec);
	_cleanup_free_ char *role = xstrndup(spec, (size_t)(eq - spec));
	uint32_t bit = monitor_role_parse(role);
	if (!bit)
		return rp_error_set(err, RP_E_INVALID, "--allow '%s': unknown role '%s' (roles: agent, boot, appmgr)", spec,
		                    role);
	uint32_t uid = 0;
	if (rp_parse_u32(eq + 1, 0, UINT32_MAX - 1, &uid, err) < 0)
		return rp_error_prefix(err, "--allow '%s': UID", spec);
	for (size_t i = 0; i < p->n; i++)
		if (p->entries[i].uid == (uid_t)uid) {
			p->entries[i].roles |= bit;
			return 0;
		}
	if (p->n >= MONITOR_POLICY_MAX)
		return rp_error_set(err, RP_E_LIMIT, "at most %d --allow UIDs", MONITOR_POLICY_MAX);
	p->entries[p->n].uid = (uid_t)uid;
	p->entries[p->n].roles = bit;
	p->n++;
	return 0;
}

uint32_t monitor_policy_roles(const monitor_policy *p, uid_t uid)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->entries[i].uid == uid)
			return p->entries[i].roles;
	return 0;
}

monitor_server *monitor_server_new(rot *r, const monitor_policy *policy, const char *eventlog_path, rp_error *err)
{
	monitor_server *s = xcalloc(1, sizeof(*s));
	s->rot = r;
	s->policy = *policy;
	s->listen_fd = -1;
	s->eventlog_path = xstrdup(eventlog_path);
	for (size_t i = 0; i < MONITOR_MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	evidence_init(&s->log);
	_cleanup_key_ rp_key *pub = rot_identity_public_key(r, err);
	if (!pub || rp_key_id(pub, s->device_id, err) < 0 || rp_key_public_der(pub, &s->spki, &s->spki_len, err) < 0 ||
	    monitor_eventlog_open(r, s->eventlog_path, &s->log, &s->log_consistent, err) < 0) {
		monitor_server_free(s);
		return NULL;
	}
	return s;
}

void monitor_server_free(monitor_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < MONITOR_MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0)
			close(s->clients[i].fd);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	/* Refused once Landlock confines the monitor (its socket directory is not writable): the next
	 * monitor_server_listen() replaces the stale socket (docs/decisions.md). */
	if (s->socket_path)
		unlink(s->socket_path);
	rot_close(s->rot);
	evidence_free(&s->log);
	free(s->spki);
	free(s->eventlog_path);
	free(s->socket_path);
	free(s);
}

int monitor_server_listen(monitor_server *s, const char *socket_path, rp_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return rp_error_set(err, RP_E_INVALID, "socket path %s is longer than %zu bytes", socket_path,
		                    sizeof(addr.sun_path) - 1);
	memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
	struct stat st;
	if (lstat(socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return rp_error_set(err, RP_E_EXISTS, "%s exists and is not a socket; refusing to replace it",
			                    socket_path);
		unlink(socket_path);
	}
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "creating the monitor socket");
	/* Anyone may connect; what a peer may do is decided per message from its kernel-reported UID. */
	mode_t old = umask(0111);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc < 0)
		return rp_error_set_errno(err, errno, "binding %s", socket_path);
	if (listen(fd, MONITOR_MAX_CLIENTS) < 0)
		return rp_error_set_errno(err, errno, "listening on %s", socket_path);
	s->socket_path = xstrdup(socket_path);
	s->listen_fd = steal_fd(fd);
	return 0;
}

/* ---- handlers ---- */

static void put_identity_head(monitor_server *s, rp_buf *p)
{
	rp_buf_append(p, s->device_id, RP_KEY_ID_LEN);
	rp_buf_u8(p, (uint8_t)strlen(rot_backend_name(s->rot)));
	rp_buf_append(p, rot_backend_name(s->rot), strlen(rot_backend_name(s->rot)));
	rp_buf_u8(p, rot_insecure(s->rot) ? 1 : 0);
}

static int handle_extend(monitor_server *s, const monitor_request *req, rp_buf *p, rp_error *err)
{
	if (s->log.n_log >= EVIDENCE_MAX_LOG)
		return rp_error_set(err, RP_E_LIMIT, "the measurement log is full (%d entries)", EVIDENCE_MAX_LOG);
	if (monitor_eventlog_extend(s->rot, s->eventlog_path, &s->log, req->u.extend.pcr, req->u.extend.name,
	                            req->u.extend.version, req->u.extend.digest, err) < 0) {
		/* The PCR may have moved without its log entry: attestation is refused from here on. */
		s->log_consistent = false;
		return -1;
	}
	uint8_t values[ROT_PCR_COUNT][RP_SHA256_LEN];
	if (rot_pcr_read(s->rot, 1u << req->u.extend.pcr, values, err) < 0)
		return -1;
	rp_buf_append(p, values[req->u.extend.pcr], RP_SHA256_LEN);
	_cleanup_free_ char *hex = rp_hex_encode(req->u.extend.digest, RP_SHA256_LEN);
	rp_log_event(RP_LOG_INFO, "monitor.measurement", "PCR %u extended: %s %s sha256=%s", req->u.extend.pcr,
	             req->u.extend.name, req->u.extend.version, hex);
	return 0;
}

static int handle_read_measurements(monitor_server *s, rp_buf *p, rp_error *err)
{
	uint8_t values[ROT_PCR_COUNT][RP_SHA256_LEN];
	if (rot_pcr_read(s->rot, EVIDENCE_PCR_MASK, values, err) < 0)
		return -1;
	for (unsigned i = EVIDENCE_PCR_FIRST; i <= EVIDENCE_PCR_LAST; i++)
		rp_buf_append(p, values[i], RP_SHA256_LEN);
	monitor_eventlog_encode_entries(&s->log, p);
	return 0;
}

static int handle_attest(monitor_server *s, const monitor_request *req, rp_buf *p, rp_error *err)
{
	if (!s->log_consistent)
		return rp_error_set(err, RP_E_CONFLICT, "the measurement log does not replay to the PCRs (it was lost or "
		                                        "tampered with); attestation is refused until the next boot");
	evidence ev;
	evidence_init(&ev);
	int rc = -1;
	if (evidence_set_backend(&ev, rot_backend_name(s->rot), rot_insecure(s->rot), err) < 0)
		goto out;
	memcpy(ev.device_id, s->device_id, RP_KEY_ID_LEN);
	memcpy(ev.nonce, req->u.attest.nonce, EVIDENCE_NONCE_LEN);
	for (size_t i = 0; i < s->log.n_log; i++)
		if (evidence_add_measurement(&ev, s->log.log[i].pcr, s->log.log[i].name, s->log.log[i].version,
		                             s->log.log[i].digest, err) < 0)
			goto out;
	for (size_t i = 0; i < req->u.attest.n_images; i++)
		if (evidence_add_image(&ev, req->u.attest.images[i].id, req->u.attest.images[i].version, err) < 0)
			goto out;
	for (unsigned i = 0; i < ROT_COUNTER_COUNT; i++) {
		uint64_t v = 0;
		if (rot_counter_read(s->rot, i, &v, err) < 0 || evidence_add_counter(&ev, i, v, err) < 0)
			goto out;
	}
	/* One quote signs it all: its qualifying data is the digest of the claims built above, which
	 * hold the caller's nonce. The caller never chooses what the quote signs. */
	uint8_t claims_digest[RP_SHA256_LEN];
	rot_quote q;
	if (evidence_claims_digest(&ev, claims_digest, err) < 0 ||
	    rot_quote_pcrs(s->rot, claims_digest, EVIDENCE_PCR_MASK, &q, err) < 0)
		goto out;
	memcpy(ev.quote_attest, q.attest, q.attest_len);
	ev.quote_attest_len = q.attest_len;
	memcpy(ev.quote_sig, q.sig, q.sig_len);
	ev.quote_sig_len = q.sig_len;
	if (evidence_encode(&ev, p, err) < 0)
		goto out;
	rp_log_event(RP_LOG_INFO, "monitor.attest", "evidence signed (%zu measurements, %zu images, %s root of trust%s)",
	             ev.n_log, ev.n_images, ev.backend, ev.insecure ? ", INSECURE" : "");
	rc = 0;
out:
	evidence_free(&ev);
	return rc;
}

static int handle_read_counters(monitor_server *s, rp_buf *p, rp_error *err)
{
	rp_buf_u8(p, ROT_COUNTER_COUNT);
	for (unsigned i = 0; i < ROT_COUNTER_COUNT; i++) {
		uint64_t v = 0;
		if (rot_counter_read(s->rot, i, &v, err) < 0)
			return -1;
		rp_buf_u8(p, (uint8_t)i);
		rp_buf_u64(p, v);
	}
	return 0;
}

static int handle_advance(monitor_server *s, const monitor_request *req, rp_buf *p, rp_error *err)
{
	uint64_t v = 0;
	if (rot_counter_advance_to(s->rot, req->u.advance.index, req->u.advance.value, err) < 0 ||
	    rot_counter_read(s->rot, req->u.advance.index, &v, err) < 0)
		return -1;
	rp_buf_u64(p, v);
	rp_log_event(RP_LOG_NOTICE, "monitor.counter", "counter %u is now %llu", req->u.advance.index,
	             (unsigned long long)v);
	return 0;
}

static int handle_random(monitor_server *s, const monitor_request *req, rp_buf *p, rp_error *err)
{
	uint8_t buf[MONITOR_RANDOM_MAX];
	if (rot_random(s->rot, buf, req->u.random.len, err) < 0)
		return -1;
	rp_buf_append(p, buf, req->u.random.len);
	return 0;
}

void monitor_server_handle(monitor_server *s, uid_t uid, uint32_t roles, const uint8_t *msg, size_t len, rp_buf *reply)
{
	rp_error err = RP_ERROR_INIT;
	rp_buf payload;
	rp_buf_init(&payload);
	monitor_header h;
	uint16_t type = MONITOR_MSG_NONE;
	char rbuf[64], abuf[64];
	monitor_request *req = NULL;
	if (monitor_header_decode(msg, len, &h, &err) < 0)
		goto out;
	if (h.type == MONITOR_MSG_NONE || h.type >= MONITOR_MSG_COUNT_) {
		rp_error_set(&err, RP_E_UNSUPPORTED, "unknown message type %u", h.type);
		goto out;
	}
	type = h.type;
	/* Authorise before parsing the body: a peer learns nothing about messages it may not send. */
	if (!(monitor_msg_allowed_roles(type) & roles)) {
		rp_error_set(&err, RP_E_PERMISSION, "%s is not allowed for uid %u (roles: %s; %s needs: %s)",
		             monitor_msg_name(type), (unsigned)uid, monitor_roles_string(roles, rbuf, sizeof(rbuf)),
		             monitor_msg_name(type), monitor_roles_string(monitor_msg_allowed_roles(type), abuf, sizeof(abuf)));
		goto out;
	}
	req = xmalloc(sizeof(*req));
	if (monitor_request_decode(msg, len, req, &err) < 0)
		goto out;
	/* Which counter matters too: an agent that could push the OS floor up would brick the device. */
	if (type == MONITOR_MSG_ADVANCE_COUNTER && !(monitor_counter_allowed_roles(req->u.advance.index) & roles)) {
		uint32_t need = monitor_counter_allowed_roles(req->u.advance.index);
		rp_error_set(&err, RP_E_PERMISSION, "ADVANCE_COUNTER of counter %u%s is not allowed for uid %u (roles: %s; "
		             "counter %u needs: %s)", req->u.advance.index,
		             req->u.advance.index == MONITOR_COUNTER_OS_FLOOR ? " (the OS version floor)" : "",
		             (unsigned)uid, monitor_roles_string(roles, rbuf, sizeof(rbuf)), req->u.advance.index,
		             monitor_roles_string(need, abuf, sizeof(abuf)));
		goto out;
	}
	int rc = 0;
	switch (type) {
	case MONITOR_MSG_GET_DEVICE_ID:
		put_identity_head(s, &payload);
		break;
	case MONITOR_MSG_GET_IDENTITY:
		put_identity_head(s, &payload);
		rp_buf_u16(&payload, (uint16_t)s->spki_len);
		rp_buf_append(&payload, s->spki, s->spki_len);
		break;
	case MONITOR_MSG_EXTEND:
		rc = handle_extend(s, req, &payload, &err);
		break;
	case MONITOR_MSG_READ_MEASUREMENTS:
		rc = handle_read_measurements(s, &payload, &err);
		break;
	case MONITOR_MSG_ATTEST:
		rc = handle_attest(s, req, &payload, &err);
		break;
	case MONITOR_MSG_READ_COUNTERS:
		rc = handle_read_counters(s, &payload, &err);
		break;
	case MONITOR_MSG_ADVANCE_COUNTER:
		rc = handle_advance(s, req, &payload, &err);
		break;
	case MONITOR_MSG_GET_RANDOM:
		rc = handle_random(s, req, &payload, &err);
		break;
	default:
		rc = rp_error_set(&err, RP_E_INTERNAL, "no handler for message type %u", type);
	}
	if (rc < 0 && !rp_error_is_set(&err))
		rp_error_set(&err, RP_E_INTERNAL, "%s failed without a reason", monitor_msg_name(type));
out:
	free(req);
	if (rp_error_is_set(&err))
		rp_log_event(RP_LOG_WARNING, "monitor.request.refused", "uid %u: %s refused: %s", (unsigned)uid,
		             monitor_msg_name(type), err.message);
	monitor_response_encode(reply, type, &err, payload.data, payload.len);
	rp_buf_free(&payload);
}

/* ---- connection handling ---- */

static void server_send(int fd, const rp_buf *b)
{
	/* SEQPACKET: one message; a peer that does not read is dropped rather than blocking us. */
	if (send(fd, b->data, b->len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		rp_debug("reply to fd %d not sent: %s", fd, strerror(errno));
}

static void server_refuse(int fd, uint16_t type, enum rp_errc code, const char *text)
{
	rp_error e = RP_ERROR_INIT;
	rp_error_set(&e, code, "%s", text);
	rp_buf b;
	rp_buf_init(&b);
	monitor_response_encode(&b, type, &e, NULL, 0);
	server_send(fd, &b);
	rp_buf_free(&b);
}

static void server_refuse_stranger(int fd, uid_t uid, pid_t pid)
{
	char text[160];
	snprintf(text, sizeof(text), "peer uid %u (pid %d) is not allowed to use the security monitor", (unsigned)uid,
	         (int)pid);
	server_refuse(fd, MONITOR_MSG_NONE, RP_E_PERMISSION, text);
}

static time_t monotonic_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Log TEXT as EVENT at most once per UID and event per window; later ones are counted. */
static void server_log_throttled(monitor_server *s, const char *event, uid_t uid, const char *text)
{
	time_t now = monotonic_seconds();
	struct monitor_refusal *r = NULL, *oldest = &s->refusals[0];
	for (size_t i = 0; i < MONITOR_REFUSAL_UIDS && !r; i++) {
		if (s->refusals[i].used && s->refusals[i].uid == uid && strcmp(s->refusals[i].event, event) == 0)
			r = &s->refusals[i];
		else if (!s->refusals[i].used || (oldest->used && s->refusals[i].window_start < oldest->window_start))
			oldest = &s->refusals[i];
	}
	if (r && now - r->window_start < MONITOR_REFUSAL_WINDOW_S) {
		r->suppressed++;
		return;
	}
	unsigned long suppressed = r ? r->suppressed : 0;
	if (!r)
		r = oldest;
	*r = (struct monitor_refusal){.used = true, .uid = uid, .event = event, .window_start = now};
	if (suppressed)
		rp_log_event(RP_LOG_WARNING, event, "%s (%lu more like this from uid %u were not logged)", text, suppressed,
		             (unsigned)uid);
	else
		rp_log_event(RP_LOG_WARNING, event, "%s (more like this from uid %u are counted, not logged, for %d s)",
		             text, (unsigned)uid, MONITOR_REFUSAL_WINDOW_S);
}

/* Connections UID holds with its roles (refused ones do not count: they are evictable). */
static size_t server_uid_connections(const monitor_server *s, uid_t uid)
{
	size_t n = 0;
	for (size_t i = 0; i < MONITOR_MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0 && s->clients[i].roles && s->clients[i].uid == uid)
			n++;
	return n;
}

static void server_limit_text(uid_t uid, char *text, size_t len)
{
	snprintf(text, len, "uid %u already has %d connections to the security monitor (the limit per uid); close "
	         "one or retry later", (unsigned)uid, MONITOR_MAX_CLIENTS_PER_UID);
}

static void server_accept(monitor_server *s)
{
	_cleanup_close_ int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || clen != sizeof(cred)) {
		server_refuse(fd, MONITOR_MSG_NONE, RP_E_PERMISSION, "peer credentials are unavailable");
		return;
	}
	uint32_t roles = monitor_policy_roles(&s->policy, cred.uid);
	bool over_limit = false;
	if (!roles) {
		/* Told why at once, and again in answer to its first message: closing with its request
		 * still unread would make the kernel report a bare "connection reset" instead. */
		char text[160];
		snprintf(text, sizeof(text), "peer uid %u (pid %d) is not allowed to use the security monitor",
		         (unsigned)cred.uid, (int)cred.pid);
		server_log_throttled(s, "monitor.peer.refused", cred.uid, text);
		server_refuse_stranger(fd, cred.uid, cred.pid);
	} else if (server_uid_connections(s, cred.uid) >= MONITOR_MAX_CLIENTS_PER_UID) {
		/* No UID may hold more than its share of the slots: one busy or hostile peer (say, an
		 * app manager allowed only GET_DEVICE_ID) cannot lock the agent and the boot stage out.
		 * Refused like a stranger from here on, and as evictable. */
		char text[160];
		server_limit_text(cred.uid, text, sizeof(text));
		server_log_throttled(s, "monitor.peer.limit", cred.uid, text);
		server_refuse(fd, MONITOR_MSG_NONE, RP_E_LIMIT, text);
		roles = 0;
		over_limit = true;
	}
	struct monitor_client_slot *slot = NULL;
	for (size_t i = 0; i < MONITOR_MAX_CLIENTS && !slot; i++)
		if (s->clients[i].fd < 0)
			slot = &s->clients[i];
	/* Refused peers never keep an allowed peer out: they are evicted first. */
	for (size_t i = 0; i < MONITOR_MAX_CLIENTS && !slot && roles; i++)
		if (s->clients[i].roles == 0) {
			close(s->clients[i].fd);
			s->clients[i].fd = -1;
			slot = &s->clients[i];
		}
	if (slot) {
		*slot = (struct monitor_client_slot){
			.fd = steal_fd(fd), .uid = cred.uid, .pid = cred.pid, .roles = roles, .over_limit = over_limit};
		return;
	}
	if (!roles)
		return; /* already told why */
	server_refuse(fd, MONITOR_MSG_NONE, RP_E_LIMIT, "too many connections to the security monitor; retry later");
}

static void server_client_ready(monitor_server *s, struct monitor_client_slot *c, short revents)
{
	/* MSG_TRUNC makes recv report the real size of an oversized message, so it is refused by name
	 * instead of being silently cut. */
	ssize_t n = recv(c->fd, s->buf, sizeof(s->buf), MSG_TRUNC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* SEQPACKET allows empty messages: a 0 return without a hang-up is one, and is answered. */
	bool hangup = revents & (POLLHUP | POLLRDHUP | POLLERR);
	if (n < 0 || (n == 0 && hangup)) {
		close(c->fd);
		c->fd = -1;
		return;
	}
	if (c->roles == 0) {
		if (c->over_limit) {
			char text[160];
			server_limit_text(c->uid, text, sizeof(text));
			server_refuse(c->fd, MONITOR_MSG_NONE, RP_E_LIMIT, text);
		} else
			server_refuse_stranger(c->fd, c->uid, c->pid);
		close(c->fd);
		c->fd = -1;
		return;
	}
	rp_buf reply;
	rp_buf_init(&reply);
	if ((size_t)n > sizeof(s->buf)) {
		char text[128];
		snprintf(text, sizeof(text), "message of %zd bytes is above the limit of %d", n, MONITOR_MSG_MAX);
		rp_log_event(RP_LOG_WARNING, "monitor.request.refused", "uid %u: %s", (unsigned)c->uid, text);
		server_refuse(c->fd, MONITOR_MSG_NONE, RP_E_LIMIT, text);
		return;
	}
	monitor_server_handle(s, c->uid, c->roles, s->buf, (size_t)n, &reply);
	server_send(c->fd, &reply);
	rp_buf_free(&reply);
}

int monitor_server_run(monitor_server *s, volatile sig_atomic_t *stop, rp_error *err)
{
	bool worked = true; /* start-up counts as work: release after it too */
	while (!*stop) {
		struct pollfd fds[1 + MONITOR_MAX_CLIENTS];
		size_t map[1 + MONITOR_MAX_CLIENTS];
		nfds_t n = 0;
		fds[n++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
		for (size_t i = 0; i < MONITOR_MAX_CLIENTS; i++)
			if (s->clients[i].fd >= 0) {
				map[n] = i;
				fds[n++] = (struct pollfd){.fd = s->clients[i].fd, .events = POLLIN | POLLRDHUP};
			}
		int rc = poll(fds, n, worked ? DEVICE_IDLE_RELEASE_MS : -1);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return rp_error_set_errno(err, errno, "waiting for peers");
		}
		if (rc == 0) {
			device_idle_release();
			worked = false;
			continue;
		}
		worked = true;
		for (nfds_t i = 1; i < n; i++) {
			struct monitor_client_slot *c = &s->clients[map[i]];
			if (fds[i].revents & POLLIN)
				server_client_ready(s, c, fds[i].revents);
			else if (fds[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
				close(c->fd);
				c->fd = -1;
			}
		}
		if (fds[0].revents & POLLIN)
			server_accept(s);
	}
	return 0;
}
