/* applibs adc: polls and settings go to the broker on the controller's handle channel. */
#include <applibs/adc.h>

#include <errno.h>
#include <math.h>

#include "broker_client.h"

int ADC_Open(ADC_ControllerId id)
{
	struct broker_msg req = {.type = BROKER_ADC_OPEN, .id = id};
	return broker_client_open(&req);
}

int ADC_GetSampleBitCount(int fd, ADC_ChannelId channelId)
{
	struct broker_msg req = {.type = BROKER_ADC_BITS, .id = channelId}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	if (broker_client_call(fd, &req, &resp, buf, NULL) < 0)
		return -1;
	return (int)resp.arg;
}

int ADC_SetReferenceVoltage(int fd, ADC_ChannelId channelId, float referenceVoltage)
{
	struct broker_msg req = {.type = BROKER_ADC_SET_REF, .id = channelId}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	if (!isfinite(referenceVoltage) || referenceVoltage <= 0.0f || referenceVoltage > 100.0f) {
		errno = EINVAL;
		return -1;
	}
	req.arg = (uint32_t)(referenceVoltage * 1e6f + 0.5f); /* microvolts on the wire */
	return broker_client_call(fd, &req, &resp, buf, NULL);
}

int ADC_Poll(int fd, ADC_ChannelId channelId, uint32_t *outSampleValue)
{
	struct broker_msg req = {.type = BROKER_ADC_POLL, .id = channelId}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	if (!outSampleValue) {
		errno = EFAULT;
		return -1;
	}
	if (broker_client_call(fd, &req, &resp, buf, NULL) < 0)
		return -1;
	*outSampleValue = resp.arg;
	return 0;
}
