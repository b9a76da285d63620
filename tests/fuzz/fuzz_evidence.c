/* libFuzzer target: attestation evidence and TPMS_ATTEST quotes as sent by an untrusted device.
 * Decoding must never crash, and whatever decodes must re-encode to the same bytes (canonical). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/evidence.h"
#include "attest/quote_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_error err = RP_ERROR_INIT;
	evidence ev;
	if (evidence_decode(data, size, &ev, &err) == 0) {
		rp_buf b;
		rp_buf_init(&b);
		if (evidence_encode(&ev, &b, &err) != 0 || b.len != size || memcmp(b.data, data, size) != 0)
			abort(); /* decode accepted a non-canonical encoding */
		rp_buf_free(&b);
		uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN];
		evidence_replay(&ev, values);
		json_t *j = evidence_to_json(&ev);
		json_decref(j);
	}
	evidence_free(&ev);
	quote_info info;
	if (quote_attest_parse(data, size, &info, &err) == 0 && info.nonce_len > QUOTE_NONCE_MAX)
		abort();
	return 0;
}
