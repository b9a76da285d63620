/* applibs pwm: PWM_Apply goes to the broker on the controller's handle channel. */
#include <applibs/pwm.h>

#include <errno.h>

#include "broker_client.h"

int PWM_Open(PWM_ControllerId pwm)
{
	struct broker_msg req = {.type = BROKER_PWM_OPEN, .id = pwm};
	return broker_client_open(&req);
}

int PWM_Apply(int pwmFd, PWM_ChannelId pwmChannel, const PwmState *s)
{
	struct broker_msg req = {.type = BROKER_PWM_APPLY, .id = pwmChannel}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	if (!s) {
		errno = EFAULT;
		return -1;
	}
	if (s->dutyCycle_nsec > s->period_nsec || (s->polarity != PWM_Polarity_Normal && s->polarity != PWM_Polarity_Inversed)) {
		errno = EINVAL;
		return -1;
	}
	req.pwm.period_ns = s->period_nsec;
	req.pwm.duty_ns = s->dutyCycle_nsec;
	req.pwm.polarity = s->polarity == PWM_Polarity_Inversed;
	req.pwm.enabled = s->enabled;
	return broker_client_call(pwmFd, &req, &resp, buf, NULL);
}
