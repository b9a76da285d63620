/* applibs gpio: opens go to the broker's control channel; the returned fd is a handle channel on
 * which the broker performs get/set (docs/sdk.md explains why GPIO fds are not line fds). */
#include <applibs/gpio.h>

#include <errno.h>
#include <string.h>

#include "broker_client.h"

static int gpio_open(GPIO_Id id, uint8_t dir, uint8_t mode, uint8_t value)
{
	struct broker_msg req = {.type = BROKER_GPIO_OPEN, .dir = dir, .mode = mode, .value = value};
	if (id < 0 || mode > GPIO_OutputMode_OpenSource || value > GPIO_Value_High) {
		errno = EINVAL;
		return -1;
	}
	req.id = (uint32_t)id;
	return broker_client_open(&req);
}

int GPIO_OpenAsInput(GPIO_Id gpioId)
{
	return gpio_open(gpioId, BROKER_GPIO_INPUT, 0, 0);
}

int GPIO_OpenAsOutput(GPIO_Id gpioId, GPIO_OutputMode_Type outputMode, GPIO_Value_Type initialValue)
{
	return gpio_open(gpioId, BROKER_GPIO_OUTPUT, outputMode, initialValue);
}

int GPIO_GetValue(int gpioFd, GPIO_Value_Type *outValue)
{
	struct broker_msg req = {.type = BROKER_GPIO_GET}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	if (!outValue) {
		errno = EFAULT;
		return -1;
	}
	if (broker_client_call(gpioFd, &req, &resp, buf, NULL) < 0)
		return -1;
	*outValue = resp.value;
	return 0;
}

int GPIO_SetValue(int gpioFd, GPIO_Value_Type value)
{
	struct broker_msg req = {.type = BROKER_GPIO_SET, .value = value}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	if (value > GPIO_Value_High) {
		errno = EINVAL;
		return -1;
	}
	return broker_client_call(gpioFd, &req, &resp, buf, NULL);
}
