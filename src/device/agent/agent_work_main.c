/* rampart-agent-work: one job of the device agent in its own short-lived process, started by
 * rampart-agent for each attestation (with certificate renewal) and each update check. The only
 * agent code that links libcurl and libcrypto; it writes one result message (agent_worker_msg.h)
 * to the fd given with --result-fd and exits (status 0 when the job succeeded).
 *
 * Built a second time with AGENT_WORK_UPDATE_ONLY as rampart-agent-update: the update job alone,
 * against mbedTLS and without root-of-trust code, so an update check's process stays small. */
#include <getopt.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifndef AGENT_WORK_UPDATE_ONLY
#include <curl/curl.h>
#endif

#include "common/fileio.h"
#include "common/guid.h"
#include "common/log.h"
#include "common/parse.h"
#ifndef AGENT_WORK_UPDATE_ONLY
#include "device/agent/agent_attest.h"
#endif
#include "device/agent/agent_update.h"
#include "device/agent/agent_worker_msg.h"

#ifdef AGENT_WORK_UPDATE_ONLY
#define PROGRAM "rampart-agent-update"
#define JOBS "update"
#else
#define PROGRAM "rampart-agent-work"
#define JOBS "attest|update"
#endif

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: " PROGRAM " " JOBS " --state DIR --monitor-socket PATH --service URL --service-ca FILE\n"
	        "                          [--result-fd FD] [options]\n\n"
	        "Runs one job of rampart-agent (which starts it; see rampart-agent --help for the options).\n"
	        "  --image GUID=VERSION   attest: an installed image to claim; repeatable\n"
	        "  --startup              attest: log the installed certificate's validity first\n"
	        "  --appmgr-socket PATH, --appmgr-state DIR, --rot soft|tpm2   update: as for rampart-agent\n"
	        "  --result-fd FD         write the result message to FD\n"
	        "  --log-level LEVEL, --log-format FMT\n");
}

#ifndef AGENT_WORK_UPDATE_ONLY
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

static void attest(struct agent_config *cfg, bool images_given, bool startup, struct agent_worker_result *out)
{
	rp_error err = RP_ERROR_INIT;
	struct agent_result res = {0};
	out->kind = AGENT_WORKER_ATTEST;
	if (startup && agent_attest_current(cfg->state_dir, &res.not_before, &res.not_after) == 0)
		rp_info("installed client certificate valid until %lld", (long long)res.not_after);
	if (!images_given)
		cfg->n_images = agent_update_installed_images(cfg->state_dir, cfg->images, EVIDENCE_MAX_IMAGES);
	out->ok = agent_attest_once(cfg, (int64_t)time(NULL), &res, &err) == 0;
	if (out->ok)
		rp_log_event(RP_LOG_NOTICE, "agent.attest.ok",
		             "attested as device %s; client certificate valid until %lld (device API credential renewed)",
		             res.device_id, (long long)res.not_after);
	else
		rp_log_event(RP_LOG_ERROR, "agent.attest.failed", "attestation failed: %s", err.message);
	out->not_before = res.not_before;
	out->not_after = res.not_after;
	snprintf(out->device_id, sizeof(out->device_id), "%s", res.device_id);
	snprintf(out->reason, sizeof(out->reason), "%s", res.reason);
}
#endif

static void update(const struct agent_update_options *uo, struct agent_worker_result *out)
{
	rp_error err = RP_ERROR_INIT;
	struct update_report rep = {0};
	out->kind = AGENT_WORKER_UPDATE;
	rp_log_event(RP_LOG_INFO, "agent.update.check", "checking for updates");
	out->ok = agent_update_run(uo, (int64_t)time(NULL), &rep, &err) == 0;
	if (out->ok)
		rp_log_event(RP_LOG_NOTICE, "agent.update.done",
		             "update check: %u targets, %u installed, %u already installed, %u deferred%s", rep.targets,
		             rep.installed, rep.skipped, rep.deferred,
		             rep.os_installed ? "; a new OS bundle waits in the inactive slot: restart to use it" : "");
	else
		rp_log_event(RP_LOG_WARNING, "agent.update.failed", "%s", err.message);
	out->targets = rep.targets;
	out->installed = rep.installed;
	out->skipped = rep.skipped;
	out->failed = rep.failed;
	out->deferred = rep.deferred;
	out->os_installed = rep.os_installed;
	snprintf(out->reason, sizeof(out->reason), "%s", out->ok ? "" : err.message);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"state", required_argument, NULL, 's'},       {"monitor-socket", required_argument, NULL, 'm'},
		{"service", required_argument, NULL, 'u'},     {"service-ca", required_argument, NULL, 'c'},
		{"image", required_argument, NULL, 'i'},       {"startup", no_argument, NULL, 'S'},
		{"appmgr-socket", required_argument, NULL, 'A'}, {"appmgr-state", required_argument, NULL, 'D'},
		{"rot", required_argument, NULL, 'r'},         {"result-fd", required_argument, NULL, 'R'},
		{"log-level", required_argument, NULL, 'l'},   {"log-format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},              {0},
	};
#ifndef AGENT_WORK_UPDATE_ONLY
	struct agent_config cfg = {.http.timeout_seconds = 60};
	bool images_given = false, startup = false;
#endif
	struct agent_update_options uo = {0};
	int result_fd = -1;
	enum rp_log_level level = RP_LOG_INFO;
	enum rp_log_format format = RP_LOG_FORMAT_HUMAN;
	rp_error err = RP_ERROR_INIT;
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		uint32_t fd = 0;
		switch (o) {
		case 's': uo.state_dir = optarg; break;
		case 'm': uo.monitor_socket = optarg; break;
		case 'u': uo.service_url = optarg; break;
		case 'c': uo.service_ca = optarg; break;
#ifndef AGENT_WORK_UPDATE_ONLY
		case 'S': startup = true; break;
		case 'i':
			if (add_image(&cfg, optarg, &err) < 0)
				return rp_error_report(&err, PROGRAM), 2;
			images_given = true;
			break;
#endif
		case 'A': uo.appmgr_socket = optarg; break;
		case 'D': uo.appmgr_state = optarg; break;
		case 'r':
			if (strcmp(optarg, "soft") != 0 && strcmp(optarg, "tpm2") != 0)
				return fprintf(stderr, PROGRAM ": --rot must be soft or tpm2\n"), 2;
			uo.rot_backend = optarg;
			break;
		case 'R':
			if (rp_parse_u32(optarg, 3, 1023, &fd, &err) < 0)
				return rp_error_report(&err, PROGRAM ": --result-fd"), 2;
			result_fd = (int)fd;
			break;
		case 'l':
			if (rp_log_level_parse(optarg, &level) < 0)
				return fprintf(stderr, PROGRAM ": unknown log level '%s'\n", optarg), 2;
			break;
		case 'f':
			if (rp_log_format_parse(optarg, &format) < 0)
				return fprintf(stderr, PROGRAM ": unknown log format '%s'\n", optarg), 2;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	const char *job = optind + 1 == argc ? argv[optind] : NULL;
#ifdef AGENT_WORK_UPDATE_ONLY
	bool known_job = job && strcmp(job, "update") == 0;
#else
	bool known_job = job && (strcmp(job, "attest") == 0 || strcmp(job, "update") == 0);
#endif
	if (!known_job || !uo.state_dir || !uo.monitor_socket || !uo.service_url || !uo.service_ca) {
		usage(stderr);
		return 2;
	}
	/* Log lines keep the daemon's name: operators follow one component. */
	rp_log_init("rampart-agent", format, level, NULL);
	struct agent_worker_result res = {0};
#ifndef AGENT_WORK_UPDATE_ONLY
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, PROGRAM ": libcurl failed to initialise\n");
		return 1;
	}
	if (strcmp(job, "attest") == 0) {
		cfg.state_dir = uo.state_dir;
		cfg.monitor_socket = uo.monitor_socket;
		cfg.http.base_url = uo.service_url;
		cfg.http.ca_file = uo.service_ca;
		attest(&cfg, images_given, startup, &res);
	} else {
		update(&uo, &res);
	}
	curl_global_cleanup();
#else
	update(&uo, &res);
#endif
	if (result_fd >= 0) {
		rp_buf b;
		rp_buf_init(&b);
		agent_worker_msg_encode(&res, &b);
		if (rp_write_full(result_fd, b.data, b.len) < 0) {
			rp_err("sending the result to rampart-agent: %m");
			rp_buf_free(&b);
			return 1;
		}
		rp_buf_free(&b);
		close(result_fd);
	}
	return res.ok ? 0 : 1;
}
