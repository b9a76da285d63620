/* applibs log: Log_Debug to stderr, one write() per call so lines from threads do not interleave. */
#include <applibs/log.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"

#define LOG_LINE_MAX 4096

int Log_DebugVarArgs(const char *fmt, va_list args)
{
	char buf[LOG_LINE_MAX];
	const char *name = getenv("RAMPART_APP_NAME");
	int prefix, n;

	if (!fmt) {
		errno = EFAULT;
		return -1;
	}
	if (!name || !*name)
		name = program_invocation_short_name;
	prefix = snprintf(buf, sizeof(buf), "%.31s: ", name);
	if (prefix < 0)
		return -1;
	n = vsnprintf(buf + prefix, sizeof(buf) - (size_t)prefix, fmt, args);
	if (n < 0)
		return -1;
	/* Longer messages are cut at LOG_LINE_MAX rather than split across writes. */
	size_t len = (size_t)prefix + (size_t)n;
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	return rp_write_full(STDERR_FILENO, buf, len) < 0 ? -1 : 0;
}

int Log_Debug(const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = Log_DebugVarArgs(fmt, ap);
	va_end(ap);
	return r;
}
