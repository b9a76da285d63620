/* Sizes every root-of-trust backend shares (rot.h), apart so code that only reads the soft
 * backend's state file needs no backend headers. */
#pragma once

#define ROT_PCR_COUNT 24
#define ROT_COUNTER_COUNT 4
