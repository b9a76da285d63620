/* `rampart tenant`: create, list, show and select the tenant that other commands act on. */
#include <string.h>

#include "cli/args.h"
#include "cli/render.h"
#include "cli/session.h"
#include "common/json.h"
#include "common/xalloc.h"

static const struct cli_column tenant_cols[] = {
	{"Tenant ID", "tenant_id"}, {"Name", "name"}, {"Created", "created_at"}};

static int tenant_create(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *body = json_object();
	_cleanup_json_ json_t *reply = NULL;
	if (cli_json_set_string(body, "name", cli_opt(ctx, "name"), "--name", &err) < 0 ||
	    cli_session_start(&s, ctx, false, NULL, &err) < 0 ||
	    api_client_call(s.api, "POST", "/v1/tenants", body, &reply, &err) < 0) {
		rp_error_prefix(&err, "creating tenant");
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	if (ctx->output == CLI_OUTPUT_TABLE)
		fprintf(stderr, "Select it with: rampart tenant select --tenant %s\n",
		        json_string_value(json_object_get(reply, "tenant_id")) ?: "ID");
	return 0;
}

static int tenant_list(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *items = NULL;
	if (cli_session_start(&s, ctx, false, NULL, &err) < 0 || !(items = cli_session_list(&s, "/v1/tenants", &err))) {
		rp_error_prefix(&err, "listing tenants");
		return cli_fail(&err);
	}
	cli_render_list(ctx->output, items, tenant_cols, RP_ARRAY_SIZE(tenant_cols));
	return 0;
}

static int tenant_show(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *reply = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "showing tenant");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s", tenant);
	if (api_client_call(s.api, "GET", path, NULL, &reply, &err) < 0) {
		rp_error_prefix(&err, "showing tenant %s", tenant);
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int tenant_select(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	if (!ctx->tenant)
		return cli_cmd_usage_error(ctx, "missing --tenant ID|NAME");
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *reply = NULL;
	if (cli_session_start(&s, ctx, false, NULL, &err) < 0) {
		rp_error_prefix(&err, "selecting tenant");
		return cli_fail(&err);
	}
	_cleanup_free_ char *id = cli_session_resolve_tenant(&s, ctx->tenant, &err);
	if (!id)
		return cli_fail(&err);
	/* Check it exists and is visible to this token before saving it. */
	_cleanup_free_ char *path = api_path("/v1/tenants/%s", id);
	if (api_client_call(s.api, "GET", path, NULL, &reply, &err) < 0) {
		rp_error_prefix(&err, "selecting tenant %s", id);
		return cli_fail(&err);
	}
	if (!s.cfg_loaded || !s.cfg.service || strcmp(s.cfg.service, s.service) != 0) {
		rp_error_set(&err, RP_E_INVALID, "selecting tenant: the tenant is saved with a login; run 'rampart login "
		                                 "--service %s ...' first", s.service);
		return cli_fail(&err);
	}
	cli_config_set(&s.cfg.tenant, id);
	if (cli_config_save(&s.cfg, &err) < 0)
		return cli_fail(&err);
	if (ctx->output == CLI_OUTPUT_JSON) {
		cli_print_json(reply, stdout);
	} else {
		_cleanup_free_ char *name = cli_cell(json_object_get(reply, "name"));
		printf("Selected tenant %s (%s).\n", id, name);
	}
	return 0;
}

static int tenant_show_selected(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	cli_config cfg;
	if (cli_config_load(&cfg, &err) < 0) {
		cli_config_free(&cfg);
		return cli_fail(&err);
	}
	int status = 0;
	if (!cfg.tenant) {
		rp_error_set(&err, RP_E_NOT_FOUND, "no tenant selected: run 'rampart tenant select --tenant ID'");
		status = cli_fail(&err);
	} else if (ctx->output == CLI_OUTPUT_JSON) {
		json_t *o = json_pack("{s:s}", "tenant_id", cfg.tenant);
		cli_print_json(o, stdout);
		json_decref(o);
	} else {
		printf("%s\n", cfg.tenant);
	}
	cli_config_free(&cfg);
	return status;
}

static const struct cli_opt create_opts[] = {
	{"name", 'n', "NAME", "tenant name (1..100 bytes of UTF-8)", true, false},
	{0},
};

static const struct cli_cmd tenant_cmds[] = {
	{"create", "Create a tenant and its CA (service administrator)", create_opts, CLI_CMD_SERVICE, tenant_create,
	 "  rampart tenant create --name Contoso\n"},
	{"list", "List the tenants you have a role in", NULL, CLI_CMD_SERVICE, tenant_list, NULL},
	{"show", "Show the selected tenant (or --tenant)", NULL, CLI_CMD_SERVICE, tenant_show, NULL},
	{"select", "Choose the tenant that later commands act on (saved in the configuration)", NULL, CLI_CMD_SERVICE,
	 tenant_select, "  rampart tenant select --tenant Contoso\n"},
	{"show-selected", "Print the selected tenant's ID", NULL, CLI_CMD_OUTPUT, tenant_show_selected, NULL},
};

int cmd_tenant(int argc, char **argv)
{
	return cli_run_group("tenant", "Tenants: the top of the hierarchy (tenant > product > device group > device)",
	                     tenant_cmds, RP_ARRAY_SIZE(tenant_cmds), argc, argv);
}
