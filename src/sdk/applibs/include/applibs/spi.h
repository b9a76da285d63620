/* applibs spi: SPI masters granted by the manifest's "SpiMaster" capability; the broker performs
 * every transfer. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int SPI_InterfaceId;
typedef int SPI_ChipSelectId;

typedef enum SPI_ChipSelectPolarity {
	SPI_ChipSelectPolarity_Invalid = 0,
	SPI_ChipSelectPolarity_ActiveLow = 1,
	SPI_ChipSelectPolarity_ActiveHigh = 2,
} SPI_ChipSelectPolarity;

typedef enum SPI_Mode {
	SPI_Mode_Invalid = 0,
	SPI_Mode_0 = 1,
	SPI_Mode_1 = 2,
	SPI_Mode_2 = 3,
	SPI_Mode_3 = 4,
} SPI_Mode;

typedef enum SPI_BitOrder {
	SPI_BitOrder_Invalid = 0,
	SPI_BitOrder_LsbFirst = 1,
	SPI_BitOrder_MsbFirst = 2,
} SPI_BitOrder;

typedef enum SPI_TransferFlags {
	SPI_TransferFlags_None = 0,
	SPI_TransferFlags_Read = 1,
	SPI_TransferFlags_Write = 2,
} SPI_TransferFlags;

typedef struct SPIMaster_Config {
	uint32_t z__magicAndVersion;
	SPI_ChipSelectPolarity csPolarity;
} SPIMaster_Config;

typedef struct SPIMaster_Transfer {
	uint32_t z__magicAndVersion;
	SPI_TransferFlags flags;
	const uint8_t *writeData;
	uint8_t *readData;
	size_t length;
} SPIMaster_Transfer;

int SPIMaster_InitConfig(SPIMaster_Config *config);
int SPIMaster_Open(SPI_InterfaceId interfaceId, SPI_ChipSelectId chipSelectId, const SPIMaster_Config *config);
int SPIMaster_SetBusSpeed(int fd, uint32_t speedInHz);
int SPIMaster_SetMode(int fd, SPI_Mode mode);
int SPIMaster_SetBitOrder(int fd, SPI_BitOrder order);
int SPIMaster_InitTransfers(SPIMaster_Transfer *transfers, size_t transferCount);
/* Returns the number of bytes transferred, or -1 with errno. At most 16 transfers and 2048 bytes. */
ssize_t SPIMaster_TransferSequential(int fd, const SPIMaster_Transfer *transfers, size_t transferCount);
ssize_t SPIMaster_WriteThenRead(int fd, const uint8_t *writeData, size_t lenWriteData, uint8_t *readData,
                                size_t lenReadData);

#ifdef __cplusplus
}
#endif
