/* Real peripheral backends on Linux: gpiochip lines (libgpiod v1), ttys (termios), i2c-dev,
 * spidev, IIO (sysfs) and PWM (sysfs). Each function returns 0 (or an fd) on success and a
 * negative errno value on failure, so the broker can answer the app with that errno. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "device/broker/board.h"
#include "device/broker/broker_proto.h"

struct backend_gpio;

int backend_gpio_open(const struct board_periph *p, uint8_t dir, uint8_t mode, uint8_t value,
                      struct backend_gpio **out);
int backend_gpio_get(struct backend_gpio *g, uint8_t *value);
int backend_gpio_set(struct backend_gpio *g, uint8_t value);
void backend_gpio_close(struct backend_gpio *g);

/* Opens and configures the tty; the fd is handed to the app. */
int backend_uart_open(const struct board_periph *p, const struct broker_msg *config);

int backend_i2c_open(const struct board_periph *p);
int backend_i2c_transfer(int fd, uint16_t address, const uint8_t *wr, size_t wr_len, uint8_t *rd, size_t rd_len);

int backend_spi_open(const struct board_periph *p, uint32_t chip_select);
/* SPI mode 0..3, bits: LSB first when lsb_first. */
int backend_spi_configure(int fd, uint32_t speed_hz, uint8_t mode, int lsb_first);
int backend_spi_transfer(int fd, const struct broker_msg *m, uint8_t *rd, size_t *rd_len);

int backend_adc_read(const struct board_periph *p, uint32_t channel, uint32_t *value);

int backend_pwm_apply(const struct board_periph *p, uint32_t channel, uint32_t period_ns, uint32_t duty_ns,
                      uint8_t polarity, uint8_t enabled);
