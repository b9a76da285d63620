/* rampart-agent: the device agent. Attests on start, again at about two thirds of its
 * certificate's lifetime and at least every 20 h (both jittered), on demand through its
 * device-local socket, and retries failures with bounded, jittered backoff. After an attestation
 * it checks for updates (on start, every 20 h +- 2 h, and on demand: `update-now`).
 *
 * This long-running process holds only the schedule, the local API and the last results; each
 * attestation and update check runs in a short-lived rampart-agent-work process (agent_worker.h),
 * so at idle the agent maps neither libcurl nor libcrypto. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/guid.h"
#include "common/json.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/agent/agent_deferral.h"
#include "device/agent/agent_local.h"
#include "device/agent/agent_sched.h"
#include "device/agent/agent_worker.h"
#include "device/idle_release.h"

/* Bounds on one job: an attestation is a few requests of at most 60 s each; an update check may
 * download an OS bundle. A worker still running after that is killed and the round counts as failed. */
#define AGENT_ATTEST_TIMEOUT_S (15 * 60)
#define AGENT_UPDATE_TIMEOUT_S (4 * 3600)
/* The worker validates images fully (attest/evidence.h); the daemon checks their shape at start. */
#define AGENT_IMAGES_MAX 64
#define AGENT_IMAGE_VERSION_MAX 64
/* Fixed arguments of a worker, plus two per image. */
#define AGENT_WORKER_ARGS_MAX (32 + 2 * AGENT_IMAGES_MAX)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: rampart-agent --state DIR --monitor-socket PATH --service URL --service-ca FILE [options]\n\n"
	        "  --state DIR            device state directory (certificates go to DIR/agent/)\n"
	        "  --monitor-socket PATH  the security monitor's socket\n"
	        "  --service URL          the security service, https://host:port\n"
	        "  --service-ca FILE      PEM trust anchors for the service (pinned; no system store)\n"
	        "  --image GUID=VERSION   an installed image to claim in evidence; repeatable (default: the\n"
	        "                         images the update status says are installed)\n"
	        "  --appmgr-socket PATH   install updated apps through the application manager's control socket\n"
	        "  --appmgr-state DIR     the application manager's state (cloud app updates pause in development mode)\n"
	        "  --rot soft|tpm2        root of trust holding the OS version floor (default soft)\n"
	        "  --no-update            attest only; never check for updates\n"
	        "  --socket PATH          device-local API socket (default DIR/agent.sock)\n"
	        "  --allow-uid UID        also let UID use the local API; repeatable\n"
	        "  --once                 attest once and exit (status 0 on success)\n"
	        "  --log-level LEVEL      debug|info|notice|warning|error (default info)\n"
	        "  --log-format FMT       human|json (default human)\n\n"
	        "Each attestation and update check runs in a short-lived " AGENT_WORKER_BINARY
	        " process, installed next to rampart-agent.\n");
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static uint32_t rnd32(void)
{
	uint32_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		rp_abort("no random numbers");
	return v;
}

/* What the agent passes on to its workers. */
struct agent_opts {
	const char *worker, *update_worker, *state_dir, *monitor_socket, *service, *service_ca;
	const char *images[AGENT_IMAGES_MAX];
	size_t n_images;
	const char *appmgr_socket, *appmgr_state, *rot, *log_level, *log_format;
};

static int check_image(const char *spec, size_t n_images, rp_error *err)
{
	const char *eq = strchr(spec, '=');
	char guid[RP_GUID_STRLEN + 1], norm[RP_GUID_STRLEN + 1];
	bool ok = eq && eq - spec == RP_GUID_STRLEN && n_images < AGENT_IMAGES_MAX &&
	          strlen(eq + 1) <= AGENT_IMAGE_VERSION_MAX;
	if (ok) {
		memcpy(guid, spec, RP_GUID_STRLEN);
		guid[RP_GUID_STRLEN] = 0;
		ok = rp_guid_normalize(guid, norm, err) == 0;
	}
	for (const char *v = ok ? eq + 1 : ""; *v && ok; v++)
		ok = *v > 0x20 && *v < 0x7f;
	if (!ok)
		return rp_error_set(err, RP_E_INVALID, "--image '%s': expected GUID=VERSION (at most %d)", spec,
		                    AGENT_IMAGES_MAX);
	return 0;
}

/* Run one job in a worker. A worker that returns no valid result counts as a failed job. */
static void run_job(const struct agent_opts *o, enum agent_worker_kind kind, bool startup,
                    struct agent_worker_result *res)
{
	const char *argv[AGENT_WORKER_ARGS_MAX];
	size_t n = 0;
	const char *worker = kind == AGENT_WORKER_ATTEST ? o->worker : o->update_worker;
	argv[n++] = strrchr(worker, '/') ? strrchr(worker, '/') + 1 : worker;
	argv[n++] = kind == AGENT_WORKER_ATTEST ? "attest" : "update";
	const char *common[] = {"--state", o->state_dir, "--monitor-socket", o->monitor_socket, "--service", o->service,
	                        "--service-ca", o->service_ca, "--log-level", o->log_level, "--log-format",
	                        o->log_format, "--result-fd", AGENT_WORKER_RESULT_FD_ARG};
	for (size_t i = 0; i < RP_ARRAY_SIZE(common); i++)
		argv[n++] = common[i];
	if (kind == AGENT_WORKER_ATTEST) {
		for (size_t i = 0; i < o->n_images; i++) {
			argv[n++] = "--image";
			argv[n++] = o->images[i];
		}
		if (startup)
			argv[n++] = "--startup";
	} else {
		const char *opt[][2] = {{"--rot", o->rot}, {"--appmgr-socket", o->appmgr_socket},
		                        {"--appmgr-state", o->appmgr_state}};
		for (size_t i = 0; i < RP_ARRAY_SIZE(opt); i++)
			if (opt[i][1]) {
				argv[n++] = opt[i][0];
				argv[n++] = opt[i][1];
			}
	}
	argv[n] = NULL;
	rp_error err = RP_ERROR_INIT;
	int timeout = kind == AGENT_WORKER_ATTEST ? AGENT_ATTEST_TIMEOUT_S : AGENT_UPDATE_TIMEOUT_S;
	if (agent_worker_run(worker, (char *const *)argv, timeout, &stop, res, &err) == 0 && res->kind == kind)
		return;
	if (err.code == RP_OK)
		rp_error_set(&err, RP_E_INTERNAL, "the agent worker answered a different job");
	memset(res, 0, sizeof(*res));
	res->kind = kind;
	agent_worker_reason_sanitize(err.message);
	snprintf(res->reason, sizeof(res->reason), "%s", err.message);
	rp_log_event(RP_LOG_ERROR, kind == AGENT_WORKER_ATTEST ? "agent.attest.failed" : "agent.update.failed", "%s",
	             err.message);
}

struct update_state {
	bool enabled, ran;
	unsigned failures;
	int64_t next_at, last_at;
	struct agent_worker_result rep;
	long worker_peak_rss_kib; /* of the last check's worker process */
};

static void run_update(const struct agent_opts *o, struct update_state *us)
{
	us->ran = true;
	us->last_at = now_s();
	run_job(o, AGENT_WORKER_UPDATE, false, &us->rep);
	us->worker_peak_rss_kib = agent_worker_last_peak_rss_kib();
	/* A failed check (service unreachable, metadata refused) is retried with the attestation's
	 * bounded backoff rather than after a whole period. */
	us->failures = us->rep.ok ? 0 : us->failures + 1;
	us->next_at = now_s() + (us->rep.ok ? agent_sched_update_delay(rnd32()) : agent_sched_backoff(us->failures, rnd32()));
	/* An app deferred an update (agent_deferral.h): look again when the deferral ends. */
	int64_t deferred = agent_deferral_next(o->state_dir, now_s());
	if (deferred > 0 && deferred < us->next_at)
		us->next_at = deferred;
}

static json_t *update_json(const struct update_state *us)
{
	if (!us->enabled)
		return json_null();
	if (!us->ran)
		return json_pack("{s:b, s:I}", "ran", 0, "next_check", (json_int_t)us->next_at);
	const struct agent_worker_result *r = &us->rep;
	return json_pack("{s:b, s:b, s:s, s:I, s:I, s:i, s:i, s:i, s:i, s:i, s:b, s:I}", "ran", 1, "ok", r->ok, "reason",
	                 r->reason, "last_check", (json_int_t)us->last_at, "next_check", (json_int_t)us->next_at,
	                 "targets", (int)r->targets, "installed", (int)r->installed, "skipped", (int)r->skipped, "failed",
	                 (int)r->failed, "deferred", (int)r->deferred, "os_installed", r->os_installed,
	                 "worker_peak_rss_kib", (json_int_t)us->worker_peak_rss_kib);
}

static char *status_json(const struct agent_worker_result *last, int64_t next_at, unsigned failures,
                         const struct update_state *us)
{
	json_t *j = json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:s}", "ok", last->ok, "device_id", last->device_id,
	                      "not_before", (json_int_t)last->not_before, "not_after", (json_int_t)last->not_after,
	                      "next_attestation", (json_int_t)next_at, "consecutive_failures", (json_int_t)failures,
	                      "reason", last->reason);
	json_t *u = update_json(us);
	if (!j || !u) { /* not expected: reasons are printable ASCII (agent_worker_msg.h) */
		json_decref(j);
		json_decref(u);
		return xstrdup("{\"ok\":false,\"error\":\"the agent's status is not valid JSON text\"}");
	}
	json_object_set_new(j, "update", u);
	char *txt = rp_json_dump(j);
	json_decref(j);
	return txt;
}

/* One attestation round and the schedule that follows from it. */
static void attest_round(const struct agent_opts *o, bool startup, struct agent_worker_result *last,
                         unsigned *failures, int64_t *next_at, bool log_retry)
{
	run_job(o, AGENT_WORKER_ATTEST, startup, last);
	if (last->ok) {
		*failures = 0;
		*next_at = agent_sched_next(now_s(), last->not_before, last->not_after, rnd32());
		return;
	}
	(*failures)++;
	int64_t d = agent_sched_backoff(*failures, rnd32());
	*next_at = now_s() + d;
	if (log_retry)
		rp_log_event(RP_LOG_WARNING, "agent.attest.retry", "retry %u in %lld s", *failures, (long long)d);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"state", required_argument, NULL, 's'},       {"monitor-socket", required_argument, NULL, 'm'},
		{"service", required_argument, NULL, 'u'},     {"service-ca", required_argument, NULL, 'c'},
		{"image", required_argument, NULL, 'i'},       {"socket", required_argument, NULL, 'S'},
		{"allow-uid", required_argument, NULL, 'a'},   {"once", no_argument, NULL, 'o'},
		{"log-level", required_argument, NULL, 'l'},   {"log-format", required_argument, NULL, 'f'},
		{"appmgr-socket", required_argument, NULL, 'A'}, {"appmgr-state", required_argument, NULL, 'D'},
		{"rot", required_argument, NULL, 'r'},         {"no-update", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},              {0},
	};
	struct agent_opts ao = {.log_level = "info", .log_format = "human"};
	const char *sock = NULL;
	uid_t allowed[AGENT_LOCAL_MAX_UIDS];
	size_t n_allowed = 0;
	bool once = false;
	struct update_state us = {.enabled = true};
	enum rp_log_level level = RP_LOG_INFO;
	enum rp_log_format format = RP_LOG_FORMAT_HUMAN;
	rp_error err = RP_ERROR_INIT;
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		uint32_t uid = 0;
		switch (o) {
		case 's': ao.state_dir = optarg; break;
		case 'm': ao.monitor_socket = optarg; break;
		case 'u': ao.service = optarg; break;
		case 'c': ao.service_ca = optarg; break;
		case 'S': sock = optarg; break;
		case 'o': once = true; break;
		case 'A': ao.appmgr_socket = optarg; break;
		case 'D': ao.appmgr_state = optarg; break;
		case 'n': us.enabled = false; break;
		case 'r':
			if (strcmp(optarg, "soft") != 0 && strcmp(optarg, "tpm2") != 0)
				return fprintf(stderr, "rampart-agent: --rot must be soft or tpm2\n"), 2;
			ao.rot = optarg;
			break;
		case 'i':
			if (check_image(optarg, ao.n_images, &err) < 0)
				return rp_error_report(&err, "rampart-agent"), 2;
			ao.images[ao.n_images++] = optarg;
			break;
		case 'a':
			if (n_allowed >= AGENT_LOCAL_MAX_UIDS || rp_parse_u32(optarg, 0, UINT32_MAX - 1, &uid, &err) < 0) {
				fprintf(stderr, "rampart-agent: --allow-uid '%s': a user ID, at most %d times\n", optarg,
				        AGENT_LOCAL_MAX_UIDS);
				return 2;
			}
			allowed[n_allowed++] = (uid_t)uid;
			break;
		case 'l':
			if (rp_log_level_parse(optarg, &level) < 0)
				return fprintf(stderr, "rampart-agent: unknown log level '%s'\n", optarg), 2;
			ao.log_level = optarg;
			break;
		case 'f':
			if (rp_log_format_parse(optarg, &format) < 0)
				return fprintf(stderr, "rampart-agent: unknown log format '%s'\n", optarg), 2;
			ao.log_format = optarg;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!ao.state_dir || !ao.monitor_socket || !ao.service || !ao.service_ca || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strncmp(ao.service, "https://", 8) != 0) {
		fprintf(stderr, "rampart-agent: --service must be an https:// URL\n");
		return 2;
	}
	rp_log_init("rampart-agent", format, level, NULL);
	_cleanup_free_ char *worker = agent_worker_path(AGENT_WORKER_BINARY, &err);
	if (!worker) {
		rp_error_report(&err, "rampart-agent");
		return 1;
	}
	ao.worker = worker;
	rp_error uerr = RP_ERROR_INIT;
	_cleanup_free_ char *update_worker = agent_worker_path(AGENT_UPDATE_WORKER_BINARY, &uerr);
	ao.update_worker = update_worker ? update_worker : worker;
	rp_info("update checks run in %s", ao.update_worker);
	struct agent_worker_result last = {.kind = AGENT_WORKER_ATTEST};
	if (once) {
		run_job(&ao, AGENT_WORKER_ATTEST, false, &last);
		return last.ok ? 0 : 1;
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	_cleanup_free_ char *default_sock = xasprintf("%s/agent.sock", ao.state_dir);
	if (!sock)
		sock = default_sock;
	_cleanup_close_ int lfd = agent_local_listen(sock, &err);
	if (lfd < 0) {
		rp_error_report(&err, "rampart-agent");
		return 1;
	}
	rp_log_event(RP_LOG_NOTICE, "agent.start", "device-local API on %s; service %s", sock, ao.service);
	unsigned failures = 0;
	int64_t next_at = now_s(); /* attest on start */
	bool startup = true;       /* the first round also logs the certificate from before a restart */
	us.next_at = 0;            /* and check for updates after the first successful attestation */
	bool worked = true;        /* start-up counts as work: release memory after it too */
	while (!stop) {
		int64_t now = now_s();
		if (us.enabled && last.ok && now >= us.next_at) {
			run_update(&ao, &us);
			worked = true;
			continue;
		}
		if (now >= next_at) {
			attest_round(&ao, startup, &last, &failures, &next_at, true);
			startup = false;
			worked = true;
			continue;
		}
		int64_t wait = next_at - now;
		if (us.enabled && last.ok && us.next_at - now < wait)
			wait = us.next_at - now;
		int wait_ms = (int)(wait > 3600 ? 3600000 : wait * 1000);
		bool release_first = worked && wait_ms > DEVICE_IDLE_RELEASE_MS;
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		int r = poll(&p, 1, release_first ? DEVICE_IDLE_RELEASE_MS : wait_ms);
		if (r < 0 && errno != EINTR) {
			rp_err("polling the local API socket: %s", strerror(errno));
			break;
		}
		if (r == 0 && release_first) {
			device_idle_release();
			worked = false;
			continue;
		}
		if (r <= 0 || !(p.revents & POLLIN))
			continue;
		worked = true;
		enum agent_local_cmd cmd;
		_cleanup_close_ int cfd = agent_local_accept(lfd, allowed, n_allowed, &cmd, &err);
		if (cfd < 0) {
			rp_log_event(RP_LOG_WARNING, "agent.local.refused", "%s", err.message);
			rp_error_clear(&err);
			continue;
		}
		if (cmd == AGENT_LOCAL_ATTEST_NOW) {
			rp_log_event(RP_LOG_NOTICE, "agent.attest.requested", "attestation requested through the local API");
			attest_round(&ao, false, &last, &failures, &next_at, false);
		} else if (cmd == AGENT_LOCAL_UPDATE_NOW) {
			rp_log_event(RP_LOG_NOTICE, "agent.update.requested", "update check requested through the local API");
			if (!us.enabled) {
				agent_local_reply(cfd, "{\"ok\":false,\"error\":\"updates are disabled (--no-update)\"}");
				continue;
			}
			/* Without a current credential the device API refuses the check: attest first. */
			if (!last.ok) {
				run_job(&ao, AGENT_WORKER_ATTEST, false, &last);
				if (last.ok) {
					failures = 0;
					next_at = agent_sched_next(now_s(), last.not_before, last.not_after, rnd32());
				}
			}
			run_update(&ao, &us);
		}
		_cleanup_free_ char *txt = status_json(&last, next_at, failures, &us);
		agent_local_reply(cfd, txt);
	}
	unlink(sock);
	rp_log_event(RP_LOG_NOTICE, "agent.stop", "stopping");
	return 0;
}
