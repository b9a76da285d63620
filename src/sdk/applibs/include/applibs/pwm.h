/* applibs pwm: PWM controllers granted by the manifest's "Pwm" capability. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t PWM_ControllerId;
typedef uint32_t PWM_ChannelId;

typedef enum {
	PWM_Polarity_Normal,
	PWM_Polarity_Inversed,
} PWM_Polarity;

typedef struct PwmState {
	unsigned int period_nsec;
	unsigned int dutyCycle_nsec;
	PWM_Polarity polarity;
	bool enabled;
} PwmState;

int PWM_Open(PWM_ControllerId pwm);
int PWM_Apply(int pwmFd, PWM_ChannelId pwmChannel, const PwmState *newState);

#ifdef __cplusplus
}
#endif
