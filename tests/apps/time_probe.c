/* time_probe: a static test app for the SystemTime capability, run inside real sandboxes (and
 * against a standalone broker) by tests/blackbox/test_system_time.py. Each command prints one line
 * "<cmd> ok [value]" or "<cmd> err ERRNO" to stdout:
 *   settime SEC NSEC            clock_settime(CLOCK_REALTIME) (applibs' definition: the broker)
 *   settime-clock ID SEC NSEC   clock_settime on clock ID
 *   settimeofday SEC USEC       settimeofday
 *   systohc                     clock_systohc
 *   sync-set 0|1, sync-get      Networking_TimeSync_SetEnabled / GetEnabled
 *   raw-settime SEC             the clock_settime system call itself, bypassing applibs
 *   raw-settimeofday SEC        the settimeofday system call itself
 *   sleep MS                    wait (lets a test look at the running broker) */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include <applibs/networking.h>
#include <applibs/rtc.h>

static const char *errname(int e)
{
	static const struct {
		int e;
		const char *n;
	} t[] = {{EPERM, "EPERM"}, {EACCES, "EACCES"}, {EINVAL, "EINVAL"}, {ENODEV, "ENODEV"},
	         {ENOTCONN, "ENOTCONN"}, {EFAULT, "EFAULT"}, {EPROTO, "EPROTO"}, {ENOSYS, "ENOSYS"}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].e == e)
			return t[i].n;
	return strerror(e);
}

static int report(const char *cmd, int rc, const char *value)
{
	if (rc < 0)
		printf("%s err %s\n", cmd, errname(errno));
	else
		printf("%s ok%s%s\n", cmd, value ? " " : "", value ? value : "");
	fflush(stdout);
	return rc < 0;
}

/* The raw commands exist to show that a sandboxed app cannot set the clock. Run by root outside a
 * sandbox they would really move the host's clock, so they refuse to run there. */
static bool may_set_host_clock(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (geteuid() == 0 || syscall(SYS_capget, &h, d) < 0)
		return true;
	return (d[CAP_SYS_TIME / 32].effective & (1u << (CAP_SYS_TIME % 32))) != 0;
}

/* Bounded integer arguments: a malformed one ends the probe loudly. */
static long long arg(char **argv, int argc, int i, long long lo, long long hi)
{
	char *end = NULL;
	if (i >= argc) {
		fprintf(stderr, "time_probe: missing argument\n");
		exit(2);
	}
	errno = 0;
	long long v = strtoll(argv[i], &end, 10);
	if (errno || !end || *end || end == argv[i] || v < lo || v > hi) {
		fprintf(stderr, "time_probe: bad argument \"%s\"\n", argv[i]);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	int failures = 0;
	for (int i = 1; i < argc; i++) {
		const char *cmd = argv[i];
		if (strcmp(cmd, "settime") == 0 || strcmp(cmd, "settime-clock") == 0) {
			clockid_t id = CLOCK_REALTIME;
			if (strcmp(cmd, "settime-clock") == 0)
				id = (clockid_t)arg(argv, argc, ++i, -1000, 1000);
			struct timespec ts;
			ts.tv_sec = (time_t)arg(argv, argc, ++i, -(1LL << 40), 1LL << 40);
			ts.tv_nsec = (long)arg(argv, argc, ++i, -(1LL << 32), 1LL << 32);
			failures += report(cmd, clock_settime(id, &ts), NULL);
		} else if (strcmp(cmd, "settimeofday") == 0) {
			struct timeval tv;
			tv.tv_sec = (time_t)arg(argv, argc, ++i, -(1LL << 40), 1LL << 40);
			tv.tv_usec = (suseconds_t)arg(argv, argc, ++i, -(1LL << 32), 1LL << 32);
			failures += report(cmd, settimeofday(&tv, NULL), NULL);
		} else if (strcmp(cmd, "systohc") == 0) {
			failures += report(cmd, clock_systohc(), NULL);
		} else if (strcmp(cmd, "sync-set") == 0) {
			failures += report(cmd, Networking_TimeSync_SetEnabled(arg(argv, argc, ++i, 0, 1) != 0), NULL);
		} else if (strcmp(cmd, "sync-get") == 0) {
			bool on = false;
			int rc = Networking_TimeSync_GetEnabled(&on);
			failures += report(cmd, rc, on ? "1" : "0");
		} else if (strncmp(cmd, "raw-", 4) == 0 && may_set_host_clock()) {
			fprintf(stderr, "time_probe: refusing %s: this process could really set the host's clock\n", cmd);
			return 3;
		} else if (strcmp(cmd, "raw-settime") == 0) {
			struct timespec ts = {.tv_sec = (time_t)arg(argv, argc, ++i, 0, 1LL << 40), .tv_nsec = 0};
			failures += report(cmd, (int)syscall(SYS_clock_settime, CLOCK_REALTIME, &ts), NULL);
		} else if (strcmp(cmd, "raw-settimeofday") == 0) {
			struct timeval tv = {.tv_sec = (time_t)arg(argv, argc, ++i, 0, 1LL << 40), .tv_usec = 0};
			failures += report(cmd, (int)syscall(SYS_settimeofday, &tv, NULL), NULL);
		} else if (strcmp(cmd, "sleep") == 0) {
			long long ms = arg(argv, argc, ++i, 0, 600000);
			struct timespec d = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
			nanosleep(&d, NULL);
			report(cmd, 0, NULL);
		} else {
			fprintf(stderr, "time_probe: unknown command %s\n", cmd);
			return 2;
		}
	}
	return failures ? 1 : 0;
}
