/* libFuzzer target for os.json, the component list inside an OS bundle's payload: never crash,
 * every refusal says why, and every accepted argument expands or is refused cleanly. */
#include <stdint.h>
#include <stdlib.h>

#include "device/boot/boot_osconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_error err = RP_ERROR_INIT;
	struct boot_osconf conf;
	if (boot_osconf_parse((const char *)data, size, &conf, &err) < 0) {
		if (!err.message[0] || err.code == RP_OK)
			abort();
		return 0;
	}
	struct boot_osconf_vars vars = {.state = "/s", .root = "/r", .run = "/run", .rot = "soft", .version = "1"};
	for (size_t i = 0; i < conf.ncomponents; i++) {
		if (!conf.components[i].exec || conf.components[i].exec[0] == '/')
			abort();
		for (size_t j = 0; j < conf.components[i].nargs; j++) {
			rp_error e = RP_ERROR_INIT;
			char *s = boot_osconf_expand(conf.components[i].args[j], &vars, &e);
			if (!s && !e.message[0])
				abort();
			free(s);
		}
	}
	boot_osconf_free(&conf);
	return 0;
}
