/* applibs rtc: the real-time clock. Needs the SystemTime capability.
 *
 * Setting the system time uses the standard calls, as on Azure Sphere: applibs provides
 * clock_settime() and settimeofday() for apps linked with it, and they ask the app's broker, which
 * checks SystemTime (EPERM without it; EINVAL for a clock other than CLOCK_REALTIME, a
 * nanosecond or microsecond field out of range, or a time before 2000 or after 2099). */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/* Copy the current system time to the RTC, so it survives a power loss. Returns 0, or -1 with
 * errno EACCES (no SystemTime capability), ENODEV (the board has no RTC), ENOTCONN (no broker). */
int clock_systohc(void);

#ifdef __cplusplus
}
#endif
