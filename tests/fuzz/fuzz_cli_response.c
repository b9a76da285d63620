/* Fuzz what the CLI reads from a service it may not trust and from its configuration file: error
 * bodies (mapped to exit statuses and printed), JSON replies rendered as table cells, and the
 * configuration parser. The first byte picks the HTTP status. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cli/api_client.h"
#include "cli/config.h"
#include "cli/render.h"
#include "common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const long statuses[] = {200, 204, 301, 400, 401, 403, 404, 409, 413, 422, 429, 500, 503, 418};
	long status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	const char *body = (const char *)data + 1;
	size_t len = size - 1;

	rp_error err = RP_ERROR_INIT;
	api_error_from_response(status, body, len, &err);
	/* The message must be printable: no control characters from the body. */
	for (const char *p = err.message; *p; p++)
		if ((unsigned char)*p < 0x20)
			__builtin_trap();
	(void)rp_error_exit_status(&err);

	json_t *doc = rp_json_parse(body, len, API_CLIENT_MAX_RESPONSE, "reply", &err);
	if (doc) {
		json_t *items = json_is_object(doc) ? json_object_get(doc, "items") : doc;
		size_t i;
		json_t *item;
		if (json_is_array(items))
			json_array_foreach(items, i, item) {
				char *cell = cli_cell(cli_field(item, "name"));
				free(cell);
				cell = cli_cell(cli_field(item, "current_deployment.image_ids"));
				free(cell);
			}
		const char *key;
		json_t *value;
		if (json_is_object(doc))
			json_object_foreach(doc, key, value) {
				char *cell = cli_cell(value);
				for (const char *p = cell; *p; p++)
					if ((unsigned char)*p < 0x20)
						__builtin_trap();
				free(cell);
			}
		json_decref(doc);
	}

	cli_config cfg = {0};
	rp_error_clear(&err);
	if (cli_config_parse(&cfg, body, len, &err) < 0 && err.code == RP_OK)
		__builtin_trap(); /* a refusal always says why */
	cli_config_free(&cfg);
	return 0;
}
