/* `rampart ca-certificate`: the tenant CA that signs device certificates — its generations, the
 * certificate and chain for relying parties, and proof-of-possession certificates for cloud
 * registries. */
#include <string.h>

#include "cli/args.h"
#include "cli/render.h"
#include "cli/session.h"
#include "common/json.h"
#include "common/xalloc.h"

#define CERT_MAX_BYTES (1024u * 1024)

static const struct cli_column ca_cols[] = {{"Thumbprint", "thumbprint"}, {"Generation", "generation"},
                                            {"Status", "status"},         {"Not before", "not_before"},
                                            {"Not after", "not_after"},   {"Activates", "activates_at"}};

static int ca_list(struct cli_ctx *ctx)
{
	return cli_list_tenant_collection(ctx, "ca-certificates", "CA certificates", ca_cols, RP_ARRAY_SIZE(ca_cols));
}

static int fetch(struct cli_ctx *ctx, const char *what, const char *path_fmt_suffix, const char *query,
                 const json_t *body)
{
	rp_error err = RP_ERROR_INIT;
	const char *dest = cli_opt(ctx, "destination");
	bool chain = strcmp(path_fmt_suffix, "chain") == 0;
	const char *thumb = chain ? NULL : cli_opt(ctx, "thumbprint");
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0) {
		rp_error_prefix(&err, "downloading %s", what);
		return cli_fail(&err);
	}
	_cleanup_free_ char *base = NULL;
	if (chain)
		base = api_path("/v1/tenants/%s/ca-chain", tenant);
	else if (strcmp(path_fmt_suffix, "proof") == 0)
		base = api_path("/v1/tenants/%s/ca-certificates/%s/proof", tenant, thumb ? thumb : "active");
	else
		base = api_path("/v1/tenants/%s/ca-certificates/%s", tenant, thumb ? thumb : "active");
	_cleanup_free_ char *path = query ? xasprintf("%s?%s", base, query) : xstrdup(base);
	struct api_download d = {.method = body ? "POST" : "GET", .body = body, .dest_path = dest,
	                         .max_bytes = CERT_MAX_BYTES};
	struct api_download_result res;
	if (api_client_download(s.api, path, &d, &res, &err) < 0) {
		rp_error_prefix(&err, "downloading %s", what);
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
		printf("Wrote the %s to %s.\n", what, dest);
	}
	return 0;
}

static int check_format(struct cli_ctx *ctx, const char *const *allowed, const char **out)
{
	const char *f = cli_opt(ctx, "format");
	if (!f) {
		*out = allowed[0];
		return 0;
	}
	for (size_t i = 0; allowed[i]; i++)
		if (strcmp(f, allowed[i]) == 0) {
			*out = f;
			return 0;
		}
	return cli_cmd_usage_error(ctx, "unknown --format '%s'", f);
}

static int ca_download(struct cli_ctx *ctx)
{
	static const char *const formats[] = {"pem", "der", NULL};
	const char *format = NULL;
	int st = check_format(ctx, formats, &format);
	if (st)
		return st;
	_cleanup_free_ char *q = api_path("format=%s", format);
	return fetch(ctx, "CA certificate", "cert", q, NULL);
}

static int ca_download_chain(struct cli_ctx *ctx)
{
	static const char *const formats[] = {"pem", "pkcs7", "pkcs7-pem", NULL};
	const char *format = NULL;
	int st = check_format(ctx, formats, &format);
	if (st)
		return st;
	_cleanup_free_ char *q = api_path("format=%s", format);
	return fetch(ctx, "CA chain", "chain", q, NULL);
}

static int ca_download_proof(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_json_ json_t *body = json_object();
	if (cli_json_set_string(body, "verification_code", cli_opt(ctx, "verification-code"), "--verification-code",
	                        &err) < 0)
		return cli_fail(&err);
	return fetch(ctx, "proof-of-possession certificate", "proof", NULL, body);
}

#define THUMB_OPT {"thumbprint", 't', "SHA256|active", "which CA generation (default: active)", false, false}
#define DEST_OPT {"destination", 'O', "FILE", "where to write it ('-' for standard output)", true, false}

static const struct cli_opt download_opts[] = {
	THUMB_OPT, DEST_OPT, {"format", 'f', "FORMAT", "pem (default) or der", false, false}, {0}};
static const struct cli_opt chain_opts[] = {
	DEST_OPT, {"format", 'f', "FORMAT", "pem (default), pkcs7 (DER) or pkcs7-pem", false, false}, {0}};
static const struct cli_opt proof_opts[] = {
	THUMB_OPT, DEST_OPT,
	{"verification-code", 'c', "CODE", "the code the cloud registry asked for (letters, digits, '-')", true, false},
	{0}};

static const struct cli_cmd ca_cmds[] = {
	{"list", "List the tenant CA's generations (active, pending successor, retired)", NULL, CLI_CMD_SERVICE, ca_list,
	 NULL},
	{"download", "Download a tenant CA certificate", download_opts, CLI_CMD_SERVICE, ca_download,
	 "  rampart ca-certificate download --destination tenant-ca.pem\n"},
	{"download-chain", "Download every CA certificate relying parties should trust now", chain_opts,
	 CLI_CMD_SERVICE, ca_download_chain, "  rampart ca-certificate download-chain --destination chain.pem\n"},
	{"download-proof", "Download a proof-of-possession certificate for a verification code", proof_opts,
	 CLI_CMD_SERVICE, ca_download_proof,
	 "  rampart ca-certificate download-proof --verification-code 3F9A2B --destination proof.pem\n"},
};

int cmd_ca_certificate(int argc, char **argv)
{
	return cli_run_group("ca-certificate", "Tenant CA: signs the 24 h certificates of attested devices", ca_cmds,
	                     RP_ARRAY_SIZE(ca_cmds), argc, argv);
}
