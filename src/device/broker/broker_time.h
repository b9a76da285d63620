/* The clock behind the BROKER_TIME message (SystemTime / TimeSyncConfig): request checks, and a
 * simulated clock (an offset the broker keeps, so tests and the demo never move the host's time)
 * or the system clock plus the board's RTC. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "device/broker/board.h"
#include "device/broker/broker_proto.h"

/* Times an app may set: 2000-01-01T00:00:00Z .. 2099-12-31T23:59:59Z. Outside that range a
 * request is almost certainly a bug (an unset struct, a ms value passed as s) and would break
 * certificate checks and update scheduling device-wide. */
#define BROKER_TIME_MIN_SEC INT64_C(946684800)
#define BROKER_TIME_MAX_SEC INT64_C(4102444799)

struct broker_clock {
	bool simulated;
	int64_t offset_ns; /* simulated: added to CLOCK_REALTIME */
	bool sync_enabled; /* time sync on/off, as the app last set it (on at start) */
	int rtc_fd;        /* real: the RTC opened at start (before privileges drop); -1: none */
	int rtc_errno;     /* why rtc_fd is -1 */
	bool rtc_written;  /* simulated: the RTC holds rtc_sec */
	int64_t rtc_sec;
};

/* Pure: 0 when REQ (a BROKER_TIME_SET) names CLOCK_REALTIME, a nanosecond field below 10^9 and
 * seconds in range; else EINVAL with *WHY saying which rule failed. */
int broker_time_check(const struct broker_msg *req, const char **why);

/* OPEN_RTC: the app may write the RTC, so open the board's RTC device now, while the broker
 * still has the privileges to. */
void broker_clock_init(struct broker_clock *c, const struct board *board, bool open_rtc);
void broker_clock_close(struct broker_clock *c);
/* The clock as the app's broker sees it (simulated or system). */
void broker_clock_now(const struct broker_clock *c, struct timespec *out);
/* Set the clock to TS (already checked). 0 or an errno. */
int broker_clock_set(struct broker_clock *c, const struct timespec *ts);
/* Copy the clock to the RTC; *WRITTEN receives the seconds written. 0 or an errno (ENODEV: the
 * board has no RTC). */
int broker_clock_systohc(struct broker_clock *c, int64_t *written);
