/* boot_floor_read for the update client's lean build, which links no root-of-trust backend: the
 * soft backend's counters are read from its checksummed state file (no key is opened), any other
 * backend's through the security monitor that holds it. */
#include "device/boot/boot_floor.h"

#include <string.h>

#include "device/rot/rot_soft_state.h"

int boot_floor_read(const char *state_dir, const char *rot_backend, const char *tcti, const char *monitor_socket,
                    uint64_t *floor, rp_error *err)
{
	(void)tcti;
	if (rot_backend && strcmp(rot_backend, "soft") == 0)
		return rot_soft_state_read_counter(state_dir, BOOT_ROT_COUNTER_OS_FLOOR, floor, err) < 0
		               ? rp_error_prefix(err, "reading the OS version floor")
		               : 0;
	if (!monitor_socket)
		return rp_error_set(err, RP_E_INVALID,
		                    "this update client reads the %s root of trust's OS version floor through the security "
		                    "monitor: give --monitor-socket",
		                    rot_backend ? rot_backend : "device's");
	return boot_floor_read_monitor(monitor_socket, floor, err);
}
