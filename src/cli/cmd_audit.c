/* `rampart audit`: who changed what, when, and whether it was allowed. */
#include <string.h>

#include "cli/args.h"
#include "cli/render.h"
#include "cli/session.h"
#include "common/bytes.h"
#include "common/json.h"
#include "common/xalloc.h"

static void add_query(rp_buf *q, const char *key, const char *value)
{
	if (!value)
		return;
	_cleanup_free_ char *part = api_path("%s=%s", key, value);
	rp_buf_append(q, q->len ? "&" : "?", 1);
	rp_buf_append(q, part, strlen(part));
}

static int audit_list(struct cli_ctx *ctx)
{
	rp_error err = RP_ERROR_INIT;
	bool all = cli_flag(ctx, "all");
	const char *result = cli_opt(ctx, "result");
	if (result && strcmp(result, "success") != 0 && strcmp(result, "refused") != 0 && strcmp(result, "failed") != 0)
		return cli_cmd_usage_error(ctx, "--result must be success, refused or failed, not '%s'", result);
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	if (cli_session_start(&s, ctx, !all || ctx->tenant, &tenant, &err) < 0) {
		rp_error_prefix(&err, "reading the audit log");
		return cli_fail(&err);
	}
	rp_buf q;
	rp_buf_init(&q);
	if (all)
		add_query(&q, "tenant_id", tenant);
	add_query(&q, "actor", cli_opt(ctx, "actor"));
	add_query(&q, "action", cli_opt(ctx, "action"));
	add_query(&q, "result", result);
	add_query(&q, "since", cli_opt(ctx, "since"));
	add_query(&q, "until", cli_opt(ctx, "until"));
	rp_buf_append(&q, "", 1);
	_cleanup_free_ char *base = all ? xstrdup("/v1/audit") : api_path("/v1/tenants/%s/audit", tenant);
	_cleanup_free_ char *path = xasprintf("%s%s", base, (char *)q.data);
	rp_buf_free(&q);
	_cleanup_json_ json_t *items = cli_session_list(&s, path, &err);
	if (!items) {
		rp_error_prefix(&err, "reading the audit log");
		return cli_fail(&err);
	}
	static const struct cli_column cols[] = {{"Time", "time"},     {"Actor", "actor"},   {"Action", "action"},
	                                         {"Target", "target"}, {"Result", "result"}, {"Detail", "detail"}};
	cli_render_list(ctx->output, items, cols, RP_ARRAY_SIZE(cols));
	return 0;
}

static const struct cli_opt list_opts[] = {
	{"all", 0, NULL, "the whole service's log, every tenant (service administrator)", false, false},
	{"actor", 0, "USER", "only entries by this user", false, false},
	{"action", 0, "ACTION", "only this action, e.g. product.create", false, false},
	{"result", 0, "RESULT", "success, refused or failed", false, false},
	{"since", 0, "TIME", "at or after this time (RFC 3339 UTC, 2026-01-31T12:00:00Z)", false, false},
	{"until", 0, "TIME", "before this time", false, false},
	{0},
};

static const struct cli_cmd audit_cmds[] = {
	{"list", "Show the tenant's audit log, oldest first (Administrator)", list_opts, CLI_CMD_SERVICE, audit_list,
	 "  rampart audit list --result refused\n  rampart audit list --all --action tenant.create --output json\n"},
};

int cmd_audit(int argc, char **argv)
{
	return cli_run_group("audit", "Audit log: every change, who made it, when, and the result", audit_cmds,
	                     RP_ARRAY_SIZE(audit_cmds), argc, argv);
}
