/* `rampart login`, `rampart logout`, `rampart whoami`: saving and checking the service URL, API
 * token and trusted service CA in the user's configuration (0600; see config.h). */
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/render.h"
#include "cli/session.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"

#define TOKEN_MAX 4096

/* Read a token from stdin (one line), so it never appears in the process list or shell history. */
static char *read_token_stdin(rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_fd_all(STDIN_FILENO, TOKEN_MAX, &data, &len, err) < 0) {
		rp_error_prefix(err, "reading the token from standard input");
		return NULL;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
		data[--len] = '\0';
	if (len == 0 || memchr(data, '\n', len) || strlen((char *)data) != len) {
		rp_error_set(err, RP_E_INVALID, "standard input must hold exactly one line with the token");
		return NULL;
	}
	return (char *)steal_ptr(data);
}

static int login_run(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *service = ctx->service ? ctx->service : getenv("RAMPART_SERVICE");
	if (!service || !*service)
		return cli_cmd_usage_error(ctx, "missing --service URL (for example https://127.0.0.1:8443)");
	_cleanup_free_ char *token = NULL;
	if (cli_flag(ctx, "token-stdin")) {
		if (ctx->token)
			return cli_cmd_usage_error(ctx, "give the token with --token or --token-stdin, not both");
		token = read_token_stdin(&err);
		if (!token)
			return cli_fail(&err);
	} else if (ctx->token) {
		token = xstrdup(ctx->token);
	} else if (getenv("RAMPART_TOKEN") && *getenv("RAMPART_TOKEN")) {
		token = xstrdup(getenv("RAMPART_TOKEN"));
	} else {
		return cli_cmd_usage_error(ctx, "missing token: give --token-stdin (safer), --token TOKEN or RAMPART_TOKEN");
	}
	_cleanup_free_ char *ca_pem = NULL;
	if (ctx->ca_cert) {
		ca_pem = cli_load_ca_pem(ctx->ca_cert, &err);
		if (!ca_pem)
			return cli_fail(&err);
	}
	if (ctx->insecure)
		fprintf(stderr, "rampart: warning: not verifying the service's TLS certificate (--insecure-skip-verify); "
		                "the token is checked but the service's identity is not, and this choice is not saved\n");
	struct api_client_options o = {.base_url = service, .token = token, .ca_pem = ca_pem,
	                               .insecure_skip_verify = ctx->insecure};
	_cleanup_session_ struct cli_session s = {0};
	s.ctx = ctx;
	s.api = api_client_new(&o, &err);
	if (!s.api)
		return cli_fail(&err);
	s.service = xstrdup(service);
	_cleanup_json_ json_t *me = NULL;
	if (api_client_call(s.api, "GET", "/v1/whoami", NULL, &me, &err) < 0) {
		rp_error_prefix(&err, "logging in to %s (nothing was saved)", service);
		return cli_fail(&err);
	}
	_cleanup_free_ char *tenant = NULL;
	if (ctx->tenant) {
		tenant = cli_session_resolve_tenant(&s, ctx->tenant, &err);
		if (!tenant)
			return cli_fail(&err);
	} else {
		json_t *roles = json_object_get(me, "roles");
		if (json_array_size(roles) == 1)
			tenant = xstrdup(json_string_value(json_object_get(json_array_get(roles, 0), "tenant_id")) ?: "");
	}
	cli_config cfg = {0};
	cfg.path = cli_config_path(&err);
	if (!cfg.path)
		return cli_fail(&err);
	cli_config_set(&cfg.service, service);
	cli_config_set(&cfg.token, token);
	cli_config_set(&cfg.ca_cert_pem, ca_pem);
	cli_config_set(&cfg.tenant, tenant && *tenant ? tenant : NULL);
	int r = cli_config_save(&cfg, &err);
	if (r == 0) {
		if (ctx->output == CLI_OUTPUT_JSON) {
			cli_print_json(me, stdout);
		} else {
			_cleanup_free_ char *user = cli_cell(json_object_get(me, "user"));
			bool admin = json_is_true(json_object_get(me, "service_admin"));
			printf("Logged in to %s as %s%s.\n", service, user, admin ? " (service administrator)" : "");
			if (cfg.tenant)
				printf("Selected tenant: %s\n", cfg.tenant);
			printf("Configuration: %s\n", cfg.path);
		}
	}
	cli_config_free(&cfg);
	return r < 0 ? cli_fail(&err) : 0;
}

static int logout_run(struct cli_ctx *ctx)
{
	(void)ctx;
	rp_error err = RP_ERROR_INIT;
	cli_config cfg;
	if (cli_config_load(&cfg, &err) < 0) {
		/* An unreadable or unsafe configuration is removed outright: logging out must always work. */
		cli_config_free(&cfg);
		_cleanup_free_ char *path = cli_config_path(&err);
		if (!path || (unlink(path) < 0 && errno != ENOENT))
			return cli_fail(&err);
		printf("Removed %s.\n", path);
		return 0;
	}
	int r = 0;
	if (cfg.token) {
		cli_config_set(&cfg.token, NULL);
		r = cli_config_save(&cfg, &err);
	}
	if (r == 0)
		printf("Logged out: the token was removed from %s.\n", cfg.path);
	cli_config_free(&cfg);
	return r < 0 ? cli_fail(&err) : 0;
}

static int whoami_run(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *me = NULL;
	if (cli_session_start(&s, ctx, false, NULL, &err) < 0 ||
	    api_client_call(s.api, "GET", "/v1/whoami", NULL, &me, &err) < 0)
		return cli_fail(&err);
	if (ctx->output == CLI_OUTPUT_JSON) {
		cli_print_json(me, stdout);
		return 0;
	}
	_cleanup_free_ char *user = cli_cell(json_object_get(me, "user"));
	printf("User: %s\nService: %s\nService administrator: %s\n\n", user, s.service,
	       json_is_true(json_object_get(me, "service_admin")) ? "yes" : "no");
	static const struct cli_column cols[] = {
		{"Tenant ID", "tenant_id"}, {"Tenant", "tenant_name"}, {"Role", "role"}};
	json_t *roles = json_object_get(me, "roles");
	if (json_is_array(roles))
		cli_render_list(CLI_OUTPUT_TABLE, roles, cols, RP_ARRAY_SIZE(cols));
	return 0;
}

static const struct cli_opt login_opts[] = {
	{"token-stdin", 0, NULL, "read the token from standard input (keeps it out of the process list)", false, false},
	{0},
};

static const struct cli_cmd login_cmd = {
	"login", "Check an API token against the service and save the URL, token, CA and tenant in the user's "
	         "configuration (mode 0600)",
	login_opts, CLI_CMD_SERVICE, login_run,
	"  rampartd init --state-dir /var/lib/rampart   # prints the bootstrap admin token\n"
	"  echo \"$TOKEN\" | rampart login --service https://127.0.0.1:8443 \\\n"
	"      --ca-cert /var/lib/rampart/tls/cert.pem --token-stdin\n"};
static const struct cli_cmd logout_cmd = {"logout", "Remove the saved API token", NULL, 0, logout_run, NULL};
static const struct cli_cmd whoami_cmd = {"whoami", "Show who the token belongs to and its roles", NULL,
                                          CLI_CMD_SERVICE, whoami_run, NULL};

int cmd_login(int argc, char **argv)
{
	return cli_run_single("login", &login_cmd, argc, argv);
}

int cmd_logout(int argc, char **argv)
{
	return cli_run_single("logout", &logout_cmd, argc, argv);
}

int cmd_whoami(int argc, char **argv)
{
	return cli_run_single("whoami", &whoami_cmd, argc, argv);
}
