/* The soft root of trust's state file (rot-soft/state.bin): the emulated PCRs and counters with
 * the boot ID they belong to, checksummed and replaced atomically. Apart from rot_soft.c so the
 * update worker can read the OS version floor without opening the root of trust (no key). */
#pragma once

#include <stdint.h>
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/error.h"
#include "device/rot/rot_limits.h"

#define ROT_SOFT_BOOT_ID_LEN 36

struct rot_soft_state {
	char boot_id[ROT_SOFT_BOOT_ID_LEN];
	uint8_t pcr[ROT_PCR_COUNT][RP_SHA256_LEN];
	uint64_t counter[ROT_COUNTER_COUNT];
};

/* Append the file's bytes for ST (checksum included) to OUT. */
void rot_soft_state_encode(const struct rot_soft_state *st, rp_buf *out);
/* Read and check PATH as hostile input: exact size, magic, version and checksum. A damaged file is
 * an error, never a silent reset (a reset would roll the counters back). */
int rot_soft_state_load(const char *path, struct rot_soft_state *st, rp_error *err) RP_MUST_CHECK;
/* Counter INDEX of the soft root of trust under STATE_DIR, read from its state file alone. */
int rot_soft_state_read_counter(const char *state_dir, unsigned index, uint64_t *value, rp_error *err) RP_MUST_CHECK;
