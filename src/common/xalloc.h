/* Allocation wrappers: running out of memory is not a recoverable state for Rampart, so they abort. */
#pragma once

#include <stddef.h>
#include "common/macros.h"

void *xmalloc(size_t size) __attribute__((malloc, returns_nonnull));
void *xcalloc(size_t nmemb, size_t size) __attribute__((malloc, returns_nonnull));
void *xrealloc(void *ptr, size_t size) __attribute__((returns_nonnull));
/* xreallocarray checks nmemb * size for overflow before growing. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size) __attribute__((returns_nonnull));
char *xstrdup(const char *s) __attribute__((malloc, returns_nonnull)) RP_NONNULL(1);
char *xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull)) RP_NONNULL(1);
void *xmemdup(const void *p, size_t n) __attribute__((malloc, returns_nonnull));
char *xasprintf(const char *fmt, ...) RP_PRINTF(1, 2) __attribute__((malloc, returns_nonnull));

/* Abort loudly: an invariant inside our own process is broken. */
RP_NORETURN void rp_abort(const char *what);
