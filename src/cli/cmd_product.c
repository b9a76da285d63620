/* `rampart product`: one product per device model; creating one creates its five default device
 * groups on the service. */
#include <string.h>

#include "cli/args.h"
#include "cli/render.h"
#include "cli/session.h"
#include "common/json.h"
#include "common/xalloc.h"

static const struct cli_column product_cols[] = {
	{"Product ID", "product_id"}, {"Name", "name"}, {"Description", "description"}, {"Version", "version"}};

static int product_create(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *body = json_object();
	_cleanup_json_ json_t *reply = NULL;
	const char *desc = cli_opt(ctx, "description");
	if (cli_json_set_string(body, "name", cli_opt(ctx, "name"), "--name", &err) < 0 ||
	    (desc && cli_json_set_string(body, "description", desc, "--description", &err) < 0) ||
	    cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "creating product");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/products", tenant);
	if (api_client_call(s.api, "POST", path, body, &reply, &err) < 0) {
		rp_error_prefix(&err, "creating product");
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int product_list(struct cli_ctx *ctx)
{
	return cli_list_tenant_collection(ctx, "products", "products", product_cols, RP_ARRAY_SIZE(product_cols));
}

static int product_show(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	const char *product = cli_opt(ctx, "product");
	_cleanup_json_ json_t *reply = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "showing product");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/products/%s", tenant, product);
	if (api_client_call(s.api, "GET", path, NULL, &reply, &err) < 0) {
		rp_error_prefix(&err, "showing product '%.100s'", product);
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int product_update(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *product = cli_opt(ctx, "product");
	const char *name = cli_opt(ctx, "name");
	const char *desc = cli_opt(ctx, "description");
	if (!name && !desc)
		return cli_cmd_usage_error(ctx, "nothing to change: give --name and/or --description");
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *body = json_object();
	_cleanup_json_ json_t *reply = NULL;
	if ((name && cli_json_set_string(body, "name", name, "--name", &err) < 0) ||
	    (desc && cli_json_set_string(body, "description", desc, "--description", &err) < 0) ||
	    cli_add_if_version(ctx, body, &err) < 0 || cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "updating product");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/products/%s", tenant, product);
	if (api_client_call(s.api, "PATCH", path, body, &reply, &err) < 0) {
		rp_error_prefix(&err, "updating product '%.100s'", product);
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int product_delete(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	const char *product = cli_opt(ctx, "product");
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "deleting product");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/products/%s", tenant, product);
	if (api_client_call(s.api, "DELETE", path, NULL, NULL, &err) < 0) {
		rp_error_prefix(&err, "deleting product '%.100s'", product);
		return cli_fail(&err);
	}
	if (ctx->output == CLI_OUTPUT_JSON)
		printf("{\"deleted\": true}\n");
	else
		printf("Deleted product %s and its device groups.\n", product);
	return 0;
}

static int product_device_groups(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	const char *product = cli_opt(ctx, "product");
	_cleanup_json_ json_t *items = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "listing device groups");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/products/%s/device-groups", tenant, product);
	if (!(items = cli_session_list(&s, path, &err))) {
		rp_error_prefix(&err, "listing the device groups of product '%.100s'", product);
		return cli_fail(&err);
	}
	static const struct cli_column cols[] = {{"Device group ID", "device_group_id"}, {"Name", "name"},
	                                         {"OS feed", "os_feed"}, {"Update policy", "update_policy"}};
	cli_render_list(ctx->output, items, cols, RP_ARRAY_SIZE(cols));
	return 0;
}

static const struct cli_opt create_opts[] = {
	{"name", 'n', "NAME", "product name (1..100 bytes of UTF-8)", true, false},
	{"description", 'd', "TEXT", "description (at most 1000 bytes)", false, false},
	{0},
};
static const struct cli_opt product_opt[] = {
	{"product", 'p', "ID|NAME", "the product", true, false},
	{0},
};
static const struct cli_opt update_opts[] = {
	{"product", 'p', "ID|NAME", "the product", true, false},
	{"name", 'n', "NAME", "new name", false, false},
	{"description", 'd', "TEXT", "new description", false, false},
	{"if-version", 0, "N", "refuse (exit 6) if the product changed since it had version N", false, false},
	{0},
};

static const struct cli_cmd product_cmds[] = {
	{"create", "Create a product and its five default device groups", create_opts, CLI_CMD_SERVICE, product_create,
	 "  rampart product create --name Thermostat --description 'Model T2'\n"},
	{"list", "List the tenant's products", NULL, CLI_CMD_SERVICE, product_list, NULL},
	{"show", "Show a product", product_opt, CLI_CMD_SERVICE, product_show, NULL},
	{"update", "Rename a product or change its description", update_opts, CLI_CMD_SERVICE, product_update,
	 "  rampart product update --product Thermostat --description 'Model T3'\n"},
	{"delete", "Delete a product and its device groups (refused while they hold devices)", product_opt,
	 CLI_CMD_SERVICE, product_delete, NULL},
	{"device-group list", "List a product's device groups", product_opt, CLI_CMD_SERVICE, product_device_groups,
	 NULL},
};

int cmd_product(int argc, char **argv)
{
	return cli_run_group("product", "Products: one per device model", product_cmds, RP_ARRAY_SIZE(product_cmds),
	                     argc, argv);
}
