/* `rampart device`: registering devices (the maker, by device ID and identity public key),
 * claiming them into a tenant once, listing, showing and moving them between device groups, and
 * revoking them (no more certificates). */
#include <ctype.h>
#include <string.h>

#include "cli/args.h"
#include "cli/render.h"
#include "cli/session.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"

#define DEVICE_ID_LEN 64
#define BULK_BATCH 1000      /* the service's per-request maximum (all or nothing per batch) */
#define BULK_MAX_ROWS 100000 /* one CSV file */
#define BULK_MAX_BYTES (64u * 1024 * 1024)

static const struct cli_column device_cols[] = {{"Device ID", "device_id"},
                                                {"Device group", "device_group_id"},
                                                {"Product", "product_id"},
                                                {"Claimed", "claimed_at"}};

/* Device IDs are 64 hex digits; accept either case, send lowercase. */
static int normalize_device_id(const char *in, char out[DEVICE_ID_LEN + 1], rp_error *err)
{
	size_t len = strlen(in);
	if (len != DEVICE_ID_LEN)
		return rp_error_set(err, RP_E_INVALID, "device ID '%.80s' must be 64 hex digits (it has %zu characters)", in,
		                    len);
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)in[i]))
			return rp_error_set(err, RP_E_INVALID, "device ID '%.80s' has a non-hex character at position %zu", in,
			                    i + 1);
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	out[len] = '\0';
	return 0;
}

/* Build {"device_id", "public_key_pem"} from a loaded key; EXPECTED_ID (may be NULL/empty) must
 * match the key's ID, so a mixed-up CSV row is caught before anything is sent. */
static json_t *registration(EVP_PKEY *key, const char *expected_id, rp_error *err)
{
	_cleanup_free_ char *id = rp_key_id_hex(key, err);
	if (!id)
		return NULL;
	if (expected_id && *expected_id) {
		char want[DEVICE_ID_LEN + 1];
		if (normalize_device_id(expected_id, want, err) < 0)
			return NULL;
		if (strcmp(want, id) != 0) {
			rp_error_set(err, RP_E_INVALID,
			             "device ID %s does not belong to this public key (its ID is %s: the SHA-256 of the key)",
			             want, id);
			return NULL;
		}
	}
	_cleanup_free_ char *pem = rp_key_public_pem(key, err);
	if (!pem)
		return NULL;
	return json_pack("{s:s,s:s}", "device_id", id, "public_key_pem", pem);
}

/* One CSV data row -> registration. Columns: device_id (may be empty), then a PEM path (relative
 * to the CSV's directory) or base64 DER SubjectPublicKeyInfo, depending on the header. */
static json_t *bulk_row(char *line, bool base64, const char *dir, rp_error *err)
{
	char *comma = strchr(line, ',');
	if (!comma || strchr(comma + 1, ','))
		return rp_error_set(err, RP_E_INVALID, "expected exactly two comma-separated fields"), NULL;
	*comma = '\0';
	const char *id = line;
	const char *keyref = comma + 1;
	if (!*keyref)
		return rp_error_set(err, RP_E_INVALID, "the public key field is empty"), NULL;
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	if (base64) {
		_cleanup_free_ uint8_t *der = NULL;
		size_t der_len = 0;
		if (rp_base64_decode(keyref, strlen(keyref), &der, &der_len, err) < 0)
			return rp_error_prefix(err, "public_key_base64"), NULL;
		key = rp_key_from_public_der(der, der_len, err);
	} else {
		_cleanup_free_ char *path = keyref[0] == '/' ? xstrdup(keyref) : xasprintf("%s/%s", dir, keyref);
		key = rp_key_load_public_pem(path, err);
	}
	if (!key)
		return NULL;
	return registration(key, id, err);
}

static int send_batch(struct cli_session *s, json_t *batch, size_t first_line, size_t *registered, rp_error *err)
{
	_cleanup_json_ json_t *body = json_pack("{s:O}", "devices", batch);
	_cleanup_json_ json_t *reply = NULL;
	if (api_client_call(s->api, "POST", "/v1/devices/bulk", body, &reply, err) < 0)
		return rp_error_prefix(err, "registering the batch starting at line %zu (%zu devices before it were "
		                            "registered; this batch was not)",
		                       first_line, *registered);
	*registered += json_array_size(batch);
	return 0;
}

static int register_bulk(struct cli_ctx *ctx, const char *csv_path)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(csv_path, BULK_MAX_BYTES, &data, &len, &err) < 0)
		return cli_fail(&err);
	if (strlen((char *)data) != len) {
		rp_error_set(&err, RP_E_INVALID, "%s contains a NUL byte; it must be a text CSV file", csv_path);
		return cli_fail(&err);
	}
	const char *slash = strrchr(csv_path, '/');
	_cleanup_free_ char *dir = slash ? xstrndup(csv_path, (size_t)(slash - csv_path)) : xstrdup(".");
	if (!*dir) {
		free(dir);
		dir = xstrdup("/");
	}
	/* Validate every row before sending anything, so a bad line 90,000 costs no partial upload. */
	json_t *rows = json_array();
	_cleanup_json_ json_t *rows_owner = rows;
	bool base64 = false;
	size_t lineno = 0;
	char *save = NULL;
	for (char *line = strtok_r((char *)data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		size_t l = strlen(line);
		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		if (lineno == 1) {
			if (strcmp(line, "device_id,public_key_pem_path") == 0)
				base64 = false;
			else if (strcmp(line, "device_id,public_key_base64") == 0)
				base64 = true;
			else {
				rp_error_set(&err, RP_E_INVALID,
				             "%s:1: the first line must be the header 'device_id,public_key_pem_path' or "
				             "'device_id,public_key_base64'",
				             csv_path);
				return cli_fail(&err);
			}
			continue;
		}
		if (l == 0 || line[0] == '#')
			continue;
		if (json_array_size(rows) >= BULK_MAX_ROWS) {
			rp_error_set(&err, RP_E_LIMIT, "%s: more than %d devices; split the file", csv_path, BULK_MAX_ROWS);
			return cli_fail(&err);
		}
		json_t *reg = bulk_row(line, base64, dir, &err);
		if (!reg) {
			rp_error_prefix(&err, "%s:%zu", csv_path, lineno);
			return cli_fail(&err);
		}
		json_object_set_new(reg, "line", json_integer((json_int_t)lineno));
		json_array_append_new(rows, reg);
	}
	if (json_array_size(rows) == 0) {
		rp_error_set(&err, RP_E_INVALID, "%s lists no devices", csv_path);
		return cli_fail(&err);
	}
	_cleanup_session_ struct cli_session s = {0};
	if (cli_session_start(&s, ctx, false, NULL, &err) < 0)
		return cli_fail(&err);
	size_t registered = 0, i;
	json_t *batch = json_array(), *row;
	_cleanup_json_ json_t *batch_owner = batch;
	size_t first_line = 0;
	json_array_foreach(rows, i, row) {
		if (json_array_size(batch) == 0)
			first_line = (size_t)json_integer_value(json_object_get(row, "line"));
		json_object_del(row, "line");
		json_array_append(batch, row);
		if (json_array_size(batch) == BULK_BATCH || i + 1 == json_array_size(rows)) {
			if (send_batch(&s, batch, first_line, &registered, &err) < 0)
				return cli_fail(&err);
			json_array_clear(batch);
		}
	}
	if (ctx->output == CLI_OUTPUT_JSON)
		printf("{\"registered\": %zu}\n", registered);
	else
		printf("Registered %zu devices.\n", registered);
	return 0;
}

static int device_register(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *bulk = cli_opt(ctx, "bulk");
	const char *key_path = cli_opt(ctx, "public-key");
	if (bulk && (key_path || cli_opt(ctx, "device-id")))
		return cli_cmd_usage_error(ctx, "--bulk excludes --public-key and --device-id");
	if (bulk)
		return register_bulk(ctx, bulk);
	if (!key_path)
		return cli_cmd_usage_error(ctx, "give --public-key FILE (or --bulk FILE.csv)");
	_cleanup_pkey_ EVP_PKEY *key = rp_key_load_public_pem(key_path, &err);
	_cleanup_json_ json_t *body = key ? registration(key, cli_opt(ctx, "device-id"), &err) : NULL;
	if (!body) {
		rp_error_prefix(&err, "registering device from %s", key_path);
		return cli_fail(&err);
	}
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *reply = NULL;
	if (cli_session_start(&s, ctx, false, NULL, &err) < 0 ||
	    api_client_call(s.api, "POST", "/v1/devices", body, &reply, &err) < 0) {
		rp_error_prefix(&err, "registering device %s", json_string_value(json_object_get(body, "device_id")));
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int device_claim(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	char id[DEVICE_ID_LEN + 1];
	if (normalize_device_id(cli_opt(ctx, "device"), id, &err) < 0)
		return cli_fail(&err);
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *body = json_pack("{s:s}", "device_id", id);
	_cleanup_json_ json_t *reply = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "claiming device %s", id);
		return cli_fail(&err);
	}
	const char *group = cli_opt(ctx, "device-group");
	if (group) {
		_cleanup_free_ char *gid = cli_session_device_group(&s, group, &err);
		if (!gid)
			return cli_fail(&err);
		json_object_set_new(body, "device_group_id", json_string(gid));
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/devices/claim", tenant);
	if (api_client_call(s.api, "POST", path, body, &reply, &err) < 0) {
		rp_error_prefix(&err, "claiming device %s", id);
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int device_list(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *items = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "listing devices");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = NULL;
	const char *group = cli_opt(ctx, "device-group");
	if (group) {
		_cleanup_free_ char *gid = cli_session_device_group(&s, group, &err);
		if (!gid)
			return cli_fail(&err);
		path = api_path("/v1/tenants/%s/devices?device_group_id=%s", tenant, gid);
	} else {
		path = api_path("/v1/tenants/%s/devices", tenant);
	}
	if (!(items = cli_session_list(&s, path, &err))) {
		rp_error_prefix(&err, "listing devices");
		return cli_fail(&err);
	}
	cli_render_list(ctx->output, items, device_cols, RP_ARRAY_SIZE(device_cols));
	return 0;
}

static int device_show(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	char id[DEVICE_ID_LEN + 1];
	if (normalize_device_id(cli_opt(ctx, "device"), id, &err) < 0)
		return cli_fail(&err);
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *reply = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "showing device %s", id);
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/devices/%s", tenant, id);
	if (api_client_call(s.api, "GET", path, NULL, &reply, &err) < 0) {
		rp_error_prefix(&err, "showing device %s", id);
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int device_update(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	char id[DEVICE_ID_LEN + 1];
	/* On the device: `--now` asks the local agent for an update check (device-local API). */
	if (cli_flag(ctx, "now")) {
		if (cli_opt(ctx, "device") || cli_opt(ctx, "device-group"))
			return cli_usage_error("device", "update --now runs on the device: it takes --socket, not --device");
		return cmd_agent_update_now(ctx, cli_opt(ctx, "socket"));
	}
	if (!cli_opt(ctx, "device") || !cli_opt(ctx, "device-group"))
		return cli_usage_error("device", "update needs --device ID and --device-group GROUP (or --now on the device)");
	if (normalize_device_id(cli_opt(ctx, "device"), id, &err) < 0)
		return cli_fail(&err);
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *body = json_object();
	_cleanup_json_ json_t *reply = NULL;
	if (cli_add_if_version(ctx, body, &err) < 0 || cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "updating device %s", id);
		return cli_fail(&err);
	}
	_cleanup_free_ char *gid = cli_session_device_group(&s, cli_opt(ctx, "device-group"), &err);
	if (!gid)
		return cli_fail(&err);
	json_object_set_new(body, "device_group_id", json_string(gid));
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/devices/%s", tenant, id);
	if (api_client_call(s.api, "PATCH", path, body, &reply, &err) < 0) {
		rp_error_prefix(&err, "moving device %s", id);
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

/* Revoked devices get no certificate again; the ones they hold expire within 24 h. */
static int device_revoke(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	char id[DEVICE_ID_LEN + 1];
	if (normalize_device_id(cli_opt(ctx, "device"), id, &err) < 0)
		return cli_fail(&err);
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *reply = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "revoking device %s", id);
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/devices/%s/revoke", tenant, id);
	if (api_client_call(s.api, "POST", path, NULL, &reply, &err) < 0) {
		rp_error_prefix(&err, "revoking device %s", id);
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

/* Update status (docs/protocol.md "Update delivery"): the device's last report and what its device
 * group's director targets now. */
static const struct cli_column update_image_cols[] = {
    {"Name", "name"}, {"Type", "type"}, {"Version", "version"}, {"State", "state"}, {"Reason", "reason"},
    {"Time", "time"}};
static const struct cli_column targeted_cols[] = {
    {"Image ID", "image_id"}, {"Type", "type"}, {"Version", "version"}, {"Length", "length"}, {"SHA-256", "sha256"}};

static json_t *update_status_fetch(struct cli_ctx *ctx, rp_error *err)
{
	char id[DEVICE_ID_LEN + 1];
	if (normalize_device_id(cli_opt(ctx, "device"), id, err) < 0)
		return NULL;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	json_t *reply = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, err) < 0)
		return rp_error_prefix(err, "update status of device %s", id), NULL;
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/devices/%s/update-status", tenant, id);
	if (api_client_call(s.api, "GET", path, NULL, &reply, err) < 0)
		return rp_error_prefix(err, "update status of device %s", id), NULL;
	return reply;
}

static int device_show_deployment_status(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *st = update_status_fetch(ctx, &err);
	if (!st)
		return cli_fail(&err);
	if (ctx->output == CLI_OUTPUT_JSON) {
		cli_render_object(ctx->output, st);
		return 0;
	}
	_cleanup_json_ json_t *summary = json_pack("{s:O, s:O, s:O, s:O}", "device_group_id",
	                                           json_object_get(st, "device_group_id") ?: json_null(), "reported_at",
	                                           json_object_get(st, "reported_at") ?: json_null(), "last_check",
	                                           json_object_get(st, "last_check") ?: json_null(), "last_error",
	                                           json_object_get(st, "last_error") ?: json_null());
	cli_render_object(ctx->output, summary);
	cli_render_list(ctx->output, json_object_get(st, "images"), update_image_cols, RP_ARRAY_SIZE(update_image_cols));
	return 0;
}

static int device_image_list(struct cli_ctx *ctx, bool installed)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *st = update_status_fetch(ctx, &err);
	if (!st)
		return cli_fail(&err);
	if (!installed) {
		cli_render_list(ctx->output, json_object_get(st, "targeted"), targeted_cols, RP_ARRAY_SIZE(targeted_cols));
		return 0;
	}
	_cleanup_json_ json_t *items = json_array();
	size_t i;
	json_t *img;
	json_array_foreach(json_object_get(st, "images"), i, img) {
		const char *state = json_string_value(json_object_get(img, "state"));
		if (state && (strcmp(state, "installed") == 0 || strcmp(state, "committed") == 0))
			json_array_append(items, img);
	}
	cli_render_list(ctx->output, items, update_image_cols, RP_ARRAY_SIZE(update_image_cols));
	return 0;
}

static int device_image_list_installed(struct cli_ctx *ctx)
{
	return device_image_list(ctx, true);
}

static int device_image_list_targeted(struct cli_ctx *ctx)
{
	return device_image_list(ctx, false);
}

static const struct cli_opt register_opts[] = {
	{"public-key", 'k', "FILE", "the device's identity public key (PEM, P-256)", false, false},
	{"device-id", 0, "ID", "expected device ID (checked against the key)", false, false},
	{"bulk", 0, "FILE.csv", "register many: header device_id,public_key_pem_path or device_id,public_key_base64",
	 false, false},
	{0},
};
static const struct cli_opt claim_opts[] = {
	{"device", 'd', "ID", "device ID (64 hex digits)", true, false},
	{"device-group", 'g', "ID|PRODUCT/NAME", "put it in this device group", false, false},
	{0},
};
static const struct cli_opt list_opts[] = {
	{"device-group", 'g', "ID|PRODUCT/NAME", "only devices of this group", false, false},
	{0},
};
static const struct cli_opt show_opts[] = {
	{"device", 'd', "ID", "device ID (64 hex digits)", true, false},
	{0},
};
static const struct cli_opt update_opts[] = {
	{"device", 'd', "ID", "device ID (64 hex digits)", false, false},
	{"device-group", 'g', "ID|PRODUCT/NAME", "move it to this device group", false, false},
	{"if-version", 0, "N", "refuse (exit 6) if the device changed since it had version N", false, false},
	{"now", 0, NULL, "on the device: check for updates now through the local agent", false, false},
	{"socket", 0, "PATH", "with --now: the agent's local socket (default $RAMPART_AGENT_SOCKET or "
	                      "/var/lib/rampart/agent.sock)", false, false},
	{0},
};

static const struct cli_cmd device_cmds[] = {
	{"register", "Register a device by its identity public key (device maker; service administrator)",
	 register_opts, CLI_CMD_SERVICE, device_register,
	 "  rampart device register --public-key device-identity.pub.pem\n"
	 "  rampart device register --bulk devices.csv\n"},
	{"claim", "Claim a registered device for the tenant (once, ever)", claim_opts, CLI_CMD_SERVICE, device_claim,
	 "  rampart device claim --device DEVICE_ID --device-group Thermostat/Development\n"},
	{"list", "List the tenant's devices", list_opts, CLI_CMD_SERVICE, device_list, NULL},
	{"show", "Show a device", show_opts, CLI_CMD_SERVICE, device_show, NULL},
	{"update", "Move a device to another device group; on the device, --now checks for updates", update_opts,
	 CLI_CMD_SERVICE, device_update,
	 "  rampart device update --device DEVICE_ID --device-group 'Thermostat/Field Test'\n"
	 "  rampart device update --now --socket /var/lib/rampart/agent.sock   (on the device)\n"},
	{"revoke", "Revoke a device: the service issues it no certificate again", show_opts, CLI_CMD_SERVICE,
	 device_revoke, "  rampart device revoke --device DEVICE_ID\n"},
	{"show-deployment-status", "Show the device's last update report: per-image state and errors", show_opts,
	 CLI_CMD_SERVICE, device_show_deployment_status, "  rampart device show-deployment-status --device DEVICE_ID\n"},
	{"image list-installed", "Images the device reports installed or committed", show_opts, CLI_CMD_SERVICE,
	 device_image_list_installed, NULL},
	{"image list-targeted", "Images the device's group targets now (its director)", show_opts, CLI_CMD_SERVICE,
	 device_image_list_targeted, NULL},
};

int cmd_device(int argc, char **argv)
{
	/* The development-mode commands (cmd_device_devmode.c) join this group's table. */
	size_t nlocal = 0;
	const struct cli_cmd *local = cmd_device_devmode_cmds(&nlocal);
	size_t n = RP_ARRAY_SIZE(device_cmds) + nlocal;
	_cleanup_free_ struct cli_cmd *all = xcalloc(n, sizeof(*all));
	memcpy(all, device_cmds, sizeof(device_cmds));
	memcpy(all + RP_ARRAY_SIZE(device_cmds), local, nlocal * sizeof(*all));
	return cli_run_group("device", "Devices: registered by their maker, claimed by one tenant, placed in a device group",
	                     all, n, argc, argv);
}
