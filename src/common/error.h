/*
 * The one error convention (docs/error-handling.md): a fallible function returns a negative
 * value or NULL and fills an rp_error; each layer prepends its context with rp_error_prefix();
 * the top reports it once with rp_error_report().
 */
#pragma once

#include <stdbool.h>
#include "common/macros.h"

enum rp_errc {
	RP_OK = 0,
	RP_E_INVALID,     /* malformed or hostile input */
	RP_E_IO,          /* operating-system failure; sys_errno says which */
	RP_E_NOT_FOUND,   /* a named thing does not exist */
	RP_E_EXISTS,      /* a thing that must be new already exists */
	RP_E_PERMISSION,  /* refused by policy or by the OS */
	RP_E_VERIFY,      /* a signature, hash, trust or freshness check failed */
	RP_E_LIMIT,       /* a configured bound (size, count, quota) was exceeded */
	RP_E_UNSUPPORTED, /* a version, algorithm or feature we do not implement */
	RP_E_CRYPTO,      /* a cryptographic library failed (not a verification result) */
	RP_E_CONFLICT,    /* the state changed underneath, or an exclusive resource is taken */
	RP_E_EXPIRED,     /* a time-bounded object is out of its validity window */
	RP_E_UNAVAILABLE, /* a peer or service could not be reached; retrying may help */
	RP_E_INTERNAL,    /* a bug in Rampart */
};

#define RP_ERROR_MESSAGE_MAX 2048

typedef struct rp_error {
	enum rp_errc code;
	int sys_errno;
	char message[RP_ERROR_MESSAGE_MAX];
} rp_error;

#define RP_ERROR_INIT {.code = RP_OK, .sys_errno = 0, .message = {0}}

/* Each setter returns -1 so that `return rp_error_set(...)` reads naturally; err may be NULL. */
int rp_error_set(rp_error *err, enum rp_errc code, const char *fmt, ...) RP_PRINTF(3, 4);
/* Like rp_error_set, code derived from errnum (ENOENT -> NOT_FOUND, EACCES -> PERMISSION, ...),
 * and ": <strerror>" appended. */
int rp_error_set_errno(rp_error *err, int errnum, const char *fmt, ...) RP_PRINTF(3, 4);
/* RP_E_CRYPTO with OpenSSL's reason appended; drains OpenSSL's error queue. */
int rp_error_set_openssl(rp_error *err, const char *fmt, ...) RP_PRINTF(2, 3);
/* Prepend "context: " to the message, keeping the code. */
int rp_error_prefix(rp_error *err, const char *fmt, ...) RP_PRINTF(2, 3);
void rp_error_clear(rp_error *err);
bool rp_error_is_set(const rp_error *err);

const char *rp_error_code_name(enum rp_errc code);
/* Exit status for command-line tools; documented in docs/error-handling.md. */
int rp_error_exit_status(const rp_error *err);
/* Report once, at the top: "PROG: error: MESSAGE" on stderr (and in the JSON log when enabled). */
void rp_error_report(const rp_error *err, const char *prog);
