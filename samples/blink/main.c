/* blink: toggles SAMPLE_LED every PERIOD_MS (default 500) from an EventLoop timer, forever or for
 * TOGGLES toggles: `app [TOGGLES [PERIOD_MS]]`. The Azure Sphere Blink sample, ported. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <applibs/eventloop.h>
#include <applibs/gpio.h>
#include <applibs/log.h>

#include "../boards/simulated.h"

static int led_fd = -1;
static GPIO_Value_Type led_state = GPIO_Value_High;
static unsigned long toggles_left;
static int exit_code;

static void on_timer(EventLoop *el, int fd, EventLoop_IoEvents events, void *context)
{
	uint64_t expirations;
	(void)events, (void)context;
	if (read(fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	led_state = led_state == GPIO_Value_High ? GPIO_Value_Low : GPIO_Value_High;
	if (GPIO_SetValue(led_fd, led_state) < 0) {
		Log_Debug("ERROR: could not set the LED: %s (%d)\n", strerror(errno), errno);
		exit_code = 3;
		EventLoop_Stop(el);
		return;
	}
	Log_Debug("LED %s\n", led_state == GPIO_Value_High ? "off" : "on");
	if (toggles_left && --toggles_left == 0)
		EventLoop_Stop(el);
}

static unsigned long arg(char **argv, int i, int argc, unsigned long def)
{
	char *end = NULL;
	unsigned long v;
	if (i >= argc)
		return def;
	v = strtoul(argv[i], &end, 10);
	if (!*argv[i] || *end) {
		Log_Debug("usage: blink [TOGGLES [PERIOD_MS]]\n");
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned long period_ms;
	struct itimerspec its;
	EventLoop *el;
	int tfd;

	toggles_left = arg(argv, 1, argc, 0);
	period_ms = arg(argv, 2, argc, 500);
	if (period_ms == 0 || period_ms > 60000)
		period_ms = 500;

	Log_Debug("Blink starting: SAMPLE_LED is GPIO %d\n", SAMPLE_LED);
	led_fd = GPIO_OpenAsOutput(SAMPLE_LED, GPIO_OutputMode_PushPull, GPIO_Value_High);
	if (led_fd < 0) {
		Log_Debug("ERROR: could not open SAMPLE_LED: %s (%d)\n", strerror(errno), errno);
		return 1;
	}
	el = EventLoop_Create();
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!el || tfd < 0) {
		Log_Debug("ERROR: event loop setup failed: %s\n", strerror(errno));
		return 1;
	}
	its.it_interval.tv_sec = (time_t)(period_ms / 1000);
	its.it_interval.tv_nsec = (long)(period_ms % 1000) * 1000000L;
	its.it_value = its.it_interval;
	if (timerfd_settime(tfd, 0, &its, NULL) < 0 ||
	    !EventLoop_RegisterIo(el, tfd, EventLoop_Input, on_timer, NULL)) {
		Log_Debug("ERROR: timer setup failed: %s\n", strerror(errno));
		return 1;
	}
	while (exit_code == 0) {
		EventLoop_Run_Result r = EventLoop_Run(el, -1, true);
		if (r == EventLoop_Run_Failed && errno != EINTR) {
			Log_Debug("ERROR: event loop failed: %s\n", strerror(errno));
			exit_code = 1;
		}
		if (toggles_left == 0 && argc > 1)
			break;
	}
	EventLoop_Close(el);
	close(tfd);
	close(led_fd);
	Log_Debug("Blink exiting with %d\n", exit_code);
	return exit_code;
}
