/* Fuzz target: rampartd's request-body parsers. The input is parsed as JSON exactly as the API
 * does (rp_json_parse with the body limit) and handed to every route's body parser; the raw bytes
 * also go through the text validator and the timestamp parser used for query parameters. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/json.h"
#include "common/xalloc.h"
#include "service/api.h"
#include "service/bodies.h"
#include "service/timeutil.h"
#include "service/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_error err = RP_ERROR_INIT;
	int sink = 0; /* results are irrelevant: the target looks for crashes and leaks */
	(void)rp_text_is_printable_utf8((const char *)data, size);
	if (size < 64) {
		char *s = xstrndup((const char *)data, size);
		int64_t t;
		sink += timeutil_parse(s, &t, &err);
		sink += validate_user(s, &err);
		sink += validate_name(s, "name", &err);
		free(s);
	}
	json_t *j = rp_json_parse((const char *)data, size, API_JSON_BODY_MAX, "request body", &err);
	if (!j)
		return 0;
	if (json_is_object(j)) {
		struct body_tenant_create a;
		struct body_role_add b;
		struct body_product c;
		struct body_device_group d;
		struct body_deployment e;
		struct body_device_register f;
		struct body_device_claim g;
		struct body_device_update h;
		struct body_signing_key i;
		struct body_proof k;
		json_t *devices = NULL;
		sink += body_tenant_create(j, &a, &err);
		sink += body_role_add(j, &b, &err);
		sink += body_product(j, true, &c, &err);
		sink += body_product(j, false, &c, &err);
		sink += body_device_group(j, true, &d, &err);
		sink += body_device_group(j, false, &d, &err);
		sink += body_deployment(j, &e, &err);
		sink += body_device_register(j, &f, &err);
		sink += body_device_bulk(j, &devices, &err);
		sink += body_device_claim(j, &g, &err);
		sink += body_device_update(j, &h, &err);
		sink += body_signing_key(j, &i, &err);
		sink += body_proof(j, &k, &err);
	}
	json_decref(j);
	return sink & 0;
}
