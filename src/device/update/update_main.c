/* rampart-update: one update check as a program (the agent links the same library and calls
 * update_check_and_install on its schedule), plus provisioning of the first TUF roots and a view
 * of the local status. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/update/update_client.h"
#include "tuf/meta.h"
#include "tuf/metadata.h"

#define PROG "rampart-update"

static const char usage[] =
    "usage: " PROG " check --state DIR (--service URL | --image-repo URL --director URL --blobs URL) [options]\n"
    "       " PROG " init --state DIR --image-root FILE --director-root FILE [--config FILE]\n"
    "       " PROG " status --state DIR\n"
    "       " PROG " set-group --state DIR --tenant ID --device-group ID [--device-id ID]\n\n"
    "check: refresh the signed update metadata (image repository and director), download what both\n"
    "agree on, verify it and install it: trust updates, then the OS bundle (inactive slot), then apps.\n"
    "  --state DIR            device state directory (STATE/update, STATE/trust, STATE/boot)\n"
    "  --service URL          rampartd base URL; tenant and device group come from STATE/update/config.json\n"
    "  --service-ca FILE      CA certificate pinned for https (the system store is never used)\n"
    "  --client-cert C --client-key K   device certificate for mutual TLS\n"
    "  --token-file FILE      bearer token for rampartd (the agent's credential)\n"
    "  --image-repo URL --director URL --blobs URL --status-url URL --device-id ID   explicit sources\n"
    "  --now[=TIME]           check now (default); TIME (YYYY-MM-DDTHH:MM:SSZ) replaces the clock\n"
    "  --bootstrap-root       trust the served 1.root.json when none is provisioned (trust on first use)\n"
    "  --low-speed-limit B --low-speed-time S   drop transfers slower than B bytes/s for S s (256, 30)\n"
    "  --rot soft|tpm2 --tpm2-tcti CONF --monitor-socket PATH   where the OS version floor is read\n"
    "  --output text|json     the report format\n"
    "Exit status: 0 up to date, non-zero when a check or an install failed (see status).\n";

struct opts {
	const char *state, *service, *image_root, *director_root, *config, *output, *token_file, *tenant, *group;
	int64_t now;
};

static int parse(int argc, char **argv, struct update_config *cfg, struct opts *o, rp_error *err)
{
	enum { O_STATE = 256, O_SERVICE, O_CA, O_CERT, O_KEY, O_IMAGE, O_DIRECTOR, O_BLOBS, O_STATUS, O_DEVICE, O_NOW,
	       O_BOOT, O_LSL, O_LST, O_ROT, O_TCTI, O_MON, O_OUTPUT, O_IROOT, O_DROOT, O_CONFIG, O_TOKEN, O_TENANT, O_GROUP, O_HELP };
	static const struct option longopts[] = {
	    {"state", required_argument, NULL, O_STATE},          {"service", required_argument, NULL, O_SERVICE},
	    {"service-ca", required_argument, NULL, O_CA},        {"client-cert", required_argument, NULL, O_CERT},
	    {"client-key", required_argument, NULL, O_KEY},       {"image-repo", required_argument, NULL, O_IMAGE},
	    {"director", required_argument, NULL, O_DIRECTOR},    {"blobs", required_argument, NULL, O_BLOBS},
	    {"status-url", required_argument, NULL, O_STATUS},    {"device-id", required_argument, NULL, O_DEVICE},
	    {"now", optional_argument, NULL, O_NOW},              {"bootstrap-root", no_argument, NULL, O_BOOT},
	    {"low-speed-limit", required_argument, NULL, O_LSL},  {"low-speed-time", required_argument, NULL, O_LST},
	    {"rot", required_argument, NULL, O_ROT},              {"tpm2-tcti", required_argument, NULL, O_TCTI},
	    {"monitor-socket", required_argument, NULL, O_MON},   {"output", required_argument, NULL, O_OUTPUT},
	    {"image-root", required_argument, NULL, O_IROOT},     {"director-root", required_argument, NULL, O_DROOT},
	    {"config", required_argument, NULL, O_CONFIG},        {"help", no_argument, NULL, O_HELP},
	    {"token-file", required_argument, NULL, O_TOKEN},
	    {"tenant", required_argument, NULL, O_TENANT},        {"device-group", required_argument, NULL, O_GROUP},
	    {NULL, 0, NULL, 0},
	};
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int r = 0;
		switch (c) {
		case O_STATE: o->state = cfg->state_dir = optarg; break;
		case O_SERVICE: o->service = optarg; break;
		case O_CA: cfg->fetch.ca_file = optarg; break;
		case O_CERT: cfg->fetch.client_cert = optarg; break;
		case O_KEY: cfg->fetch.client_key = optarg; break;
		case O_IMAGE: cfg->image_repo_url = optarg; break;
		case O_DIRECTOR: cfg->director_url = optarg; break;
		case O_BLOBS: cfg->blob_url = optarg; break;
		case O_STATUS: cfg->status_url = optarg; break;
		case O_DEVICE: cfg->device_id = optarg; break;
		case O_NOW:
			if (optarg && (r = tuf_time_parse(optarg, &o->now, err)) < 0)
				rp_error_prefix(err, "--now");
			break;
		case O_BOOT: cfg->bootstrap_root = true; break;
		case O_LSL:
			if ((r = rp_parse_u64(optarg, 1, 1u << 30, &v, err)) == 0)
				cfg->fetch.low_speed_limit = (long)v;
			break;
		case O_LST:
			if ((r = rp_parse_u64(optarg, 1, 3600, &v, err)) == 0)
				cfg->fetch.low_speed_time = (long)v;
			break;
		case O_ROT: cfg->rot_backend = optarg; break;
		case O_TCTI: cfg->tcti = optarg; break;
		case O_MON: cfg->monitor_socket = optarg; break;
		case O_OUTPUT: o->output = optarg; break;
		case O_IROOT: o->image_root = optarg; break;
		case O_DROOT: o->director_root = optarg; break;
		case O_CONFIG: o->config = optarg; break;
		case O_TOKEN: o->token_file = optarg; break;
		case O_TENANT: o->tenant = optarg; break;
		case O_GROUP: o->group = optarg; break;
		case O_HELP: fputs(usage, stdout); exit(0);
		default: return rp_error_set(err, RP_E_INVALID, "unknown option; see --help");
		}
		if (r < 0)
			return -1;
	}
	if (optind != argc)
		return rp_error_set(err, RP_E_INVALID, "unexpected argument \"%s\"", argv[optind]);
	if (!o->state)
		return rp_error_set(err, RP_E_INVALID, "--state DIR is required");
	if (o->token_file) {
		/* A file, never an argument: command lines are visible to every local user. */
		uint8_t *tok = NULL;
		size_t len;
		if (rp_read_file(o->token_file, 4096, &tok, &len, err) < 0)
			return rp_error_prefix(err, "--token-file");
		while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r'))
			tok[--len] = 0;
		for (size_t i = 0; i < len; i++)
			if (tok[i] < 0x21 || tok[i] > 0x7e) {
				free(tok);
				return rp_error_set(err, RP_E_INVALID, "--token-file: the token holds a non-printable character");
			}
		cfg->fetch.bearer_token = (char *)tok; /* freed by main */
	}
	if (o->output && strcmp(o->output, "json") != 0 && strcmp(o->output, "text") != 0)
		return rp_error_set(err, RP_E_INVALID, "--output must be text or json");
	return 0;
}

/* Install a provisioned root.json after checking that it is a well-formed, self-signed root. */
static int install_root(const char *file, const char *dir, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	if (rp_read_file(file, 512 * 1024, &data, &len, err) < 0)
		return rp_error_prefix(err, "reading %s", file);
	tuf_meta m = {0};
	int rc = tuf_meta_parse(data, len, TUF_ROLE_ROOT, &m, err);
	if (rc == 0)
		rc = tuf_meta_verify(&m, TUF_ROLE_ROOT, &m, err);
	tuf_meta_free(&m);
	_cleanup_free_ char *path = xasprintf("%s/root.json", dir);
	if (rc < 0 || rp_mkdir_p(dir, 0700, err) < 0 || rp_write_file_atomic(path, data, len, 0600, err) < 0)
		return rp_error_prefix(err, "%s", file);
	return 0;
}

static int cmd_init(const struct opts *o, rp_error *err)
{
	if (!o->image_root || !o->director_root)
		return rp_error_set(err, RP_E_INVALID, "init needs --image-root FILE and --director-root FILE");
	_cleanup_free_ char *idir = xasprintf("%s/update/tuf/image", o->state);
	_cleanup_free_ char *ddir = xasprintf("%s/update/tuf/director", o->state);
	if (install_root(o->image_root, idir, err) < 0 || install_root(o->director_root, ddir, err) < 0)
		return -1;
	if (o->config) {
		_cleanup_json_ json_t *j = rp_json_load_file(o->config, 64 * 1024, err);
		_cleanup_free_ char *path = xasprintf("%s/update/config.json", o->state);
		if (!j)
			return rp_error_prefix(err, "--config");
		_cleanup_free_ char *text = rp_json_dump(j);
		if (rp_write_file_atomic(path, text, strlen(text), 0600, err) < 0)
			return -1;
	}
	printf("update trust provisioned in %s/update\n", o->state);
	return 0;
}

static int cmd_status(const struct opts *o, rp_error *err)
{
	struct update_status st;
	update_status_load(&st, o->state);
	char *text = json_dumps(st.doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	update_status_free(&st);
	if (!text)
		return rp_error_set(err, RP_E_INTERNAL, "formatting the status");
	puts(text);
	free(text);
	return 0;
}

static int cmd_check(struct update_config *cfg, const struct opts *o, rp_error *err)
{
	struct update_config_owned owned = {0};
	if (update_config_load(cfg, o->service, &owned, err) < 0) {
		update_config_owned_free(&owned);
		return -1;
	}
	struct update_report rep;
	int64_t now = o->now ? o->now : (int64_t)time(NULL);
	int rc = update_check_and_install(cfg, now, &rep, err);
	if (o->output && strcmp(o->output, "json") == 0)
		printf("{\"targets\":%u,\"installed\":%u,\"skipped\":%u,\"failed\":%u,\"os_installed\":%s,"
		       "\"bytes\":%" PRIu64 ",\"requests\":%" PRIu64 "}\n",
		       rep.targets, rep.installed, rep.skipped, rep.failed, rep.os_installed ? "true" : "false", rep.bytes,
		       rep.requests);
	else
		printf("targets %u, installed %u, already installed %u, failed %u; %" PRIu64 " bytes in %" PRIu64
		       " requests%s\n",
		       rep.targets, rep.installed, rep.skipped, rep.failed, rep.bytes, rep.requests,
		       rep.os_installed ? "; new OS bundle pending: reboot to use it" : "");
	update_config_owned_free(&owned);
	return rc;
}

int main(int argc, char **argv)
{
	rp_error err = RP_ERROR_INIT;
	rp_log_init(PROG, RP_LOG_FORMAT_HUMAN, RP_LOG_NOTICE, NULL);
	/* A file-size limit must surface as a write error (disk full), not kill the process. */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 64 : 0;
	}
	const char *cmd = argv[1];
	struct update_config cfg;
	update_config_default(&cfg);
	struct opts o = {0};
	int rc;
	if (parse(argc - 1, argv + 1, &cfg, &o, &err) < 0)
		rc = -1;
	else if (strcmp(cmd, "check") == 0)
		rc = cmd_check(&cfg, &o, &err);
	else if (strcmp(cmd, "init") == 0)
		rc = cmd_init(&o, &err);
	else if (strcmp(cmd, "status") == 0)
		rc = cmd_status(&o, &err);
	else if (strcmp(cmd, "set-group") == 0)
		rc = !o.tenant || !o.group
		         ? rp_error_set(&err, RP_E_INVALID, "set-group needs --tenant ID and --device-group ID")
		         : update_set_device_group(o.state, o.tenant, o.group, cfg.device_id, &err);
	else
		rc = rp_error_set(&err, RP_E_INVALID, "unknown command \"%s\"\n%s", cmd, usage);
	free((char *)cfg.fetch.bearer_token);
	if (rc < 0) {
		rp_error_report(&err, PROG);
		return rp_error_exit_status(&err);
	}
	return 0;
}
