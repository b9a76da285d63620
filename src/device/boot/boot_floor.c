/* The OS version floor read from the root of trust itself, or through the monitor when the
 * monitor holds it (see boot_floor.h). */
#include "device/boot/boot_floor.h"

#include "device/rot/rot.h"

int boot_floor_read(const char *state_dir, const char *rot_backend, const char *tcti, const char *monitor_socket,
                    uint64_t *floor, rp_error *err)
{
	rp_error e = RP_ERROR_INIT;
	if (rot_backend) {
		rot_config cfg = {.tcti = tcti, .create = false};
		_cleanup_rot_ rot *r = rot_open(rot_backend, state_dir, &cfg, NULL, &e);
		if (r)
			return rot_counter_read(r, BOOT_ROT_COUNTER_OS_FLOOR, floor, err) < 0
			               ? rp_error_prefix(err, "reading the OS version floor")
			               : 0;
		if (!monitor_socket || e.code != RP_E_CONFLICT) {
			*err = e;
			return rp_error_prefix(err, "reading the OS version floor");
		}
	}
	if (!monitor_socket)
		return rp_error_set(err, RP_E_INVALID, "no way to read the OS version floor: give --rot or --monitor-socket");
	return boot_floor_read_monitor(monitor_socket, floor, err);
}
