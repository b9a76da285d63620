/* applibs powermanagement: requests granted by the manifest's "PowerControls" capability. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

typedef enum PowerManagement_System_PowerProfile {
	PowerManagement_PowerSaver = 0,
	PowerManagement_Balanced = 1,
	PowerManagement_HighPerformance = 2,
} PowerManagement_System_PowerProfile;

int PowerManagement_ForceSystemReboot(void);
int PowerManagement_ForceSystemPowerDown(unsigned int maximum_residency_in_seconds);
int PowerManagement_SetSystemPowerProfile(PowerManagement_System_PowerProfile desired_profile);

#ifdef __cplusplus
}
#endif
