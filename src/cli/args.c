/* Declarative option parsing and --help for the CLI's command groups (see args.h). */
#include "cli/args.h"

#include <getopt.h>
#include <stdarg.h>
#include <string.h>

#include "common/xalloc.h"

enum {
	OPT_HELP = 'h',
	OPT_OUTPUT = 'o',
	OPT_SERVICE = 1000,
	OPT_TOKEN,
	OPT_CA_CERT,
	OPT_INSECURE,
	OPT_TENANT,
	OPT_COMMAND_BASE = 2000, /* + index into cmd->opts */
};

static size_t count_opts(const struct cli_opt *opts)
{
	size_t n = 0;
	while (opts && opts[n].name)
		n++;
	return n;
}

static bool cmd_has_output(const struct cli_cmd *cmd)
{
	return cmd->flags & (CLI_CMD_SERVICE | CLI_CMD_OUTPUT);
}

static void print_opt_line(FILE *out, const char *shortopt, const char *name, const char *metavar, const char *help,
                           const char *suffix)
{
	char left[96];
	snprintf(left, sizeof(left), "%s--%s%s%s", shortopt, name, metavar ? " " : "", metavar ? metavar : "");
	fprintf(out, "  %-34s %s%s\n", left, help, suffix);
}

static void cmd_help(FILE *out, const char *group, const struct cli_cmd *cmd)
{
	size_t n = count_opts(cmd->opts);
	if (strcmp(group, cmd->name) == 0)
		fprintf(out, "Usage: rampart %s", group);
	else
		fprintf(out, "Usage: rampart %s %s", group, cmd->name);
	for (size_t i = 0; i < n; i++)
		if (cmd->opts[i].required)
			fprintf(out, " --%s %s", cmd->opts[i].name, cmd->opts[i].metavar ? cmd->opts[i].metavar : "");
	fprintf(out, " [options]\n\n%s.\n\nOptions:\n", cmd->summary);
	for (size_t i = 0; i < n; i++) {
		const struct cli_opt *o = &cmd->opts[i];
		char shortopt[8] = "";
		if (o->short_name)
			snprintf(shortopt, sizeof(shortopt), "-%c, ", o->short_name);
		const char *suffix = o->required ? (o->repeatable ? " (required, repeatable)" : " (required)")
		                                 : (o->repeatable ? " (repeatable)" : "");
		print_opt_line(out, shortopt, o->name, o->metavar, o->help, suffix);
	}
	if (cmd_has_output(cmd))
		print_opt_line(out, "-o, ", "output", "FORMAT", "table (default, for people) or json (for scripts)", "");
	print_opt_line(out, "-h, ", "help", NULL, "show this help", "");
	if (cmd->flags & CLI_CMD_SERVICE) {
		fprintf(out, "\nConnection (default: the configuration written by 'rampart login'):\n");
		print_opt_line(out, "", "service", "URL", "service URL (env RAMPART_SERVICE)", "");
		print_opt_line(out, "", "token", "TOKEN", "API token (env RAMPART_TOKEN)", "");
		print_opt_line(out, "", "ca-cert", "FILE", "PEM CA the service's TLS certificate must chain to", "");
		print_opt_line(out, "", "insecure-skip-verify", NULL, "do not verify the service's TLS certificate (unsafe)",
		               "");
		print_opt_line(out, "", "tenant", "ID|NAME", "tenant to act on (env RAMPART_TENANT; default: the selected one)",
		               "");
	}
	if (cmd->examples)
		fprintf(out, "\nExamples:\n%s", cmd->examples);
}

static void group_help(FILE *out, const char *group, const char *summary, const struct cli_cmd *cmds, size_t ncmds)
{
	fprintf(out, "Usage: rampart %s <command> [options]\n\n%s.\n\nCommands:\n", group, summary);
	for (size_t i = 0; i < ncmds; i++)
		fprintf(out, "  %-22s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(out, "\nRun 'rampart %s <command> --help' for the options of a command.\n", group);
}

/* Match CMD's one- or two-word name against argv[1..]; returns the number of words consumed. */
static int match_command(const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *space = strchr(cmd->name, ' ');
	if (!space)
		return argc > 1 && strcmp(argv[1], cmd->name) == 0 ? 1 : 0;
	size_t first_len = (size_t)(space - cmd->name);
	if (argc > 2 && strlen(argv[1]) == first_len && strncmp(argv[1], cmd->name, first_len) == 0 &&
	    strcmp(argv[2], space + 1) == 0)
		return 2;
	return 0;
}

static bool is_subgroup(const struct cli_cmd *cmds, size_t ncmds, const char *word)
{
	size_t len = strlen(word);
	for (size_t i = 0; i < ncmds; i++)
		if (strncmp(cmds[i].name, word, len) == 0 && cmds[i].name[len] == ' ')
			return true;
	return false;
}

static void subgroup_help(FILE *out, const char *group, const char *word, const struct cli_cmd *cmds, size_t ncmds)
{
	size_t len = strlen(word);
	fprintf(out, "Usage: rampart %s %s <command> [options]\n\nCommands:\n", group, word);
	for (size_t i = 0; i < ncmds; i++)
		if (strncmp(cmds[i].name, word, len) == 0 && cmds[i].name[len] == ' ')
			fprintf(out, "  %-22s %s\n", cmds[i].name + len + 1, cmds[i].summary);
}

static int run_command(const char *group, const struct cli_cmd *cmd, int argc, char **argv)
{
	size_t n = count_opts(cmd->opts);
	struct option *longopts = xcalloc(n + 10, sizeof(*longopts));
	size_t k = 0;
	char shortopts[128] = "+h";
	size_t slen = strlen(shortopts);
	for (size_t i = 0; i < n; i++) {
		const struct cli_opt *o = &cmd->opts[i];
		longopts[k++] = (struct option){o->name, o->metavar ? required_argument : no_argument, NULL,
		                                OPT_COMMAND_BASE + (int)i};
		if (o->short_name && slen + 3 < sizeof(shortopts)) {
			shortopts[slen++] = o->short_name;
			if (o->metavar)
				shortopts[slen++] = ':';
			shortopts[slen] = '\0';
		}
	}
	longopts[k++] = (struct option){"help", no_argument, NULL, OPT_HELP};
	if (cmd_has_output(cmd)) {
		longopts[k++] = (struct option){"output", required_argument, NULL, OPT_OUTPUT};
		if (slen + 3 < sizeof(shortopts)) {
			shortopts[slen++] = 'o';
			shortopts[slen++] = ':';
			shortopts[slen] = '\0';
		}
	}
	if (cmd->flags & CLI_CMD_SERVICE) {
		longopts[k++] = (struct option){"service", required_argument, NULL, OPT_SERVICE};
		longopts[k++] = (struct option){"token", required_argument, NULL, OPT_TOKEN};
		longopts[k++] = (struct option){"ca-cert", required_argument, NULL, OPT_CA_CERT};
		longopts[k++] = (struct option){"insecure-skip-verify", no_argument, NULL, OPT_INSECURE};
		longopts[k++] = (struct option){"tenant", required_argument, NULL, OPT_TENANT};
	}
	longopts[k] = (struct option){0};

	struct cli_ctx ctx = {.group = group, .cmd = cmd, .output = CLI_OUTPUT_TABLE, .nopts = n};
	ctx.values = xcalloc(n ? n : 1, sizeof(*ctx.values));
	_cleanup_free_ char *full = strcmp(group, cmd->name) == 0 ? xstrdup(group) : xasprintf("%s %s", group, cmd->name);
	int status = -1;
	optind = 0; /* reset getopt, including its GNU internal state */
	opterr = 0;
	int c;
	while (status < 0 && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HELP:
			cmd_help(stdout, group, cmd);
			status = 0;
			break;
		case OPT_OUTPUT:
			if (cli_parse_output(optarg, &ctx.output) < 0)
				status = CLI_EXIT_USAGE;
			break;
		case OPT_SERVICE: ctx.service = optarg; break;
		case OPT_TOKEN: ctx.token = optarg; break;
		case OPT_CA_CERT: ctx.ca_cert = optarg; break;
		case OPT_INSECURE: ctx.insecure = true; break;
		case OPT_TENANT: ctx.tenant = optarg; break;
		case '?':
		case ':':
			if (optopt && optopt < 256 && optopt != '?')
				status = cli_usage_error(full, "option -%c is unknown or needs a value", optopt);
			else
				status = cli_usage_error(full, "option '%s' is unknown or needs a value", argv[optind - 1]);
			break;
		default:
			if (c >= OPT_COMMAND_BASE && c < OPT_COMMAND_BASE + (int)n) {
				size_t i = (size_t)(c - OPT_COMMAND_BASE);
				struct cli_value *v = &ctx.values[i];
				if (v->n > 0 && !cmd->opts[i].repeatable) {
					status = cli_usage_error(full, "option --%s was given more than once", cmd->opts[i].name);
					break;
				}
				v->items = xreallocarray(v->items, v->n + 1, sizeof(*v->items));
				v->items[v->n++] = cmd->opts[i].metavar ? optarg : "1";
			} else {
				rp_abort("getopt_long returned an unexpected value");
			}
		}
	}
	if (status < 0 && optind < argc)
		status = cli_usage_error(full, "unexpected argument '%s' (options take the form --name VALUE)", argv[optind]);
	for (size_t i = 0; status < 0 && i < n; i++)
		if (cmd->opts[i].required && ctx.values[i].n == 0)
			status = cli_usage_error(full, "missing required option --%s %s", cmd->opts[i].name,
			                         cmd->opts[i].metavar ? cmd->opts[i].metavar : "");
	if (status < 0)
		status = cmd->run(&ctx);
	for (size_t i = 0; i < n; i++)
		free(ctx.values[i].items);
	free(ctx.values);
	free(longopts);
	return status;
}

int cli_run_single(const char *group, const struct cli_cmd *cmd, int argc, char **argv)
{
	return run_command(group, cmd, argc, argv);
}

int cli_run_group(const char *group, const char *summary, const struct cli_cmd *cmds, size_t ncmds, int argc,
                  char **argv)
{
	if (argc < 2) {
		group_help(stderr, group, summary, cmds, ncmds);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		group_help(stdout, group, summary, cmds, ncmds);
		return 0;
	}
	for (size_t i = 0; i < ncmds; i++) {
		int words = match_command(&cmds[i], argc, argv);
		if (words > 0)
			return run_command(group, &cmds[i], argc - words, argv + words);
	}
	if (is_subgroup(cmds, ncmds, argv[1])) {
		bool help = argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0);
		subgroup_help(help ? stdout : stderr, group, argv[1], cmds, ncmds);
		if (help)
			return 0;
		if (argc > 2)
			fprintf(stderr, "\nrampart %s %s: unknown command '%s'\n", group, argv[1], argv[2]);
		return CLI_EXIT_USAGE;
	}
	return cli_usage_error(group, "unknown command '%s'", argv[1]);
}

static const struct cli_value *find_value(const struct cli_ctx *ctx, const char *name)
{
	for (size_t i = 0; i < ctx->nopts; i++)
		if (strcmp(ctx->cmd->opts[i].name, name) == 0)
			return &ctx->values[i];
	rp_abort("cli_opt: option not declared by this command");
}

const char *cli_opt(const struct cli_ctx *ctx, const char *name)
{
	const struct cli_value *v = find_value(ctx, name);
	return v->n ? v->items[v->n - 1] : NULL;
}

bool cli_flag(const struct cli_ctx *ctx, const char *name)
{
	return find_value(ctx, name)->n > 0;
}

const char *const *cli_opt_all(const struct cli_ctx *ctx, const char *name, size_t *n)
{
	const struct cli_value *v = find_value(ctx, name);
	*n = v->n;
	return v->items;
}

int cli_cmd_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool single = strcmp(ctx->group, ctx->cmd->name) == 0;
	fprintf(stderr, "rampart %s%s%s: ", ctx->group, single ? "" : " ", single ? "" : ctx->cmd->name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nRun 'rampart %s%s%s --help' for usage.\n", ctx->group, single ? "" : " ",
	        single ? "" : ctx->cmd->name);
	va_end(ap);
	return CLI_EXIT_USAGE;
}

int cli_opt_bool(const struct cli_ctx *ctx, const char *name, bool *out)
{
	const char *v = cli_opt(ctx, name);
	if (!v)
		return 0;
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else
		return cli_cmd_usage_error(ctx, "--%s takes true or false, not '%s'", name, v);
	return 1;
}
