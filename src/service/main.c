/* rampartd: the Rampart security service. Thin: parses the command line and hands over to
 * state.c (init), server.c (serve) and the route table (routes). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "common/error.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "service/api.h"
#include "service/config.h"
#include "service/server.h"
#include "service/state.h"
#include "service/tls.h"

#ifndef RAMPART_VERSION
#define RAMPART_VERSION "0"
#endif

static void usage(FILE *out)
{
	fputs("Usage: rampartd COMMAND [OPTIONS]\n"
	      "\n"
	      "The Rampart security service: tenants, products, device groups, devices, images,\n"
	      "deployments and tenant CAs behind an HTTPS JSON API (docs/api.yaml).\n"
	      "\n"
	      "Commands:\n"
	      "  init  --state-dir DIR      create the state directory and database; prints the one-time\n"
	      "                             bootstrap administrator token on stdout (first time only)\n"
	      "  serve --state-dir DIR      serve the API (runs init first when DIR is new)\n"
	      "        [--listen HOST:PORT] default 127.0.0.1:8443\n"
	      "        [--config FILE]      key = value lines: listen, tls_cert, tls_key, threads,\n"
	      "                             max_image_size, log_format, log_level, state_dir;\n"
	      "                             flags override them\n"
	      "        [--tls-cert FILE --tls-key FILE]\n"
	      "                             default: STATE/tls/{cert,key}.pem, created on first start\n"
	      "        [--threads N] [--max-image-size SIZE] [--log-format human|json]\n"
	      "        [--log-level debug|info|notice|warning|error]\n"
	      "\n"
	      "Options: --help, --version\n",
	      out);
}

static int64_t clock_now(void)
{
	return (int64_t)time(NULL);
}

/* Collect settings: config file first, then flags. */
static int parse_options(int argc, char **argv, struct config *cfg, rp_error *err)
{
	static const struct option opts[] = {
		{"state-dir", required_argument, NULL, 's'},  {"listen", required_argument, NULL, 'l'},
		{"config", required_argument, NULL, 'c'},     {"tls-cert", required_argument, NULL, 'C'},
		{"tls-key", required_argument, NULL, 'K'},    {"threads", required_argument, NULL, 't'},
		{"max-image-size", required_argument, NULL, 'm'}, {"log-format", required_argument, NULL, 'f'},
		{"log-level", required_argument, NULL, 'v'},  {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	/* Pass 1: the config file, so flags given in any order override it. */
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (c == 'c' && config_load_file(cfg, optarg, err) < 0)
			return -1;
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *key = NULL;
		switch (c) {
		case 's': key = "state_dir"; break;
		case 'l': key = "listen"; break;
		case 'C': key = "tls_cert"; break;
		case 'K': key = "tls_key"; break;
		case 't': key = "threads"; break;
		case 'm': key = "max_image_size"; break;
		case 'f': key = "log_format"; break;
		case 'v': key = "log_level"; break;
		case 'c': continue;
		case 'h': usage(stdout); exit(0);
		default: return rp_error_set(err, RP_E_INVALID, "unknown option; see rampartd --help");
		}
		if (config_set(cfg, key, optarg, err) < 0)
			return -1;
	}
	if (optind != argc)
		return rp_error_set(err, RP_E_INVALID, "unexpected argument \"%s\"; see rampartd --help", argv[optind]);
	if (!cfg->state_dir)
		return rp_error_set(err, RP_E_INVALID, "--state-dir DIR is required");
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
		return rp_error_set(err, RP_E_INVALID, "give both --tls-cert and --tls-key, or neither");
	return 0;
}

static int cmd_routes(void)
{
	for (size_t i = 0; i < api_routes_count; i++)
		printf("%s %s\n", api_routes[i].method, api_routes[i].path);
	return 0;
}

static int cmd_init(struct config *cfg, bool announce, struct store **out, rp_error *err)
{
	char token[API_TOKEN_LEN + 1];
	struct store *st = state_open(cfg->state_dir, token, err);
	if (!st)
		return -1;
	if (token[0]) {
		fprintf(stderr, "rampartd: created the service administrator \"%s\"; its token is shown once, below.\n"
		                "rampartd: keep it secret (rampart login --token-stdin reads it).\n",
		        STATE_BOOTSTRAP_USER);
		printf("%s\n", token);
		fflush(stdout);
		explicit_bzero(token, sizeof(token));
	} else if (announce) {
		fprintf(stderr, "rampartd: %s is initialised already\n", cfg->state_dir);
	}
	if (out)
		*out = st;
	else
		store_close(st);
	return 0;
}

static int cmd_serve(struct config *cfg, rp_error *err)
{
	char *host = NULL;
	uint16_t port;
	if (config_split_listen(cfg->listen, &host, &port, err) < 0)
		return -1;
	_cleanup_free_ char *host_owned = host;
	_cleanup_store_ struct store *st = NULL;
	if (cmd_init(cfg, false, &st, err) < 0)
		return -1;
	_cleanup_free_ char *cert = cfg->tls_cert ? xstrdup(cfg->tls_cert) : xasprintf("%s/tls/cert.pem", cfg->state_dir);
	_cleanup_free_ char *key = cfg->tls_key ? xstrdup(cfg->tls_key) : xasprintf("%s/tls/key.pem", cfg->state_dir);
	if (!cfg->tls_cert && tls_ensure_self_signed(cfg->state_dir, host, err) < 0)
		return -1;

	struct api_ctx ctx = {
		.store = st,
		.state_dir = cfg->state_dir,
		.max_image_size = cfg->max_image_size,
		.clock = clock_now,
	};
	if (attest_nonce_key_load(cfg->state_dir, &ctx.nonce_key, err) < 0)
		return -1;
	pthread_mutex_init(&ctx.ca_lock, NULL);

	/* Block the stop signals in every thread; this one waits for them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct server *srv = server_start(&ctx, cfg, cert, key, err);
	if (!srv)
		return -1;
	rp_log_event(RP_LOG_NOTICE, "service.started", "rampartd %s serving https://%s/v1 (state %s)", RAMPART_VERSION,
	             cfg->listen, cfg->state_dir);
	int sig = 0;
	sigwait(&set, &sig);
	rp_log_event(RP_LOG_NOTICE, "service.stopping", "received %s; stopping",
	             sig == SIGTERM ? "SIGTERM" : "SIGINT");
	server_stop(srv);
	pthread_mutex_destroy(&ctx.ca_lock);
	explicit_bzero(&ctx.nonce_key, sizeof(ctx.nonce_key));
	rp_log_event(RP_LOG_NOTICE, "service.stopped", "rampartd stopped");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--version") == 0) {
		printf("rampartd %s\n", RAMPART_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "routes") == 0)
		return cmd_routes();

	rp_error err = RP_ERROR_INIT;
	struct config cfg;
	config_defaults(&cfg);
	int rc = -1;
	if (strcmp(cmd, "init") != 0 && strcmp(cmd, "serve") != 0) {
		rp_error_set(&err, RP_E_INVALID, "unknown command \"%s\"; see rampartd --help", cmd);
	} else if (parse_options(argc - 1, argv + 1, &cfg, &err) == 0) {
		rp_log_init("rampartd", cfg.log_format, cfg.log_level, NULL);
		rc = strcmp(cmd, "init") == 0 ? cmd_init(&cfg, true, NULL, &err) : cmd_serve(&cfg, &err);
	}
	config_free(&cfg);
	if (rc < 0) {
		rp_error_report(&err, "rampartd");
		return rp_error_exit_status(&err);
	}
	return 0;
}
