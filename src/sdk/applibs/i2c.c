/* applibs i2c: the broker performs each transfer (docs/protocol.md says why); the default target
 * address is kept per fd in this process. */
#include <applibs/i2c.h>

#include <errno.h>
#include <string.h>

#include "broker_client.h"

#define I2C_FD_SLOTS 64

static struct {
	int fd;
	I2C_DeviceAddress address;
} default_targets[I2C_FD_SLOTS];

int I2CMaster_Open(I2C_InterfaceId id)
{
	struct broker_msg req = {.type = BROKER_I2C_OPEN};
	if (id < 0) {
		errno = EINVAL;
		return -1;
	}
	req.id = (uint32_t)id;
	return broker_client_open(&req);
}

static int i2c_config(int fd, uint8_t setting, uint32_t value)
{
	struct broker_msg req = {.type = BROKER_I2C_CONFIG, .dir = setting, .arg = value}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	return broker_client_call(fd, &req, &resp, buf, NULL);
}

int I2CMaster_SetBusSpeed(int fd, uint32_t speedInHz)
{
	return i2c_config(fd, BROKER_I2C_SPEED, speedInHz);
}

int I2CMaster_SetTimeout(int fd, uint32_t timeoutInMs)
{
	return i2c_config(fd, BROKER_I2C_TIMEOUT, timeoutInMs);
}

int I2CMaster_SetDefaultTargetAddress(int fd, I2C_DeviceAddress address)
{
	if (fd < 0 || address > 0x7f) {
		errno = fd < 0 ? EBADF : EINVAL;
		return -1;
	}
	for (size_t i = 0; i < I2C_FD_SLOTS; i++) {
		if (default_targets[i].fd == fd + 1 || default_targets[i].fd == 0) {
			default_targets[i].fd = fd + 1;
			default_targets[i].address = address;
			return 0;
		}
	}
	errno = ENOMEM;
	return -1;
}

static ssize_t transfer(int fd, I2C_DeviceAddress address, const uint8_t *wr, size_t wr_len, uint8_t *rd,
                        size_t rd_len)
{
	struct broker_msg req = {.type = BROKER_I2C_TRANSFER}, resp;
	uint8_t buf[BROKER_MSG_MAX];

	if ((wr_len && !wr) || (rd_len && !rd)) {
		errno = EFAULT;
		return -1;
	}
	if (address > 0x7f || wr_len > BROKER_XFER_MAX || rd_len > BROKER_XFER_MAX) {
		errno = EINVAL;
		return -1;
	}
	req.address = (uint16_t)address;
	req.data = wr;
	req.data_len = (uint16_t)wr_len;
	req.read_len = (uint16_t)rd_len;
	if (broker_client_call(fd, &req, &resp, buf, NULL) < 0)
		return -1;
	if (resp.data_len != rd_len) {
		errno = EPROTO;
		return -1;
	}
	if (rd_len)
		memcpy(rd, resp.data, rd_len);
	return (ssize_t)(wr_len + rd_len);
}

ssize_t I2CMaster_Write(int fd, I2C_DeviceAddress address, const uint8_t *data, size_t length)
{
	return transfer(fd, address, data, length, NULL, 0);
}

ssize_t I2CMaster_Read(int fd, I2C_DeviceAddress address, uint8_t *buffer, size_t maxLength)
{
	return transfer(fd, address, NULL, 0, buffer, maxLength);
}

ssize_t I2CMaster_WriteThenRead(int fd, I2C_DeviceAddress address, const uint8_t *writeData, size_t lenWriteData,
                                uint8_t *readData, size_t lenReadData)
{
	return transfer(fd, address, writeData, lenWriteData, readData, lenReadData);
}
