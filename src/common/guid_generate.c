/* Random GUIDs. Kept apart from guid.c so that validating a GUID does not pull in libcrypto. */
#include <stdio.h>

#include "common/crypto.h"
#include "common/guid.h"

int rp_guid_generate(char out[RP_GUID_STRLEN + 1], rp_error *err)
{
	unsigned char b[16];
	if (rp_random_bytes(b, sizeof(b), err) < 0)
		return rp_error_prefix(err, "generating a GUID");
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, RP_GUID_STRLEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
	         b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}
