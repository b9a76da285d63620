/* Per-app mutable storage: a small ext2 image per app (its size is the quota, so writes past it
 * fail with ENOSPC), loop-mounted by the manager and bind-mounted into the sandbox. The image
 * lives with the app's state, so data survives restarts and updates and goes with remove. */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"

/* Filesystem overhead of a tiny ext2 image, in KiB: the image is SizeKB + this, rounded. */
#define STORAGE_MIN_IMAGE_KB 64u

/* Pure: image size in KiB for a quota of SIZE_KB. */
uint64_t storage_image_kb(uint32_t size_kb);

/* Create IMAGE (if missing) for SIZE_KB, mount it at MOUNTPOINT (created), and give its root to
 * UID:GID with mode 0700. Mounted nosuid, nodev, noexec. */
int storage_mount(const char *image, uint32_t size_kb, const char *mountpoint, uid_t uid, gid_t gid,
                  rp_error *err) RP_MUST_CHECK;
/* Unmount (lazily when busy); the loop device goes away with it. Missing mount is not an error. */
void storage_unmount(const char *mountpoint);
