/* Option parsing and dispatch shared by the CLI's command groups: each group declares a table of
 * commands, each command a table of options; this file builds the getopt_long tables, prints
 * --help for groups and commands, checks required options, and hands a parsed context to the
 * command. Service commands also accept the connection options and --output. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include "cli/cli.h"

struct cli_opt {
	const char *name;    /* long option name, without "--" */
	char short_name;     /* 0 for none */
	const char *metavar; /* NULL: a flag without a value */
	const char *help;
	bool required;
	bool repeatable; /* may be given more than once; read with cli_opt_all() */
};

/* Command flags. */
#define CLI_CMD_SERVICE 0x1u /* talks to rampartd: connection options and --output apply */
#define CLI_CMD_OUTPUT 0x2u  /* --output applies (implied by CLI_CMD_SERVICE) */

struct cli_ctx;

struct cli_cmd {
	const char *name; /* "create", or two words for a sub-group: "deployment create" */
	const char *summary;
	const struct cli_opt *opts; /* terminated by an entry with name == NULL; may be NULL */
	unsigned flags;
	int (*run)(struct cli_ctx *ctx);
	const char *examples; /* lines shown under "Examples:" in --help, or NULL */
};

struct cli_value {
	const char **items;
	size_t n;
};

struct cli_ctx {
	const char *group;
	const struct cli_cmd *cmd;
	enum cli_output output;
	/* connection options from the command line (NULL/false when not given) */
	const char *service;
	const char *token;
	const char *ca_cert;
	bool insecure;
	const char *tenant;
	struct cli_value *values; /* parallel to cmd->opts */
	size_t nopts;
};

/* Dispatch argv (argv[0] = group name) to one of CMDS, or print the group's help. */
int cli_run_group(const char *group, const char *summary, const struct cli_cmd *cmds, size_t ncmds, int argc,
                  char **argv);

/* A group that is a single command (`rampart login [options]`): argv[0] is the group name. */
int cli_run_single(const char *group, const struct cli_cmd *cmd, int argc, char **argv);

/* The (last) value of option NAME, or NULL when it was not given. Aborts on an undeclared name. */
const char *cli_opt(const struct cli_ctx *ctx, const char *name);
bool cli_flag(const struct cli_ctx *ctx, const char *name);
/* All values of a repeatable option, in command-line order. */
const char *const *cli_opt_all(const struct cli_ctx *ctx, const char *name, size_t *n);
/* A usage error about this command: "rampart GROUP COMMAND: ..." plus a --help hint; returns 64. */
int cli_cmd_usage_error(const struct cli_ctx *ctx, const char *fmt, ...) RP_PRINTF(2, 3);
/* Parse a boolean option value ("true"/"false", "yes"/"no", "1"/"0"); usage error otherwise. */
int cli_opt_bool(const struct cli_ctx *ctx, const char *name, bool *out);
