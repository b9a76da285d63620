/* rampart-applibs-probe: runs a sequence of applibs calls given on the command line and prints
 * one line per call ("gpio-out ok 5" / "gpio-out err EPERM"), so black-box tests can check the
 * broker's answers through the real library. Not installed. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <applibs/adc.h>
#include <applibs/application.h>
#include <applibs/eventloop.h>
#include <applibs/gpio.h>
#include <applibs/i2c.h>
#include <applibs/networking.h>
#include <applibs/powermanagement.h>
#include <applibs/pwm.h>
#include <applibs/spi.h>
#include <applibs/storage.h>
#include <applibs/sysevent.h>
#include <applibs/uart.h>

static int report(const char *op, long r, const char *detail)
{
	if (r < 0)
		printf("%s err %s\n", op, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	else
		printf("%s ok %s\n", op, detail ? detail : "");
	fflush(stdout);
	return r < 0 ? 1 : 0;
}

static long num(const char *s)
{
	char *end = NULL;
	long v = strtol(s, &end, 0);
	if (!*s || *end) {
		fprintf(stderr, "bad number \"%s\"\n", s);
		exit(2);
	}
	return v;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	out[2 * n] = '\0';
}

static void on_sysevent(SysEvent_Events e, SysEvent_Status s, const SysEvent_Info *info, void *ctx)
{
	(void)e, (void)s, (void)info, (void)ctx;
}

int main(int argc, char **argv)
{
	int gpio = -1, failures = 0;
	char detail[256];
	EventLoop *el = EventLoop_Create();

	for (int i = 1; i < argc; i++) {
		const char *op = argv[i];
#define NEED(n)                                                                                                        \
	if (i + (n) >= argc) {                                                                                        \
		fprintf(stderr, "%s needs %d arguments\n", op, n);                                                     \
		return 2;                                                                                              \
	}
		if (!strcmp(op, "gpio-out")) {
			NEED(2);
			int fd = GPIO_OpenAsOutput((GPIO_Id)num(argv[i + 1]), GPIO_OutputMode_PushPull,
			                           (GPIO_Value_Type)num(argv[i + 2]));
			i += 2;
			failures += report(op, fd, NULL);
			if (fd >= 0)
				gpio = fd;
		} else if (!strcmp(op, "gpio-in")) {
			NEED(1);
			GPIO_Value_Type v = 0;
			int fd = GPIO_OpenAsInput((GPIO_Id)num(argv[++i]));
			int r = fd < 0 ? -1 : GPIO_GetValue(fd, &v);
			if (fd >= 0)
				gpio = fd;
			snprintf(detail, sizeof(detail), "%u", v);
			failures += report(op, r, detail);
		} else if (!strcmp(op, "gpio-set")) {
			NEED(1);
			failures += report(op, GPIO_SetValue(gpio, (GPIO_Value_Type)num(argv[++i])), NULL);
		} else if (!strcmp(op, "gpio-close")) {
			failures += report(op, close(gpio), NULL);
			gpio = -1;
		} else if (!strcmp(op, "uart")) {
			NEED(1);
			UART_Config c;
			UART_InitConfig(&c);
			c.baudRate = 115200;
			int fd = UART_Open((UART_Id)num(argv[++i]), &c);
			char buf[16] = {0};
			struct pollfd pf = {.fd = fd, .events = POLLIN};
			long r = fd;
			if (fd >= 0 && (write(fd, "ping", 4) != 4 || poll(&pf, 1, 5000) != 1 || read(fd, buf, sizeof(buf) - 1) <= 0))
				r = -1;
			failures += report(op, r, buf);
			if (fd >= 0)
				close(fd);
		} else if (!strcmp(op, "i2c")) {
			NEED(3);
			int fd = I2CMaster_Open((I2C_InterfaceId)num(argv[i + 1]));
			uint8_t reg = (uint8_t)num(argv[i + 3]), out[2] = {0};
			long r = fd < 0 ? -1 : I2CMaster_WriteThenRead(fd, (I2C_DeviceAddress)num(argv[i + 2]), &reg, 1, out, 2);
			i += 3;
			hex(out, 2, detail);
			failures += report(op, r, detail);
			if (fd >= 0)
				close(fd);
		} else if (!strcmp(op, "spi")) {
			NEED(2);
			SPIMaster_Config c;
			SPIMaster_InitConfig(&c);
			int fd = SPIMaster_Open((SPI_InterfaceId)num(argv[i + 1]), (SPI_ChipSelectId)num(argv[i + 2]), &c);
			uint8_t out[3] = {0};
			long r = fd < 0 ? -1 : SPIMaster_SetMode(fd, SPI_Mode_0);
			if (r >= 0)
				r = SPIMaster_WriteThenRead(fd, (const uint8_t *)"abc", 3, out, 3);
			i += 2;
			hex(out, 3, detail);
			failures += report(op, r, detail);
			if (fd >= 0)
				close(fd);
		} else if (!strcmp(op, "adc")) {
			NEED(2);
			int fd = ADC_Open((ADC_ControllerId)num(argv[i + 1]));
			ADC_ChannelId ch = (ADC_ChannelId)num(argv[i + 2]);
			uint32_t v = 0;
			int bits = fd < 0 ? -1 : ADC_GetSampleBitCount(fd, ch);
			long r = bits < 0 ? -1 : ADC_Poll(fd, ch, &v);
			if (r >= 0)
				r = ADC_SetReferenceVoltage(fd, ch, 2.5f);
			i += 2;
			snprintf(detail, sizeof(detail), "%d %u", bits, v);
			failures += report(op, r, detail);
			if (fd >= 0)
				close(fd);
		} else if (!strcmp(op, "pwm")) {
			NEED(2);
			int fd = PWM_Open((PWM_ControllerId)num(argv[i + 1]));
			PwmState s = {.period_nsec = 1000000, .dutyCycle_nsec = 250000, .polarity = PWM_Polarity_Normal, .enabled = true};
			long r = fd < 0 ? -1 : PWM_Apply(fd, (PWM_ChannelId)num(argv[i + 2]), &s);
			i += 2;
			failures += report(op, r, NULL);
			if (fd >= 0)
				close(fd);
		} else if (!strcmp(op, "net")) {
			bool ready = false;
			int r = Networking_IsNetworkingReady(&ready);
			failures += report(op, r, ready ? "ready" : "not-ready");
		} else if (!strcmp(op, "sysevent")) {
			EventRegistration *reg = SysEvent_RegisterForEventNotifications(el, SysEvent_Events_UpdateReadyForInstall,
			                                                                on_sysevent, NULL);
			failures += report(op, reg ? 0 : -1, NULL);
			if (reg)
				SysEvent_UnregisterForEventNotifications(reg);
		} else if (!strcmp(op, "defer")) {
			failures += report(op, SysEvent_DeferEvent(SysEvent_Events_UpdateReadyForInstall, 10), NULL);
		} else if (!strcmp(op, "reboot")) {
			failures += report(op, PowerManagement_ForceSystemReboot(), NULL);
		} else if (!strcmp(op, "profile")) {
			failures += report(op, PowerManagement_SetSystemPowerProfile(PowerManagement_Balanced), NULL);
		} else if (!strcmp(op, "connect")) {
			NEED(1);
			failures += report(op, Application_Connect(argv[++i]), NULL);
		} else if (!strcmp(op, "deviceauth")) {
			bool ready = false;
			int r = Application_IsDeviceAuthReady(&ready);
			failures += report(op, r, ready ? "ready" : "not-ready");
		} else if (!strcmp(op, "package")) {
			NEED(1);
			int fd = Storage_OpenFileInImagePackage(argv[++i]);
			failures += report(op, fd, NULL);
			if (fd >= 0)
				close(fd);
		} else {
			fprintf(stderr, "unknown operation \"%s\"\n", op);
			return 2;
		}
	}
	EventLoop_Close(el);
	return failures ? 1 : 0;
}
