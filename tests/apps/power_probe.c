/* power_probe: a static test app for PowerControls, run inside real sandboxes under a real boot
 * stage by tests/blackbox/test_power_controls.py. Its command line (CmdArgs) names one request:
 *   reboot | powerdown | profile N   PowerManagement_ForceSystemReboot / _ForceSystemPowerDown /
 *                                    _SetSystemPowerProfile(N)
 * It prints "<request> ok" or "<request> err ERRNO", then waits for its shutdown and prints
 * "got SIGTERM" when it comes (the device stops its apps before a reboot or power-down). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <applibs/powermanagement.h>

static void on_term(int sig)
{
	(void)sig;
	static const char msg[] = "got SIGTERM\n";
	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(0);
}

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case ENOTSUP: return "ENOTSUP";
	case ENOTCONN: return "ENOTCONN";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EBUSY: return "EBUSY";
	default: return strerror(e);
	}
}

int main(int argc, char **argv)
{
	signal(SIGTERM, on_term);
	const char *cmd = argc > 1 ? argv[1] : "";
	int rc;
	if (strcmp(cmd, "reboot") == 0) {
		rc = PowerManagement_ForceSystemReboot();
	} else if (strcmp(cmd, "powerdown") == 0) {
		rc = PowerManagement_ForceSystemPowerDown(0);
	} else if (strcmp(cmd, "profile") == 0 && argc > 2) {
		char *end = NULL;
		long p = strtol(argv[2], &end, 10);
		if (!*argv[2] || *end)
			return 2;
		rc = PowerManagement_SetSystemPowerProfile((PowerManagement_System_PowerProfile)p);
	} else {
		fprintf(stderr, "usage: power_probe reboot|powerdown|profile N\n");
		return 2;
	}
	if (rc < 0)
		printf("%s err %s\n", cmd, errname(errno));
	else
		printf("%s ok\n", cmd);
	fflush(stdout);
	for (int i = 0; i < 3600; i++)
		sleep(1);
	return 0;
}
