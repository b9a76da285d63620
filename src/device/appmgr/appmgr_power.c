/* App power requests (see appmgr_power.h). Defends against an app rebooting or powering down the
 * device without ForceReboot / ForcePowerDown (re-checked here, whatever its broker says) and
 * against a manager outside the device runtime signalling a process that is not its boot stage:
 * the request goes only to the parent named by RAMPART_BOOT_PID, and the boot stage accepts it
 * only from a component it supervises (kernel-reported sender pid). */
#include "device/appmgr/appmgr_power.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/boot/boot_run.h"
#include "device/broker/broker_proto.h"

#define CPUFREQ_DIR "/sys/devices/system/cpu/cpufreq"

static char *g_profile_path;
static pid_t g_boot_pid;

static const char *const profile_names[] = {"PowerSaver", "Balanced", "HighPerformance"};

const char *appmgr_power_profile_name(unsigned profile)
{
	return profile < RP_ARRAY_SIZE(profile_names) ? profile_names[profile] : "unknown";
}

/* The governor for PROFILE among the AVAILABLE ones (space-separated), or NULL. */
static const char *pick_governor(unsigned profile, const char *available)
{
	static const char *const saver[] = {"powersave", NULL};
	static const char *const balanced[] = {"schedutil", "ondemand", "conservative", NULL};
	static const char *const perf[] = {"performance", NULL};
	const char *const *want = profile == APPMGR_POWER_SAVER ? saver : profile == APPMGR_POWER_BALANCED ? balanced : perf;
	for (size_t i = 0; want[i]; i++) {
		size_t n = strlen(want[i]);
		for (const char *p = available; (p = strstr(p, want[i])) != NULL; p += n)
			if ((p == available || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
				return want[i];
	}
	return NULL;
}

/* Set every CPU frequency policy's governor; returns how many were set, -1 when the platform has no
 * frequency scaling. */
static int apply_profile(unsigned profile)
{
	DIR *d = opendir(CPUFREQ_DIR);
	if (!d)
		return -1;
	int set = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "policy", 6) != 0)
			continue;
		_cleanup_free_ char *avail_path = xasprintf("%s/%s/scaling_available_governors", CPUFREQ_DIR, e->d_name);
		_cleanup_free_ char *gov_path = xasprintf("%s/%s/scaling_governor", CPUFREQ_DIR, e->d_name);
		_cleanup_free_ uint8_t *avail = NULL;
		size_t len = 0;
		rp_error err = RP_ERROR_INIT;
		if (rp_read_file(avail_path, 4096, &avail, &len, &err) < 0)
			continue;
		const char *gov = pick_governor(profile, (const char *)avail);
		FILE *f = gov ? fopen(gov_path, "we") : NULL;
		if (!f)
			continue;
		bool ok = fputs(gov, f) >= 0;
		if (fclose(f) == 0 && ok)
			set++;
	}
	closedir(d);
	return set;
}

static void apply_and_log(unsigned profile, const char *why)
{
	int set = apply_profile(profile);
	if (set > 0)
		rp_log_event(RP_LOG_NOTICE, "power.profile.applied", "%s power profile %s: CPU frequency governor set on %d "
		             "policies", why, appmgr_power_profile_name(profile), set);
	else
		rp_log_event(RP_LOG_NOTICE, "power.profile.unsupported",
		             "%s power profile %s: recorded; this platform has no CPU frequency governor to set", why,
		             appmgr_power_profile_name(profile));
}

void appmgr_power_init(const char *state_dir)
{
	free(g_profile_path);
	g_profile_path = xasprintf("%s/power-profile", state_dir);
	g_boot_pid = 0;
	const char *s = getenv("RAMPART_BOOT_PID");
	uint32_t pid = 0;
	rp_error err = RP_ERROR_INIT;
	if (s && rp_parse_u32(s, 2, INT32_MAX, &pid, &err) == 0 && (pid_t)pid == getppid())
		g_boot_pid = (pid_t)pid;
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(g_profile_path, 64, &data, &len, &err) < 0)
		return;
	for (unsigned p = 0; p < RP_ARRAY_SIZE(profile_names); p++)
		if (len == strlen(profile_names[p]) && memcmp(data, profile_names[p], len) == 0) {
			apply_and_log(p, "restoring the");
			return;
		}
	rp_log_event(RP_LOG_WARNING, "power.profile.damaged", "%s does not name a power profile: ignored",
	             g_profile_path);
}

int appmgr_power_request(const struct manifest *app, uint8_t action, uint32_t arg)
{
	static const unsigned need[] = {0, MANIFEST_POWER_FORCE_REBOOT, MANIFEST_POWER_FORCE_POWER_DOWN,
	                                MANIFEST_POWER_SET_POWER_PROFILE};
	if (action < BROKER_POWER_REBOOT || action > BROKER_POWER_PROFILE || !(app->caps.power_controls & need[action])) {
		rp_log_event(RP_LOG_WARNING, "power.request.refused", "app %s (%s): power request %u without its PowerControls "
		             "grant", app->name, app->component_id, action);
		return EPERM;
	}
	if (action == BROKER_POWER_PROFILE) {
		if (arg >= RP_ARRAY_SIZE(profile_names))
			return EINVAL;
		rp_error err = RP_ERROR_INIT;
		const char *name = profile_names[arg];
		if (!g_profile_path || rp_write_file_atomic(g_profile_path, name, strlen(name), 0600, &err) < 0) {
			rp_log_event(RP_LOG_ERROR, "power.profile.failed", "app %s: recording power profile %s: %s", app->name,
			             name, g_profile_path ? err.message : "no state directory");
			return EIO;
		}
		_cleanup_free_ char *why = xasprintf("app %s set the", app->name);
		apply_and_log(arg, why);
		return 0;
	}
	const char *what = action == BROKER_POWER_REBOOT ? "reboot" : "power-down";
	/* Only the boot stage that started this manager (its parent, named in the environment it gave
	 * us) can stop the device tree in order; without one, fail rather than pretend. */
	if (g_boot_pid <= 1 || getppid() != g_boot_pid) {
		rp_log_event(RP_LOG_WARNING, "power.request.unavailable",
		             "app %s (%s) asked for a %s: refused, no boot stage supervises this app manager (run it from "
		             "rampart-boot)", app->name, app->component_id, what);
		return ENOTSUP;
	}
	if (kill(g_boot_pid, action == BROKER_POWER_REBOOT ? BOOT_SIGNAL_REBOOT : BOOT_SIGNAL_POWER_OFF) < 0) {
		int e = errno;
		rp_log_event(RP_LOG_ERROR, "power.request.failed", "app %s: asking the boot stage (pid %d) for a %s: %s",
		             app->name, (int)g_boot_pid, what, strerror(e));
		return e;
	}
	rp_log_event(RP_LOG_NOTICE, "power.request.sent", "app %s (%s) asked for a %s; the boot stage stops every "
	             "component", app->name, app->component_id, what);
	return 0;
}
