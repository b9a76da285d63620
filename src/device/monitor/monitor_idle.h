/* Giving memory back while the security monitor idles. It answers a few requests per boot and per
 * attestation (every ~20 h), so after each burst of work it returns freed heap to the kernel and
 * asks the kernel to reclaim the clean code and read-only pages only it maps; the next request
 * reads them back from the page cache or storage. Dirty pages (heap, relocated data) stay. */
#pragma once

/* Milliseconds without a request after which the monitor releases memory. */
#define MONITOR_IDLE_RELEASE_MS 1000

/* Trim the heap and page out the monitor's clean file-backed pages (MADV_PAGEOUT; a no-op on
 * kernels before 5.4). Pages shared with other processes are left alone by the kernel. */
void monitor_idle_release(void);
