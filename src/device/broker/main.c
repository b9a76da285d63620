/* rampart-periph-broker: serve one app's peripheral requests on an inherited socket (a thin
 * wrapper around broker.c; the app manager can link the library and run one per app instead). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/parse.h"
#include "device/broker/board.h"
#include "device/broker/broker.h"
#include "device/broker/broker_policy.h"
#include "device/broker/broker_privs.h"
#include "device/broker/broker_proto.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: rampart-periph-broker --board FILE --manifest app_manifest.json [--socket-fd N]\n"
	           "                             [--log EVENTS.jsonl] [--network-ready yes|no|auto]\n"
	           "                             [--log-level debug|info|notice|warning|error]\n"
	           "                             [--link-fd N] [--allow-loopback-targets] [--connect-timeout-ms N]\n"
	           "                             [--user UID]\n"
	           "Serves peripheral broker protocol v1 on the SOCK_SEQPACKET socket at fd N (default %d)\n"
	           "until the app closes it; grants only what the manifest declares. --link-fd: the app\n"
	           "manager's link for app-to-app connections. --allow-loopback-targets: let AllowedConnections\n"
	           "hosts resolve to loopback or the device's own addresses (tests, demo; off by default).\n"
	           "--user: after start-up, switch to this uid (and the gid of the same number); in any case\n"
	           "the broker keeps only the capabilities its manifest needs and sets no_new_privs and seccomp.\n",
	           BROKER_APP_FD);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"board", required_argument, NULL, 'b'},     {"manifest", required_argument, NULL, 'm'},
		{"socket-fd", required_argument, NULL, 's'}, {"log", required_argument, NULL, 'l'},
		{"network-ready", required_argument, NULL, 'n'}, {"log-level", required_argument, NULL, 'v'},
		{"link-fd", required_argument, NULL, 'k'},   {"allow-loopback-targets", no_argument, NULL, 'L'},
		{"connect-timeout-ms", required_argument, NULL, 't'}, {"user", required_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
	};
	const char *board_path = NULL, *manifest_path = NULL;
	struct broker_options opts = {.network_ready = -1};
	enum rp_log_level level = RP_LOG_NOTICE;
	rp_error err = RP_ERROR_INIT;
	uint32_t fd = BROKER_APP_FD, u32;
	struct board *board = NULL;
	struct broker_policy *policy = NULL;
	struct broker *b = NULL;
	uint32_t user = 0;
	bool change_user = false;
	struct broker_privs privs;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			board_path = optarg;
			break;
		case 'm':
			manifest_path = optarg;
			break;
		case 's':
			if (rp_parse_u32(optarg, 0, 1023, &fd, &err) < 0) {
				rp_error_prefix(&err, "--socket-fd");
				rp_error_report(&err, "rampart-periph-broker");
				return 2;
			}
			break;
		case 'l':
			opts.event_log_path = optarg;
			break;
		case 'k':
			if (rp_parse_u32(optarg, 0, 1023, &u32, &err) < 0) {
				rp_error_prefix(&err, "--link-fd");
				rp_error_report(&err, "rampart-periph-broker");
				return 2;
			}
			opts.has_link = true;
			opts.link_fd = (int)u32;
			break;
		case 'L':
			opts.allow_loopback_targets = true;
			break;
		case 'u':
			if (rp_parse_u32(optarg, 1, UINT32_MAX - 1, &user, &err) < 0) {
				rp_error_prefix(&err, "--user");
				rp_error_report(&err, "rampart-periph-broker");
				return 2;
			}
			change_user = true;
			break;
		case 't':
			if (rp_parse_u32(optarg, 1, 600000, &u32, &err) < 0) {
				rp_error_prefix(&err, "--connect-timeout-ms");
				rp_error_report(&err, "rampart-periph-broker");
				return 2;
			}
			opts.connect_timeout_ms = (int)u32;
			break;
		case 'n':
			if (strcmp(optarg, "yes") == 0)
				opts.network_ready = 1;
			else if (strcmp(optarg, "no") == 0)
				opts.network_ready = 0;
			else if (strcmp(optarg, "auto") != 0) {
				fprintf(stderr, "rampart-periph-broker: error: --network-ready takes yes, no or auto\n");
				return 2;
			}
			break;
		case 'v':
			if (rp_log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "rampart-periph-broker: error: unknown log level \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!board_path || !manifest_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	rp_log_init("periph-broker", RP_LOG_FORMAT_HUMAN, level, NULL);
	board = board_load(board_path, &err);
	if (!board) {
		rp_error_prefix(&err, "loading the board definition");
		goto out;
	}
	policy = broker_policy_load(manifest_path, &err);
	if (!policy) {
		rp_error_prefix(&err, "reading the app manifest");
		goto out;
	}
	b = broker_new(board, policy, &opts, &err);
	if (!b)
		goto out;
	/* Everything the broker opens with privilege (event log, RTC) is open by now. */
	broker_privs_needed(policy, board, &privs);
	if (broker_privs_drop(&privs, change_user, (uid_t)user, (gid_t)user, &err) < 0) {
		rp_error_prefix(&err, "dropping privileges");
		goto out;
	}
	if (broker_run(b, (int)fd, &err) < 0)
		goto out;
	rc = 0;
out:
	if (rc)
		rp_error_report(&err, "rampart-periph-broker");
	broker_free(b);
	broker_policy_free(policy);
	board_free(board);
	return rc;
}
