/* applibs powermanagement: requests to the broker, granted only by PowerControls. */
#include <applibs/powermanagement.h>

#include <errno.h>

#include "broker_client.h"

static int power(uint8_t action, uint32_t arg)
{
	struct broker_msg req = {.type = BROKER_POWER, .dir = action, .id = arg}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	int control = broker_client_control_fd();
	if (control < 0)
		return -1;
	return broker_client_call(control, &req, &resp, buf, NULL);
}

int PowerManagement_ForceSystemReboot(void)
{
	return power(BROKER_POWER_REBOOT, 0);
}

int PowerManagement_ForceSystemPowerDown(unsigned int maximum_residency_in_seconds)
{
	return power(BROKER_POWER_DOWN, maximum_residency_in_seconds);
}

int PowerManagement_SetSystemPowerProfile(PowerManagement_System_PowerProfile desired_profile)
{
	if ((unsigned)desired_profile > PowerManagement_HighPerformance) {
		errno = EINVAL;
		return -1;
	}
	return power(BROKER_POWER_PROFILE, (uint32_t)desired_profile);
}
