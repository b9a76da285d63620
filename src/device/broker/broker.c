/* The peripheral broker's event loop and request handlers (see broker.h). It runs outside the
 * app's sandbox with access to device nodes, so it treats every byte from the app as hostile:
 * requests are decoded strictly, every open is checked against the manifest grants resolved at
 * start, each peripheral has one open handle at a time, and all state changes are logged. */
#include "device/broker/broker.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/broker/backend_linux.h"
#include "device/broker/broker_net.h"
#include "device/broker/broker_proto.h"
#include "device/broker/broker_time.h"
#include "device/broker/broker_wire.h"

#define BROKER_CHANNELS_MAX 64
#define UART_CHUNK 1024

enum chan_kind { CH_CONTROL, CH_PERIPH, CH_UART_SIM, CH_SYSEVENT, CH_APPCONN, CH_LINK };

/* The event log lives on the state partition and the app drives what goes in it: bounded in
 * size (one final log_truncated line), hex dumps bounded per event, and the events an app can
 * cause at will (refusals, protocol errors) rate-limited, in broker.log and on stderr (the app's
 * log) alike. The app manager rotates broker.log at each start (docs/threat-model.md). */
#define BROKER_LOG_MAX_BYTES (1u << 20)
#define BROKER_LOG_RESERVE 512  /* room kept for the log_truncated line */
#define BROKER_LOG_HEX_MAX 64   /* data bytes shown per event; "length" has the total */
#define BROKER_NOISY_PER_MINUTE 10
#define BROKER_NOISY_MAX 1000   /* per kind, for the broker's lifetime (one app run) */

enum noisy_kind { NOISY_DENIED, NOISY_PROTOCOL_ERROR, NOISY_KINDS };

struct noisy {
	int64_t window_ms;   /* start of the current minute; 0: none yet */
	uint32_t in_window;  /* logged in it */
	uint32_t suppressed; /* not logged in it */
	uint32_t logged;     /* in all */
};

/* handle_control's answer for app.connect while the app manager decides: no response yet. */
#define BROKER_DEFERRED (-1)

struct chan {
	uint64_t serial; /* epoll's key: never reused, so a stale event cannot hit a new channel */
	int fd;
	enum chan_kind kind;
	struct board_periph *p; /* CH_PERIPH, CH_UART_SIM */
	size_t pidx;
	uint32_t open_bit;
	uint8_t gpio_dir;
	struct backend_gpio *gpio; /* real GPIO line */
	int dev_fd;                /* real i2c-dev / spidev */
	uint32_t i2c_speed, i2c_timeout_ms;
	uint32_t spi_speed;
	uint8_t spi_mode, spi_bit_order;
	uint32_t sysevent_mask; /* CH_SYSEVENT: the events the app registered for */
};

struct broker {
	struct board *board;
	const struct broker_policy *policy;
	struct broker_options opts;
	bool *granted;        /* per board peripheral */
	uint32_t *open_mask;  /* per board peripheral: bit 0, or one bit per SPI chip select */
	uint8_t *gpio_value;  /* simulated GPIO levels */
	uint8_t (*i2c_pointer)[BOARD_I2C_TARGETS_MAX]; /* simulated register pointers */
	uint8_t spi_echo[BROKER_XFER_MAX];
	size_t spi_echo_len;
	FILE *log;
	uint64_t log_seq;
	uint64_t log_bytes; /* size of the event log, ours and earlier runs' */
	bool log_full;      /* BROKER_LOG_MAX_BYTES reached: nothing more is written */
	struct noisy noisy[NOISY_KINDS];
	int epfd;
	struct chan *chans[BROKER_CHANNELS_MAX];
	size_t nchans;
	uint64_t next_serial;
	uint8_t rd[BROKER_XFER_MAX];
	struct chan *control, *link, *appconn; /* appconn: where incoming app connections go */
	bool connect_pending;                  /* an app.connect waits for the manager's answer */
	uint32_t connect_seq;
	char connect_peer[BROKER_COMPONENT_ID_LEN + 1];
	bool power_pending;                    /* a power request waits for the manager's answer */
	uint32_t power_seq;
	uint8_t power_action;
	/* An UpdateReadyForInstall (Pending) the app may still defer or resume: the manager's round
	 * number, echoed in link.defer, and the minutes it may defer at most. */
	bool sysevent_pending;
	uint32_t sysevent_round, sysevent_max_minutes;
	struct broker_clock clock; /* BROKER_TIME */
};

/* sysevent.register channels one app may hold (applibs keeps one; a few spare for a reconnect). */
#define BROKER_SYSEVENT_CHANNELS_MAX 4

/* ---- event log ---- */

/* One JSON line per event; EXTRA_FMT is a jansson pack format for additional fields. */
static void ev(struct broker *b, const char *event, const struct board_periph *p, const char *extra_fmt, ...)
{
	json_error_t jerr;
	va_list ap;
	json_t *rec, *extra;
	char *line;

	rp_debug("broker: %s %s", event, p ? p->name : "");
	if (!b->log)
		return;
	rec = json_pack("{s:I, s:s, s:s}", "seq", (json_int_t)++b->log_seq, "event", event, "app", b->policy->app_name);
	if (p) {
		json_object_set_new(rec, "type", json_string(board_type_name(p->type)));
		json_object_set_new(rec, "name", json_string(p->name));
		json_object_set_new(rec, "id", json_integer(p->id));
	}
	va_start(ap, extra_fmt);
	extra = json_vpack_ex(&jerr, 0, extra_fmt, ap);
	va_end(ap);
	if (extra) {
		json_object_update(rec, extra);
		json_decref(extra);
	}
	line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(rec);
	if (!line || b->log_full) {
		free(line);
		return;
	}
	size_t n = strlen(line) + 1;
	if (b->log_bytes + n > BROKER_LOG_MAX_BYTES - BROKER_LOG_RESERVE) {
		/* The last line: says where the log stopped (the reserve always fits it). */
		free(line);
		rec = json_pack("{s:I, s:s, s:s, s:I}", "seq", (json_int_t)b->log_seq, "event", "log_truncated", "app",
		                b->policy->app_name, "bytes", (json_int_t)b->log_bytes);
		line = rec ? json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(rec);
		b->log_full = true;
		rp_log_event(RP_LOG_WARNING, "broker.log_truncated", "app %s: event log reached %u bytes; no more events "
		             "are logged until the app restarts", b->policy->app_name, (unsigned)BROKER_LOG_MAX_BYTES);
		if (!line)
			return;
		n = strlen(line) + 1;
	}
	fprintf(b->log, "%s\n", line);
	fflush(b->log);
	b->log_bytes += n;
	free(line);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether to log one more event of KIND (named EVENT): the first BROKER_NOISY_PER_MINUTE a
 * minute, then one summary line for the rest when the next minute's first one comes, and
 * nothing after BROKER_NOISY_MAX. */
static bool noisy_allow(struct broker *b, enum noisy_kind kind, const char *event)
{
	struct noisy *n = &b->noisy[kind];
	int64_t now = mono_ms();
	if (n->window_ms == 0 || now - n->window_ms >= 60000) {
		if (n->suppressed > 0 && n->logged < BROKER_NOISY_MAX) {
			rp_log_event(RP_LOG_WARNING, "broker.suppressed", "app %s: %" PRIu32 " more %s events in a minute "
			             "were not logged", b->policy->app_name, n->suppressed, event);
			ev(b, "suppressed", NULL, "{s:s, s:I}", "kind", event, "count", (json_int_t)n->suppressed);
		}
		n->window_ms = now;
		n->in_window = 0;
		n->suppressed = 0;
	}
	if (n->in_window >= BROKER_NOISY_PER_MINUTE || n->logged >= BROKER_NOISY_MAX) {
		n->suppressed++;
		return false;
	}
	n->in_window++;
	if (++n->logged == BROKER_NOISY_MAX) {
		rp_log_event(RP_LOG_WARNING, "broker.suppressed", "app %s: %u %s events logged; no more are logged "
		             "until the app restarts", b->policy->app_name, (unsigned)BROKER_NOISY_MAX, event);
		ev(b, "suppressed", NULL, "{s:s, s:I, s:b}", "kind", event, "count", (json_int_t)BROKER_NOISY_MAX, "final",
		   1);
	}
	return true;
}

static void ev_hex(struct broker *b, const char *event, const struct board_periph *p, const char *key,
                   const uint8_t *data, size_t len, uint32_t address)
{
	_cleanup_free_ char *hex = rp_hex_encode(data, len < BROKER_LOG_HEX_MAX ? len : BROKER_LOG_HEX_MAX);
	if (p && p->type == BOARD_I2C)
		ev(b, event, p, "{s:i, s:s, s:I}", "address", (int)address, key, hex, "length", (json_int_t)len);
	else
		ev(b, event, p, "{s:s, s:I}", key, hex, "length", (json_int_t)len);
}

static int deny(struct broker *b, const char *request, uint32_t id, int errnum, const char *why)
{
	if (!noisy_allow(b, NOISY_DENIED, "denied"))
		return errnum;
	rp_log_event(RP_LOG_WARNING, "broker.denied", "app %s: %s %" PRIu32 " refused (%s): %s", b->policy->app_name,
	             request, id, strerror(errnum), why);
	ev(b, "denied", NULL, "{s:s, s:I, s:s, s:s}", "request", request, "request_id", (json_int_t)id, "errno",
	   errnum == EPERM ? "EPERM" : strerror(errnum), "reason", why);
	return errnum;
}

/* ---- setup ---- */

struct broker *broker_new(struct board *board, const struct broker_policy *policy, const struct broker_options *opts,
                          rp_error *err)
{
	struct broker *b = xcalloc(1, sizeof(*b));

	b->board = board;
	b->policy = policy;
	b->opts = *opts;
	b->epfd = -1;
	broker_clock_init(&b->clock, board, policy->system_time);
	b->granted = xcalloc(board->count + 1, sizeof(bool));
	b->open_mask = xcalloc(board->count + 1, sizeof(uint32_t));
	b->gpio_value = xcalloc(board->count + 1, 1);
	b->i2c_pointer = xcalloc(board->count + 1, sizeof(*b->i2c_pointer));
	for (size_t i = 0; i < board->count; i++)
		b->gpio_value[i] = board->periphs[i].gpio_value;
	for (int t = 0; t < BOARD_TYPE_COUNT; t++) {
		for (size_t i = 0; i < policy->periph_count[t]; i++) {
			const char *entry = policy->periph[t][i];
			struct board_periph *p = board_find_manifest(board, (enum board_type)t, entry);
			if (!p) {
				rp_error_set(err, RP_E_NOT_FOUND,
				             "manifest Capabilities.%s entry \"%s\" is not defined by board \"%s\"; add it to the "
				             "board definition or remove it from the manifest",
				             board_type_name((enum board_type)t), entry, board->name);
				broker_free(b);
				return NULL;
			}
			b->granted[p - board->periphs] = true;
		}
	}
	if (opts->event_log_path) {
		int fd = open(opts->event_log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
		if (fd < 0 || !(b->log = fdopen(fd, "a"))) {
			rp_error_set_errno(err, errno, "opening event log %s", opts->event_log_path);
			if (fd >= 0)
				close(fd);
			broker_free(b);
			return NULL;
		}
		/* Earlier runs count: a log already at its cap stays there. */
		struct stat st;
		if (fstat(fd, &st) == 0 && st.st_size > 0)
			b->log_bytes = (uint64_t)st.st_size;
		b->log_full = b->log_bytes + BROKER_LOG_RESERVE >= BROKER_LOG_MAX_BYTES;
	}
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0) {
		rp_error_set_errno(err, errno, "epoll_create1");
		broker_free(b);
		return NULL;
	}
	return b;
}

/* ---- channels ---- */

static struct chan *chan_add(struct broker *b, int fd, enum chan_kind kind)
{
	struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP};
	struct chan *c;

	if (b->nchans == BROKER_CHANNELS_MAX) {
		errno = EMFILE;
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->kind = kind;
	c->dev_fd = -1;
	c->serial = ++b->next_serial;
	e.data.u64 = c->serial;
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		free(c);
		return NULL;
	}
	b->chans[b->nchans++] = c;
	return c;
}

static void chan_close(struct broker *b, struct chan *c)
{
	for (size_t i = 0; i < b->nchans; i++) {
		if (b->chans[i] == c) {
			b->chans[i] = b->chans[--b->nchans];
			break;
		}
	}
	if (c == b->control)
		b->control = NULL;
	if (c == b->link)
		b->link = NULL;
	if (c == b->appconn)
		b->appconn = NULL;
	if (c->p) {
		b->open_mask[c->pidx] &= ~c->open_bit;
		ev(b, "close", c->p, "{}");
	}
	backend_gpio_close(c->gpio);
	if (c->dev_fd >= 0)
		close(c->dev_fd);
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* A socketpair whose broker end is watched; the other end goes to the app. */
static struct chan *chan_new_pair(struct broker *b, enum chan_kind kind, int type, int *app_fd)
{
	int sv[2];
	struct chan *c;

	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		return NULL;
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0 || !(c = chan_add(b, sv[0], kind))) {
		int saved = errno;
		close(sv[0]);
		close(sv[1]);
		errno = saved;
		return NULL;
	}
	*app_fd = sv[1];
	return c;
}

static void protocol_error_msg(struct broker *b, const char *why)
{
	if (!noisy_allow(b, NOISY_PROTOCOL_ERROR, "protocol_error"))
		return;
	rp_log_event(RP_LOG_WARNING, "broker.protocol_error", "app %s: %s", b->policy->app_name, why);
	ev(b, "protocol_error", NULL, "{s:s}", "reason", why);
}

/* ---- control requests ---- */

/* An app that closes a handle and reopens the peripheral at once must not get EBUSY just because
 * the hang-up is still queued behind the open in our event loop: close handles of peripheral IDX
 * whose app end is already gone. */
static void reap_closed_handles(struct broker *b, size_t idx)
{
	for (size_t i = 0; i < b->nchans;) {
		struct chan *c = b->chans[i];
		struct pollfd pf = {.fd = c->fd, .events = POLLRDHUP};
		if (c->p && c->pidx == idx && poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
			chan_close(b, c); /* moves the last channel into slot i */
			continue;
		}
		i++;
	}
}

static const enum board_type open_types[] = {
	[BROKER_GPIO_OPEN] = BOARD_GPIO, [BROKER_UART_OPEN] = BOARD_UART, [BROKER_I2C_OPEN] = BOARD_I2C,
	[BROKER_SPI_OPEN] = BOARD_SPI,   [BROKER_ADC_OPEN] = BOARD_ADC,   [BROKER_PWM_OPEN] = BOARD_PWM,
};

static int open_periph(struct broker *b, const struct broker_msg *req, int *app_fd)
{
	enum board_type type = open_types[req->type];
	const char *what = broker_msg_type_name(req->type);
	struct board_periph *p = board_find_id(b->board, type, req->id);
	uint32_t bit = 1;
	size_t idx;
	struct chan *c;
	int r;

	if (!p)
		return deny(b, what, req->id, EPERM, "the board has no such peripheral, so the manifest cannot declare it");
	idx = (size_t)(p - b->board->periphs);
	if (!b->granted[idx])
		return deny(b, what, req->id, EPERM, "not declared in the app manifest");
	if (type == BOARD_SPI) {
		uint32_t max_cs = p->simulated ? BOARD_SPI_CS_MAX : (uint32_t)p->spi_device_count;
		if (req->arg >= max_cs)
			return deny(b, what, req->id, EINVAL, "no such chip select");
		bit = 1u << req->arg;
	}
	if (b->open_mask[idx] & bit)
		reap_closed_handles(b, idx);
	if (b->open_mask[idx] & bit)
		return deny(b, what, req->id, EBUSY, "already open");

	if (type == BOARD_UART && !p->simulated) {
		r = backend_uart_open(p, req);
		if (r < 0)
			return deny(b, what, req->id, -r, "opening the tty failed");
		*app_fd = r;
		b->open_mask[idx] |= bit; /* the app owns the tty fd from now on */
		ev(b, "open", p, "{s:I}", "baud", (json_int_t)req->arg);
		return 0;
	}
	c = chan_new_pair(b, type == BOARD_UART ? CH_UART_SIM : CH_PERIPH,
	                  type == BOARD_UART ? SOCK_STREAM : SOCK_SEQPACKET, app_fd);
	if (!c)
		return deny(b, what, req->id, errno, "creating the handle channel failed");
	c->p = p;
	c->pidx = idx;
	c->open_bit = bit;
	c->i2c_speed = 100000;
	c->spi_mode = 1;
	c->spi_bit_order = 2;
	r = 0;
	if (!p->simulated) {
		switch (type) {
		case BOARD_GPIO:
			r = backend_gpio_open(p, req->dir, req->mode, req->value, &c->gpio);
			break;
		case BOARD_I2C:
			r = backend_i2c_open(p);
			break;
		case BOARD_SPI:
			r = backend_spi_open(p, req->arg);
			break;
		default:
			break;
		}
		if (r >= 0 && (type == BOARD_I2C || type == BOARD_SPI)) {
			c->dev_fd = r;
			r = 0;
		}
	}
	if (r < 0) {
		c->p = NULL;
		chan_close(b, c);
		close(*app_fd);
		*app_fd = -1;
		return deny(b, what, req->id, -r, "opening the device failed");
	}
	b->open_mask[idx] |= bit;
	if (type == BOARD_GPIO) {
		c->gpio_dir = req->dir;
		if (req->dir == BROKER_GPIO_OUTPUT && p->simulated)
			b->gpio_value[idx] = req->value;
		if (req->dir == BROKER_GPIO_OUTPUT)
			ev(b, "open", p, "{s:s, s:i, s:i}", "direction", "output", "mode", req->mode, "value", req->value);
		else
			ev(b, "open", p, "{s:s}", "direction", "input");
	} else if (type == BOARD_SPI) {
		ev(b, "open", p, "{s:I}", "chip_select", (json_int_t)req->arg);
	} else {
		ev(b, "open", p, "{}");
	}
	return 0;
}

static bool network_ready(const struct broker *b)
{
	struct ifaddrs *ifa = NULL;
	bool ready = false;

	if (b->opts.network_ready >= 0)
		return b->opts.network_ready > 0;
	if (getifaddrs(&ifa) < 0)
		return false;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP) ||
		    !(i->ifa_flags & IFF_RUNNING))
			continue;
		if (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6)
			ready = true;
	}
	freeifaddrs(ifa);
	return ready;
}

/* One message to the app manager on the link channel; a manager that does not read it loses the
 * link (app connections then fail with ECONNREFUSED), never the app's session. */
static void link_send(struct broker *b, uint16_t type, const char *cid, int fd)
{
	struct broker_msg m = {.type = type};
	rp_buf out;
	if (cid)
		memcpy(m.component_id, cid, BROKER_COMPONENT_ID_LEN + 1);
	rp_buf_init(&out);
	broker_msg_encode(&m, &out);
	if (broker_wire_send(b->link->fd, out.data, out.len, fd) < 0) {
		rp_log_event(RP_LOG_WARNING, "broker.link_lost", "app %s: the app manager does not read its link: %s",
		             b->policy->app_name, strerror(errno));
		chan_close(b, b->link);
	}
	rp_buf_free(&out);
}

/* A power request the policy granted goes to the app manager, which carries it out (it asks the
 * boot stage for a reboot or power-down, records a power profile) and answers with a status. A
 * broker without a manager (tests, tools) only records it in its event log. */
static int power_request(struct broker *b, const struct broker_msg *req)
{
	if (!b->link)
		return b->opts.power_hook ? b->opts.power_hook(b->opts.power_ctx, req->dir, req->id) : 0;
	if (b->power_pending)
		return deny(b, "power", req->dir, EBUSY, "another power request is in progress");
	struct broker_msg m = {.type = BROKER_LINK_POWER, .seq = req->seq, .dir = req->dir, .id = req->id};
	rp_buf out;
	rp_buf_init(&out);
	broker_msg_encode(&m, &out);
	int rc = broker_wire_send(b->link->fd, out.data, out.len, -1);
	rp_buf_free(&out);
	if (rc < 0) {
		rp_log_event(RP_LOG_WARNING, "broker.link_lost", "app %s: the app manager does not read its link: %s",
		             b->policy->app_name, strerror(errno));
		chan_close(b, b->link);
		return deny(b, "power", req->dir, ECONNREFUSED, "the app manager is gone");
	}
	b->power_pending = true;
	b->power_seq = req->seq;
	b->power_action = req->dir;
	return BROKER_DEFERRED;
}

/* app.connect: this app must list the peer; the app manager, which sees every running app,
 * checks the peer lists this app too, and hands out the two ends of a socketpair. */
static int app_connect(struct broker *b, const struct broker_msg *req)
{
	const struct broker_policy *pol = b->policy;
	bool listed = false;
	for (size_t i = 0; i < pol->app_connection_count; i++)
		if (strcasecmp(pol->app_connections[i], req->component_id) == 0)
			listed = true;
	if (!listed)
		return deny(b, "app.connect", 0, EPERM, "AllowedApplicationConnections does not list this component");
	if (!b->link)
		return deny(b, "app.connect", 0, ECONNREFUSED, "the peer application is not reachable (no app manager)");
	if (b->connect_pending)
		return deny(b, "app.connect", 0, EBUSY, "another app.connect is in progress");
	b->connect_pending = true;
	b->connect_seq = req->seq;
	memcpy(b->connect_peer, req->component_id, sizeof(b->connect_peer));
	link_send(b, BROKER_LINK_CONNECT, req->component_id, -1);
	if (!b->link) {
		b->connect_pending = false;
		return deny(b, "app.connect", 0, ECONNREFUSED, "the app manager is gone");
	}
	return BROKER_DEFERRED;
}

static void send_to_app(struct broker *b, struct chan *c, const struct broker_msg *m, int fd)
{
	rp_buf out;
	rp_buf_init(&out);
	broker_msg_encode(m, &out);
	if (broker_wire_send(c->fd, out.data, out.len, fd) < 0)
		protocol_error_msg(b, "the app does not read its channel");
	rp_buf_free(&out);
}

/* ---- system events (docs/protocol.md, "System events and update deferral") ---- */

static void link_send_msg(struct broker *b, const struct broker_msg *m)
{
	rp_buf out;
	if (!b->link)
		return;
	rp_buf_init(&out);
	broker_msg_encode(m, &out);
	if (broker_wire_send(b->link->fd, out.data, out.len, -1) < 0) {
		rp_log_event(RP_LOG_WARNING, "broker.link_lost", "app %s: the app manager does not read its link: %s",
		             b->policy->app_name, strerror(errno));
		chan_close(b, b->link);
	}
	rp_buf_free(&out);
}

static const char *sysevent_name(uint32_t event)
{
	return event == BROKER_SYSEVENT_UPDATE_READY     ? "UpdateReadyForInstall"
	       : event == BROKER_SYSEVENT_UPDATE_STARTED ? "UpdateStarted"
	                                                 : "NoUpdateAvailable";
}

/* link.sysevent from the manager: forward it to every event channel registered for it, then tell
 * the manager whether to wait for this app's answer (only a Pending UpdateReadyForInstall that
 * reached an app holding SoftwareUpdateDeferral). A newer event replaces an unanswered one. */
static void sysevent_deliver(struct broker *b, const struct broker_msg *m)
{
	struct broker_msg n = {.type = BROKER_SYSEVENT_NOTIFY, .sysevent = m->sysevent};
	struct broker_msg ack = {.type = BROKER_LINK_SYSEVENT | BROKER_RESPONSE, .seq = m->seq};
	unsigned delivered = 0;

	n.sysevent.awaiting = 0;
	for (size_t i = 0; i < b->nchans; i++) {
		struct chan *c = b->chans[i];
		rp_buf out;
		if (c->kind != CH_SYSEVENT || !(c->sysevent_mask & m->sysevent.event))
			continue;
		rp_buf_init(&out);
		broker_msg_encode(&n, &out);
		if (broker_wire_send(c->fd, out.data, out.len, -1) == 0)
			delivered++;
		else
			protocol_error_msg(b, "the app does not read its system-event channel");
		rp_buf_free(&out);
	}
	b->sysevent_pending = delivered && b->policy->software_update_deferral &&
	                      m->sysevent.event == BROKER_SYSEVENT_UPDATE_READY &&
	                      m->sysevent.status == BROKER_SYSEVENT_PENDING && m->sysevent.max_defer_minutes > 0;
	b->sysevent_round = m->seq;
	b->sysevent_max_minutes = m->sysevent.max_defer_minutes;
	ack.sysevent.awaiting = b->sysevent_pending;
	ev(b, "sysevent.notify", NULL, "{s:s, s:I, s:I, s:I, s:I}", "event", sysevent_name(m->sysevent.event), "status",
	   (json_int_t)m->sysevent.status, "update_type", (json_int_t)m->sysevent.update_type, "max_defer_minutes",
	   (json_int_t)m->sysevent.max_defer_minutes, "delivered", (json_int_t)delivered);
	link_send_msg(b, &ack);
}

/* sysevent.defer / sysevent.resume: the app's answer to the pending event, passed to the manager.
 * One answer per event; a deferral longer than what is left of the 24 h is cut to it. */
static int sysevent_answer(struct broker *b, const struct broker_msg *req)
{
	const char *what = broker_msg_type_name(req->type);
	uint32_t minutes = req->type == BROKER_SYSEVENT_DEFER ? req->arg : 0;

	if (!b->sysevent_pending)
		return deny(b, what, req->id, EINVAL, "no update event is pending");
	if (req->type == BROKER_SYSEVENT_DEFER && (minutes == 0 || minutes > BROKER_SYSEVENT_DEFER_MAX_MINUTES))
		return deny(b, what, req->id, EINVAL, "a deferral must be 1..1440 minutes");
	if (!b->link)
		return deny(b, what, req->id, ECONNREFUSED, "the app manager is not reachable");
	if (minutes > b->sysevent_max_minutes)
		minutes = b->sysevent_max_minutes;
	struct broker_msg m = {.type = BROKER_LINK_DEFER, .seq = b->sysevent_round, .id = req->id, .arg = minutes};
	b->sysevent_pending = false;
	link_send_msg(b, &m);
	if (!b->link)
		return deny(b, what, req->id, ECONNREFUSED, "the app manager is gone");
	ev(b, req->type == BROKER_SYSEVENT_DEFER ? "sysevent.defer" : "sysevent.resume", NULL, "{s:I, s:I}", "requested",
	   (json_int_t)req->arg, "minutes", (json_int_t)minutes);
	return 0;
}

static void power_answer(struct broker *b, uint32_t status)
{
	struct broker_msg r = {.type = BROKER_POWER | BROKER_RESPONSE, .seq = b->power_seq, .status = status};
	b->power_pending = false;
	if (status != 0)
		deny(b, "power", b->power_action, (int)status,
		     status == ENOTSUP ? "no boot stage supervises the device runtime: reboot and power-down are unavailable"
		                       : "the app manager refused the request");
	if (b->control)
		send_to_app(b, b->control, &r, -1);
}

/* A message from the app manager: the answer to our app.connect, or a peer's connection. */
static bool serve_link(struct broker *b, struct chan *c)
{
	uint8_t buf[BROKER_MSG_MAX];
	struct broker_msg m;
	rp_error err = RP_ERROR_INIT;
	int fd = -1;
	ssize_t n = broker_wire_recv(c->fd, buf, sizeof(buf), &fd);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return true;
	if (n <= 0 || broker_msg_decode(buf, (size_t)n, &m, &err) < 0) {
		if (fd >= 0)
			close(fd);
		rp_log_event(RP_LOG_WARNING, "broker.link_lost", "app %s: link to the app manager closed%s%s",
		             b->policy->app_name, err.message[0] ? ": " : "", err.message);
		if (b->connect_pending && b->control) {
			struct broker_msg r = {.type = BROKER_APP_CONNECT | BROKER_RESPONSE, .seq = b->connect_seq,
			                       .status = ECONNREFUSED};
			b->connect_pending = false;
			send_to_app(b, b->control, &r, -1);
		}
		if (b->power_pending)
			power_answer(b, ECONNREFUSED);
		return false;
	}
	if (m.type == (BROKER_LINK_CONNECT | BROKER_RESPONSE) && b->connect_pending && b->control) {
		struct broker_msg r = {.type = BROKER_APP_CONNECT | BROKER_RESPONSE, .seq = b->connect_seq,
		                       .status = m.status};
		b->connect_pending = false;
		if (m.status == 0 && fd < 0)
			r.status = EPROTO;
		if (r.status != 0)
			deny(b, "app.connect", 0, (int)r.status,
			     r.status == EPERM ? "the peer does not list this app in AllowedApplicationConnections"
			                       : "the peer application is not running or not accepting connections");
		else
			ev(b, "app.connect", NULL, "{s:s}", "peer", b->connect_peer);
		send_to_app(b, b->control, &r, r.status == 0 ? fd : -1);
	} else if (m.type == (BROKER_LINK_POWER | BROKER_RESPONSE) && b->power_pending && m.seq == b->power_seq) {
		power_answer(b, m.status);
	} else if (m.type == BROKER_LINK_SYSEVENT && fd < 0) {
		sysevent_deliver(b, &m);
	} else if (m.type == BROKER_LINK_INCOMING && fd >= 0 && b->appconn) {
		struct broker_msg r = {.type = BROKER_APP_INCOMING};
		memcpy(r.component_id, m.component_id, sizeof(r.component_id));
		ev(b, "app.incoming", NULL, "{s:s}", "peer", m.component_id);
		send_to_app(b, b->appconn, &r, fd);
	}
	if (fd >= 0)
		close(fd);
	return true;
}

/* BROKER_TIME: SystemTime sets the clock (EPERM without it, as clock_settime) and writes the RTC
 * (EACCES, as clock_systohc); enabling time sync needs TimeSyncConfig or SystemTime (EACCES);
 * reading its state needs nothing. Grants are checked before values, as on Azure Sphere. */
static int handle_time(struct broker *b, const struct broker_msg *req, struct broker_msg *resp)
{
	static const char *const ops[] = {"", "set", "systohc", "sync.set", "sync.get"};
	const struct broker_policy *pol = b->policy;
	const char *src = b->clock.simulated ? "simulated" : "system";
	const char *why = "";
	char what[32];
	int r;

	snprintf(what, sizeof(what), "time.%s", ops[req->dir]);
	switch (req->dir) {
	case BROKER_TIME_SET: {
		if (!pol->system_time)
			return deny(b, what, req->time.clock_id, EPERM, "SystemTime is not declared");
		if ((r = broker_time_check(req, &why)) != 0)
			return deny(b, what, req->time.clock_id, r, why);
		struct timespec ts = {.tv_sec = (time_t)req->time.sec, .tv_nsec = (long)req->time.nsec};
		if ((r = broker_clock_set(&b->clock, &ts)) != 0)
			return deny(b, what, req->time.clock_id, r, "setting the clock failed");
		ev(b, "time.set", NULL, "{s:I, s:I, s:s}", "seconds", (json_int_t)req->time.sec, "nanoseconds",
		   (json_int_t)req->time.nsec, "clock", src);
		rp_log_event(RP_LOG_NOTICE, "broker.time_set", "app %s set the %s clock to %" PRId64 ".%09" PRIu32,
		             pol->app_name, src, req->time.sec, req->time.nsec);
		return 0;
	}
	case BROKER_TIME_SYSTOHC: {
		int64_t written = 0;
		if (!pol->system_time)
			return deny(b, what, 0, EACCES, "SystemTime is not declared");
		if ((r = broker_clock_systohc(&b->clock, &written)) != 0)
			return deny(b, what, 0, r, r == ENODEV ? "the board has no RTC" : "writing the RTC failed");
		ev(b, "time.systohc", NULL, "{s:I, s:s}", "seconds", (json_int_t)written, "clock", src);
		return 0;
	}
	case BROKER_TIME_SYNC_GET:
		resp->value = b->clock.sync_enabled;
		return 0;
	default:
		if (!pol->system_time && !pol->time_sync_config)
			return deny(b, what, 0, EACCES, "neither TimeSyncConfig nor SystemTime is declared");
		b->clock.sync_enabled = req->value != 0;
		ev(b, "time.sync", NULL, "{s:b}", "enabled", req->value != 0);
		return 0;
	}
}

static int handle_control(struct broker *b, const struct broker_msg *req, struct broker_msg *resp, int *app_fd)
{
	const struct broker_policy *pol = b->policy;
	const char *what = broker_msg_type_name(req->type);

	switch (req->type) {
	case BROKER_GPIO_OPEN:
	case BROKER_UART_OPEN:
	case BROKER_I2C_OPEN:
	case BROKER_SPI_OPEN:
	case BROKER_ADC_OPEN:
	case BROKER_PWM_OPEN:
		return open_periph(b, req, app_fd);
	case BROKER_NET_STATUS:
		resp->value = network_ready(b);
		return 0;
	case BROKER_SYSEVENT_REGISTER: {
		if (!pol->system_event_notifications)
			return deny(b, what, req->id, EPERM, "SystemEventNotifications is not declared");
		if (req->id == 0 || req->id > BROKER_SYSEVENT_MASK)
			return deny(b, what, req->id, EINVAL, "invalid event mask");
		size_t open_channels = 0;
		for (size_t i = 0; i < b->nchans; i++)
			open_channels += b->chans[i]->kind == CH_SYSEVENT;
		if (open_channels >= BROKER_SYSEVENT_CHANNELS_MAX)
			return deny(b, what, req->id, EMFILE, "too many system-event registrations");
		struct chan *ec = chan_new_pair(b, CH_SYSEVENT, SOCK_SEQPACKET, app_fd);
		if (!ec)
			return deny(b, what, req->id, errno, "creating the event channel failed");
		ec->sysevent_mask = req->id;
		ev(b, "sysevent.register", NULL, "{s:I}", "mask", (json_int_t)req->id);
		return 0;
	}
	case BROKER_SYSEVENT_DEFER:
	case BROKER_SYSEVENT_RESUME:
		if (!pol->software_update_deferral)
			return deny(b, what, req->id, EPERM, "SoftwareUpdateDeferral is not declared");
		if (req->id != BROKER_SYSEVENT_UPDATE_READY)
			return deny(b, what, req->id, EINVAL, "only UpdateReadyForInstall can be deferred");
		return sysevent_answer(b, req);
	case BROKER_POWER: {
		static const unsigned need[] = {0, BROKER_POWER_FORCE_REBOOT, BROKER_POWER_FORCE_POWER_DOWN,
		                                BROKER_POWER_SET_POWER_PROFILE};
		static const char *const names[] = {"", "ForceReboot", "ForcePowerDown", "SetPowerProfile"};
		if (!(pol->power_controls & need[req->dir]))
			return deny(b, what, req->dir, EPERM, "PowerControls does not list this action");
		if (req->dir == BROKER_POWER_PROFILE && req->id > 2)
			return deny(b, what, req->id, EINVAL, "unknown power profile");
		ev(b, "power", NULL, "{s:s, s:I}", "action", names[req->dir], "argument", (json_int_t)req->id);
		return power_request(b, req);
	}
	case BROKER_TIME:
		return handle_time(b, req, resp);
	case BROKER_APP_CONNECT:
		return app_connect(b, req);
	case BROKER_APP_LISTEN:
		if (pol->app_connection_count == 0)
			return deny(b, what, 0, EPERM, "AllowedApplicationConnections is empty");
		if (b->appconn)
			return deny(b, what, 0, EBUSY, "already listening for app connections");
		if (!(b->appconn = chan_new_pair(b, CH_APPCONN, SOCK_SEQPACKET, app_fd)))
			return deny(b, what, 0, errno, "creating the connection channel failed");
		if (b->link)
			link_send(b, BROKER_LINK_LISTENING, NULL, -1);
		ev(b, "app.listen", NULL, "{}");
		return 0;
	case BROKER_NET_CONNECT:
	case BROKER_NET_LISTEN: {
		struct broker_net_options no = {.allow_loopback_targets = b->opts.allow_loopback_targets,
		                                .connect_timeout_ms = b->opts.connect_timeout_ms};
		const char *why = "";
		const char *proto = req->dir == BROKER_NET_TCP ? "tcp" : "udp";
		int r = req->type == BROKER_NET_CONNECT ? broker_net_connect(pol, &no, req, app_fd, &why)
		                                        : broker_net_listen(pol, req, app_fd, &why);
		if (r != 0 && !noisy_allow(b, NOISY_DENIED, "denied"))
			return r;
		if (r != 0) {
			ev(b, "denied", NULL, "{s:s, s:s, s:s, s:I, s:s, s:s}", "request", what, "host",
			   req->type == BROKER_NET_CONNECT ? req->host : "", "protocol", proto, "port", (json_int_t)req->id,
			   "errno", r == EPERM ? "EPERM" : strerror(r), "reason", why);
			rp_log_event(RP_LOG_WARNING, "broker.denied", "app %s: %s %s %s:%" PRIu32 " refused (%s): %s",
			             pol->app_name, what, proto, req->type == BROKER_NET_CONNECT ? req->host : "*", req->id,
			             strerror(r), why);
			return r;
		}
		ev(b, req->type == BROKER_NET_CONNECT ? "net.connect" : "net.listen", NULL, "{s:s, s:s, s:I}", "host",
		   req->type == BROKER_NET_CONNECT ? req->host : "*", "protocol", proto, "port", (json_int_t)req->id);
		return 0;
	}
	default:
		return EINVAL;
	}
}

/* ---- handle-channel requests ---- */

static int sim_i2c(struct broker *b, struct chan *c, const struct broker_msg *req, struct broker_msg *resp)
{
	struct board_periph *p = c->p;
	struct board_i2c_target *t = NULL;
	uint8_t *ptr;
	size_t ti = 0;

	for (; ti < p->i2c_target_count; ti++)
		if (p->i2c_targets[ti].address == req->address) {
			t = &p->i2c_targets[ti];
			break;
		}
	if (!t) {
		ev(b, "i2c.nak", p, "{s:i}", "address", req->address);
		return ENXIO; /* what i2c-dev reports when no target acknowledges */
	}
	/* A register file: the first written byte sets the pointer, further bytes are stored;
	 * reads return registers from the pointer on, wrapping around. */
	ptr = &b->i2c_pointer[c->pidx][ti];
	if (req->data_len) {
		ev_hex(b, "i2c.write", p, "data", req->data, req->data_len, req->address);
		if (t->register_count) {
			*ptr = (uint8_t)(req->data[0] % t->register_count);
			for (size_t i = 1; i < req->data_len; i++) {
				t->registers[*ptr] = req->data[i];
				*ptr = (uint8_t)((*ptr + 1u) % t->register_count);
			}
		}
	}
	for (size_t i = 0; i < req->read_len; i++) {
		b->rd[i] = t->register_count ? t->registers[*ptr] : 0;
		if (t->register_count)
			*ptr = (uint8_t)((*ptr + 1u) % t->register_count);
	}
	if (req->read_len)
		ev_hex(b, "i2c.read", p, "data", b->rd, req->read_len, req->address);
	resp->data = b->rd;
	resp->data_len = req->read_len;
	return 0;
}

static int sim_spi(struct broker *b, struct chan *c, const struct broker_msg *req, struct broker_msg *resp)
{
	size_t off = 0;
	for (size_t i = 0; i < req->spi_count; i++) {
		const struct broker_spi_segment *s = &req->spi[i];
		if (s->flags & BROKER_SPI_READ) {
			for (size_t j = 0; j < s->len; j++)
				b->rd[off + j] = c->p->loopback && j < b->spi_echo_len ? b->spi_echo[j] : 0;
			off += s->len;
		}
		if (s->flags & BROKER_SPI_WRITE) {
			ev_hex(b, "spi.write", c->p, "data", s->write, s->len, 0);
			memcpy(b->spi_echo, s->write, s->len);
			b->spi_echo_len = s->len;
		}
	}
	resp->data = b->rd;
	resp->data_len = (uint16_t)off;
	return 0;
}

static struct board_adc_channel *sim_adc_channel(struct board_periph *p, uint32_t ch)
{
	for (size_t i = 0; i < p->adc_channel_count; i++)
		if (p->adc_channels[i].channel == ch)
			return &p->adc_channels[i];
	return NULL;
}

static int handle_periph(struct broker *b, struct chan *c, const struct broker_msg *req, struct broker_msg *resp)
{
	struct board_periph *p = c->p;
	int r;

	switch (req->type) {
	case BROKER_GPIO_GET:
		if (p->type != BOARD_GPIO)
			break;
		if (!p->simulated)
			return (r = backend_gpio_get(c->gpio, &resp->value)) < 0 ? -r : 0;
		resp->value = b->gpio_value[c->pidx];
		return 0;
	case BROKER_GPIO_SET:
		if (p->type != BOARD_GPIO)
			break;
		if (c->gpio_dir != BROKER_GPIO_OUTPUT)
			return deny(b, "gpio.set", p->id, EPERM, "the GPIO was opened as an input");
		if (!p->simulated && (r = backend_gpio_set(c->gpio, req->value)) < 0)
			return -r;
		b->gpio_value[c->pidx] = req->value;
		ev(b, "gpio.set", p, "{s:i}", "value", req->value);
		return 0;
	case BROKER_I2C_CONFIG:
		if (p->type != BOARD_I2C)
			break;
		if (req->dir == BROKER_I2C_SPEED) {
			if (req->arg != 100000 && req->arg != 400000 && req->arg != 1000000)
				return EINVAL;
			c->i2c_speed = req->arg;
		} else {
			if (req->arg == 0 || req->arg > 60000)
				return EINVAL;
			c->i2c_timeout_ms = req->arg;
		}
		ev(b, "i2c.config", p, "{s:I, s:I}", "speed", (json_int_t)c->i2c_speed, "timeout_ms",
		   (json_int_t)c->i2c_timeout_ms);
		return 0;
	case BROKER_I2C_TRANSFER:
		if (p->type != BOARD_I2C)
			break;
		if (p->simulated)
			return sim_i2c(b, c, req, resp);
		if ((r = backend_i2c_transfer(c->dev_fd, req->address, req->data, req->data_len, b->rd, req->read_len)) < 0)
			return -r;
		resp->data = b->rd;
		resp->data_len = req->read_len;
		return 0;
	case BROKER_SPI_CONFIG:
		if (p->type != BOARD_SPI)
			break;
		if (req->dir == BROKER_SPI_SPEED && req->arg > 0)
			c->spi_speed = req->arg;
		else if (req->dir == BROKER_SPI_MODE && req->arg >= 1 && req->arg <= 4)
			c->spi_mode = (uint8_t)req->arg;
		else if (req->dir == BROKER_SPI_BIT_ORDER && req->arg >= 1 && req->arg <= 2)
			c->spi_bit_order = (uint8_t)req->arg;
		else
			return EINVAL;
		if (!p->simulated &&
		    (r = backend_spi_configure(c->dev_fd, c->spi_speed, (uint8_t)(c->spi_mode - 1), c->spi_bit_order == 1)) < 0)
			return -r;
		ev(b, "spi.config", p, "{s:I, s:i, s:s}", "speed", (json_int_t)c->spi_speed, "mode", c->spi_mode - 1,
		   "bit_order", c->spi_bit_order == 1 ? "lsb" : "msb");
		return 0;
	case BROKER_SPI_TRANSFER:
		if (p->type != BOARD_SPI)
			break;
		if (p->simulated)
			return sim_spi(b, c, req, resp);
		{
			size_t n = 0;
			if ((r = backend_spi_transfer(c->dev_fd, req, b->rd, &n)) < 0)
				return -r;
			resp->data = b->rd;
			resp->data_len = (uint16_t)n;
		}
		return 0;
	case BROKER_ADC_BITS:
	case BROKER_ADC_POLL:
	case BROKER_ADC_SET_REF:
		if (p->type != BOARD_ADC)
			break;
		if (p->simulated && !sim_adc_channel(p, req->id))
			return EINVAL;
		if (req->type == BROKER_ADC_BITS) {
			resp->arg = p->adc_bits;
		} else if (req->type == BROKER_ADC_SET_REF) {
			ev(b, "adc.reference", p, "{s:I, s:I}", "channel", (json_int_t)req->id, "microvolts",
			   (json_int_t)req->arg);
		} else if (p->simulated) {
			resp->arg = sim_adc_channel(p, req->id)->value;
		} else if ((r = backend_adc_read(p, req->id, &resp->arg)) < 0) {
			return -r;
		}
		return 0;
	case BROKER_PWM_APPLY:
		if (p->type != BOARD_PWM)
			break;
		if (p->simulated && req->id >= p->pwm_channels)
			return EINVAL;
		if (!p->simulated && (r = backend_pwm_apply(p, req->id, req->pwm.period_ns, req->pwm.duty_ns,
		                                            req->pwm.polarity, req->pwm.enabled)) < 0)
			return -r;
		ev(b, "pwm.apply", p, "{s:I, s:I, s:I, s:s, s:b}", "channel", (json_int_t)req->id, "period_ns",
		   (json_int_t)req->pwm.period_ns, "duty_ns", (json_int_t)req->pwm.duty_ns, "polarity",
		   req->pwm.polarity ? "inversed" : "normal", "enabled", req->pwm.enabled);
		return 0;
	default:
		break;
	}
	return EBADF; /* an operation for another kind of peripheral: the fd is not of that kind */
}

/* ---- loop ---- */

static void protocol_error(struct broker *b, struct chan *c, const char *why)
{
	if (!noisy_allow(b, NOISY_PROTOCOL_ERROR, "protocol_error"))
		return;
	rp_log_event(RP_LOG_WARNING, "broker.protocol_error", "app %s: %s; closing the channel", b->policy->app_name, why);
	ev(b, "protocol_error", c->p, "{s:s}", "reason", why);
}

/* Returns false when the channel was closed. */
static bool serve_message(struct broker *b, struct chan *c)
{
	uint8_t buf[BROKER_MSG_MAX];
	struct broker_msg req, resp;
	rp_error err = RP_ERROR_INIT;
	rp_buf out;
	int in_fd = -1, app_fd = -1, status;
	ssize_t n = broker_wire_recv(c->fd, buf, sizeof(buf), &in_fd);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return true;
	if (n <= 0) {
		if (n < 0)
			protocol_error(b, c, errno == EMSGSIZE ? "oversized message or unexpected descriptors" : strerror(errno));
		return false;
	}
	if (in_fd >= 0) {
		close(in_fd);
		protocol_error(b, c, "the app sent a file descriptor");
		return false;
	}
	if (broker_msg_decode(buf, (size_t)n, &req, &err) < 0) {
		protocol_error(b, c, err.message);
		return false;
	}
	if ((req.type & BROKER_RESPONSE) || req.type == BROKER_SYSEVENT_NOTIFY || req.type == BROKER_APP_INCOMING ||
	    broker_msg_is_link(req.type) || broker_msg_is_control(req.type) != (c->kind == CH_CONTROL) ||
	    c->kind == CH_SYSEVENT || c->kind == CH_APPCONN) {
		protocol_error(b, c, "message type not allowed on this channel");
		return false;
	}
	memset(&resp, 0, sizeof(resp));
	status = c->kind == CH_CONTROL ? handle_control(b, &req, &resp, &app_fd) : handle_periph(b, c, &req, &resp);
	if (status == BROKER_DEFERRED)
		return true; /* answered when the app manager replies (serve_link) */
	resp.type = (uint16_t)(req.type | BROKER_RESPONSE);
	resp.seq = req.seq;
	resp.status = (uint32_t)status;
	if (status != 0 && app_fd >= 0) {
		close(app_fd);
		app_fd = -1;
	}
	rp_buf_init(&out);
	broker_msg_encode(&resp, &out);
	if (broker_wire_send(c->fd, out.data, out.len, app_fd) < 0) {
		rp_buf_free(&out);
		if (app_fd >= 0)
			close(app_fd);
		protocol_error(b, c, "the app does not read its responses");
		return false;
	}
	rp_buf_free(&out);
	if (app_fd >= 0)
		close(app_fd);
	return true;
}

static bool serve_uart(struct broker *b, struct chan *c)
{
	uint8_t buf[UART_CHUNK];
	ssize_t n = read(c->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0)
		return false;
	ev_hex(b, "uart.write", c->p, "data", buf, (size_t)n, 0);
	if (c->p->loopback && rp_write_full(c->fd, buf, (size_t)n) < 0)
		return false;
	return true;
}

int broker_run(struct broker *b, int control_fd, rp_error *err)
{
	struct chan *control;
	int sotype = 0;
	socklen_t sl = sizeof(sotype);

	if (getsockopt(control_fd, SOL_SOCKET, SO_TYPE, &sotype, &sl) < 0 || sotype != SOCK_SEQPACKET)
		return rp_error_set(err, RP_E_INVALID, "fd %d is not a SOCK_SEQPACKET socket", control_fd);
	if (fcntl(control_fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(control_fd, F_SETFD, FD_CLOEXEC) < 0)
		return rp_error_set_errno(err, errno, "configuring the control socket");
	control = chan_add(b, control_fd, CH_CONTROL);
	if (!control)
		return rp_error_set_errno(err, errno, "watching the control socket");
	b->control = control;
	if (b->opts.has_link) {
		if (getsockopt(b->opts.link_fd, SOL_SOCKET, SO_TYPE, &sotype, &sl) < 0 || sotype != SOCK_SEQPACKET)
			return rp_error_set(err, RP_E_INVALID, "link fd %d is not a SOCK_SEQPACKET socket", b->opts.link_fd);
		if (fcntl(b->opts.link_fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(b->opts.link_fd, F_SETFD, FD_CLOEXEC) < 0 ||
		    !(b->link = chan_add(b, b->opts.link_fd, CH_LINK)))
			return rp_error_set_errno(err, errno, "watching the link socket");
	}
	/* Record who is on the other end: the app manager passes an app's end; anything else is a
	 * misconfiguration worth seeing in the log. */
	struct ucred cred = {0};
	socklen_t cl = sizeof(cred);
	if (getsockopt(control_fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
		cred.pid = 0, cred.uid = (uid_t)-1;
	ev(b, "start", NULL, "{s:s, s:I, s:I}", "board", b->board->name, "peer_pid", (json_int_t)cred.pid, "peer_uid",
	   (json_int_t)cred.uid);
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(b->epfd, evs, RP_ARRAY_SIZE(evs), -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rp_error_set_errno(err, errno, "epoll_wait");
		for (int i = 0; i < n; i++) {
			struct chan *c = NULL;
			bool alive = true;
			/* A channel closed earlier in this batch is no longer in the list. */
			for (size_t k = 0; k < b->nchans && !c; k++)
				if (b->chans[k]->serial == evs[i].data.u64)
					c = b->chans[k];
			if (!c)
				continue;
			if (evs[i].events & EPOLLIN)
				alive = c->kind == CH_UART_SIM ? serve_uart(b, c)
				        : c->kind == CH_LINK   ? serve_link(b, c)
				                               : serve_message(b, c);
			else if (evs[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
				alive = false;
			if (!alive) {
				if (c == control) {
					ev(b, "stop", NULL, "{}");
					return 0;
				}
				chan_close(b, c);
			}
		}
	}
}

void broker_free(struct broker *b)
{
	if (!b)
		return;
	while (b->nchans)
		chan_close(b, b->chans[b->nchans - 1]);
	if (b->epfd >= 0)
		close(b->epfd);
	broker_clock_close(&b->clock);
	if (b->log)
		fclose(b->log);
	free(b->granted);
	free(b->open_mask);
	free(b->gpio_value);
	free(b->i2c_pointer);
	free(b);
}
