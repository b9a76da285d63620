/* libFuzzer target for the boot-state record (STATE/boot/state), a file an attacker with access to
 * the state directory may have edited. Besides "never crash", whatever decodes must encode back to
 * exactly the same bytes (the format has one encoding per state). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "device/boot/boot_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_error err = RP_ERROR_INIT;
	struct boot_state st;
	if (boot_state_decode(data, size, &st, &err) < 0) {
		if (!err.message[0] || err.code == RP_OK)
			abort(); /* every refusal must say why */
		return 0;
	}
	rp_buf b;
	rp_buf_init(&b);
	if (boot_state_encode(&st, &b, &err) < 0)
		abort(); /* what was accepted must be writable */
	if (b.len != size || memcmp(b.data, data, size) != 0)
		abort();
	rp_buf_free(&b);
	return 0;
}
