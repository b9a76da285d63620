/* applibs adc: ADC controllers granted by the manifest's "Adc" capability. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t ADC_ControllerId;
typedef uint32_t ADC_ChannelId;

int ADC_Open(ADC_ControllerId id);
/* Returns the sample width in bits, or -1 with errno. */
int ADC_GetSampleBitCount(int fd, ADC_ChannelId channelId);
int ADC_SetReferenceVoltage(int fd, ADC_ChannelId channelId, float referenceVoltage);
int ADC_Poll(int fd, ADC_ChannelId channelId, uint32_t *outSampleValue);

#ifdef __cplusplus
}
#endif
