/* Peripheral IDs of samples/boards/simulated.json, for apps built against that board. Azure
 * Sphere apps include their hardware definition header the same way. */
#pragma once

#define SAMPLE_LED 8
#define SAMPLE_BUTTON_1 12
#define SAMPLE_RGBLED_RED 9
#define SAMPLE_UART 4
#define SAMPLE_I2C 6
#define SAMPLE_SPI 5
#define SAMPLE_ADC 0
#define SAMPLE_PWM 0
