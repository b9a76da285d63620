/* Fuzz target: the update-status report devices send to rampartd (update_report_check), parsed
 * as JSON exactly as the API does. */
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"
#include "service/api.h"
#include "service/update_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_error err = RP_ERROR_INIT;
	json_t *j = rp_json_parse((const char *)data, size, API_JSON_BODY_MAX, "request body", &err);
	if (!j)
		return 0;
	json_t *out = update_report_check(j, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &err);
	if (out) {
		char *text = json_dumps(out, JSON_COMPACT);
		free(text);
		json_decref(out);
	}
	json_decref(j);
	return 0;
}
