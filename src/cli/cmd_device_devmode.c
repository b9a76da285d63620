/* Development-mode commands of `rampart device`: they talk to the application manager's control
 * socket on this device (docs/protocol.md, "Device-local API"), and, when given --device and a
 * service login, also to rampartd (capability download, moving the device between the Development
 * and Field Test groups). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/api_client.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/render.h"
#include "cli/session.h"
#include "common/capability.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/parse.h"
#include "common/text.h"
#include "common/xalloc.h"

#define LOCAL_PROTOCOL_VERSION 1
#define LOCAL_REPLY_MAX (256 * 1024)
#define DEFAULT_LOCAL_SOCKET "/run/rampart/appmgr.sock"

static const char *socket_path(const struct cli_ctx *ctx)
{
	const char *p = cli_opt(ctx, "local-socket");
	if (!p)
		p = getenv("RAMPART_LOCAL_SOCKET");
	return p && *p ? p : DEFAULT_LOCAL_SOCKET;
}

/* One request, one reply over the SOCK_SEQPACKET control socket; *STATUS gets the reply's
 * "status" on success. The manager checks our credentials (root only). */
static int local_call(const struct cli_ctx *ctx, json_t *req, json_t **status, rp_error *err)
{
	*status = NULL;
	const char *path = socket_path(ctx);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return rp_error_set(err, RP_E_INVALID, "--local-socket: path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return rp_error_set_errno(err, errno, "connecting to the device's application manager at %s (is "
		                          "rampart-appmgr daemon running? see --local-socket)", path);
	json_object_set_new(req, "version", json_integer(LOCAL_PROTOCOL_VERSION));
	_cleanup_free_ char *out = rp_json_dump(req);
	if (send(fd, out, strlen(out), MSG_NOSIGNAL) < 0)
		return rp_error_set_errno(err, errno, "sending to the application manager");
	struct timeval tv = {30, 0}; /* installs verify a package; bounded all the same */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	_cleanup_free_ char *buf = xmalloc(LOCAL_REPLY_MAX);
	ssize_t n = recv(fd, buf, LOCAL_REPLY_MAX, MSG_TRUNC);
	if (n <= 0)
		return rp_error_set_errno(err, n < 0 ? errno : EPIPE, "reading the application manager's reply");
	if (n > LOCAL_REPLY_MAX)
		return rp_error_set(err, RP_E_LIMIT, "the application manager's reply is larger than %d bytes",
		                    LOCAL_REPLY_MAX);
	_cleanup_json_ json_t *reply = rp_json_parse(buf, (size_t)n, LOCAL_REPLY_MAX, "application manager reply", err);
	if (!reply)
		return -1;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *msg = json_string_value(json_object_get(reply, "error"));
		const char *code = json_string_value(json_object_get(reply, "code"));
		enum rp_errc c = RP_E_INVALID;
		for (int i = 0; i <= RP_E_INTERNAL; i++)
			if (code && strcmp(code, rp_error_code_name((enum rp_errc)i)) == 0)
				c = (enum rp_errc)i;
		_cleanup_free_ char *shown = xstrndup(msg ? msg : "the application manager refused the request", 1024);
		return rp_error_set(err, c, "%s", rp_text_make_printable(shown, false));
	}
	*status = json_incref(json_object_get(reply, "status"));
	return 0;
}

/* OP with the command's --component-id when HAS_APP; renders the reply. */
static int local_op(struct cli_ctx *ctx, const char *op, bool has_app, const char *what)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", op);
	const char *cid = has_app ? cli_opt(ctx, "component-id") : NULL;
	if (cid)
		json_object_set_new(req, "app", json_string(cid));
	_cleanup_json_ json_t *st = NULL;
	if (local_call(ctx, req, &st, &err) < 0) {
		rp_error_prefix(&err, "%s%s%s", what, cid ? " " : "", cid ? cid : "");
		return cli_fail(&err);
	}
	static const struct cli_column cols[] = {{"Component ID", "component_id"}, {"Name", "name"},
	                                         {"State", "state"},               {"Source", "source"},
	                                         {"Restarts", "restarts"},         {"Last exit", "last_exit"}};
	if (json_is_array(st))
		cli_render_list(ctx->output, st, cols, RP_ARRAY_SIZE(cols));
	else if (json_is_object(st))
		cli_render_object(ctx->output, st);
	return 0;
}

static int app_start(struct cli_ctx *ctx) { return local_op(ctx, "start", true, "starting app"); }
static int app_stop(struct cli_ctx *ctx) { return local_op(ctx, "stop", true, "stopping app"); }
static int app_show_status(struct cli_ctx *ctx) { return local_op(ctx, "status", true, "showing the status of app"); }
static int app_show_quota(struct cli_ctx *ctx) { return local_op(ctx, "quota", true, "showing the storage quota of app"); }
static int sideload_delete(struct cli_ctx *ctx) { return local_op(ctx, "sideload-delete", true, "deleting sideloaded app"); }
static int show_attached(struct cli_ctx *ctx) { return local_op(ctx, "development", false, "showing the capability"); }

static int app_logs(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *cid = cli_opt(ctx, "component-id");
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s}", "op", "logs", "app", cid);
	if (cli_opt(ctx, "lines")) {
		uint32_t lines = 0;
		if (rp_parse_u32(cli_opt(ctx, "lines"), 1, 10000, &lines, &err) < 0)
			return cli_cmd_usage_error(ctx, "--lines: %s", err.message);
		json_object_set_new(req, "lines", json_integer(lines));
	}
	_cleanup_json_ json_t *st = NULL;
	if (local_call(ctx, req, &st, &err) < 0) {
		rp_error_prefix(&err, "reading the log of app %s", cid);
		return cli_fail(&err);
	}
	if (ctx->output == CLI_OUTPUT_JSON) {
		cli_print_json(st, stdout);
		return 0;
	}
	/* The log is written by a sandboxed app: it must not drive the operator's terminal. */
	const char *text = json_string_value(json_object_get(st, "log"));
	_cleanup_free_ char *shown = xstrdup(text ? text : "");
	fputs(rp_text_make_printable(shown, true), stdout);
	return 0;
}

static int sideload_deploy(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *file = cli_opt(ctx, "image-package");
	/* The manager opens the path itself (as root, on this device): hand it an absolute one. */
	_cleanup_free_ char *abs = realpath(file, NULL);
	if (!abs) {
		rp_error_set_errno(&err, errno, "sideloading %s", file);
		return cli_fail(&err);
	}
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s}", "op", "sideload", "path", abs);
	_cleanup_json_ json_t *st = NULL;
	if (local_call(ctx, req, &st, &err) < 0) {
		rp_error_prefix(&err, "sideloading %s", file);
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, st);
	return 0;
}

/* With --device and a service login, move the device to GROUP of its own product. */
static int move_device(struct cli_ctx *ctx, const char *group, rp_error *err)
{
	const char *id = cli_opt(ctx, "device");
	if (!id)
		return 0;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, err) < 0)
		return rp_error_prefix(err, "moving device %s to its product's %s group", id, group);
	_cleanup_free_ char *dpath = api_path("/v1/tenants/%s/devices/%s", tenant, id);
	_cleanup_json_ json_t *dev = NULL;
	if (api_client_call(s.api, "GET", dpath, NULL, &dev, err) < 0)
		return rp_error_prefix(err, "moving device %s", id);
	const char *product = json_string_value(json_object_get(dev, "product_id"));
	if (!product)
		return rp_error_set(err, RP_E_INVALID, "device %s is in no product's device group; move it with "
		                    "'rampart device update --device-group PRODUCT/%s'", id, group);
	_cleanup_free_ char *spec = xasprintf("%s/%s", product, group);
	_cleanup_free_ char *gid = cli_session_device_group(&s, spec, err);
	if (!gid)
		return rp_error_prefix(err, "moving device %s", id);
	_cleanup_json_ json_t *body = json_pack("{s:s}", "device_group_id", gid);
	_cleanup_json_ json_t *reply = NULL;
	if (api_client_call(s.api, "PATCH", dpath, body, &reply, err) < 0)
		return rp_error_prefix(err, "moving device %s to %s", id, group);
	fprintf(stderr, "device %s moved to its product's %s group\n", id, group);
	return 0;
}

static int enable_development(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *file = cli_opt(ctx, "capability");
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	struct capability cap;
	/* Check the file's shape here for a clear message; the device verifies it for real. */
	if (rp_read_file(file, CAPABILITY_FILE_MAX, &buf, &len, &err) < 0 || capability_parse(buf, len, &cap, &err) < 0) {
		rp_error_prefix(&err, "enabling development mode: %s", file);
		return cli_fail(&err);
	}
	capability_free(&cap);
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s%}", "op", "enable-development", "capability", (char *)buf, len);
	_cleanup_json_ json_t *st = NULL;
	if (!req) {
		rp_error_set(&err, RP_E_INVALID, "enabling development mode: %s is not valid UTF-8", file);
		return cli_fail(&err);
	}
	if (local_call(ctx, req, &st, &err) < 0) {
		rp_error_prefix(&err, "enabling development mode");
		return cli_fail(&err);
	}
	if (move_device(ctx, "Development", &err) < 0)
		return cli_fail(&err);
	cli_render_object(ctx->output, st);
	return 0;
}

static int enable_cloud_test(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "enable-cloud-test");
	_cleanup_json_ json_t *st = NULL;
	if (local_call(ctx, req, &st, &err) < 0) {
		rp_error_prefix(&err, "enabling cloud test mode");
		return cli_fail(&err);
	}
	if (move_device(ctx, "Field Test", &err) < 0)
		return cli_fail(&err);
	cli_render_object(ctx->output, st);
	return 0;
}

static int capability_download(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *id = cli_opt(ctx, "device");
	const char *type = cli_opt(ctx, "type") ? cli_opt(ctx, "type") : CAPABILITY_TYPE_APP_DEVELOPMENT;
	const char *dest = cli_opt(ctx, "destination");
	_cleanup_json_ json_t *body = json_object();
	size_t nkeys = 0;
	const char *const *keys = cli_opt_all(ctx, "development-key", &nkeys);
	if (nkeys) {
		json_t *arr = json_array();
		json_object_set_new(body, "development_keys", arr);
		for (size_t i = 0; i < nkeys; i++) {
			_cleanup_free_ uint8_t *pem = NULL;
			size_t len = 0;
			if (rp_read_file(keys[i], CAPABILITY_DEV_KEY_PEM_MAX, &pem, &len, &err) < 0) {
				rp_error_prefix(&err, "--development-key");
				return cli_fail(&err);
			}
			json_t *v = json_stringn((const char *)pem, len);
			if (!v)
				return cli_cmd_usage_error(ctx, "--development-key %s is not a PEM text file", keys[i]);
			json_array_append_new(arr, v);
		}
	}
	if (cli_opt(ctx, "validity-days")) {
		uint32_t days = 0;
		if (rp_parse_u32(cli_opt(ctx, "validity-days"), 1, 365, &days, &err) < 0)
			return cli_cmd_usage_error(ctx, "--validity-days: %s", err.message);
		json_object_set_new(body, "validity_days", json_integer(days));
	}
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *etype = api_escape(type);
	_cleanup_free_ char *doc = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0)
		goto fail;
	path = api_path("/v1/tenants/%s/devices/%s/capabilities/%s", tenant, id, etype);
	if (api_client_call(s.api, "POST", path, body, &reply, &err) < 0)
		goto fail;
	doc = rp_json_dump(reply);
	if (rp_write_file_atomic(dest, doc, strlen(doc), 0600, &err) < 0)
		goto fail;
	fprintf(stderr, "%s capability for device %s saved to %s\n", type, id, dest);
	return 0;
fail:
	rp_error_prefix(&err, "downloading the %s capability of device %s", type, id);
	return cli_fail(&err);
}

static int capability_signing_key(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_free_ char *path = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0)
		goto fail;
	path = api_path("/v1/tenants/%s/capability-signing-key", tenant);
	struct api_download d = {0};
	d.dest_path = cli_opt(ctx, "destination");
	d.max_bytes = 16384;
	if (api_client_download(s.api, path, &d, NULL, &err) < 0)
		goto fail;
	fprintf(stderr, "capability-signing key saved to %s\n", cli_opt(ctx, "destination"));
	return 0;
fail:
	rp_error_prefix(&err, "downloading the tenant's capability-signing key");
	return cli_fail(&err);
}

#define LOCAL_SOCKET_OPT                                                                                               \
	{"local-socket", 0, "PATH", "the device's application manager socket (default $RAMPART_LOCAL_SOCKET or "         \
	 DEFAULT_LOCAL_SOCKET ")", false, false}

static const struct cli_opt app_opts[] = {
	{"component-id", 'i', "ID", "the app's component ID", true, false}, LOCAL_SOCKET_OPT, {0}};
static const struct cli_opt status_opts[] = {
	{"component-id", 'i', "ID", "the app's component ID (default: every app)", false, false}, LOCAL_SOCKET_OPT, {0}};
static const struct cli_opt logs_opts[] = {{"component-id", 'i', "ID", "the app's component ID", true, false},
                                           {"lines", 'n', "N", "how many of the last lines (default 100)", false, false},
                                           LOCAL_SOCKET_OPT,
                                           {0}};
static const struct cli_opt deploy_opts[] = {
	{"image-package", 'p', "FILE", "a development package (pack-application --development)", true, false},
	LOCAL_SOCKET_OPT,
	{0}};
static const struct cli_opt enable_dev_opts[] = {
	{"capability", 'c', "FILE", "the appDevelopment capability for this device", true, false},
	{"device", 'd', "ID", "also move the device to its product's Development group (service login)", false, false},
	LOCAL_SOCKET_OPT,
	{0}};
static const struct cli_opt cloud_test_opts[] = {
	{"device", 'd', "ID", "also move the device to its product's Field Test group (service login)", false, false},
	LOCAL_SOCKET_OPT,
	{0}};
static const struct cli_opt local_only_opts[] = {LOCAL_SOCKET_OPT, {0}};
static const struct cli_opt download_opts[] = {
	{"device", 'd', "ID", "device ID (64 hex digits)", true, false},
	{"type", 0, "TYPE", "capability type (appDevelopment)", false, false},
	{"destination", 0, "FILE", "where to save the capability file", true, false},
	{"development-key", 0, "PEM", "public key that may sign sideloaded packages (repeatable, at most 4)", false, true},
	{"validity-days", 0, "N", "expire after N days (default: no expiry)", false, false},
	{0}};
static const struct cli_opt signing_key_opts[] = {
	{"destination", 0, "FILE", "where to save the public key (PEM)", true, false}, {0}};

static const struct cli_cmd devmode_cmds[] = {
	{"capability download", "Issue and save a signed capability for one device", download_opts, CLI_CMD_SERVICE,
	 capability_download,
	 "  rampart device capability download --device ID --development-key dev.pub.pem --destination dev.cap\n"},
	{"capability signing-key", "Save the public key devices trust for this tenant's capabilities", signing_key_opts,
	 CLI_CMD_SERVICE, capability_signing_key, NULL},
	{"capability show-attached", "Show the capability installed on this device (device-local)", local_only_opts,
	 CLI_CMD_OUTPUT, show_attached, NULL},
	{"enable-development", "Apply an appDevelopment capability: allow sideloading, pause cloud app updates",
	 enable_dev_opts, CLI_CMD_SERVICE, enable_development,
	 "  rampart device enable-development --capability dev.cap [--device ID]\n"},
	{"enable-cloud-test", "Remove the capability and every sideloaded app; cloud app updates resume",
	 cloud_test_opts, CLI_CMD_SERVICE, enable_cloud_test, NULL},
	{"sideload deploy", "Install a development package on this device (development mode)", deploy_opts,
	 CLI_CMD_OUTPUT, sideload_deploy, "  rampart device sideload deploy --image-package hello.dev.imagepackage\n"},
	{"sideload delete", "Remove a sideloaded app with its storage", app_opts, CLI_CMD_OUTPUT, sideload_delete, NULL},
	{"app start", "Start an app on this device", app_opts, CLI_CMD_OUTPUT, app_start, NULL},
	{"app stop", "Stop an app on this device (SIGTERM, SIGKILL after 2 s)", app_opts, CLI_CMD_OUTPUT, app_stop, NULL},
	{"app show-status", "Show the state of one app, or of every app, on this device", status_opts, CLI_CMD_OUTPUT,
	 app_show_status, NULL},
	{"app show-quota", "Show an app's mutable storage: used and limit (KiB)", app_opts, CLI_CMD_OUTPUT,
	 app_show_quota, NULL},
	{"app logs", "Show the tail of an app's log kept by the application manager", logs_opts, CLI_CMD_OUTPUT,
	 app_logs, NULL},
};

const struct cli_cmd *cmd_device_devmode_cmds(size_t *n)
{
	*n = RP_ARRAY_SIZE(devmode_cmds);
	return devmode_cmds;
}
