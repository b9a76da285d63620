/* applibs spi: the broker performs each transfer sequence. */
#include <applibs/spi.h>

#include <errno.h>
#include <string.h>

#include "broker_client.h"

#define SPI_CONFIG_MAGIC 0x53504943u   /* "SPIC" */
#define SPI_TRANSFER_MAGIC 0x53504954u /* "SPIT" */

int SPIMaster_InitConfig(SPIMaster_Config *config)
{
	if (!config) {
		errno = EFAULT;
		return -1;
	}
	config->z__magicAndVersion = SPI_CONFIG_MAGIC;
	config->csPolarity = SPI_ChipSelectPolarity_ActiveLow;
	return 0;
}

int SPIMaster_Open(SPI_InterfaceId interfaceId, SPI_ChipSelectId chipSelectId, const SPIMaster_Config *config)
{
	struct broker_msg req = {.type = BROKER_SPI_OPEN};
	if (!config) {
		errno = EFAULT;
		return -1;
	}
	if (interfaceId < 0 || chipSelectId < 0 || config->z__magicAndVersion != SPI_CONFIG_MAGIC ||
	    (config->csPolarity != SPI_ChipSelectPolarity_ActiveLow &&
	     config->csPolarity != SPI_ChipSelectPolarity_ActiveHigh)) {
		errno = EINVAL;
		return -1;
	}
	req.id = (uint32_t)interfaceId;
	req.arg = (uint32_t)chipSelectId;
	req.value = (uint8_t)config->csPolarity;
	return broker_client_open(&req);
}

static int spi_config(int fd, uint8_t setting, uint32_t value)
{
	struct broker_msg req = {.type = BROKER_SPI_CONFIG, .dir = setting, .arg = value}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	return broker_client_call(fd, &req, &resp, buf, NULL);
}

int SPIMaster_SetBusSpeed(int fd, uint32_t speedInHz)
{
	return spi_config(fd, BROKER_SPI_SPEED, speedInHz);
}

int SPIMaster_SetMode(int fd, SPI_Mode mode)
{
	return spi_config(fd, BROKER_SPI_MODE, (uint32_t)mode);
}

int SPIMaster_SetBitOrder(int fd, SPI_BitOrder order)
{
	return spi_config(fd, BROKER_SPI_BIT_ORDER, (uint32_t)order);
}

int SPIMaster_InitTransfers(SPIMaster_Transfer *transfers, size_t transferCount)
{
	if (!transfers) {
		errno = EFAULT;
		return -1;
	}
	for (size_t i = 0; i < transferCount; i++) {
		memset(&transfers[i], 0, sizeof(transfers[i]));
		transfers[i].z__magicAndVersion = SPI_TRANSFER_MAGIC;
	}
	return 0;
}

ssize_t SPIMaster_TransferSequential(int fd, const SPIMaster_Transfer *transfers, size_t transferCount)
{
	struct broker_msg req = {.type = BROKER_SPI_TRANSFER}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	size_t total = 0, off = 0;

	if (!transfers) {
		errno = EFAULT;
		return -1;
	}
	if (transferCount == 0 || transferCount > BROKER_SPI_SEGMENTS_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < transferCount; i++) {
		const SPIMaster_Transfer *t = &transfers[i];
		uint8_t flags = (uint8_t)t->flags;
		if (t->z__magicAndVersion != SPI_TRANSFER_MAGIC || flags == 0 || flags > 3 || t->length == 0 ||
		    t->length > BROKER_XFER_MAX || (total += t->length) > BROKER_XFER_MAX) {
			errno = EINVAL;
			return -1;
		}
		if (((flags & SPI_TransferFlags_Write) && !t->writeData) || ((flags & SPI_TransferFlags_Read) && !t->readData)) {
			errno = EFAULT;
			return -1;
		}
		req.spi[i].flags = (uint8_t)((flags & SPI_TransferFlags_Read ? BROKER_SPI_READ : 0) |
		                             (flags & SPI_TransferFlags_Write ? BROKER_SPI_WRITE : 0));
		req.spi[i].len = (uint16_t)t->length;
		req.spi[i].write = t->writeData;
	}
	req.spi_count = (uint8_t)transferCount;
	if (broker_client_call(fd, &req, &resp, buf, NULL) < 0)
		return -1;
	for (size_t i = 0; i < transferCount; i++) {
		const SPIMaster_Transfer *t = &transfers[i];
		if (!(t->flags & SPI_TransferFlags_Read))
			continue;
		if (off + t->length > resp.data_len) {
			errno = EPROTO;
			return -1;
		}
		memcpy(t->readData, resp.data + off, t->length);
		off += t->length;
	}
	return (ssize_t)total;
}

ssize_t SPIMaster_WriteThenRead(int fd, const uint8_t *writeData, size_t lenWriteData, uint8_t *readData,
                                size_t lenReadData)
{
	SPIMaster_Transfer t[2];
	SPIMaster_InitTransfers(t, 2);
	t[0].flags = SPI_TransferFlags_Write;
	t[0].writeData = writeData;
	t[0].length = lenWriteData;
	t[1].flags = SPI_TransferFlags_Read;
	t[1].readData = readData;
	t[1].length = lenReadData;
	return SPIMaster_TransferSequential(fd, t, 2);
}
