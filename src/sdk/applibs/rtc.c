/* applibs rtc and the standard time setters (see applibs/rtc.h). An app runs without
 * CAP_SYS_TIME and its seccomp policy refuses clock_settime and settimeofday, so these
 * definitions take the place of the C library's for apps linked with applibs (samples are linked
 * statically, applibs first; docs/decisions.md, "Setting the time from an app") and send the
 * request to the app's broker, which checks the manifest's SystemTime grant. */
#include <applibs/rtc.h>

#include <errno.h>
#include <sys/time.h>
#include <time.h>

#include "broker_client.h"

static int time_call(struct broker_msg *req)
{
	struct broker_msg resp;
	uint8_t buf[BROKER_MSG_MAX];
	int control = broker_client_control_fd();
	if (control < 0)
		return -1;
	req->type = BROKER_TIME;
	return broker_client_call(control, req, &resp, buf, NULL);
}

int clock_systohc(void)
{
	struct broker_msg req = {.dir = BROKER_TIME_SYSTOHC};
	return time_call(&req);
}

/* The C library declares these pointers nonnull, so the compiler would drop a plain NULL check;
 * the empty asm hides the pointer's origin so a NULL from the app still gets EFAULT, not a crash. */
static const void *opaque(const void *p)
{
	__asm__("" : "+r"(p));
	return p;
}

int clock_settime(clockid_t clock_id, const struct timespec *tp)
{
	if (!opaque(tp)) {
		errno = EFAULT;
		return -1;
	}
	/* Out-of-range values travel as they are (a negative tv_nsec becomes a huge one) so the
	 * broker refuses them with EINVAL and logs the attempt. */
	struct broker_msg req = {.dir = BROKER_TIME_SET,
	                         .time = {.clock_id = (uint32_t)clock_id, .sec = (int64_t)tp->tv_sec,
	                                  .nsec = (uint32_t)tp->tv_nsec}};
	if (time_call(&req) == 0)
		return 0;
	/* No broker means no grant: the caller could not have set the clock. */
	if (errno == ENOTCONN)
		errno = EPERM;
	return -1;
}

int settimeofday(const struct timeval *tv, const struct timezone *tz)
{
	/* The kernel's timezone is obsolete and not offered; NULL tv would only set it. */
	if (!opaque(tv) || tz || tv->tv_usec < 0 || tv->tv_usec >= 1000000) {
		errno = EINVAL;
		return -1;
	}
	struct timespec ts = {.tv_sec = tv->tv_sec, .tv_nsec = (long)tv->tv_usec * 1000};
	return clock_settime(CLOCK_REALTIME, &ts);
}
