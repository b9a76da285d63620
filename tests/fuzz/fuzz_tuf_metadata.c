/* libFuzzer target for the TUF metadata parser and signature check: any bytes, parsed as each
 * role, must be refused with a reason or accepted; accepted roots are then used as the trusted
 * root to verify the same input as every role (signature code over hostile key lists). */
#include <stdint.h>
#include <stdlib.h>

#include "tuf/canonical_json.h"
#include "tuf/meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tuf_meta root = {0};
	bool have_root = false;
	for (int r = 0; r < TUF_ROLE_COUNT; r++) {
		rp_error err = RP_ERROR_INIT;
		tuf_meta m;
		if (tuf_meta_parse(data, size, (enum tuf_role)r, &m, &err) < 0) {
			if (!err.message[0] || err.code == RP_OK)
				abort(); /* every refusal must say why */
			continue;
		}
		if (r == TUF_ROLE_ROOT) {
			root = m;
			have_root = true;
			continue;
		}
		tuf_meta_free(&m);
	}
	if (have_root) {
		rp_error err = RP_ERROR_INIT;
		for (int r = 0; r < TUF_ROLE_COUNT; r++)
			if (tuf_meta_verify(&root, (enum tuf_role)r, &root, &err) < 0 && !err.message[0])
				abort();
		tuf_meta_free(&root);
	}
	return 0;
}
