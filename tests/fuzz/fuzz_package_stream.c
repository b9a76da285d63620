/* libFuzzer target for one-pass package verification (pkg/package_stream.h) without a trust
 * policy, so the structure, signatures-section and metadata parsers are all reached; and a
 * differential check: whatever the sealed-copy reader accepts, the stream accepts with the same
 * digest and metadata. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkg/package_reader.h"
#include "pkg/package_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_sink(void *ctx, uint64_t off, const void *buf, size_t len, rp_error *err)
{
	(void)buf;
	(void)err;
	uint64_t *seen = ctx;
	if (off != *seen)
		abort(); /* the sink must see the input in order, once */
	*seen += len;
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
	struct package_stream_result res;
	uint64_t seen = 0;
	int rc = package_stream_verify_buffer(data, size, &limits, NULL, count_sink, &seen, &res, &err);
	if (rc == 0 && (res.len != size || seen != size))
		abort(); /* accepted input is consumed exactly */
	struct package *pkg = package_reader_open_buffer(data, size, &limits, NULL, &err);
	if (pkg) {
		if (rc != 0 || memcmp(res.digest, pkg->digest, sizeof(res.digest)) != 0 ||
		    memcmp(&res.md, &pkg->md, sizeof(res.md)) != 0)
			abort();
		package_free(pkg);
	}
	return 0;
}
