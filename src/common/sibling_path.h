/* Programs installed next to the running one. Daemons that hand part of their work to a smaller
 * program (the agent's workers, the monitor's soft-backend build) find it beside their own
 * executable, never through PATH, so what runs is what was installed with them. */
#pragma once

#include "common/error.h"

/* DIR/BINARY, where DIR holds the running executable (/proc/self/exe); NULL with the error set
 * when it is missing or not executable. Free with free(). */
char *rp_sibling_path(const char *binary, rp_error *err);
