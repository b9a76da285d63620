/* rampart-monitor: the security monitor process. Opens the root of trust, binds its socket,
 * drops what it does not need, then serves its peers until SIGTERM.
 *
 * Built twice (src/device/meson.build): rampart-monitor (OpenSSL, both backends) and
 * rampart-monitor-soft (RP_CRYPTO_MBEDTLS + RP_ROT_SOFT_ONLY: mbedTLS linked statically, no TSS,
 * no libcrypto). For --rot soft, rampart-monitor replaces itself with rampart-monitor-soft when it
 * is installed beside it, so a development device's idle monitor does not carry OpenSSL's
 * relocated tables and method store (docs/benchmarks.md). */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifndef RP_CRYPTO_MBEDTLS
#include <openssl/crypto.h>
#endif

#include "common/fileio.h"
#include "common/log.h"
#include "common/sibling_path.h"
#include "common/xalloc.h"
#include "device/monitor/monitor_harden.h"
#include "device/monitor/monitor_server.h"

static volatile sig_atomic_t monitor_stop;

static void monitor_on_signal(int sig)
{
	(void)sig;
	monitor_stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: rampart-monitor --state DIR --rot soft|tpm2 --socket PATH --allow ROLE=UID... [options]\n\n"
	        "The security monitor: the only process that talks to the root of trust.\n\n"
	        "  --state DIR        device state directory (as given to 'rampart-os provision')\n"
	        "  --rot BACKEND      tpm2, or soft (INSECURE: key in a file; development only)\n"
	        "  --tpm2-tcti CONF   TCTI for tpm2 (default device:/dev/tpmrm0; swtpm:host=127.0.0.1,port=2321)\n"
	        "  --socket PATH      Unix socket to serve\n"
	        "  --allow ROLE=UID   grant ROLE (agent, boot, appmgr) to UID; repeatable\n"
	        "  --log-level LEVEL  debug|info|notice|warning|error (default info)\n"
	        "  --log-format FMT   human|json (default human)\n");
}

#ifndef RP_CRYPTO_MBEDTLS
/* Continue as rampart-monitor-soft with the same arguments when it is installed; without it (or
 * when it cannot be started) this build serves the soft backend itself. */
static void exec_soft_build(char **argv)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *path = rp_sibling_path("rampart-monitor-soft", &err);
	if (path) {
		execv(path, argv);
		rp_error_set_errno(&err, errno, "starting %s", path);
	}
	rp_debug("serving the soft backend in this process: %s", err.message);
	rp_error_clear(&err);
}
#endif

int main(int argc, char **argv)
{
	monitor_harden_close_fds();
	static const struct option opts[] = {
		{"state", required_argument, NULL, 's'},     {"rot", required_argument, NULL, 'r'},
		{"tpm2-tcti", required_argument, NULL, 't'}, {"socket", required_argument, NULL, 'S'},
		{"allow", required_argument, NULL, 'a'},     {"log-level", required_argument, NULL, 'l'},
		{"log-format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *state = NULL, *backend = NULL, *tcti = NULL, *socket_path = NULL;
	enum rp_log_level level = RP_LOG_INFO;
	enum rp_log_format format = RP_LOG_FORMAT_HUMAN;
	monitor_policy policy = {0};
	rp_error err = RP_ERROR_INIT;
	rp_log_init("rampart-monitor", format, level, NULL);
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': state = optarg; break;
		case 'r': backend = optarg; break;
		case 't': tcti = optarg; break;
		case 'S': socket_path = optarg; break;
		case 'a':
			if (monitor_policy_add(&policy, optarg, &err) < 0) {
				rp_error_report(&err, "rampart-monitor");
				return 64;
			}
			break;
		case 'l':
			if (rp_log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "rampart-monitor: unknown log level '%s'\n", optarg);
				return 64;
			}
			break;
		case 'f':
			if (rp_log_format_parse(optarg, &format) < 0) {
				fprintf(stderr, "rampart-monitor: unknown log format '%s'\n", optarg);
				return 64;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
	}
	if (!state || !backend || !socket_path || optind != argc) {
		usage(stderr);
		return 64;
	}
	bool insecure = strcmp(backend, "soft") == 0;
#ifndef RP_CRYPTO_MBEDTLS
	if (insecure)
		exec_soft_build(argv);
	/* The monitor needs OpenSSL's built-in provider only: skipping the system configuration keeps
	 * its heap small and its behaviour independent of /etc/ssl/openssl.cnf. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
#endif
	/* Every log line of a monitor on the soft backend carries the warning in its component name. */
	rp_log_init(insecure ? "rampart-monitor[INSECURE soft root of trust]" : "rampart-monitor", format, level, NULL);
	if (policy.n == 0)
		rp_warn("no --allow given: every peer will be refused");
	rot_config cfg = {.tcti = tcti, .create = false};
	rot *r = rot_open(backend, state, &cfg, NULL, &err);
	if (!r) {
		rp_error_report(&err, "rampart-monitor");
		return rp_error_exit_status(&err);
	}
	_cleanup_free_ char *dir = xasprintf("%s/monitor", state);
	_cleanup_free_ char *eventlog = xasprintf("%s/eventlog.bin", dir);
	if (rp_mkdir_p(dir, 0700, &err) < 0) {
		rot_close(r);
		rp_error_report(&err, "rampart-monitor");
		return rp_error_exit_status(&err);
	}
	/* Before seccomp: rt_sigaction is not on the allow list. */
	struct sigaction sa = {.sa_handler = monitor_on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	monitor_server *s = monitor_server_new(r, &policy, eventlog, &err);
	/* Start-up (OpenSSL, the TSS, the log replay) leaves freed heap behind; give it back before
	 * idling, since the monitor's resident size is part of the device's memory budget. */
	malloc_trim(0);
	/* Everything opened by now (TCTI library, TPM device, state files, socket) stays usable; after
	 * hardening nothing outside the state directories and the TPM connection can be reached. */
	monitor_harden_config hcfg = {.state_dir = state, .backend = backend, .tcti = tcti};
	if (!s || monitor_server_listen(s, socket_path, &err) < 0 || monitor_harden_apply(&hcfg, &err) < 0) {
		monitor_server_free(s);
		rp_error_report(&err, "rampart-monitor");
		return rp_error_exit_status(&err);
	}
	rp_log_event(RP_LOG_NOTICE, "monitor.ready", "serving %s (root of trust: %s%s, %zu peer UIDs allowed)",
	             socket_path, backend, insecure ? ", INSECURE: development only" : "", policy.n);
	int rc = monitor_server_run(s, &monitor_stop, &err);
	monitor_server_free(s);
	if (rc < 0) {
		rp_error_report(&err, "rampart-monitor");
		return rp_error_exit_status(&err);
	}
	rp_log_event(RP_LOG_NOTICE, "monitor.stopped", "stopped");
	return 0;
}
