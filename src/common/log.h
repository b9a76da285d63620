/* Logging: human-readable lines for people, JSON lines for machines, to stderr or a file. */
#pragma once

#include <stdio.h>
#include "common/macros.h"

enum rp_log_level { RP_LOG_DEBUG, RP_LOG_INFO, RP_LOG_NOTICE, RP_LOG_WARNING, RP_LOG_ERROR };
enum rp_log_format { RP_LOG_FORMAT_HUMAN, RP_LOG_FORMAT_JSON };

/* component names the process ("rampartd", "monitor"); stream NULL means stderr. */
void rp_log_init(const char *component, enum rp_log_format format, enum rp_log_level min_level, FILE *stream);
enum rp_log_format rp_log_get_format(void);
void rp_log_set_level(enum rp_log_level min_level);
/* Parse "debug|info|notice|warning|error" and "human|json"; return -1 when unknown. */
int rp_log_level_parse(const char *name, enum rp_log_level *out);
int rp_log_format_parse(const char *name, enum rp_log_format *out);

void rp_log(enum rp_log_level level, const char *fmt, ...) RP_PRINTF(2, 3);
/* A structured event: `event` is a stable machine name ("package.verify.failed"); the message is
 * for people. In JSON format both appear as fields. */
void rp_log_event(enum rp_log_level level, const char *event, const char *fmt, ...) RP_PRINTF(3, 4);

#define rp_debug(...) rp_log(RP_LOG_DEBUG, __VA_ARGS__)
#define rp_info(...) rp_log(RP_LOG_INFO, __VA_ARGS__)
#define rp_notice(...) rp_log(RP_LOG_NOTICE, __VA_ARGS__)
#define rp_warn(...) rp_log(RP_LOG_WARNING, __VA_ARGS__)
#define rp_err(...) rp_log(RP_LOG_ERROR, __VA_ARGS__)
