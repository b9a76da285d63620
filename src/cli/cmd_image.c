/* `rampart image`: uploading signed image packages (the service checks the signature against the
 * tenant's trusted keys), showing and downloading them, and managing those trusted keys. */
#include <string.h>

#include "cli/args.h"
#include "cli/render.h"
#include "cli/session.h"
#include "common/crypto.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/xalloc.h"

static const struct cli_column image_cols[] = {{"Image ID", "image_id"},   {"Component ID", "component_id"},
                                               {"Name", "name"},           {"Type", "image_type"},
                                               {"Size", "size"},           {"Uploaded", "uploaded_at"}};
static const struct cli_column key_cols[] = {{"Key ID", "key_id"}, {"Name", "name"}, {"Added", "created_at"}};

static int image_add(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *file = cli_opt(ctx, "image");
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *reply = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "adding image %s", file);
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/images", tenant);
	if (api_client_upload(s.api, "POST", path, file, "application/octet-stream", &reply, &err) < 0) {
		rp_error_prefix(&err, "adding image %s", file);
		if (err.code == RP_E_VERIFY) {
			rp_error copy = err;
			rp_error_set(&err, copy.code, "%s; is its signing key trusted? see 'rampart image trusted-key list'",
			             copy.message);
		}
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int image_list(struct cli_ctx *ctx)
{
	return cli_list_tenant_collection(ctx, "images", "images", image_cols, RP_ARRAY_SIZE(image_cols));
}

static json_t *fetch_image(struct cli_ctx *ctx, struct cli_session *s, rp_error *err)
{
	const char *tenant = NULL;
	char id[RP_GUID_STRLEN + 1];
	if (rp_guid_normalize(cli_opt(ctx, "image"), id, err) < 0) {
		rp_error_prefix(err, "--image must be an image ID (see 'rampart image list')");
		return NULL;
	}
	if (cli_session_start(s, ctx, true, &tenant, err) < 0)
		return NULL;
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/images/%s", tenant, id);
	json_t *image = NULL;
	if (api_client_call(s->api, "GET", path, NULL, &image, err) < 0)
		return NULL;
	return image;
}

static int image_show(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *image = fetch_image(ctx, &s, &err);
	if (!image) {
		rp_error_prefix(&err, "showing image");
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, image);
	return 0;
}

static int image_download(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *dest = cli_opt(ctx, "destination");
	_cleanup_session_ struct cli_session s = {0};
	_cleanup_json_ json_t *image = fetch_image(ctx, &s, &err);
	const char *sha = NULL;
	int64_t size = 0;
	if (!image || rp_json_get_string(image, "sha256", true, &sha, &err) < 0 ||
	    rp_json_get_int(image, "size", true, 0, INT64_MAX, &size, &err) < 0) {
		rp_error_prefix(&err, "downloading image");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/blobs/sha256/%s", sha);
	/* The image's recorded hash is checked before the file takes its name. */
	struct api_download d = {.dest_path = dest, .max_bytes = (uint64_t)size, .expected_sha256 = sha};
	struct api_download_result res;
	if (api_client_download(s.api, path, &d, &res, &err) < 0) {
		rp_error_prefix(&err, "downloading image %s to %s", cli_opt(ctx, "image"), dest);
		return cli_fail(&err);
	}
	if (strcmp(dest, "-") == 0)
		return 0;
	if (ctx->output == CLI_OUTPUT_JSON) {
		json_t *o = json_pack("{s:s,s:I,s:s}", "path", dest, "size", (json_int_t)res.size, "sha256", res.sha256_hex);
		if (o)
			cli_print_json(o, stdout);
		json_decref(o);
	} else {
		printf("Downloaded %llu bytes to %s (SHA-256 %s, verified).\n", (unsigned long long)res.size, dest,
		       res.sha256_hex);
	}
	return 0;
}

static int key_add(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	const char *file = cli_opt(ctx, "public-key");
	const char *name = cli_opt(ctx, "name");
	_cleanup_pkey_ EVP_PKEY *key = rp_key_load_public_pem(file, &err);
	_cleanup_free_ char *pem = key ? rp_key_public_pem(key, &err) : NULL;
	if (!pem) {
		rp_error_prefix(&err, "loading the signing key's public half from %s", file);
		return cli_fail(&err);
	}
	_cleanup_json_ json_t *body = json_pack("{s:s}", "public_key_pem", pem);
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *reply = NULL;
	if ((name && cli_json_set_string(body, "name", name, "--name", &err) < 0) ||
	    cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "trusting key");
		return cli_fail(&err);
	}
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/image-signing-keys", tenant);
	if (api_client_call(s.api, "POST", path, body, &reply, &err) < 0) {
		rp_error_prefix(&err, "trusting key %s", file);
		return cli_fail(&err);
	}
	cli_render_object(ctx->output, reply);
	return 0;
}

static int key_list(struct cli_ctx *ctx)
{
	return cli_list_tenant_collection(ctx, "image-signing-keys", "trusted keys", key_cols, RP_ARRAY_SIZE(key_cols));
}

static const struct cli_opt add_opts[] = {
	{"image", 'i', "FILE", "the signed image package (from 'rampart image-package pack-application')", true, false},
	{0},
};
static const struct cli_opt show_opts[] = {
	{"image", 'i', "ID", "image ID", true, false},
	{0},
};
static const struct cli_opt download_opts[] = {
	{"image", 'i', "ID", "image ID", true, false},
	{"destination", 'O', "FILE", "where to write the package ('-' for standard output)", true, false},
	{0},
};
static const struct cli_opt key_add_opts[] = {
	{"public-key", 'k', "FILE", "PEM public key (or certificate) of the P-256 signing key", true, false},
	{"name", 'n', "NAME", "a name to recognise the key by", false, false},
	{0},
};

static const struct cli_cmd image_cmds[] = {
	{"add", "Upload a signed image package", add_opts, CLI_CMD_SERVICE, image_add,
	 "  rampart image add --image blink.imagepackage\n"},
	{"list", "List the tenant's images", NULL, CLI_CMD_SERVICE, image_list, NULL},
	{"show", "Show an image's metadata", show_opts, CLI_CMD_SERVICE, image_show, NULL},
	{"download", "Download an image package (its SHA-256 is verified)", download_opts, CLI_CMD_SERVICE,
	 image_download, "  rampart image download --image IMAGE_ID --destination blink.imagepackage\n"},
	{"trusted-key add", "Trust a public key for signing the tenant's images (Administrator)", key_add_opts,
	 CLI_CMD_SERVICE, key_add, "  rampart image trusted-key add --public-key signing.pub.pem --name release-2026\n"},
	{"trusted-key list", "List the keys trusted for signing the tenant's images", NULL, CLI_CMD_SERVICE, key_list,
	 NULL},
};

int cmd_image(int argc, char **argv)
{
	return cli_run_group("image", "Images: signed packages uploaded to the service; immutable once added",
	                     image_cmds, RP_ARRAY_SIZE(image_cmds), argc, argv);
}
