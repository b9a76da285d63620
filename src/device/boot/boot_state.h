/* The boot-state record (STATE/boot/state): which A/B slot boots next, whether it still has to pass
 * its health check, how many attempts it has left, and the last result for the agent to report.
 * The file is untrusted input: encoding is strict (magic, version, exact length, SHA-256 checksum)
 * and decoding is a pure function over bytes so it can be fuzzed (docs/protocol.md). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/bytes.h"
#include "common/error.h"

#define BOOT_STATE_MAGIC 0x52504253u /* "RPBS" */
#define BOOT_STATE_VERSION 1
#define BOOT_STATE_MAX_LEN 1024
#define BOOT_RESULT_MAX 255
#define BOOT_ATTEMPTS_MAX 16
#define BOOT_SLOT_NONE 0xffu
#define BOOT_SLOTS 2

#define BOOT_STATE_FLAG_PENDING 0x1u

struct boot_state {
	uint64_t generation;        /* incremented on every write: shows progress in status */
	uint8_t active;             /* slot to boot: 0 = a, 1 = b */
	uint8_t previous;           /* slot to fall back to, or BOOT_SLOT_NONE */
	bool pending;               /* active slot has not yet passed its health check */
	uint8_t attempts_left;      /* boots the pending slot may still try */
	uint8_t bad_mask;           /* bit per slot: failed its health check or its verification */
	uint64_t committed_version; /* version of the last committed bundle (the floor's target) */
	char last_result[BOOT_RESULT_MAX + 1];
};

/* "a" / "b" / "none". */
const char *boot_state_slot_name(unsigned slot);
/* Parse "a" or "b"; -1 otherwise. */
int boot_state_slot_parse(const char *name, unsigned *slot);

/* A fresh record: slot a active, nothing pending. */
void boot_state_init(struct boot_state *st);
/* Set last_result (truncated to BOOT_RESULT_MAX bytes, control characters replaced). */
void boot_state_set_result(struct boot_state *st, const char *fmt, ...) RP_PRINTF(2, 3);

/* Validate and append the encoding to OUT. */
int boot_state_encode(const struct boot_state *st, rp_buf *out, rp_error *err) RP_MUST_CHECK;
/* Strict decode of the whole file. */
int boot_state_decode(const uint8_t *data, size_t len, struct boot_state *st, rp_error *err) RP_MUST_CHECK;

/* Read PATH; RP_E_NOT_FOUND when it does not exist, RP_E_INVALID when it is damaged. */
int boot_state_load(const char *path, struct boot_state *st, rp_error *err) RP_MUST_CHECK;
/* Increment the generation and replace PATH atomically (temp + fsync + rename + fsync dir). */
int boot_state_save(const char *path, struct boot_state *st, rp_error *err) RP_MUST_CHECK;
