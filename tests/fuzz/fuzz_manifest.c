/* libFuzzer target for the app_manifest.json parser. Besides "never crash, never leak", it checks
 * that whatever is accepted has a canonical form that parses again to the same canonical form,
 * and that the checks between two apps hold for an app against itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/macros.h"
#include "pkg/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_error err = RP_ERROR_INIT;
	struct manifest *m = manifest_parse((const char *)data, size, &err);
	if (!m) {
		if (!err.message[0] || err.code == RP_OK)
			abort(); /* every refusal must say why */
		return 0;
	}
	json_t *j = manifest_to_json(m);
	char *s1 = rp_json_dump(j);
	struct manifest *m2 = manifest_parse(s1, strlen(s1), &err);
	if (!m2)
		abort(); /* the canonical form must be accepted */
	json_t *j2 = manifest_to_json(m2);
	char *s2 = rp_json_dump(j2);
	if (strcmp(s1, s2) != 0)
		abort(); /* and be a fixed point */
	if (manifest_check_conflicts(m, m2, &err) != 0)
		abort(); /* one component never conflicts with a new version of itself */
	if (manifest_allows_app_connection(m, m2))
		abort(); /* nor connects to itself */
	free(s2);
	json_decref(j2);
	manifest_free(m2);
	free(s1);
	json_decref(j);
	manifest_free(m);
	return 0;
}
