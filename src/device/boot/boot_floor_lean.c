/* boot_floor_read for the agent's update worker, which links no root-of-trust code: on a running
 * device the security monitor holds the root of trust, so the floor is read through it. */
#include "device/boot/boot_floor.h"

int boot_floor_read(const char *state_dir, const char *rot_backend, const char *tcti, const char *monitor_socket,
                    uint64_t *floor, rp_error *err)
{
	(void)state_dir;
	(void)tcti;
	if (!monitor_socket)
		return rp_error_set(err, RP_E_INVALID,
		                    "the update worker reads the OS version floor through the security monitor only (root "
		                    "of trust '%s' is not opened here): give --monitor-socket",
		                    rot_backend ? rot_backend : "none");
	return boot_floor_read_monitor(monitor_socket, floor, err);
}
