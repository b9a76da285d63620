/* Giving memory back while a device daemon idles. The security monitor answers a few requests per
 * boot and per attestation (every ~20 h), the agent wakes for a job every few hours: after each
 * burst of work they return freed heap to the kernel and ask the kernel to reclaim the clean code
 * and read-only pages only they map; the next request reads them back from the page cache or
 * storage. Dirty pages (heap, relocated data) stay. */
#pragma once

/* Milliseconds without work after which a daemon releases memory. */
#define DEVICE_IDLE_RELEASE_MS 1000

/* Trim the heap and page out the process's clean file-backed pages (MADV_PAGEOUT; a no-op on
 * kernels before 5.4). Pages shared with other processes are left alone by the kernel. */
void device_idle_release(void);
