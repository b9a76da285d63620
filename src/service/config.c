/* rampartd configuration: defaults, key=value file, flags (see config.h). */
#include "service/config.h"

#include <string.h>
#include "common/fileio.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "service/api.h"

#define CONFIG_FILE_MAX (64 * 1024)

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = xstrdup("127.0.0.1:8443");
	cfg->log_format = RP_LOG_FORMAT_HUMAN;
	cfg->log_level = RP_LOG_INFO;
	cfg->max_image_size = API_DEFAULT_IMAGE_MAX;
	cfg->threads = 8;
}

void config_free(struct config *cfg)
{
	free(cfg->state_dir);
	free(cfg->listen);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	memset(cfg, 0, sizeof(*cfg));
}

static void replace(char **slot, const char *value)
{
	free(*slot);
	*slot = xstrdup(value);
}

int config_set(struct config *cfg, const char *key, const char *value, rp_error *err)
{
	if (strcmp(key, "state_dir") == 0) {
		replace(&cfg->state_dir, value);
	} else if (strcmp(key, "listen") == 0) {
		char *host = NULL;
		uint16_t port;
		if (config_split_listen(value, &host, &port, err) < 0)
			return -1;
		free(host);
		replace(&cfg->listen, value);
	} else if (strcmp(key, "tls_cert") == 0) {
		replace(&cfg->tls_cert, value);
	} else if (strcmp(key, "tls_key") == 0) {
		replace(&cfg->tls_key, value);
	} else if (strcmp(key, "log_format") == 0) {
		if (rp_log_format_parse(value, &cfg->log_format) < 0)
			return rp_error_set(err, RP_E_INVALID, "log_format must be human or json");
	} else if (strcmp(key, "log_level") == 0) {
		if (rp_log_level_parse(value, &cfg->log_level) < 0)
			return rp_error_set(err, RP_E_INVALID, "log_level must be debug, info, notice, warning or error");
	} else if (strcmp(key, "max_image_size") == 0) {
		if (rp_parse_size(value, 1ull << 32, &cfg->max_image_size, err) < 0)
			return rp_error_prefix(err, "max_image_size");
	} else if (strcmp(key, "threads") == 0) {
		if (rp_parse_u32(value, 1, 256, &cfg->threads, err) < 0)
			return rp_error_prefix(err, "threads");
	} else {
		return rp_error_set(err, RP_E_INVALID,
		                    "unknown setting \"%.64s\" (known: state_dir, listen, tls_cert, tls_key, log_format, "
		                    "log_level, max_image_size, threads)",
		                    key);
	}
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int config_load_file(struct config *cfg, const char *path, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, CONFIG_FILE_MAX, &data, &len, err) < 0)
		return rp_error_prefix(err, "reading configuration");
	if (strlen((char *)data) != len)
		return rp_error_set(err, RP_E_INVALID, "%s: contains a NUL byte", path);
	char *save = NULL;
	int lineno = 0;
	for (char *line = strtok_r((char *)data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *l = trim(line);
		if (*l == '\0' || *l == '#')
			continue;
		char *eq = strchr(l, '=');
		if (!eq)
			return rp_error_set(err, RP_E_INVALID, "%s: a line is not \"key = value\": \"%.64s\"", path, l);
		*eq = '\0';
		if (config_set(cfg, trim(l), trim(eq + 1), err) < 0)
			return rp_error_prefix(err, "%s", path);
	}
	return 0;
}

int config_split_listen(const char *listen, char **host, uint16_t *port, rp_error *err)
{
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen)
		return rp_error_set(err, RP_E_INVALID, "listen address \"%.64s\" must be HOST:PORT", listen);
	uint32_t p;
	if (rp_parse_u32(colon + 1, 1, 65535, &p, err) < 0)
		return rp_error_prefix(err, "listen port");
	const char *h = listen;
	size_t hlen = (size_t)(colon - listen);
	if (h[0] == '[') {
		if (hlen < 3 || h[hlen - 1] != ']')
			return rp_error_set(err, RP_E_INVALID, "listen address \"%.64s\": unbalanced brackets", listen);
		h++;
		hlen -= 2;
	}
	*host = xstrndup(h, hlen);
	*port = (uint16_t)p;
	return 0;
}
