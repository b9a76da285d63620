/* Connection setup for service commands (see session.h). The token is only ever sent to the
 * service it was saved for: when --service or $RAMPART_SERVICE names another URL, the saved token
 * and CA are not used, so a mistyped or hostile URL cannot collect the user's credentials. */
#include "cli/session.h"

#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/parse.h"
#include "common/xalloc.h"

#define CA_PEM_MAX (1024 * 1024)
#define LIST_PAGE_SIZE 1000
#define LIST_MAX_PAGES 10000
/* A hostile or broken service could page forever: bound what one list may cost the CLI in
 * total, not only per page (each page may be API_CLIENT_MAX_RESPONSE). */
#define LIST_MAX_ITEMS 100000
#define LIST_MAX_BYTES (32u * 1024 * 1024)

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

char *cli_load_ca_pem(const char *path, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, CA_PEM_MAX, &data, &len, err) < 0)
		return NULL;
	_cleanup_bio_ BIO *bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		rp_abort("BIO_new_mem_buf");
	X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!cert) {
		rp_error_set(err, RP_E_INVALID, "%s holds no PEM certificate (expected '-----BEGIN CERTIFICATE-----')", path);
		return NULL;
	}
	X509_free(cert);
	return (char *)steal_ptr(data);
}

int cli_json_set_string(json_t *obj, const char *key, const char *value, const char *what, rp_error *err)
{
	json_t *s = json_string(value);
	if (!s)
		return rp_error_set(err, RP_E_INVALID, "%s is not valid UTF-8 text", what);
	json_object_set_new(obj, key, s);
	return 0;
}

int cli_session_open(struct cli_session *s, const struct cli_ctx *ctx, rp_error *err)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	const char *service = ctx->service ? ctx->service : env_nonempty("RAMPART_SERVICE");
	const char *token = ctx->token ? ctx->token : env_nonempty("RAMPART_TOKEN");
	const char *ca_file = ctx->ca_cert ? ctx->ca_cert : env_nonempty("RAMPART_CA_CERT");
	bool insecure = ctx->insecure || (env_nonempty("RAMPART_INSECURE_SKIP_VERIFY") &&
	                                  strcmp(getenv("RAMPART_INSECURE_SKIP_VERIFY"), "0") != 0);

	rp_error cfg_err = RP_ERROR_INIT;
	if (cli_config_load(&s->cfg, &cfg_err) == 0) {
		s->cfg_loaded = true;
	} else if (!(service && token)) {
		/* The configuration is needed and unusable: say why rather than guessing. */
		*err = cfg_err;
		cli_config_free(&s->cfg);
		return -1;
	}
	/* Saved credentials belong to the saved service only. */
	bool same_service = s->cfg_loaded && s->cfg.service && (!service || strcmp(service, s->cfg.service) == 0);
	if (!service && s->cfg_loaded)
		service = s->cfg.service;
	if (!token && same_service)
		token = s->cfg.token;
	_cleanup_free_ char *ca_pem = NULL;
	if (ca_file) {
		ca_pem = cli_load_ca_pem(ca_file, err);
		if (!ca_pem)
			return rp_error_prefix(err, "loading --ca-cert");
	} else if (same_service && s->cfg.ca_cert_pem) {
		ca_pem = xstrdup(s->cfg.ca_cert_pem);
	}
	if (!service)
		return rp_error_set(err, RP_E_INVALID,
		                    "no service configured: run 'rampart login --service https://HOST:PORT --ca-cert FILE' "
		                    "or pass --service");
	if (insecure)
		fprintf(stderr, "rampart: warning: not verifying the service's TLS certificate (--insecure-skip-verify); "
		                "anyone on the network path can read your token and change the answers\n");
	struct api_client_options o = {
		.base_url = service,
		.token = token,
		.ca_pem = ca_pem,
		.insecure_skip_verify = insecure,
		.progress = isatty(STDERR_FILENO) == 1,
	};
	s->api = api_client_new(&o, err);
	if (!s->api)
		return -1;
	s->service = xstrdup(service);
	return 0;
}

void cli_session_close(struct cli_session *s)
{
	api_client_free(s->api);
	cli_config_free(&s->cfg);
	free(s->service);
	free(s->tenant_id);
	memset(s, 0, sizeof(*s));
}

json_t *cli_session_list(struct cli_session *s, const char *path, rp_error *err)
{
	_cleanup_json_ json_t *all = json_array();
	_cleanup_free_ char *page_token = NULL;
	const char sep = strchr(path, '?') ? '&' : '?';
	size_t bytes = 0;
	for (int page = 0; page < LIST_MAX_PAGES; page++) {
		_cleanup_free_ char *tok = page_token ? api_escape(page_token) : NULL;
		_cleanup_free_ char *url = tok ? xasprintf("%s%climit=%d&page_token=%s", path, sep, LIST_PAGE_SIZE, tok)
		                               : xasprintf("%s%climit=%d", path, sep, LIST_PAGE_SIZE);
		_cleanup_json_ json_t *reply = NULL;
		if (api_client_call(s->api, "GET", url, NULL, &reply, err) < 0)
			return NULL;
		bytes += api_client_last_response_bytes(s->api);
		json_t *items = json_object_get(reply, "items");
		json_t *next = json_object_get(reply, "next_page_token");
		if (!json_is_array(items) || (next && !json_is_null(next) && !json_is_string(next))) {
			rp_error_set(err, RP_E_INVALID, "GET %s: the service's reply is not a list (no \"items\" array)", path);
			return NULL;
		}
		json_array_extend(all, items);
		if (json_array_size(all) > LIST_MAX_ITEMS || bytes > LIST_MAX_BYTES) {
			rp_error_set(err, RP_E_LIMIT,
			             "GET %s: the list is larger than the CLI accepts (%d items or %u MiB in all); "
			             "narrow the query", path, LIST_MAX_ITEMS, LIST_MAX_BYTES / (1024 * 1024));
			return NULL;
		}
		const char *next_token = json_is_string(next) ? json_string_value(next) : NULL;
		if (!next_token || !*next_token)
			return steal_ptr(all);
		/* A token that does not move on would page the same items forever. */
		if (page_token && strcmp(page_token, next_token) == 0) {
			rp_error_set(err, RP_E_INVALID,
			             "GET %s: the service returned the same next_page_token twice, so the list never "
			             "ends; this is a fault of the service", path);
			return NULL;
		}
		free(page_token);
		page_token = xstrdup(next_token);
	}
	rp_error_set(err, RP_E_LIMIT, "GET %s: more than %d pages; narrow the query", path, LIST_MAX_PAGES);
	return NULL;
}

char *cli_session_resolve_tenant(struct cli_session *s, const char *id_or_name, rp_error *err)
{
	if (rp_guid_is_valid(id_or_name)) {
		char id[RP_GUID_STRLEN + 1];
		if (rp_guid_normalize(id_or_name, id, err) < 0)
			return NULL;
		return xstrdup(id);
	}
	_cleanup_json_ json_t *items = cli_session_list(s, "/v1/tenants", err);
	if (!items)
		return NULL;
	const char *found = NULL;
	size_t i, matches = 0;
	json_t *t;
	json_array_foreach(items, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		if (name && strcmp(name, id_or_name) == 0) {
			found = json_string_value(json_object_get(t, "tenant_id"));
			matches++;
		}
	}
	if (matches == 0 || !found) {
		rp_error_set(err, RP_E_NOT_FOUND, "no tenant named '%s' that you can see; 'rampart tenant list' shows them",
		             id_or_name);
		return NULL;
	}
	if (matches > 1) {
		rp_error_set(err, RP_E_CONFLICT, "%zu tenants are named '%s'; give the tenant ID instead", matches, id_or_name);
		return NULL;
	}
	return xstrdup(found);
}

const char *cli_session_tenant(struct cli_session *s, rp_error *err)
{
	if (s->tenant_id)
		return s->tenant_id;
	const char *want = s->ctx->tenant ? s->ctx->tenant : env_nonempty("RAMPART_TENANT");
	bool same_service = s->cfg_loaded && s->cfg.service && strcmp(s->cfg.service, s->service) == 0;
	if (!want && same_service)
		want = s->cfg.tenant;
	if (want) {
		s->tenant_id = cli_session_resolve_tenant(s, want, err);
		if (!s->tenant_id)
			rp_error_prefix(err, "finding tenant");
		return s->tenant_id;
	}
	/* Nothing selected: use the caller's tenant when there is exactly one. */
	_cleanup_json_ json_t *me = NULL;
	if (api_client_call(s->api, "GET", "/v1/whoami", NULL, &me, err) < 0)
		return NULL;
	json_t *roles = json_object_get(me, "roles");
	if (json_is_array(roles) && json_array_size(roles) == 1) {
		const char *id = json_string_value(json_object_get(json_array_get(roles, 0), "tenant_id"));
		if (id && rp_guid_is_valid(id)) {
			s->tenant_id = xstrdup(id);
			return s->tenant_id;
		}
	}
	rp_error_set(err, RP_E_INVALID,
	             "no tenant selected: run 'rampart tenant select --tenant ID' (see 'rampart tenant list'; a service "
	             "administrator creates one with 'rampart tenant create --name NAME'), or pass --tenant");
	return NULL;
}

int cli_session_start(struct cli_session *s, const struct cli_ctx *ctx, bool need_tenant, const char **tenant_id,
                      rp_error *err)
{
	if (cli_session_open(s, ctx, err) < 0)
		return -1;
	if (need_tenant) {
		*tenant_id = cli_session_tenant(s, err);
		if (!*tenant_id)
			return -1;
	}
	return 0;
}

char *cli_session_product(struct cli_session *s, const char *spec, rp_error *err)
{
	const char *tenant = cli_session_tenant(s, err);
	if (!tenant)
		return NULL;
	_cleanup_free_ char *path = api_path("/v1/tenants/%s/products/%s", tenant, spec);
	_cleanup_json_ json_t *product = NULL;
	if (api_client_call(s->api, "GET", path, NULL, &product, err) < 0) {
		rp_error_prefix(err, "finding product '%s'", spec);
		return NULL;
	}
	const char *id = json_string_value(json_object_get(product, "product_id"));
	if (!id || !rp_guid_is_valid(id)) {
		rp_error_set(err, RP_E_INVALID, "finding product '%s': the service's reply has no product_id", spec);
		return NULL;
	}
	return xstrdup(id);
}

char *cli_session_device_group(struct cli_session *s, const char *spec, rp_error *err)
{
	if (rp_guid_is_valid(spec)) {
		char id[RP_GUID_STRLEN + 1];
		if (rp_guid_normalize(spec, id, err) < 0)
			return NULL;
		return xstrdup(id);
	}
	const char *tenant = cli_session_tenant(s, err);
	if (!tenant)
		return NULL;
	/* Product names may hold '/', so try each split from the right; the number of tries is bounded
	 * by the number of slashes in SPEC. */
	size_t len = strlen(spec);
	for (size_t pos = len; pos-- > 0;) {
		if (spec[pos] != '/' || pos == 0 || pos + 1 == len)
			continue;
		_cleanup_free_ char *product = xstrndup(spec, pos);
		const char *group = spec + pos + 1;
		_cleanup_free_ char *path = api_path("/v1/tenants/%s/products/%s/device-groups", tenant, product);
		rp_error lerr = RP_ERROR_INIT;
		_cleanup_json_ json_t *items = cli_session_list(s, path, &lerr);
		if (!items) {
			if (lerr.code == RP_E_NOT_FOUND)
				continue;
			*err = lerr;
			rp_error_prefix(err, "finding device group '%s'", spec);
			return NULL;
		}
		size_t i;
		json_t *g;
		json_array_foreach(items, i, g) {
			const char *name = json_string_value(json_object_get(g, "name"));
			const char *id = json_string_value(json_object_get(g, "device_group_id"));
			if (name && id && strcmp(name, group) == 0)
				return xstrdup(id);
		}
	}
	rp_error_set(err, RP_E_NOT_FOUND,
	             "no device group '%s': give its ID or PRODUCT/GROUP, e.g. 'MyProduct/Field Test' "
	             "(see 'rampart device-group list')",
	             spec);
	return NULL;
}

int cli_add_if_version(const struct cli_ctx *ctx, json_t *body, rp_error *err)
{
	const char *v = cli_opt(ctx, "if-version");
	if (!v)
		return 0;
	int64_t version = 0;
	if (rp_parse_i64(v, 0, INT64_MAX, &version, err) < 0)
		return rp_error_prefix(err, "--if-version");
	json_object_set_new(body, "version", json_integer(version));
	return 0;
}

int cli_list_tenant_collection(const struct cli_ctx *ctx, const char *collection, const char *what,
                               const struct cli_column *cols, size_t ncols)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_session_ struct cli_session s = {0};
	const char *tenant = NULL;
	_cleanup_json_ json_t *items = NULL;
	_cleanup_free_ char *path = NULL;
	if (cli_session_start(&s, ctx, true, &tenant, &err) < 0)
		goto fail;
	path = api_path("/v1/tenants/%s/%s", tenant, collection);
	if (!(items = cli_session_list(&s, path, &err)))
		goto fail;
	cli_render_list(ctx->output, items, cols, ncols);
	return 0;
fail:
	rp_error_prefix(&err, "listing %s", what);
	return cli_fail(&err);
}
