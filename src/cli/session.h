/* A CLI command's connection to rampartd: resolves the service URL, token, trusted CA and tenant
 * from flags, environment and the user's configuration (in that order), and offers the calls
 * every command group needs (tenant resolution, fetching every page of a list). */
#pragma once

#include <jansson.h>
#include "cli/api_client.h"
#include "cli/args.h"
#include "cli/config.h"
#include "cli/render.h"

struct cli_session {
	const struct cli_ctx *ctx;
	cli_config cfg;
	bool cfg_loaded;
	api_client *api;
	char *service; /* effective service URL */
	char *tenant_id;
};

/* Connect for CTX (no request is sent yet). */
int cli_session_open(struct cli_session *s, const struct cli_ctx *ctx, rp_error *err) RP_MUST_CHECK;
void cli_session_close(struct cli_session *s);
#define _cleanup_session_ _cleanup_(cli_session_close)
/* Open, and resolve the tenant when NEED_TENANT; *tenant_id then points into the session. */
int cli_session_start(struct cli_session *s, const struct cli_ctx *ctx, bool need_tenant, const char **tenant_id,
                      rp_error *err) RP_MUST_CHECK;

/* The tenant to act on: --tenant, $RAMPART_TENANT, the selected tenant in the configuration, or
 * the caller's only tenant. Names are resolved to IDs. The string is owned by the session. */
const char *cli_session_tenant(struct cli_session *s, rp_error *err);
/* Resolve a tenant ID or exact name to an ID (malloc'd). */
char *cli_session_resolve_tenant(struct cli_session *s, const char *id_or_name, rp_error *err);

/* Resolve a device group given as its ID or as PRODUCT/GROUP (product ID or name, group name). */
char *cli_session_device_group(struct cli_session *s, const char *spec, rp_error *err);
/* Resolve a product ID or exact name to its ID. */
char *cli_session_product(struct cli_session *s, const char *spec, rp_error *err);

/* GET every page of a list route (PATH may already hold a query); returns the items array. */
json_t *cli_session_list(struct cli_session *s, const char *path, rp_error *err);
/* A whole "list" command: every page of /v1/tenants/<selected>/COLLECTION rendered with COLS;
 * errors read "listing WHAT: ...". Returns the exit status. */
int cli_list_tenant_collection(const struct cli_ctx *ctx, const char *collection, const char *what,
                               const struct cli_column *cols, size_t ncols);

/* Read a PEM file holding at least one X.509 certificate (for --ca-cert); malloc'd text. */
char *cli_load_ca_pem(const char *path, rp_error *err);

/* Set KEY to VALUE in OBJ, refusing text that is not valid UTF-8 (what names the option). */
int cli_json_set_string(json_t *obj, const char *key, const char *value, const char *what,
                        rp_error *err) RP_MUST_CHECK;

/* Add "version" from the command's --if-version N option, when given (optimistic concurrency:
 * the service refuses the change with 409 if the object changed since). */
int cli_add_if_version(const struct cli_ctx *ctx, json_t *body, rp_error *err) RP_MUST_CHECK;
