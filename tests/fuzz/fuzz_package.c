/* libFuzzer target for the image package reader: structure, signatures section, metadata TLV and
 * the payload squashfs walk (opened without a trust policy so every parser is reached), then
 * listing and reading a file from whatever opened. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pkg/package_reader.h"
#include "pkg/payload_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_entry(void *ud, const struct payload_entry *e, rp_error *err)
{
	(void)e;
	(void)err;
	(*(size_t *)ud)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct package_limits limits;
	package_limits_default(&limits);
	limits.max_package_bytes = 1u << 20;
	limits.max_files = 256;
	limits.max_total_bytes = 4u << 20;
	rp_error err = RP_ERROR_INIT;
	struct package *pkg = package_reader_open_buffer(data, size, &limits, NULL, &err);
	if (!pkg)
		return 0;
	size_t n = 0;
	if (payload_reader_list(pkg, count_entry, &n, &err) < 0)
		abort(); /* the walk at open accepted it, so listing must too */
	uint8_t *buf = NULL;
	size_t len = 0;
	if (payload_reader_read_file(pkg, "app_manifest.json", 64 * 1024, &buf, &len, &err) == 0)
		free(buf);
	package_free(pkg);
	return 0;
}
