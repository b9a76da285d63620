/* applibs gpio: GPIOs granted by the manifest's "Gpio" capability, through the peripheral broker. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int GPIO_Id;

typedef uint8_t GPIO_OutputMode_Type;
enum {
	GPIO_OutputMode_PushPull = 0,
	GPIO_OutputMode_OpenDrain = 1,
	GPIO_OutputMode_OpenSource = 2,
};

typedef uint8_t GPIO_Value_Type;
enum {
	GPIO_Value_Low = 0,
	GPIO_Value_High = 1,
};

/* Return a GPIO fd, or -1 with errno: EPERM when the manifest does not declare the GPIO,
 * EBUSY when it is already open, ENOTCONN when there is no broker. */
int GPIO_OpenAsInput(GPIO_Id gpioId);
int GPIO_OpenAsOutput(GPIO_Id gpioId, GPIO_OutputMode_Type outputMode, GPIO_Value_Type initialValue);
int GPIO_GetValue(int gpioFd, GPIO_Value_Type *outValue);
int GPIO_SetValue(int gpioFd, GPIO_Value_Type value);

#ifdef __cplusplus
}
#endif
