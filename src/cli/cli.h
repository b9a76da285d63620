/* Shared pieces of the `rampart` command-line tool: command-group registry, option parsing
 * helpers and output (tables for people, JSON for scripts). One file per command group
 * (cmd_<group>.c) exports `int cmd_<group>(int argc, char **argv)` where argv[0] is the group name. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>
#include "common/error.h"

enum cli_output { CLI_OUTPUT_TABLE, CLI_OUTPUT_JSON };

/* Exit statuses beyond rp_error_exit_status(): 64 = usage error (as sysexits' EX_USAGE). */
#define CLI_EXIT_USAGE 64

/* Parse "table" | "json" (for --output / -o); prints a usage error and returns -1 if unknown. */
int cli_parse_output(const char *value, enum cli_output *out);

/* Report ERR once as "rampart: error: ..." and return its exit status. */
int cli_fail(const rp_error *err);
/* Print "rampart GROUP: MESSAGE" and a hint to run --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *group, const char *fmt, ...) RP_PRINTF(2, 3);

/* A simple aligned text table. Cells are copied. */
typedef struct cli_table cli_table;
cli_table *cli_table_new(size_t ncols, const char *const *headers);
void cli_table_add_row(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_free(cli_table *t);

/* Print VALUE as indented JSON followed by a newline. */
void cli_print_json(const json_t *value, FILE *out);
/* Print an object as a two-column "Field  Value" table (nested values shown as compact JSON). */
void cli_print_object_table(const json_t *obj, FILE *out);

/* Command groups, one per cmd_<group>.c file. */
int cmd_image_package(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_whoami(int argc, char **argv);
int cmd_agent(int argc, char **argv);
/* cmd_agent.c: ask the device agent at SOCKET (NULL: the default) for an update check now. */
struct cli_ctx;
int cmd_agent_update_now(struct cli_ctx *ctx, const char *socket);
int cmd_tenant(int argc, char **argv);
int cmd_role(int argc, char **argv);
int cmd_product(int argc, char **argv);
int cmd_device_group(int argc, char **argv);
int cmd_device(int argc, char **argv);
/* cmd_device_devmode.c: the development-mode commands of the device group (device-local API). */
struct cli_cmd;
const struct cli_cmd *cmd_device_devmode_cmds(size_t *n);
int cmd_image(int argc, char **argv);
int cmd_ca_certificate(int argc, char **argv);
int cmd_audit(int argc, char **argv);
