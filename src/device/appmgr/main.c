/* rampart-appmgr: the application manager as a program. One-shot commands (install, remove,
 * run, status) act on a state directory; `daemon` serves the device-local control socket that
 * `ctl` (and later `rampart device app ...`) talks to. */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/guid.h"
#include "common/json.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/appmgr/appmgr.h"
#include "device/appmgr/appmgr_ctl.h"

#define MAX_TRUST_KEYS 8

static void usage(FILE *f)
{
	fputs("usage: rampart-appmgr [options] COMMAND ...\n"
	      "commands:\n"
	      "  install PATH          install a signed package file, or an unpacked tree (development)\n"
	      "  remove ID             stop and delete an app with its storage\n"
	      "  status [ID]           show installed apps (JSON)\n"
	      "  run ID [--timeout-ms N]  start an app, wait for it to exit (stop it after N ms), print how it ended\n"
	      "  daemon --socket PATH  serve the device-local control socket\n"
	      "  ctl --socket PATH start|stop|status|remove [ID] | install ABS-PATH  talk to a running daemon\n"
	      "options:\n"
	      "  --state DIR           state directory (apps/, run/)\n"
	      "  --trust-key PEM       public key that may sign packages (repeatable)\n"
	      "  --loader PATH         package verifier (default: rampart-app-loader next to this program)\n"
	      "  --broker PATH         per-app broker (default: rampart-periph-broker next to this program)\n"
	      "  --board FILE          board definition for the brokers (default: the simulated board)\n"
	      "  --no-broker           start apps without a broker (applibs calls fail with ENOTCONN)\n"
	      "  --broker-allow-loopback-targets  let apps' allowed hosts resolve to loopback (tests, demo)\n"
	      "  --allow-unfiltered-udp-servers  degraded: start apps with AllowedUdpServerPorts even when the\n"
	      "                        nftables filter that keeps those ports to answering clients cannot be installed\n"
	      "  --capability-key PEM  public key that signs appDevelopment capabilities (development mode)\n"
	      "  --device-id ID        this device's ID (64 hex), which a capability must name\n"
	      "  --deviceauth-dir DIR  the agent's STATE/agent/deviceauth: apps with DeviceAuthentication get a copy\n"
	      "  --tenant-id GUID      this device's tenant; DeviceAuthentication must name it\n"
	      "  --device-state DIR    the device runtime's state (rampart-boot's ${STATE}): the tenant the agent\n"
	      "                        learned (DIR/update/config.json) unless --tenant-id, the agent's\n"
	      "                        DIR/agent/deviceauth unless --deviceauth-dir\n"
	      "  --memory SIZE         memory limit per app (default 64M)\n"
	      "  --pids N              process limit per app (default 32)\n"
	      "  --cgroup-parent NAME  cgroup created under the manager's own (default rampart-apps)\n"
	      "  --cgroup auto|v1|v2   hierarchy for the app limits: auto (default) takes v2 when it has memory\n"
	      "                        and pids, else v1; v1 or v2 refuse to start without that one\n"
	      "  --landlock-abi N      Landlock ABI the policy requires (default 4: files and TCP)\n"
	      "  --landlock-degraded   start apps even when the kernel lacks it (logged as degraded)\n"
	      "  --no-restart          do not restart apps that exit\n"
	      "  --no-prewarm          daemon: build each container on the start request, not ahead\n"
	      "  --log-format human|json\n",
	      f);
}

struct opts {
	struct appmgr_config cfg;
	const char *keys[MAX_TRUST_KEYS];
	size_t nkeys;
	char loader[4096];
	char broker[4096];
	bool no_broker;
	const char *socket;
	uint64_t timeout_ms;
	bool no_prewarm;
	char tenant[RP_GUID_STRLEN + 1];
	char deviceauth[4096];
};

/* FIRST: stop at the command word; otherwise options and operands may be mixed. */
static int parse_opts(int argc, char **argv, bool first, struct opts *o, rp_error *err)
{
	enum { O_STATE = 256, O_TRUST, O_MEM, O_PIDS, O_CGP, O_LLABI, O_LLDEG, O_NORESTART, O_SOCKET, O_TIMEOUT, O_LOGF, O_NOPREWARM, O_LOADER, O_CAPKEY, O_DEVID, O_BROKER, O_BOARD, O_NOBROKER, O_BRLOOP, O_DAUTH, O_TENANT, O_CGMODE, O_DEVSTATE, O_UDPUNF };
	static const struct option longopts[] = {
		{"state", required_argument, NULL, O_STATE},       {"trust-key", required_argument, NULL, O_TRUST},
		{"memory", required_argument, NULL, O_MEM},        {"pids", required_argument, NULL, O_PIDS},
		{"cgroup-parent", required_argument, NULL, O_CGP}, {"cgroup", required_argument, NULL, O_CGMODE},
		{"device-state", required_argument, NULL, O_DEVSTATE}, {"landlock-abi", required_argument, NULL, O_LLABI},
		{"landlock-degraded", no_argument, NULL, O_LLDEG}, {"no-restart", no_argument, NULL, O_NORESTART},
		{"socket", required_argument, NULL, O_SOCKET},     {"timeout-ms", required_argument, NULL, O_TIMEOUT},
		{"log-format", required_argument, NULL, O_LOGF},   {"help", no_argument, NULL, 'h'},
		{"no-prewarm", no_argument, NULL, O_NOPREWARM},    {"loader", required_argument, NULL, O_LOADER},
		{"broker", required_argument, NULL, O_BROKER},     {"board", required_argument, NULL, O_BOARD},
		{"no-broker", no_argument, NULL, O_NOBROKER},
		{"broker-allow-loopback-targets", no_argument, NULL, O_BRLOOP},
		{"allow-unfiltered-udp-servers", no_argument, NULL, O_UDPUNF},
		{"capability-key", required_argument, NULL, O_CAPKEY}, {"device-id", required_argument, NULL, O_DEVID},
		{"deviceauth-dir", required_argument, NULL, O_DAUTH}, {"tenant-id", required_argument, NULL, O_TENANT},
		{NULL, 0, NULL, 0},
	};
	int c;
	uint32_t u32;
	while ((c = getopt_long(argc, argv, first ? "+h" : "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_STATE: o->cfg.state_dir = optarg; break;
		case O_TRUST:
			if (o->nkeys == MAX_TRUST_KEYS)
				return rp_error_set(err, RP_E_LIMIT, "at most %d --trust-key options", MAX_TRUST_KEYS);
			o->keys[o->nkeys++] = optarg;
			break;
		case O_MEM:
			if (rp_parse_size(optarg, 1ull << 40, &o->cfg.memory_bytes, err) < 0)
				return rp_error_prefix(err, "--memory");
			break;
		case O_PIDS:
			if (rp_parse_u32(optarg, 1, 65536, &o->cfg.pids_max, err) < 0)
				return rp_error_prefix(err, "--pids");
			break;
		case O_CGP: o->cfg.cgroup_parent = optarg; break;
		case O_CGMODE:
			if (strcmp(optarg, "auto") == 0)
				o->cfg.cgroup_policy = CGROUP_POLICY_AUTO;
			else if (strcmp(optarg, "v1") == 0)
				o->cfg.cgroup_policy = CGROUP_POLICY_V1;
			else if (strcmp(optarg, "v2") == 0)
				o->cfg.cgroup_policy = CGROUP_POLICY_V2;
			else
				return rp_error_set(err, RP_E_INVALID, "--cgroup: expected auto, v1 or v2, not \"%s\"", optarg);
			break;
		case O_LLABI:
			if (rp_parse_u32(optarg, 0, 100, &u32, err) < 0)
				return rp_error_prefix(err, "--landlock-abi");
			o->cfg.landlock_required_abi = (int)u32;
			break;
		case O_LLDEG: o->cfg.landlock_mode = SANDBOX_LANDLOCK_DEGRADED; break;
		case O_NORESTART: o->cfg.restart = false; break;
		case O_SOCKET: o->socket = optarg; break;
		case O_NOPREWARM: o->no_prewarm = true; break;
		case O_LOADER: o->cfg.loader_path = optarg; break;
		case O_BROKER: o->cfg.broker_path = optarg; break;
		case O_BOARD: o->cfg.board_path = optarg; break;
		case O_NOBROKER: o->no_broker = true; break;
		case O_BRLOOP: o->cfg.broker_allow_loopback = true; break;
		case O_UDPUNF: o->cfg.allow_unfiltered_udp_servers = true; break;
		case O_CAPKEY: o->cfg.capability_key_path = optarg; break;
		/* Empty (a boot stage that could not read the root of trust): not configured. */
		case O_DEVID: o->cfg.device_id = optarg[0] ? optarg : NULL; break;
		case O_DAUTH: o->cfg.deviceauth_dir = optarg; break;
		case O_DEVSTATE: o->cfg.device_state = optarg; break;
		case O_TENANT:
			if (rp_guid_normalize(optarg, o->tenant, err) < 0)
				return rp_error_prefix(err, "--tenant-id");
			o->cfg.tenant_id = o->tenant;
			break;
		case O_TIMEOUT:
			if (rp_parse_u64(optarg, 1, 86400000, &o->timeout_ms, err) < 0)
				return rp_error_prefix(err, "--timeout-ms");
			break;
		case O_LOGF: {
			enum rp_log_format f;
			if (rp_log_format_parse(optarg, &f) < 0)
				return rp_error_set(err, RP_E_INVALID, "--log-format: expected human or json");
			rp_log_init("appmgr", f, RP_LOG_INFO, NULL);
			break;
		}
		case 'h': usage(stdout); exit(0);
		default: return rp_error_set(err, RP_E_INVALID, "unknown option; see --help");
		}
	}
	o->cfg.trust_key_paths = o->keys;
	o->cfg.trust_key_count = o->nkeys;
	if (o->cfg.device_state && !o->cfg.deviceauth_dir) {
		int n = snprintf(o->deviceauth, sizeof(o->deviceauth), "%s/agent/deviceauth", o->cfg.device_state);
		if (n < 0 || (size_t)n >= sizeof(o->deviceauth))
			return rp_error_set(err, RP_E_LIMIT, "--device-state: path too long");
		o->cfg.deviceauth_dir = o->deviceauth;
	}
	return 0;
}

/* Every app gets its own broker on fd 3 unless --no-broker. Defaults: rampart-periph-broker next
 * to this program (or in the build tree's broker directory) and the board compiled in for
 * development builds; a missing default board means no brokers (logged), an explicit one must exist. */
static int default_broker(struct opts *o, rp_error *err)
{
	if (o->no_broker) {
		o->cfg.broker_path = NULL;
		return 0;
	}
	if (!o->cfg.board_path) {
#ifdef RAMPART_DEFAULT_BOARD
		if (access(RAMPART_DEFAULT_BOARD, R_OK) == 0)
			o->cfg.board_path = RAMPART_DEFAULT_BOARD;
#endif
		if (!o->cfg.board_path) {
			rp_log_event(RP_LOG_WARNING, "appmgr.no_broker", "no --board given: apps run without a broker");
			o->cfg.broker_path = NULL;
			return 0;
		}
	} else if (access(o->cfg.board_path, R_OK) < 0) {
		return rp_error_set_errno(err, errno, "--board %s", o->cfg.board_path);
	}
	if (o->cfg.broker_path)
		return 0;
	static const char *const candidates[] = {"/rampart-periph-broker", "/../broker/rampart-periph-broker"};
	ssize_t n = readlink("/proc/self/exe", o->broker, sizeof(o->broker) - 1);
	if (n <= 0)
		return rp_error_set_errno(err, errno, "finding rampart-periph-broker: readlink /proc/self/exe");
	o->broker[n] = '\0';
	char *slash = strrchr(o->broker, '/');
	for (size_t i = 0; slash && i < RP_ARRAY_SIZE(candidates); i++) {
		size_t len = strlen(candidates[i]);
		if ((size_t)(slash - o->broker) + len + 1 > sizeof(o->broker))
			break;
		memcpy(slash, candidates[i], len + 1);
		if (access(o->broker, X_OK) == 0) {
			o->cfg.broker_path = o->broker;
			return 0;
		}
	}
	return rp_error_set(err, RP_E_NOT_FOUND,
	                    "rampart-periph-broker not found next to rampart-appmgr; pass --broker PATH or --no-broker");
}

static void print_json(json_t *j)
{
	_cleanup_free_ char *s = rp_json_dump(j);
	printf("%s\n", s);
}

static int cmd_run(struct appmgr *m, const char *cid, uint64_t timeout_ms, rp_error *err)
{
	if (appmgr_start(m, cid, err) < 0)
		return -1;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	_cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	uint64_t waited = 0;
	bool stopping = false;
	while (appmgr_is_running(m, cid)) {
		int remaining = (int)(timeout_ms ? (timeout_ms > waited ? timeout_ms - waited : 0) : 1000);
		if (timeout_ms && waited >= timeout_ms && !stopping) {
			if (appmgr_stop(m, cid, err) < 0)
				return -1;
			stopping = true;
		}
		int step = remaining > 100 ? 100 : (remaining > 0 ? remaining : 100);
		if (appmgr_wait(m, sfd, step) == 1 && !stopping) {
			struct signalfd_siginfo si;
			(void)!read(sfd, &si, sizeof(si));
			if (appmgr_stop(m, cid, err) < 0)
				return -1;
			stopping = true;
		}
		waited += (uint64_t)step;
	}
	_cleanup_json_ json_t *st = appmgr_status(m, cid, err);
	if (!st)
		return -1;
	print_json(st);
	return 0;
}

int main(int argc, char **argv)
{
	rp_log_init("appmgr", RP_LOG_FORMAT_HUMAN, RP_LOG_INFO, NULL);
	rp_error err = RP_ERROR_INIT;
	struct opts o;
	memset(&o, 0, sizeof(o));
	appmgr_config_defaults(&o.cfg);
	int rc = 1;
	struct appmgr *m = NULL;
	if (parse_opts(argc, argv, true, &o, &err) < 0)
		goto out;
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	/* Options may also follow the command, before or after its operands: parse the rest as its
	 * own argument vector (optind = 0 makes getopt start afresh, permuting operands last). */
	argc -= optind;
	argv += optind;
	optind = 0;
	if (parse_opts(argc, argv, false, &o, &err) < 0)
		goto out;
	const char *arg = optind < argc ? argv[optind] : NULL;
	if (strcmp(cmd, "ctl") == 0) {
		if (!o.socket || !arg) {
			rp_error_set(&err, RP_E_INVALID, "ctl needs --socket PATH and start|stop|status [ID]");
			goto out;
		}
		rc = appmgr_ctl_client(o.socket, arg, optind + 1 < argc ? argv[optind + 1] : NULL, &err) < 0 ? 1 : 0;
		goto out;
	}
	if (!o.cfg.state_dir) {
		rp_error_set(&err, RP_E_INVALID, "--state DIR is required");
		goto out;
	}
	if (geteuid() != 0) {
		rp_error_set(&err, RP_E_PERMISSION, "the application manager must run as root (it creates containers)");
		goto out;
	}
	if (default_broker(&o, &err) < 0)
		goto out;
	if (!o.cfg.loader_path) {
		/* Default: rampart-app-loader next to this program. */
		ssize_t n = readlink("/proc/self/exe", o.loader, sizeof(o.loader) - 1);
		if (n > 0) {
			o.loader[n] = '\0';
			char *slash = strrchr(o.loader, '/');
			if (slash && (size_t)(slash - o.loader) + sizeof("/rampart-app-loader") <= sizeof(o.loader))
				memcpy(slash, "/rampart-app-loader", sizeof("/rampart-app-loader"));
		}
		o.cfg.loader_path = o.loader;
	}
	if (strcmp(cmd, "run") == 0)
		o.cfg.restart = false;
	if (strcmp(cmd, "daemon") == 0 && !o.no_prewarm)
		o.cfg.prewarm = true;
	m = appmgr_open(&o.cfg, &err);
	if (!m)
		goto out;
	if (strcmp(cmd, "install") == 0 && arg) {
		char cid[37];
		struct stat st;
		int r = stat(arg, &st) == 0 && S_ISDIR(st.st_mode) ? appmgr_install_dir(m, arg, cid, &err)
		                                                    : appmgr_install_package(m, arg, cid, &err);
		if (r < 0)
			goto out;
		printf("%s\n", cid);
	} else if (strcmp(cmd, "remove") == 0 && arg) {
		if (appmgr_remove(m, arg, &err) < 0)
			goto out;
	} else if (strcmp(cmd, "status") == 0) {
		_cleanup_json_ json_t *st = appmgr_status(m, arg, &err);
		if (!st)
			goto out;
		print_json(st);
	} else if (strcmp(cmd, "run") == 0 && arg) {
		if (cmd_run(m, arg, o.timeout_ms, &err) < 0)
			goto out;
	} else if (strcmp(cmd, "daemon") == 0) {
		if (!o.socket) {
			rp_error_set(&err, RP_E_INVALID, "daemon needs --socket PATH");
			goto out;
		}
		if (appmgr_ctl_serve(m, o.socket, &err) < 0)
			goto out;
	} else {
		usage(stderr);
		rc = 2;
		goto out_nomsg;
	}
	rc = 0;
out:
	if (rc != 0 && rp_error_is_set(&err)) {
		rp_error_report(&err, "rampart-appmgr");
		rc = rp_error_exit_status(&err);
	}
out_nomsg:
	appmgr_close(m);
	return rc;
}
