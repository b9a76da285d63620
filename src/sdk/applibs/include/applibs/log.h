/* applibs log: debug output of an application (Azure Sphere compatible). Rampart writes each call
 * to stderr in one write(), prefixed with "NAME: " (env RAMPART_APP_NAME, else the program name);
 * the app manager collects it. */
#pragma once

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns 0, or -1 with errno set. */
int Log_Debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int Log_DebugVarArgs(const char *fmt, va_list args) __attribute__((format(printf, 1, 0)));

#ifdef __cplusplus
}
#endif
