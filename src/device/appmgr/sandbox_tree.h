/* Install-time check of a package tree against content the sandbox must never be handed. */
#pragma once

#include <stdbool.h>
#include "common/error.h"

/* Refuse device nodes, sockets, FIFOs, setuid/setgid files, symlinks whose target is absolute or
 * climbs out of the tree, and the reserved top-level names (dev, proc, tmp, mnt). At most
 * MAX_ENTRIES entries and 32 levels are walked. */
int sandbox_tree_check(const char *root, unsigned max_entries, rp_error *err) RP_MUST_CHECK;

/* Pure: does link text TARGET, found DEPTH directories below the root, stay inside it? */
bool sandbox_tree_link_stays_inside(const char *target, unsigned depth);
