/* rampart-agent: the device agent. Attests on start, again at about two thirds of its
 * certificate's lifetime and at least every 20 h (both jittered), on demand through its
 * device-local socket, and retries failures with bounded, jittered backoff. After an attestation
 * it checks for updates (on start, every 20 h +- 2 h, and on demand: `update-now`). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "common/crypto.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/agent/agent_attest.h"
#include "device/agent/agent_local.h"
#include "device/agent/agent_sched.h"
#include "device/agent/agent_update.h"

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
	        "  --log-format FMT       human|json (default human)\n");
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static uint32_t rnd32(void)
{
	uint32_t v = 0;
	rp_error err = RP_ERROR_INIT;
	if (rp_random_bytes(&v, sizeof(v), &err) < 0)
		rp_abort("no random numbers");
	return v;
}

static int add_image(struct agent_config *cfg, const char *spec, rp_error *err)
{
	const char *eq = strchr(spec, '=');
	if (!eq || eq - spec != EVIDENCE_GUID_LEN || cfg->n_images >= EVIDENCE_MAX_IMAGES)
		return rp_error_set(err, RP_E_INVALID, "--image '%s': expected GUID=VERSION (at most %d)", spec,
		                    EVIDENCE_MAX_IMAGES);
	monitor_image_claim *c = &cfg->images[cfg->n_images];
	char guid[EVIDENCE_GUID_LEN + 1];
	memcpy(guid, spec, EVIDENCE_GUID_LEN);
	guid[EVIDENCE_GUID_LEN] = 0;
	if (rp_guid_normalize(guid, c->id, err) < 0 || !evidence_version_ok(eq + 1, strlen(eq + 1)) ||
	    strlen(eq + 1) > EVIDENCE_VERSION_MAX)
		return rp_error_set(err, RP_E_INVALID, "--image '%s': bad GUID or version", spec);
	snprintf(c->version, sizeof(c->version), "%s", eq + 1);
	cfg->n_images++;
	return 0;
}

static bool images_given;

static int attest(struct agent_config *cfg, struct agent_result *res)
{
	rp_error err = RP_ERROR_INIT;
	if (!images_given)
		cfg->n_images = agent_update_installed_images(cfg->state_dir, cfg->images, EVIDENCE_MAX_IMAGES);
	if (agent_attest_once(cfg, now_s(), res, &err) < 0) {
		rp_log_event(RP_LOG_ERROR, "agent.attest.failed", "attestation failed: %s", err.message);
		return -1;
	}
	rp_log_event(RP_LOG_NOTICE, "agent.attest.ok",
	             "attested as device %s; client certificate valid until %lld (device API credential renewed)",
	             res->device_id, (long long)res->not_after);
	return 0;
}

struct update_state {
	bool enabled, ran, ok;
	unsigned failures;
	int64_t next_at, last_at;
	struct update_report rep;
	char reason[RP_ERROR_MESSAGE_MAX];
};

static void run_update(const struct agent_update_options *uo, struct update_state *us)
{
	rp_error err = RP_ERROR_INIT;
	rp_log_event(RP_LOG_INFO, "agent.update.check", "checking for updates");
	us->ran = true;
	us->last_at = now_s();
	us->ok = agent_update_run(uo, now_s(), &us->rep, &err) == 0;
	snprintf(us->reason, sizeof(us->reason), "%s", us->ok ? "" : err.message);
	if (us->ok)
		rp_log_event(RP_LOG_NOTICE, "agent.update.done",
		             "update check: %u targets, %u installed, %u already installed, %u deferred%s", us->rep.targets,
		             us->rep.installed, us->rep.skipped, us->rep.deferred,
		             us->rep.os_installed ? "; a new OS bundle waits in the inactive slot: restart to use it" : "");
	else
		rp_log_event(RP_LOG_WARNING, "agent.update.failed", "%s", err.message);
	/* A failed check (service unreachable, metadata refused) is retried with the attestation's
	 * bounded backoff rather than after a whole period. */
	us->failures = us->ok ? 0 : us->failures + 1;
	us->next_at = now_s() + (us->ok ? update_next_check_delay(rnd32()) : agent_sched_backoff(us->failures, rnd32()));
}

static json_t *update_json(const struct update_state *us)
{
	if (!us->enabled)
		return json_null();
	if (!us->ran)
		return json_pack("{s:b, s:I}", "ran", 0, "next_check", (json_int_t)us->next_at);
	return json_pack("{s:b, s:b, s:s, s:I, s:I, s:i, s:i, s:i, s:i, s:i, s:b}", "ran", 1, "ok", us->ok, "reason",
	                 us->reason, "last_check", (json_int_t)us->last_at, "next_check", (json_int_t)us->next_at,
	                 "targets", (int)us->rep.targets, "installed", (int)us->rep.installed, "skipped",
	                 (int)us->rep.skipped, "failed", (int)us->rep.failed, "deferred", (int)us->rep.deferred,
	                 "os_installed", us->rep.os_installed);
}

static char *status_json(const struct agent_result *last, int64_t next_at, unsigned failures,
                         const struct update_state *us)
{
	json_t *j = json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:s}", "ok", last->ok, "device_id", last->device_id,
	                      "not_before", (json_int_t)last->not_before, "not_after", (json_int_t)last->not_after,
	                      "next_attestation", (json_int_t)next_at, "consecutive_failures", (json_int_t)failures,
	                      "reason", last->reason);
	json_object_set_new(j, "update", update_json(us));
	char *txt = rp_json_dump(j);
	json_decref(j);
	return txt;
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
	struct agent_config cfg = {.http.timeout_seconds = 60};
	const char *sock = NULL;
	uid_t allowed[AGENT_LOCAL_MAX_UIDS];
	size_t n_allowed = 0;
	bool once = false;
	struct agent_update_options uo = {0};
	struct update_state us = {.enabled = true};
	enum rp_log_level level = RP_LOG_INFO;
	enum rp_log_format format = RP_LOG_FORMAT_HUMAN;
	rp_error err = RP_ERROR_INIT;
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		uint32_t uid = 0;
		switch (o) {
		case 's': cfg.state_dir = optarg; break;
		case 'm': cfg.monitor_socket = optarg; break;
		case 'u': cfg.http.base_url = optarg; break;
		case 'c': cfg.http.ca_file = optarg; break;
		case 'S': sock = optarg; break;
		case 'o': once = true; break;
		case 'A': uo.appmgr_socket = optarg; break;
		case 'D': uo.appmgr_state = optarg; break;
		case 'n': us.enabled = false; break;
		case 'r':
			if (strcmp(optarg, "soft") != 0 && strcmp(optarg, "tpm2") != 0)
				return fprintf(stderr, "rampart-agent: --rot must be soft or tpm2\n"), 2;
			uo.rot_backend = optarg;
			break;
		case 'i':
			if (add_image(&cfg, optarg, &err) < 0)
				return rp_error_report(&err, "rampart-agent"), 2;
			images_given = true;
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
			break;
		case 'f':
			if (rp_log_format_parse(optarg, &format) < 0)
				return fprintf(stderr, "rampart-agent: unknown log format '%s'\n", optarg), 2;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!cfg.state_dir || !cfg.monitor_socket || !cfg.http.base_url || !cfg.http.ca_file || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strncmp(cfg.http.base_url, "https://", 8) != 0) {
		fprintf(stderr, "rampart-agent: --service must be an https:// URL\n");
		return 2;
	}
	rp_log_init("rampart-agent", format, level, NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "rampart-agent: libcurl failed to initialise\n");
		return 1;
	}
	uo.state_dir = cfg.state_dir;
	uo.service_url = cfg.http.base_url;
	uo.service_ca = cfg.http.ca_file;
	uo.monitor_socket = cfg.monitor_socket;
	struct agent_result last = {0};
	if (once) {
		int rc = attest(&cfg, &last);
		curl_global_cleanup();
		return rc < 0 ? 1 : 0;
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	_cleanup_free_ char *default_sock = xasprintf("%s/agent.sock", cfg.state_dir);
	if (!sock)
		sock = default_sock;
	_cleanup_close_ int lfd = agent_local_listen(sock, &err);
	if (lfd < 0) {
		rp_error_report(&err, "rampart-agent");
		return 1;
	}
	rp_log_event(RP_LOG_NOTICE, "agent.start", "device-local API on %s; service %s", sock, cfg.http.base_url);
	/* A certificate from before a restart still counts for status until the first round ends. */
	if (agent_attest_current(cfg.state_dir, &last.not_before, &last.not_after) == 0)
		rp_info("installed client certificate valid until %lld", (long long)last.not_after);
	unsigned failures = 0;
	int64_t next_at = now_s(); /* attest on start */
	us.next_at = 0;            /* and check for updates after the first successful attestation */
	while (!stop) {
		int64_t now = now_s();
		if (us.enabled && last.ok && now >= us.next_at) {
			run_update(&uo, &us);
			continue;
		}
		if (now >= next_at) {
			if (attest(&cfg, &last) == 0) {
				failures = 0;
				next_at = agent_sched_next(now_s(), last.not_before, last.not_after, rnd32());
			} else {
				failures++;
				int64_t d = agent_sched_backoff(failures, rnd32());
				next_at = now_s() + d;
				rp_log_event(RP_LOG_WARNING, "agent.attest.retry", "retry %u in %lld s", failures,
				             (long long)d);
			}
			continue;
		}
		int64_t wait = next_at - now;
		if (us.enabled && last.ok && us.next_at - now < wait)
			wait = us.next_at - now;
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		int r = poll(&p, 1, (int)(wait > 3600 ? 3600000 : wait * 1000));
		if (r < 0 && errno != EINTR) {
			rp_err("polling the local API socket: %s", strerror(errno));
			break;
		}
		if (r <= 0 || !(p.revents & POLLIN))
			continue;
		enum agent_local_cmd cmd;
		_cleanup_close_ int cfd = agent_local_accept(lfd, allowed, n_allowed, &cmd, &err);
		if (cfd < 0) {
			rp_log_event(RP_LOG_WARNING, "agent.local.refused", "%s", err.message);
			rp_error_clear(&err);
			continue;
		}
		if (cmd == AGENT_LOCAL_ATTEST_NOW) {
			rp_log_event(RP_LOG_NOTICE, "agent.attest.requested", "attestation requested through the local API");
			if (attest(&cfg, &last) == 0) {
				failures = 0;
				next_at = agent_sched_next(now_s(), last.not_before, last.not_after, rnd32());
			} else {
				failures++;
				next_at = now_s() + agent_sched_backoff(failures, rnd32());
			}
		} else if (cmd == AGENT_LOCAL_UPDATE_NOW) {
			rp_log_event(RP_LOG_NOTICE, "agent.update.requested", "update check requested through the local API");
			if (!us.enabled) {
				agent_local_reply(cfd, "{\"ok\":false,\"error\":\"updates are disabled (--no-update)\"}");
				continue;
			}
			/* Without a current credential the device API refuses the check: attest first. */
			if (!last.ok && attest(&cfg, &last) == 0) {
				failures = 0;
				next_at = agent_sched_next(now_s(), last.not_before, last.not_after, rnd32());
			}
			run_update(&uo, &us);
		}
		_cleanup_free_ char *txt = status_json(&last, next_at, failures, &us);
		agent_local_reply(cfd, txt);
	}
	unlink(sock);
	curl_global_cleanup();
	rp_log_event(RP_LOG_NOTICE, "agent.stop", "stopping");
	return 0;
}
