/* Logging backend (see log.h). One line per record, written with a single fputs so concurrent
 * writers to the same stream do not interleave within a record. */
#include "common/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static struct {
	char component[64];
	enum rp_log_format format;
	enum rp_log_level min_level;
	FILE *stream;
} logger = {"rampart", RP_LOG_FORMAT_HUMAN, RP_LOG_INFO, NULL};

static const char *const level_names[] = {"debug", "info", "notice", "warning", "error"};

void rp_log_init(const char *component, enum rp_log_format format, enum rp_log_level min_level, FILE *stream)
{
	snprintf(logger.component, sizeof(logger.component), "%s", component ? component : "rampart");
	logger.format = format;
	logger.min_level = min_level;
	logger.stream = stream;
}

enum rp_log_format rp_log_get_format(void) { return logger.format; }
void rp_log_set_level(enum rp_log_level min_level) { logger.min_level = min_level; }

int rp_log_level_parse(const char *name, enum rp_log_level *out)
{
	for (size_t i = 0; i < RP_ARRAY_SIZE(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum rp_log_level)i;
			return 0;
		}
	}
	return -1;
}

int rp_log_format_parse(const char *name, enum rp_log_format *out)
{
	if (strcmp(name, "human") == 0)
		*out = RP_LOG_FORMAT_HUMAN;
	else if (strcmp(name, "json") == 0)
		*out = RP_LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

static void timestamp(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

RP_PRINTF(3, 0) static void emit(enum rp_log_level level, const char *event, const char *fmt, va_list ap)
{
	if (level < logger.min_level)
		return;
	FILE *out = logger.stream ? logger.stream : stderr;
	char msg[4096];
	char ts[40];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	timestamp(ts, sizeof(ts));
	if (logger.format == RP_LOG_FORMAT_JSON) {
		json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "component",
		                        logger.component, "msg", msg);
		if (!rec)
			return; /* message was not valid UTF-8; jansson refuses it */
		if (event)
			json_object_set_new(rec, "event", json_string(event));
		char *line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(rec);
		if (line) {
			char *full = NULL;
			if (asprintf(&full, "%s\n", line) >= 0) {
				fputs(full, out);
				free(full);
			}
			free(line);
		}
	} else {
		char line[4352];
		snprintf(line, sizeof(line), "%s %s[%d] %s: %s%s%s\n", ts, logger.component, (int)getpid(),
		         level_names[level], event ? event : "", event ? ": " : "", msg);
		fputs(line, out);
	}
	fflush(out);
}

void rp_log(enum rp_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(level, NULL, fmt, ap);
	va_end(ap);
}

void rp_log_event(enum rp_log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(level, event, fmt, ap);
	va_end(ap);
}
