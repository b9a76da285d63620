/* The application seccomp policy: a default-deny allow list compiled once by the manager into a
 * classic BPF program that each sandbox child installs without allocating. */
#pragma once

#include <stddef.h>
#include <linux/filter.h>
#include "common/error.h"

struct sandbox_seccomp_prog {
	struct sock_filter *filter; /* owned */
	unsigned short len;
};

/* System calls every app may make (argument filters for socket, clone and ioctl are applied on
 * top). Exposed for the unit tests and the threat model. */
extern const char *const sandbox_seccomp_allowed[];
extern const size_t sandbox_seccomp_allowed_count;

/* Build the policy: anything not allowed fails with EPERM (logged by the kernel through
 * SECCOMP_FILTER_FLAG_LOG); clone3 fails with ENOSYS so that the C library falls back to clone,
 * whose flags can be checked. */
int sandbox_seccomp_build(struct sandbox_seccomp_prog *out, rp_error *err) RP_MUST_CHECK;
void sandbox_seccomp_free(struct sandbox_seccomp_prog *prog);

/* Install PROG on the calling thread (requires no_new_privs). No allocation; errno on failure. */
int sandbox_seccomp_install(const struct sandbox_seccomp_prog *prog);
