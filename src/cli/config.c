/* The CLI's per-user configuration file (see config.h). It holds a bearer token, so it is written
 * 0600 atomically and never read when other users could have read (or replaced) it. */
#include "cli/config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"

#define CONFIG_VERSION 1

char *cli_config_path(rp_error *err)
{
	const char *explicit_path = getenv("RAMPART_CONFIG");
	if (explicit_path && *explicit_path)
		return xstrdup(explicit_path);
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (xdg && xdg[0] == '/')
		return xasprintf("%s/rampart/config.json", xdg);
	const char *home = getenv("HOME");
	if (home && home[0] == '/')
		return xasprintf("%s/.config/rampart/config.json", home);
	rp_error_set(err, RP_E_INVALID, "cannot find a place for the configuration file: set HOME, XDG_CONFIG_HOME "
	                                "or RAMPART_CONFIG");
	return NULL;
}

void cli_config_set(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

void cli_config_free(cli_config *cfg)
{
	free(cfg->path);
	free(cfg->service);
	if (cfg->token)
		explicit_bzero(cfg->token, strlen(cfg->token));
	free(cfg->token);
	free(cfg->ca_cert_pem);
	free(cfg->tenant);
	memset(cfg, 0, sizeof(*cfg));
}

static int get_optional_string(json_t *doc, const char *key, char **out, rp_error *err)
{
	const char *value = NULL;
	if (rp_json_get_string(doc, key, false, &value, err) < 0)
		return -1;
	if (value)
		cli_config_set(out, value);
	return 0;
}

int cli_config_parse(cli_config *cfg, const char *text, size_t len, rp_error *err)
{
	static const char *const keys[] = {"version", "service", "token", "ca_cert_pem", "tenant", NULL};
	_cleanup_json_ json_t *doc = rp_json_parse(text, len, CLI_CONFIG_MAX_BYTES, "configuration", err);
	if (!doc)
		return -1;
	if (rp_json_check_keys(doc, keys, "configuration", err) < 0)
		return -1;
	int64_t version = 0;
	if (rp_json_get_int(doc, "version", true, 1, INT32_MAX, &version, err) < 0)
		return -1;
	if (version != CONFIG_VERSION)
		return rp_error_set(err, RP_E_UNSUPPORTED, "configuration version %lld is not supported (expected %d)",
		                    (long long)version, CONFIG_VERSION);
	if (get_optional_string(doc, "service", &cfg->service, err) < 0 ||
	    get_optional_string(doc, "token", &cfg->token, err) < 0 ||
	    get_optional_string(doc, "ca_cert_pem", &cfg->ca_cert_pem, err) < 0 ||
	    get_optional_string(doc, "tenant", &cfg->tenant, err) < 0)
		return -1;
	return 0;
}

int cli_config_load(cli_config *cfg, rp_error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->path = cli_config_path(err);
	if (!cfg->path)
		return -1;
	_cleanup_close_ int fd = open(cfg->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return rp_error_set_errno(err, errno, "opening configuration %s", cfg->path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rp_error_set_errno(err, errno, "examining configuration %s", cfg->path);
	if (!S_ISREG(st.st_mode))
		return rp_error_set(err, RP_E_INVALID, "configuration %s is not a regular file", cfg->path);
	/* The file carries a bearer token: if someone else owns it they could have planted a service URL
	 * that collects our token; if others can read it the token may already have leaked. */
	if (st.st_uid != geteuid())
		return rp_error_set(err, RP_E_PERMISSION,
		                    "configuration %s belongs to another user (uid %u); remove it and run 'rampart login'",
		                    cfg->path, (unsigned)st.st_uid);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return rp_error_set(err, RP_E_PERMISSION,
		                    "configuration %s is accessible by other users (mode %04o) and holds an API token; "
		                    "run 'chmod 600 %s' (and consider the token leaked: create a new one)",
		                    cfg->path, (unsigned)(st.st_mode & 07777), cfg->path);
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_fd_all(fd, CLI_CONFIG_MAX_BYTES, &data, &len, err) < 0 ||
	    cli_config_parse(cfg, (const char *)data, len, err) < 0) {
		if (data)
			explicit_bzero(data, len);
		return rp_error_prefix(err, "reading configuration %s (fix or remove it, then run 'rampart login')",
		                       cfg->path);
	}
	explicit_bzero(data, len);
	return 0;
}

static void put_string(json_t *doc, const char *key, const char *value)
{
	if (value)
		json_object_set_new(doc, key, json_string(value));
}

int cli_config_save(const cli_config *cfg, rp_error *err)
{
	_cleanup_json_ json_t *doc = json_object();
	json_object_set_new(doc, "version", json_integer(CONFIG_VERSION));
	put_string(doc, "service", cfg->service);
	put_string(doc, "token", cfg->token);
	put_string(doc, "ca_cert_pem", cfg->ca_cert_pem);
	put_string(doc, "tenant", cfg->tenant);
	_cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!text)
		return rp_error_set(err, RP_E_INVALID, "configuration cannot be written as JSON (invalid UTF-8 in a value?)");
	_cleanup_free_ char *dir = xstrdup(cfg->path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (rp_mkdir_p(dir, 0700, err) < 0)
			return rp_error_prefix(err, "saving configuration");
	}
	size_t len = strlen(text);
	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	int r = rp_write_file_atomic(cfg->path, text, len, 0600, err);
	explicit_bzero(text, len);
	if (r < 0)
		return rp_error_prefix(err, "saving configuration");
	return 0;
}
