/* `rampart role`: who may do what in a tenant (Administrator, Contributor, Reader). */
#include <string.h>

#include "cli/args.h"
#include "cli/render.h"
#include "cli/session.h"
#include "common/json.h"
#include "common/xalloc.h"

static int role_add(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *role = cli_opt(ctx, "role");
	if (strcmp(role, "Administrator") != 0 && strcmp(role, "Contributor") != 0 && strcmp(role, "Reader") != 0)
		return cli_cmd_usage_error(ctx, "--role must be Administrator, Contributor or Reader, not '%s'", role);
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *body = json_object();
	_cleanup_json_ json_t *reply = NULL;
	if (cli_json_set_string(body, "user", cli_opt(ctx, "user"), "--user", &err) < 0 ||
	    cli_json_set_string(body, "role", role, "--role", &err) < 0 ||
	    cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "adding role");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/roles", tenant);
	if (api_client_call(s.api, "POST", path, body, &reply, &err) < 0) {
		rp_error_prefix(&err, "giving %.100s the role %s", cli_opt(ctx, "user"), role);
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	if (ctx->output == CLI_OUTPUT_TABLE && json_is_string(json_object_get(reply, "token")))
		fprintf(stderr, "\nThe token above is shown only once: hand it to the user, who runs 'rampart login'.\n");
	return 0;
}

static int role_list(struct cli_ctx *ctx)
{
	static const struct cli_column cols[] = {{"User", "user"}, {"Role", "role"}, {"Since", "created_at"}};
	return cli_list_tenant_collection(ctx, "roles", "roles", cols, RP_ARRAY_SIZE(cols));
}

static int role_delete(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	const char *user = cli_opt(ctx, "user");
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "removing role");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/roles/%s", tenant, user);
	if (api_client_call(s.api, "DELETE", path, NULL, NULL, &err) < 0) {
		rp_error_prefix(&err, "removing the role of %.100s", user);
		return cli_fail(&err);
	}
	if (ctx->output == CLI_OUTPUT_JSON) {
		json_t *o = json_pack("{s:s,s:s}", "tenant_id", tenant, "user", user);
		if (o)
			cli_print_json(o, stdout);
		json_decref(o);
	} else {
		printf("Removed the role of %s.\n", user);
	}
	return 0;
}

static const struct cli_opt add_opts[] = {
	{"user", 'u', "NAME", "user name (created, with a new token, if new)", true, false},
	{"role", 'r', "ROLE", "Administrator, Contributor or Reader", true, false},
	{0},
};
static const struct cli_opt delete_opts[] = {
	{"user", 'u', "NAME", "user whose role is removed", true, false},
	{0},
};

static const struct cli_cmd role_cmds[] = {
	{"add", "Give a user a role in the tenant; a new user gets a token, shown once", add_opts, CLI_CMD_SERVICE,
	 role_add, "  rampart role add --user alice --role Contributor\n"},
	{"list", "List role assignments in the tenant", NULL, CLI_CMD_SERVICE, role_list, NULL},
	{"delete", "Remove a user's role in the tenant", delete_opts, CLI_CMD_SERVICE, role_delete,
	 "  rampart role delete --user alice\n"},
};

int cmd_role(int argc, char **argv)
{
	return cli_run_group("role", "Roles: Administrator (everything), Contributor (all but roles), Reader (read only)",
	                     role_cmds, RP_ARRAY_SIZE(role_cmds), argc, argv);
}
