/* applibs i2c: I2C masters granted by the manifest's "I2cMaster" capability. The broker performs
 * every transfer, so plain read()/write() on the fd are not supported: use the calls below. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int I2C_InterfaceId;
typedef uint32_t I2C_DeviceAddress;

#define I2C_BUS_SPEED_STANDARD 100000
#define I2C_BUS_SPEED_FAST 400000
#define I2C_BUS_SPEED_FAST_PLUS 1000000

int I2CMaster_Open(I2C_InterfaceId id);
int I2CMaster_SetBusSpeed(int fd, uint32_t speedInHz);
int I2CMaster_SetTimeout(int fd, uint32_t timeoutInMs);
int I2CMaster_SetDefaultTargetAddress(int fd, I2C_DeviceAddress address);
ssize_t I2CMaster_Write(int fd, I2C_DeviceAddress address, const uint8_t *data, size_t length);
ssize_t I2CMaster_Read(int fd, I2C_DeviceAddress address, uint8_t *buffer, size_t maxLength);
ssize_t I2CMaster_WriteThenRead(int fd, I2C_DeviceAddress address, const uint8_t *writeData, size_t lenWriteData,
                                uint8_t *readData, size_t lenReadData);

#ifdef __cplusplus
}
#endif
