/* libFuzzer target: security monitor messages from an untrusted local peer (requests) and from a
 * possibly impersonated monitor (responses). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device/monitor/monitor_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static monitor_request req;
	rp_error err = RP_ERROR_INIT;
	if (monitor_request_decode(data, size, &req, &err) == 0) {
		rp_buf b;
		rp_buf_init(&b);
		if (monitor_request_encode(&req, &b, &err) != 0 || b.len != size || memcmp(b.data, data, size) != 0)
			abort(); /* accepted a request that does not re-encode identically */
		rp_buf_free(&b);
	}
	const uint8_t *payload = NULL;
	size_t len = 0;
	uint16_t type = size >= 8 ? (uint16_t)((data[6] << 8 | data[7]) & 0x7fff) : 0;
	if (monitor_response_decode(data, size, type, &payload, &len, &err) == 0 && payload + len > data + size)
		abort();
	return 0;
}
