/* The rampart CLI's per-user configuration: service URL, API token, trusted service CA and the
 * selected tenant, kept in one JSON file that only its owner may read (it holds a bearer token). */
#pragma once

#include <stdbool.h>
#include "common/error.h"

#define CLI_CONFIG_MAX_BYTES (256 * 1024)

typedef struct cli_config {
	char *path;        /* where it was read from / will be written to */
	char *service;     /* base URL, e.g. https://127.0.0.1:8443 */
	char *token;       /* API bearer token */
	char *ca_cert_pem; /* PEM certificate(s) the service's TLS certificate must chain to */
	char *tenant;      /* selected tenant ID */
} cli_config;

/* Path of the config file: $RAMPART_CONFIG, else $XDG_CONFIG_HOME/rampart/config.json, else
 * $HOME/.config/rampart/config.json. Returns a malloc'd string or NULL. */
char *cli_config_path(rp_error *err);

/* Load the config from cli_config_path(). A missing file yields an empty config (path set).
 * Refuses a file that others can read or that another user owns, since it may hold a token. */
int cli_config_load(cli_config *cfg, rp_error *err) RP_MUST_CHECK;
/* Parse a config document (strict: unknown keys and wrong types are refused). */
int cli_config_parse(cli_config *cfg, const char *text, size_t len, rp_error *err) RP_MUST_CHECK;
/* Write atomically with mode 0600, creating the directory with mode 0700. */
int cli_config_save(const cli_config *cfg, rp_error *err) RP_MUST_CHECK;
/* Replace a string field (NULL clears it). */
void cli_config_set(char **field, const char *value);
void cli_config_free(cli_config *cfg);
