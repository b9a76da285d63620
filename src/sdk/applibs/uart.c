/* applibs uart: the broker configures the UART and hands over a byte-stream fd. */
#include <applibs/uart.h>

#include <errno.h>
#include <string.h>

#include "broker_client.h"

#define UART_CONFIG_MAGIC 0x55415254u /* "UART", version 1 */

void UART_InitConfig(UART_Config *c)
{
	if (!c)
		return;
	memset(c, 0, sizeof(*c));
	c->z__magicAndVersion = UART_CONFIG_MAGIC;
	c->baudRate = 9600;
	c->blockingMode = UART_BlockingMode_NonBlocking;
	c->dataBits = UART_DataBits_Eight;
	c->parity = UART_Parity_None;
	c->stopBits = UART_StopBits_One;
	c->flowControl = UART_FlowControl_None;
}

int UART_Open(UART_Id uartId, const UART_Config *c)
{
	struct broker_msg req = {.type = BROKER_UART_OPEN};
	if (!c) {
		errno = EFAULT;
		return -1;
	}
	/* Like Azure Sphere: the config must come from UART_InitConfig. */
	if (uartId < 0 || c->z__magicAndVersion != UART_CONFIG_MAGIC || c->dataBits < 5 || c->dataBits > 8 ||
	    c->parity > 2 || c->stopBits < 1 || c->stopBits > 2 || c->flowControl > 2 || c->blockingMode > 1 ||
	    c->baudRate == 0) {
		errno = EINVAL;
		return -1;
	}
	req.id = (uint32_t)uartId;
	req.arg = c->baudRate;
	req.uart.blocking = c->blockingMode;
	req.uart.data_bits = c->dataBits;
	req.uart.parity = c->parity;
	req.uart.stop_bits = c->stopBits;
	req.uart.flow_control = c->flowControl;
	return broker_client_open(&req);
}
