/* System-event rounds (see appmgr_sysevent.h). The manager is single-threaded, so a round never
 * blocks its loop: the agent's connection is kept open while brokers answer over their links
 * (appmgr_broker.c records each answer in the broker's struct), and the round ends when every
 * notified app has answered or its deadline passes. An app that says nothing defers nothing. */
#include "device/appmgr/appmgr_sysevent.h"

#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "device/appmgr/appmgr.h"
#include "device/appmgr/appmgr_broker.h"
#include "device/broker/broker_proto.h"
#include "pkg/manifest.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > APPMGR_SYSEVENT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

int appmgr_sysevent_parse(json_t *j, struct appmgr_sysevent_request *out, rp_error *err)
{
	const char *event = NULL, *type = NULL, *name = NULL;
	int64_t version = 0, max = 0, wait = APPMGR_SYSEVENT_WAIT_DEFAULT_MS;
	int has_type, has_name, has_version, has_max;

	memset(out, 0, sizeof(*out));
	if (rp_json_get_string(j, "event", true, &event, err) < 0 ||
	    (has_type = rp_json_get_string(j, "update_type", false, &type, err)) < 0 ||
	    (has_name = rp_json_get_string(j, "name", false, &name, err)) < 0 ||
	    (has_version = rp_json_get_int(j, "image_version", false, 0, INT64_MAX, &version, err)) < 0 ||
	    (has_max = rp_json_get_int(j, "max_defer_minutes", false, 0, BROKER_SYSEVENT_DEFER_MAX_MINUTES, &max,
	                               err)) < 0 ||
	    rp_json_get_int(j, "wait_ms", false, APPMGR_SYSEVENT_WAIT_MIN_MS, APPMGR_SYSEVENT_WAIT_MAX_MS, &wait, err) < 0)
		return rp_error_prefix(err, "control request \"sysevent\"");
	if (strcmp(event, "no_update") == 0) {
		if (has_type || has_name || has_version || has_max)
			return rp_error_set(err, RP_E_INVALID,
			                    "control request \"sysevent\": \"no_update\" carries no update_type, name, "
			                    "image_version or max_defer_minutes");
		out->event = BROKER_SYSEVENT_NO_UPDATE;
		out->update_type = BROKER_UPDATE_NONE;
	} else {
		if (strcmp(event, "update_ready") == 0)
			out->event = BROKER_SYSEVENT_UPDATE_READY;
		else if (strcmp(event, "update_started") == 0)
			out->event = BROKER_SYSEVENT_UPDATE_STARTED;
		else
			return rp_error_set(err, RP_E_INVALID,
			                    "control request \"sysevent\": \"event\" must be update_ready, update_started or "
			                    "no_update");
		if (!type || (strcmp(type, "app") != 0 && strcmp(type, "system") != 0))
			return rp_error_set(err, RP_E_INVALID,
			                    "control request \"sysevent\": \"update_type\" must be \"app\" or \"system\"");
		if (!name || !name_ok(name))
			return rp_error_set(err, RP_E_INVALID,
			                    "control request \"sysevent\": \"name\" must be 1..128 printable ASCII characters");
		if (out->event == BROKER_SYSEVENT_UPDATE_STARTED && max)
			return rp_error_set(err, RP_E_INVALID,
			                    "control request \"sysevent\": an update that started cannot be deferred "
			                    "(max_defer_minutes must be 0)");
		out->update_type = strcmp(type, "app") == 0 ? BROKER_UPDATE_APP : BROKER_UPDATE_SYSTEM;
		memcpy(out->name, name, strlen(name) + 1);
	}
	out->image_version = (uint64_t)version;
	out->max_defer_minutes = (uint32_t)max;
	out->wait_ms = (uint32_t)wait;
	return 0;
}

uint32_t appmgr_sysevent_status(const struct appmgr_sysevent_request *req)
{
	if (req->event == BROKER_SYSEVENT_NO_UPDATE)
		return BROKER_SYSEVENT_COMPLETE;
	if (req->event == BROKER_SYSEVENT_UPDATE_READY && req->max_defer_minutes > 0)
		return BROKER_SYSEVENT_PENDING;
	return BROKER_SYSEVENT_FINAL;
}

static const char *event_name(uint32_t event)
{
	return event == BROKER_SYSEVENT_UPDATE_READY     ? "update_ready"
	       : event == BROKER_SYSEVENT_UPDATE_STARTED ? "update_started"
	                                                 : "no_update";
}

struct send_ctx {
	uint32_t round, event, status, update_type, max;
	unsigned sent;
};

static void send_one(void *ctx, const struct manifest *manifest, struct appmgr_broker *broker)
{
	struct send_ctx *s = ctx;
	/* Only apps that declare SystemEventNotifications hear about updates at all. */
	if (!manifest->caps.system_event_notifications)
		return;
	if (appmgr_broker_send_sysevent(broker, s->round, s->event, s->status, s->update_type, s->max))
		s->sent++;
	else
		rp_log_event(RP_LOG_WARNING, "app.sysevent.undelivered", "app %s (%s): its broker does not take events",
		             manifest->name, manifest->component_id);
}

static uint32_t broadcast(struct appmgr_sysevent *se, struct appmgr *m, uint32_t event, uint32_t status,
                          uint32_t update_type, uint32_t max, unsigned *sent)
{
	struct send_ctx s = {.round = se->next_round++, .event = event, .status = status, .update_type = update_type,
	                     .max = max};
	if (se->next_round == 0)
		se->next_round = 1; /* 0 means "no round" in a broker's record */
	appmgr_foreach_running(m, send_one, &s);
	*sent = s.sent;
	return s.round;
}

bool appmgr_sysevent_begin(struct appmgr_sysevent *se, struct appmgr *m, const struct appmgr_sysevent_request *req,
                           int client_fd, rp_error *err)
{
	if (se->active) {
		rp_error_set(err, RP_E_CONFLICT, "another system event is being delivered; try again");
		return false;
	}
	se->req = *req;
	se->round = broadcast(se, m, req->event, appmgr_sysevent_status(req), req->update_type, req->max_defer_minutes,
	                      &se->notified);
	se->active = true;
	se->client_fd = client_fd;
	se->deadline_ms = now_ms() + req->wait_ms;
	rp_log_event(RP_LOG_INFO, "appmgr.sysevent", "%s %s%s(version %llu, up to %u minutes of deferral): %u apps told",
	             event_name(req->event), req->name, req->name[0] ? " " : "", (unsigned long long)req->image_version,
	             req->max_defer_minutes, se->notified);
	return true;
}

int appmgr_sysevent_timeout(const struct appmgr_sysevent *se)
{
	if (!se->active)
		return -1;
	int64_t left = se->deadline_ms - now_ms();
	return left < 0 ? 0 : (int)left;
}

struct tally {
	uint32_t round;
	unsigned waiting, answered;
	uint32_t minutes; /* the longest deferral */
	json_t *deferred_by;
};

static void tally_one(void *ctx, const struct manifest *manifest, struct appmgr_broker *broker)
{
	struct tally *t = ctx;
	if (broker->se_round != t->round)
		return; /* started after the round began, or was never told */
	if (!broker->se_acked || (broker->se_awaiting && !broker->se_answered)) {
		t->waiting++;
		return;
	}
	if (!broker->se_answered)
		return;
	t->answered++;
	if (broker->se_minutes > 0 && t->deferred_by)
		json_array_append_new(t->deferred_by,
		                      json_pack("{s:s, s:s, s:i}", "component_id", manifest->component_id, "name",
		                                manifest->name, "minutes", (int)broker->se_minutes));
	if (broker->se_minutes > t->minutes)
		t->minutes = broker->se_minutes;
}

static void reply(int fd, json_t *r)
{
	_cleanup_free_ char *out = rp_json_dump(r);
	json_decref(r);
	(void)!send(fd, out, strlen(out), MSG_NOSIGNAL);
	close(fd);
}

void appmgr_sysevent_poll(struct appmgr_sysevent *se, struct appmgr *m)
{
	if (!se->active)
		return;
	struct tally t = {.round = se->round};
	appmgr_foreach_running(m, tally_one, &t);
	bool timed_out = now_ms() >= se->deadline_ms;
	if (t.waiting && !timed_out)
		return;
	/* The final count, with the apps that deferred. */
	t = (struct tally){.round = se->round, .deferred_by = json_array()};
	appmgr_foreach_running(m, tally_one, &t);
	if (se->req.event != BROKER_SYSEVENT_UPDATE_READY || se->req.max_defer_minutes == 0)
		t.minutes = 0;
	if (t.waiting)
		rp_log_event(RP_LOG_NOTICE, "appmgr.sysevent.timeout",
		             "%u apps did not answer %s %s within %u ms: they do not defer it", t.waiting,
		             event_name(se->req.event), se->req.name, se->req.wait_ms);
	json_t *status = json_pack("{s:s, s:i, s:i, s:i, s:o}", "event", event_name(se->req.event), "notified",
	                           (int)se->notified, "unanswered", (int)t.waiting, "deferral_minutes", (int)t.minutes,
	                           "deferred_by", t.deferred_by);
	se->active = false;
	int fd = se->client_fd;
	se->client_fd = -1;
	if (t.minutes > 0) {
		/* Tell every listening app the outcome; nobody waits for this one. */
		unsigned sent = 0;
		(void)broadcast(se, m, BROKER_SYSEVENT_UPDATE_READY, BROKER_SYSEVENT_DEFERRED, se->req.update_type, 0, &sent);
		rp_log_event(RP_LOG_NOTICE, "appmgr.sysevent.deferred", "%s deferred by %u minutes", se->req.name, t.minutes);
	}
	reply(fd, json_pack("{s:b, s:o}", "ok", 1, "status", status));
}

void appmgr_sysevent_abort(struct appmgr_sysevent *se)
{
	if (!se->active)
		return;
	se->active = false;
	int fd = se->client_fd;
	se->client_fd = -1;
	reply(fd, json_pack("{s:b, s:s, s:s}", "ok", 0, "code", rp_error_code_name(RP_E_UNAVAILABLE), "error",
	                    "the application manager is stopping"));
}
