/* Real Linux peripheral backends (see backend_linux.h). Paths come from the board file, which the
 * board parser restricted to /dev and /sys; files are opened O_NOFOLLOW where a symlink would
 * mean something unexpected. */
#include "device/broker/backend_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <linux/spi/spidev.h>

#ifdef RAMPART_HAVE_LIBGPIOD
#include <gpiod.h>
#endif

#include "common/fileio.h"
#include "common/parse.h"
#include "common/xalloc.h"

#define CONSUMER "rampart-broker"

#ifdef RAMPART_HAVE_LIBGPIOD
struct backend_gpio {
	struct gpiod_chip *chip;
	struct gpiod_line *line;
};

int backend_gpio_open(const struct board_periph *p, uint8_t dir, uint8_t mode, uint8_t value,
                      struct backend_gpio **out)
{
	struct backend_gpio *g = xcalloc(1, sizeof(*g));
	int r;

	g->chip = gpiod_chip_open_by_name(p->device);
	if (!g->chip) {
		r = -errno;
		free(g);
		return r;
	}
	g->line = gpiod_chip_get_line(g->chip, p->gpio_line);
	if (!g->line) {
		r = -errno;
		goto fail;
	}
	if (dir == BROKER_GPIO_OUTPUT) {
		int flags = mode == 1 ? GPIOD_LINE_REQUEST_FLAG_OPEN_DRAIN : mode == 2 ? GPIOD_LINE_REQUEST_FLAG_OPEN_SOURCE : 0;
		r = gpiod_line_request_output_flags(g->line, CONSUMER, flags, value);
	} else {
		r = gpiod_line_request_input(g->line, CONSUMER);
	}
	if (r < 0) {
		r = -errno;
		goto fail;
	}
	*out = g;
	return 0;
fail:
	gpiod_chip_close(g->chip);
	free(g);
	return r;
}

int backend_gpio_get(struct backend_gpio *g, uint8_t *value)
{
	int v = gpiod_line_get_value(g->line);
	if (v < 0)
		return -errno;
	*value = (uint8_t)(v != 0);
	return 0;
}

int backend_gpio_set(struct backend_gpio *g, uint8_t value)
{
	return gpiod_line_set_value(g->line, value) < 0 ? -errno : 0;
}

void backend_gpio_close(struct backend_gpio *g)
{
	if (!g)
		return;
	gpiod_line_release(g->line);
	gpiod_chip_close(g->chip);
	free(g);
}
#else
int backend_gpio_open(const struct board_periph *p, uint8_t dir, uint8_t mode, uint8_t value,
                      struct backend_gpio **out)
{
	(void)p, (void)dir, (void)mode, (void)value, (void)out;
	return -EOPNOTSUPP;
}
int backend_gpio_get(struct backend_gpio *g, uint8_t *value)
{
	(void)g, (void)value;
	return -EOPNOTSUPP;
}
int backend_gpio_set(struct backend_gpio *g, uint8_t value)
{
	(void)g, (void)value;
	return -EOPNOTSUPP;
}
void backend_gpio_close(struct backend_gpio *g) { (void)g; }
#endif


/* SPI_IOC_MESSAGE(n) with a runtime n, spelled out: the kernel macro sizes a char array by n,
 * which compilers treat as a variable-length array. */
static unsigned long spi_message_request(size_t n)
{
	size_t size = n * sizeof(struct spi_ioc_transfer);
	if (size >= (1u << _IOC_SIZEBITS))
		size = 0;
	return _IOC(_IOC_WRITE, SPI_IOC_MAGIC, 0, size);
}

static speed_t baud_constant(uint32_t baud)
{
	static const struct {
		uint32_t rate;
		speed_t c;
	} rates[] = {{1200, B1200},     {2400, B2400},     {4800, B4800},     {9600, B9600},
	             {19200, B19200},   {38400, B38400},   {57600, B57600},   {115200, B115200},
	             {230400, B230400}, {460800, B460800}, {921600, B921600}, {1000000, B1000000},
	             {2000000, B2000000}, {3000000, B3000000}};
	for (size_t i = 0; i < RP_ARRAY_SIZE(rates); i++)
		if (rates[i].rate == baud)
			return rates[i].c;
	return 0;
}

int backend_uart_open(const struct board_periph *p, const struct broker_msg *c)
{
	struct termios t;
	speed_t speed = baud_constant(c->arg);
	int fd, r;

	if (!speed)
		return -EINVAL;
	fd = open(p->device, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW | (c->uart.blocking ? 0 : O_NONBLOCK));
	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &t) < 0)
		goto fail;
	cfmakeraw(&t);
	cfsetispeed(&t, speed);
	cfsetospeed(&t, speed);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag |= c->uart.data_bits == 5 ? CS5 : c->uart.data_bits == 6 ? CS6 : c->uart.data_bits == 7 ? CS7 : CS8;
	if (c->uart.parity)
		t.c_cflag |= PARENB | (c->uart.parity == 2 ? PARODD : 0);
	if (c->uart.stop_bits == 2)
		t.c_cflag |= CSTOPB;
	if (c->uart.flow_control == 1)
		t.c_cflag |= CRTSCTS;
	if (c->uart.flow_control == 2)
		t.c_iflag |= IXON | IXOFF;
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

int backend_i2c_open(const struct board_periph *p)
{
	int fd = open(p->device, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

int backend_i2c_transfer(int fd, uint16_t address, const uint8_t *wr, size_t wr_len, uint8_t *rd, size_t rd_len)
{
	struct i2c_msg msgs[2];
	struct i2c_rdwr_ioctl_data data = {.msgs = msgs, .nmsgs = 0};

	if (wr_len || !rd_len)
		msgs[data.nmsgs++] = (struct i2c_msg){.addr = address, .flags = 0, .len = (uint16_t)wr_len, .buf = (uint8_t *)wr};
	if (rd_len)
		msgs[data.nmsgs++] = (struct i2c_msg){.addr = address, .flags = I2C_M_RD, .len = (uint16_t)rd_len, .buf = rd};
	return ioctl(fd, I2C_RDWR, &data) < 0 ? -errno : 0;
}

int backend_spi_open(const struct board_periph *p, uint32_t chip_select)
{
	if (chip_select >= p->spi_device_count)
		return -EINVAL;
	int fd = open(p->spi_devices[chip_select], O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

int backend_spi_configure(int fd, uint32_t speed_hz, uint8_t mode, int lsb_first)
{
	uint8_t lsb = (uint8_t)(lsb_first != 0);
	if (ioctl(fd, SPI_IOC_WR_MODE, &mode) < 0 || ioctl(fd, SPI_IOC_WR_LSB_FIRST, &lsb) < 0 ||
	    (speed_hz && ioctl(fd, SPI_IOC_WR_MAX_SPEED_HZ, &speed_hz) < 0))
		return -errno;
	return 0;
}

int backend_spi_transfer(int fd, const struct broker_msg *m, uint8_t *rd, size_t *rd_len)
{
	struct spi_ioc_transfer x[BROKER_SPI_SEGMENTS_MAX];
	size_t off = 0;

	memset(x, 0, sizeof(x));
	for (size_t i = 0; i < m->spi_count; i++) {
		const struct broker_spi_segment *s = &m->spi[i];
		x[i].len = s->len;
		if (s->flags & BROKER_SPI_WRITE)
			x[i].tx_buf = (uintptr_t)s->write;
		if (s->flags & BROKER_SPI_READ) {
			x[i].rx_buf = (uintptr_t)(rd + off);
			off += s->len;
		}
	}
	if (ioctl(fd, spi_message_request(m->spi_count), x) < 0)
		return -errno;
	*rd_len = off;
	return 0;
}

static int read_sysfs_u32(const char *path, uint32_t *out)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;
	rp_error err = RP_ERROR_INIT;

	if (fd < 0)
		return -errno;
	n = rp_read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return rp_parse_u32(buf, 0, UINT32_MAX, out, &err) < 0 ? -EIO : 0;
}

static int write_sysfs(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	int r = 0;
	if (fd < 0)
		return -errno;
	if (rp_write_full(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

int backend_adc_read(const struct board_periph *p, uint32_t channel, uint32_t *value)
{
	char path[BOARD_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/in_voltage%" PRIu32 "_raw", p->device, channel);
	return read_sysfs_u32(path, value);
}

int backend_pwm_apply(const struct board_periph *p, uint32_t channel, uint32_t period_ns, uint32_t duty_ns,
                      uint8_t polarity, uint8_t enabled)
{
	char path[BOARD_PATH_MAX + 64], num[16];
	int r;

	snprintf(path, sizeof(path), "%s/pwm%" PRIu32, p->device, channel);
	if (access(path, F_OK) < 0) {
		snprintf(path, sizeof(path), "%s/export", p->device);
		snprintf(num, sizeof(num), "%" PRIu32, channel);
		if ((r = write_sysfs(path, num)) < 0)
			return r;
	}
	/* Order matters to the kernel: disable, shrink duty before period, then enable. */
	snprintf(path, sizeof(path), "%s/pwm%" PRIu32 "/enable", p->device, channel);
	(void)write_sysfs(path, "0");
	snprintf(path, sizeof(path), "%s/pwm%" PRIu32 "/duty_cycle", p->device, channel);
	(void)write_sysfs(path, "0");
	snprintf(path, sizeof(path), "%s/pwm%" PRIu32 "/period", p->device, channel);
	snprintf(num, sizeof(num), "%" PRIu32, period_ns);
	if ((r = write_sysfs(path, num)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/pwm%" PRIu32 "/duty_cycle", p->device, channel);
	snprintf(num, sizeof(num), "%" PRIu32, duty_ns);
	if ((r = write_sysfs(path, num)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/pwm%" PRIu32 "/polarity", p->device, channel);
	(void)write_sysfs(path, polarity ? "inversed" : "normal");
	snprintf(path, sizeof(path), "%s/pwm%" PRIu32 "/enable", p->device, channel);
	return write_sysfs(path, enabled ? "1" : "0");
}
