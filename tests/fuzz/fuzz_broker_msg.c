/* libFuzzer target: the broker's message decoder, with what an app can send. A decoded message
 * must re-encode to the same bytes (the decoder accepts exactly the canonical form). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "device/broker/broker_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct broker_msg m;
	rp_error err = RP_ERROR_INIT;
	rp_buf b;

	if (broker_msg_decode(data, size, &m, &err) < 0)
		return 0;
	rp_buf_init(&b);
	broker_msg_encode(&m, &b);
	if (b.len != size || memcmp(b.data, data, size) != 0)
		abort();
	rp_buf_free(&b);
	return 0;
}
