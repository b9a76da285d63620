/* rampartd's configuration: built-in defaults, then a key=value file (--config), then flags. */
#pragma once

#include <stdint.h>
#include "common/error.h"
#include "common/log.h"

struct config {
	char *state_dir;
	char *listen;   /* "127.0.0.1:8443" */
	char *tls_cert; /* NULL = STATE/tls/cert.pem, created on first start */
	char *tls_key;
	enum rp_log_format log_format;
	enum rp_log_level log_level;
	uint64_t max_image_size;
	uint32_t threads;
};

void config_defaults(struct config *cfg);
void config_free(struct config *cfg);
/* Apply one setting; KEY is a config-file key (listen, tls_cert, tls_key, log_format, log_level,
 * max_image_size, threads, state_dir). */
int config_set(struct config *cfg, const char *key, const char *value, rp_error *err) RP_MUST_CHECK;
/* Lines of "key = value"; blank lines and lines starting with '#' are ignored; unknown keys fail. */
int config_load_file(struct config *cfg, const char *path, rp_error *err) RP_MUST_CHECK;
/* Split "HOST:PORT" (HOST may be "[v6]"); HOST is malloc'd without brackets. */
int config_split_listen(const char *listen, char **host, uint16_t *port, rp_error *err) RP_MUST_CHECK;
