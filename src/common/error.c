/* Error objects: a code, the errno behind it if any, and a message chain built outward. */
#include "common/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error_internal.h"
#include "common/log.h"

void rp_error_vformat(rp_error *err, const char *fmt, va_list ap)
{
	int n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
	if (n < 0)
		snprintf(err->message, sizeof(err->message), "(unformattable error message)");
}

void rp_error_append(rp_error *err, const char *suffix)
{
	size_t used = strlen(err->message);
	if (used < sizeof(err->message) - 1)
		snprintf(err->message + used, sizeof(err->message) - used, "%s", suffix);
}

int rp_error_set(rp_error *err, enum rp_errc code, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	err->code = code;
	err->sys_errno = 0;
	rp_error_vformat(err, fmt, ap);
	va_end(ap);
	return -1;
}

static enum rp_errc code_from_errno(int errnum)
{
	switch (errnum) {
	case ENOENT:
		return RP_E_NOT_FOUND;
	case EEXIST:
		return RP_E_EXISTS;
	case EACCES:
	case EPERM:
	case EROFS:
		return RP_E_PERMISSION;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
	case EMFILE:
	case ENFILE:
		return RP_E_LIMIT;
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ETIMEDOUT:
		return RP_E_UNAVAILABLE;
	case EINVAL:
	case ELOOP:
	case EXDEV:
		return RP_E_INVALID;
	default:
		return RP_E_IO;
	}
}

int rp_error_set_errno(rp_error *err, int errnum, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	rp_error_vformat(err, fmt, ap);
	va_end(ap);
	err->code = code_from_errno(errnum);
	err->sys_errno = errnum;
	rp_error_append(err, ": ");
	rp_error_append(err, strerror(errnum));
	return -1;
}

int rp_error_prefix(rp_error *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char context[RP_ERROR_MESSAGE_MAX];
	char old[RP_ERROR_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(context, sizeof(context), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	memcpy(old, err->message, sizeof(old));
	/* Truncation keeps the outermost context, which is what the user reads first. */
	size_t clen = strlen(context);
	if (clen > sizeof(err->message) - 3)
		clen = sizeof(err->message) - 3;
	memcpy(err->message, context, clen);
	memcpy(err->message + clen, ": ", 2);
	size_t room = sizeof(err->message) - clen - 3;
	size_t olen = strnlen(old, room);
	memcpy(err->message + clen + 2, old, olen);
	err->message[clen + 2 + olen] = '\0';
	if (err->code == RP_OK)
		err->code = RP_E_INTERNAL;
	return -1;
}

void rp_error_clear(rp_error *err)
{
	if (!err)
		return;
	err->code = RP_OK;
	err->sys_errno = 0;
	err->message[0] = '\0';
}

bool rp_error_is_set(const rp_error *err)
{
	return err && err->code != RP_OK;
}

const char *rp_error_code_name(enum rp_errc code)
{
	switch (code) {
	case RP_OK: return "ok";
	case RP_E_INVALID: return "invalid";
	case RP_E_IO: return "io";
	case RP_E_NOT_FOUND: return "not-found";
	case RP_E_EXISTS: return "exists";
	case RP_E_PERMISSION: return "permission";
	case RP_E_VERIFY: return "verification-failed";
	case RP_E_LIMIT: return "limit";
	case RP_E_UNSUPPORTED: return "unsupported";
	case RP_E_CRYPTO: return "crypto";
	case RP_E_CONFLICT: return "conflict";
	case RP_E_EXPIRED: return "expired";
	case RP_E_UNAVAILABLE: return "unavailable";
	case RP_E_INTERNAL: return "internal";
	}
	return "unknown";
}

int rp_error_exit_status(const rp_error *err)
{
	if (!err || err->code == RP_OK)
		return 0;
	switch (err->code) {
	case RP_E_INVALID: return 2;
	case RP_E_VERIFY: return 3;
	case RP_E_NOT_FOUND: return 4;
	case RP_E_PERMISSION: return 5;
	case RP_E_EXISTS:
	case RP_E_CONFLICT: return 6;
	case RP_E_UNAVAILABLE: return 7;
	case RP_E_LIMIT: return 8;
	case RP_E_EXPIRED: return 9;
	default: return 1;
	}
}

void rp_error_report(const rp_error *err, const char *prog)
{
	if (!err || err->code == RP_OK)
		return;
	if (rp_log_get_format() == RP_LOG_FORMAT_JSON)
		rp_log(RP_LOG_ERROR, "%s (%s)", err->message, rp_error_code_name(err->code));
	else
		fprintf(stderr, "%s: error: %s\n", prog, err->message);
}
