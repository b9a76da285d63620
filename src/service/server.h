/* The HTTPS server of rampartd: libmicrohttpd (HTTP parsing, TLS) feeding api_dispatch(). */
#pragma once

#include "common/error.h"
#include "service/api.h"
#include "service/config.h"

struct server;

/* Start serving on cfg->listen with a pool of cfg->threads threads. Block SIGTERM/SIGINT in the
 * caller before calling, so worker threads never take them. */
struct server *server_start(struct api_ctx *ctx, const struct config *cfg, const char *cert_path,
                            const char *key_path, rp_error *err);
/* Stop accepting, let requests in flight finish (at most 5 s), join the threads, free. */
void server_stop(struct server *srv);
