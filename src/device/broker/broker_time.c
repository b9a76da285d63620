/* The broker's clock (see broker_time.h). The real backend needs CAP_SYS_TIME, which the broker
 * keeps only when its app's manifest declares SystemTime and the board's clock is real
 * (broker_privs.c); the RTC device is opened before the broker drops its user. */
#include "device/broker/broker_time.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/rtc.h>

#define NSEC_PER_SEC INT64_C(1000000000)

int broker_time_check(const struct broker_msg *req, const char **why)
{
	if (req->time.clock_id != CLOCK_REALTIME) {
		*why = "only CLOCK_REALTIME can be set";
		return EINVAL;
	}
	if (req->time.nsec >= NSEC_PER_SEC) {
		*why = "nanoseconds must be 0..999999999";
		return EINVAL;
	}
	if (req->time.sec < BROKER_TIME_MIN_SEC || req->time.sec > BROKER_TIME_MAX_SEC) {
		*why = "seconds must fall between 2000-01-01 and 2099-12-31 UTC";
		return EINVAL;
	}
	return 0;
}

void broker_clock_init(struct broker_clock *c, const struct board *board, bool open_rtc)
{
	memset(c, 0, sizeof(*c));
	c->simulated = board->clock_simulated;
	c->sync_enabled = true;
	c->rtc_fd = -1;
	c->rtc_errno = ENODEV;
	if (c->simulated || !open_rtc || !board->rtc_device[0])
		return;
	c->rtc_fd = open(board->rtc_device, O_RDONLY | O_CLOEXEC);
	if (c->rtc_fd < 0)
		c->rtc_errno = errno == ENOENT || errno == ENXIO ? ENODEV : errno;
}

void broker_clock_close(struct broker_clock *c)
{
	if (c->rtc_fd >= 0)
		close(c->rtc_fd);
	c->rtc_fd = -1;
}

void broker_clock_now(const struct broker_clock *c, struct timespec *out)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (!c->simulated) {
		*out = now;
		return;
	}
	int64_t ns = (int64_t)now.tv_sec * NSEC_PER_SEC + now.tv_nsec + c->offset_ns;
	out->tv_sec = (time_t)(ns / NSEC_PER_SEC);
	out->tv_nsec = (long)(ns % NSEC_PER_SEC);
}

int broker_clock_set(struct broker_clock *c, const struct timespec *ts)
{
	if (!c->simulated)
		return clock_settime(CLOCK_REALTIME, ts) < 0 ? errno : 0;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	/* Both values are within a few centuries of the epoch: no overflow in 64-bit nanoseconds. */
	c->offset_ns = ((int64_t)ts->tv_sec - (int64_t)now.tv_sec) * NSEC_PER_SEC + (ts->tv_nsec - now.tv_nsec);
	return 0;
}

int broker_clock_systohc(struct broker_clock *c, int64_t *written)
{
	struct timespec now;
	broker_clock_now(c, &now);
	*written = (int64_t)now.tv_sec;
	if (c->simulated) {
		c->rtc_written = true;
		c->rtc_sec = *written;
		return 0;
	}
	if (c->rtc_fd < 0)
		return c->rtc_errno;
	struct tm tm;
	if (!gmtime_r(&now.tv_sec, &tm))
		return EOVERFLOW;
	struct rtc_time rt = {.tm_sec = tm.tm_sec, .tm_min = tm.tm_min, .tm_hour = tm.tm_hour, .tm_mday = tm.tm_mday,
	                      .tm_mon = tm.tm_mon, .tm_year = tm.tm_year, .tm_wday = tm.tm_wday, .tm_yday = tm.tm_yday,
	                      .tm_isdst = 0};
	return ioctl(c->rtc_fd, RTC_SET_TIME, &rt) < 0 ? errno : 0;
}
