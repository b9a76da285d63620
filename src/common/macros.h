/* Compiler attributes and scope-bound cleanup helpers shared by every Rampart component. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>

#define RP_MUST_CHECK __attribute__((warn_unused_result))
#define RP_PRINTF(fmt_idx, args_idx) __attribute__((format(printf, fmt_idx, args_idx)))
#define RP_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#define RP_NORETURN __attribute__((noreturn))
#define RP_UNUSED __attribute__((unused))

#define RP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* `unused`: a scope guard whose only use is its cleanup is still a use (clang warns otherwise). */
#define _cleanup_(fn) __attribute__((cleanup(fn), unused))

static inline void rp_freep(void *p) { free(*(void **)p); }
static inline void rp_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void rp_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_ _cleanup_(rp_freep)
#define _cleanup_close_ _cleanup_(rp_closep)
#define _cleanup_fclose_ _cleanup_(rp_fclosep)

/* Declare `static inline void NAMEp(TYPE **p)` calling FREE_FN on a non-NULL pointer. */
#define RP_DEFINE_CLEANUP(type, free_fn)                                                                               \
	static inline void free_fn##p(type **p)                                                                        \
	{                                                                                                              \
		if (*p)                                                                                                \
			free_fn(*p);                                                                                   \
	}

/* Hand ownership on: returns the value and leaves the scope variable empty. */
#define steal_ptr(p)                                                                                                   \
	({                                                                                                             \
		__typeof__(p) _stolen = (p);                                                                           \
		(p) = NULL;                                                                                            \
		_stolen;                                                                                               \
	})
#define steal_fd(fd)                                                                                                   \
	({                                                                                                             \
		int _stolen_fd = (fd);                                                                                 \
		(fd) = -1;                                                                                             \
		_stolen_fd;                                                                                            \
	})
