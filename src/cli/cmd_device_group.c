/* `rampart device-group`: groups of a product's devices that receive the same deployment, with
 * their deployments and devices. A group is named by its ID or as PRODUCT/GROUP. */
#include <string.h>

#include "cli/args.h"
#include "cli/render.h"
#include "cli/session.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/xalloc.h"

static const struct cli_column group_cols[] = {
	{"Device group ID", "device_group_id"}, {"Name", "name"},          {"OS feed", "os_feed"},
	{"Update policy", "update_policy"},    {"Crash dumps", "allow_crash_dumps"},
	{"Deployment", "current_deployment.deployment_id"}};
static const struct cli_column deployment_cols[] = {{"Deployment ID", "deployment_id"},
                                                    {"Images", "image_ids"},
                                                    {"Created", "created_at"},
                                                    {"By", "created_by"}};
static const struct cli_column device_cols[] = {
	{"Device ID", "device_id"}, {"Device group", "device_group_id"}, {"Claimed", "claimed_at"}};

/* Copy the optional settings shared by create and update into BODY; returns -1 (error set) or a
 * usage status > 0, 0 on success. */
static int settings(struct cli_ctx *ctx, json_t *body, rp_error *err)
{
	const char *name = cli_opt(ctx, "name");
	const char *desc = cli_opt(ctx, "description");
	const char *feed = cli_opt(ctx, "os-feed");
	const char *policy = cli_opt(ctx, "update-policy");
	if (feed && strcmp(feed, "Retail") != 0 && strcmp(feed, "RetailEval") != 0)
		return cli_cmd_usage_error(ctx, "--os-feed must be Retail or RetailEval, not '%s'", feed);
	if (policy && strcmp(policy, "UpdateAll") != 0 && strcmp(policy, "No3rdPartyAppUpdates") != 0)
		return cli_cmd_usage_error(ctx, "--update-policy must be UpdateAll or No3rdPartyAppUpdates, not '%s'",
		                           policy);
	bool dumps = false;
	int have_dumps = cli_opt_bool(ctx, "allow-crash-dumps", &dumps);
	if (have_dumps > 1)
		return have_dumps;
	if ((name && cli_json_set_string(body, "name", name, "--name", err) < 0) ||
	    (desc && cli_json_set_string(body, "description", desc, "--description", err) < 0))
		return -1;
	if (feed)
		json_object_set_new(body, "os_feed", json_string(feed));
	if (policy)
		json_object_set_new(body, "update_policy", json_string(policy));
	if (have_dumps == 1)
		json_object_set_new(body, "allow_crash_dumps", json_boolean(dumps));
	return 0;
}

static int group_create(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *body = json_object();
	_cleanup_json_ json_t *reply = NULL;
	int st = settings(ctx, body, &err);
	if (st > 0)
		return st;
	if (st < 0 || cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "creating device group");
		return cli_fail(&err);
	}
	_cleanup_free_ char *product = cli_session_product(&s, cli_opt(ctx, "product"), &err);
	if (!product)
		return cli_fail(&err);
	json_object_set_new(body, "product_id", json_string(product));
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/device-groups", tenant);
	if (api_client_call(s.api, "POST", path, body, &reply, &err) < 0) {
		rp_error_prefix(&err, "creating device group");
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int group_list(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *items = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "listing device groups");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = NULL;
	const char *product = cli_opt(ctx, "product");
	if (product)
		path = api_path("/v1/tenants/%s/products/%s/device-groups", tenant, product);
	else
		path = api_path("/v1/tenants/%s/device-groups", tenant);
	if (!(items = cli_session_list(&s, path, &err))) {
		rp_error_prefix(&err, "listing device groups");
		return cli_fail(&err);
	}
	cli_render_list(ctx->output, items, group_cols, RP_ARRAY_SIZE(group_cols));
	return 0;
}

/* Open the session and resolve --device-group into a path under the tenant. */
static char *group_path(struct cli_ctx *ctx, struct cli_session *s, const char *suffix, rp_error *err)
{
	const char *tenant = NULL;
	if (cli_session_start(s, ctx, true, &tenant, err) < 0)
		return NULL;
	_cleanup_free_ char *id = cli_session_device_group(s, cli_opt(ctx, "device-group"), err);
	if (!id)
		return NULL;
	_cleanup_free_ char *base = api_path("/v1/tenants/%s/device-groups/%s", tenant, id);
	return xasprintf("%s%s", base, suffix);
}

static int group_show(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_free_ char *path = group_path(ctx, &s, "", &err);
	if (!path || api_client_call(s.api, "GET", path, NULL, &reply, &err) < 0) {
		rp_error_prefix(&err, "showing device group '%.200s'", cli_opt(ctx, "device-group"));
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int group_update(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *body = json_object();
	_cleanup_json_ json_t *reply = NULL;
	int st = settings(ctx, body, &err);
	if (st > 0)
		return st;
	if (st == 0 && json_object_size(body) == 0)
		return cli_cmd_usage_error(ctx, "nothing to change: give at least one of --name, --description, --os-feed, "
		                                "--update-policy, --allow-crash-dumps");
	_cleanup_free_ char *path = NULL;
	if (st < 0 || cli_add_if_version(ctx, body, &err) < 0 || !(path = group_path(ctx, &s, "", &err)) ||
	    api_client_call(s.api, "PATCH", path, body, &reply, &err) < 0) {
		rp_error_prefix(&err, "updating device group '%.200s'", cli_opt(ctx, "device-group"));
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int group_delete(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_free_ char *path = group_path(ctx, &s, "", &err);
	if (!path || api_client_call(s.api, "DELETE", path, NULL, NULL, &err) < 0) {
		rp_error_prefix(&err, "deleting device group '%.200s'", cli_opt(ctx, "device-group"));
		return cli_fail(&err);
	}
	if (ctx->output == CLI_OUTPUT_JSON)
		printf("{\"deleted\": true}\n");
	else
		printf("Deleted device group %s.\n", cli_opt(ctx, "device-group"));
	return 0;
}

static int deployment_create(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	size_t n = 0;
	const char *const *images = cli_opt_all(ctx, "image", &n);
	bool none = cli_flag(ctx, "no-images");
	if (n == 0 && !none)
		return cli_cmd_usage_error(ctx, "give --image ID (repeatable), or --no-images to remove every image");
	if (n > 0 && none)
		return cli_cmd_usage_error(ctx, "--image and --no-images exclude each other");
	_cleanup_json_ json_t *body = json_object();
	json_t *ids = json_array();
	json_object_set_new(body, "image_ids", ids);
	for (size_t i = 0; i < n; i++) {
		char id[RP_GUID_STRLEN + 1];
		if (rp_guid_normalize(images[i], id, &err) < 0) {
			rp_error_prefix(&err, "--image '%.100s' (an image ID, as printed by 'rampart image add')", images[i]);
			return cli_fail(&err);
		}
		json_array_append_new(ids, json_string(id));
	}
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_free_ char *path = group_path(ctx, &s, "/deployments", &err);
	if (!path || api_client_call(s.api, "POST", path, body, &reply, &err) < 0) {
		rp_error_prefix(&err, "deploying to device group '%.200s'", cli_opt(ctx, "device-group"));
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int list_under_group(struct cli_ctx *ctx, const char *suffix, const char *what, const struct cli_column *cols,
                            size_t ncols)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *items = NULL;
	_cleanup_free_ char *path = group_path(ctx, &s, suffix, &err);
	if (!path || !(items = cli_session_list(&s, path, &err))) {
		rp_error_prefix(&err, "listing %s of device group '%.200s'", what, cli_opt(ctx, "device-group"));
		return cli_fail(&err);
	}
	cli_render_list(ctx->output, items, cols, ncols);
	return 0;
}

static int deployment_list(struct cli_ctx *ctx)
{
	return list_under_group(ctx, "/deployments", "deployments", deployment_cols, RP_ARRAY_SIZE(deployment_cols));
}

static int device_list(struct cli_ctx *ctx)
{
	return list_under_group(ctx, "/devices", "devices", device_cols, RP_ARRAY_SIZE(device_cols));
}

#define GROUP_OPT {"device-group", 'g', "ID|PRODUCT/NAME", "the device group", true, false}
#define SETTINGS_OPTS                                                                                                  \
	{"description", 'd', "TEXT", "description (at most 1000 bytes)", false, false},                                \
	{"os-feed", 0, "FEED", "Retail or RetailEval (early OS versions)", false, false},                               \
	{"update-policy", 0, "POLICY", "UpdateAll or No3rdPartyAppUpdates", false, false},                              \
	{"allow-crash-dumps", 0, "BOOL", "true or false", false, false}

static const struct cli_opt create_opts[] = {
	{"product", 'p', "ID|NAME", "the product the group belongs to", true, false},
	{"name", 'n', "NAME", "group name, unique within the product", true, false},
	SETTINGS_OPTS,
	{0},
};
static const struct cli_opt list_opts[] = {
	{"product", 'p', "ID|NAME", "only this product's groups", false, false},
	{0},
};
static const struct cli_opt group_opt[] = {GROUP_OPT, {0}};
static const struct cli_opt update_opts[] = {
	GROUP_OPT,
	{"name", 'n', "NAME", "new name", false, false},
	SETTINGS_OPTS,
	{"if-version", 0, "N", "refuse (exit 6) if the group changed since it had version N", false, false},
	{0},
};
static const struct cli_opt deploy_opts[] = {
	GROUP_OPT,
	{"image", 'i', "ID", "an image to deploy", false, true},
	{"no-images", 0, NULL, "deploy an empty set (removes every image from the group's devices)", false, false},
	{0},
};

static const struct cli_cmd group_cmds[] = {
	{"create", "Create a device group in a product", create_opts, CLI_CMD_SERVICE, group_create,
	 "  rampart device-group create --product Thermostat --name Canary --update-policy UpdateAll\n"},
	{"list", "List device groups (all, or one product's)", list_opts, CLI_CMD_SERVICE, group_list, NULL},
	{"show", "Show a device group and its current deployment", group_opt, CLI_CMD_SERVICE, group_show,
	 "  rampart device-group show --device-group 'Thermostat/Field Test'\n"},
	{"update", "Change a device group's name, description or policies", update_opts, CLI_CMD_SERVICE, group_update,
	 "  rampart device-group update --device-group Thermostat/Development --allow-crash-dumps true\n"},
	{"delete", "Delete a device group (refused while it has devices)", group_opt, CLI_CMD_SERVICE, group_delete,
	 NULL},
	{"deployment create", "Deploy a set of images to the group; the newest deployment wins", deploy_opts,
	 CLI_CMD_SERVICE, deployment_create,
	 "  rampart device-group deployment create --device-group Thermostat/Production --image IMAGE_ID\n"},
	{"deployment list", "Show the group's deployment history, oldest first", group_opt, CLI_CMD_SERVICE,
	 deployment_list, NULL},
	{"device list", "List the devices in the group", group_opt, CLI_CMD_SERVICE, device_list, NULL},
};

int cmd_device_group(int argc, char **argv)
{
	return cli_run_group("device-group", "Device groups: the devices of a product that get the same deployment",
	                     group_cmds, RP_ARRAY_SIZE(group_cmds), argc, argv);
}
