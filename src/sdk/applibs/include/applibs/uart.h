/* applibs uart: UARTs granted by the manifest's "Uart" capability. The returned fd is a byte
 * stream: use read(), write() and the event loop on it. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int UART_Id;
typedef uint32_t UART_BaudRate_Type;

typedef uint8_t UART_BlockingMode_Type;
enum { UART_BlockingMode_NonBlocking = 0, UART_BlockingMode_Blocking = 1 };

typedef uint8_t UART_DataBits_Type;
enum { UART_DataBits_Five = 5, UART_DataBits_Six = 6, UART_DataBits_Seven = 7, UART_DataBits_Eight = 8 };

typedef uint8_t UART_Parity_Type;
enum { UART_Parity_None = 0, UART_Parity_Even = 1, UART_Parity_Odd = 2 };

typedef uint8_t UART_StopBits_Type;
enum { UART_StopBits_One = 1, UART_StopBits_Two = 2 };

typedef uint8_t UART_FlowControl_Type;
enum { UART_FlowControl_None = 0, UART_FlowControl_RTSCTS = 1, UART_FlowControl_XONXOFF = 2 };

typedef struct UART_Config {
	uint32_t z__magicAndVersion;
	UART_BaudRate_Type baudRate;
	UART_BlockingMode_Type blockingMode;
	UART_DataBits_Type dataBits;
	UART_Parity_Type parity;
	UART_StopBits_Type stopBits;
	UART_FlowControl_Type flowControl;
} UART_Config;

/* Defaults: 9600 baud, non-blocking, 8N1, no flow control. */
void UART_InitConfig(UART_Config *uartConfig);
int UART_Open(UART_Id uartId, const UART_Config *uartConfig);

#ifdef __cplusplus
}
#endif
