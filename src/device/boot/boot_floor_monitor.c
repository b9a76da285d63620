/* The OS version floor as the security monitor reports it (see boot_floor.h). */
#include "device/boot/boot_floor.h"

#include "device/monitor/monitor_client.h"

int boot_floor_read_monitor(const char *monitor_socket, uint64_t *floor, rp_error *err)
{
	_cleanup_monitor_client_ monitor_client *c = monitor_client_connect(monitor_socket, err);
	evidence_counter counters[EVIDENCE_MAX_COUNTERS];
	size_t n = 0;
	if (!c || monitor_client_read_counters(c, counters, &n, err) < 0)
		return rp_error_prefix(err, "reading the OS version floor through the monitor");
	for (size_t i = 0; i < n; i++)
		if (counters[i].index == BOOT_ROT_COUNTER_OS_FLOOR) {
			*floor = counters[i].value;
			return 0;
		}
	return rp_error_set(err, RP_E_INVALID, "the monitor did not report counter %d (the OS version floor)",
	                    BOOT_ROT_COUNTER_OS_FLOOR);
}
