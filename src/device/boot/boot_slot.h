/* A/B slots in the device state directory: where they live, opening a slot's bundle with full
 * verification (trusted keys, type os-bundle), the exclusive state lock, and installing a new
 * bundle into the inactive slot for the update client (docs/protocol.md, "Device state directory
 * and A/B slots"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "device/boot/boot_floor.h"
#include "device/boot/boot_state.h"
#include "pkg/package_reader.h"
#include "pkg/package_stream.h"

#define BOOT_TRUST_MAX_KEYS 16
#define BOOT_DEFAULT_ATTEMPTS 2

/* Trusted image-signing keys: STATE/trust/\*.pub, sorted by name. */
struct boot_trust {
	rp_key *keys[BOOT_TRUST_MAX_KEYS];
	size_t nkeys;
};
int boot_trust_load(const char *state_dir, struct boot_trust *trust, rp_error *err) RP_MUST_CHECK;
void boot_trust_free(struct boot_trust *trust);

/* STATE/boot, STATE/boot/state, STATE/boot/slots/<a|b>/bundle.rpkg (malloc'd). */
char *boot_dir_path(const char *state_dir);
char *boot_state_path(const char *state_dir);
char *boot_slot_path(const char *state_dir, unsigned slot);

/* Take the exclusive lock STATE/boot/lock (blocking up to a few seconds); returns the fd. */
int boot_lock(const char *state_dir, rp_error *err) RP_MUST_CHECK;

/* Remove STATE/boot/slots/<a|b>/bundle.rpkg.tmp left by an install cut short (power loss, kill):
 * nothing else would, and on small storage it would make every later download fail. Call with
 * the boot lock held; failures are logged. */
void boot_slot_remove_partial(const char *state_dir);

/* Open SLOT's bundle: signature by a trusted key, type os-bundle. RP_E_NOT_FOUND when empty. */
struct package *boot_slot_open(const char *state_dir, unsigned slot, const struct boot_trust *trust, rp_error *err);
/* The same checks in one streaming pass with a bounded buffer (no private copy, no payload walk):
 * for learning what a slot holds without using it. */
int boot_slot_verify(const char *state_dir, unsigned slot, const struct boot_trust *trust,
                     struct package_stream_result *res, rp_error *err) RP_MUST_CHECK;

/* The state when the file is missing or damaged: the slot whose bundle verifies with the highest
 * version >= FLOOR becomes active (pending with one attempt when above FLOOR), the other one, if it
 * verifies and is >= FLOOR, its fallback. Fails when no slot verifies: never an unverified bundle. */
int boot_state_reconstruct(const char *state_dir, const struct boot_trust *trust, uint64_t floor,
                           struct boot_state *st, rp_error *err) RP_MUST_CHECK;

/* Load STATE/boot/state; a missing file gives a fresh state (*fresh true), a damaged one is
 * reconstructed from the slots (logged; *rebuilt true, the caller should save it). */
int boot_state_load_or_reconstruct(const char *state_dir, const struct boot_trust *trust, uint64_t floor,
                                   struct boot_state *st, bool *fresh, bool *rebuilt, rp_error *err) RP_MUST_CHECK;

struct boot_install_request {
	const char *state_dir;
	const char *path;  /* bundle file, or NULL to read FD */
	int fd;
	unsigned attempts; /* 0 means BOOT_DEFAULT_ATTEMPTS */
	/* Where to learn the version floor (best effort: the boot stage checks it again at boot): the
	 * root of trust directly when it is free, else the monitor socket when given; the state's last
	 * committed version always counts. */
	const char *rot_backend, *tcti, *monitor_socket;
	/* What signed update metadata says the bundle is (checked against its verified metadata). */
	const char *expect_image_id; /* NULL: not checked */
	uint64_t expect_version;     /* 0: not checked */
};

struct boot_install_result {
	unsigned slot;
	uint64_t version, previous_version, floor;
	/* On failure: true only when the bundle's bytes were refused (signature, format, type, image
	 * ID, version, floor, payload), so the same bundle fails again; false for local faults (keys,
	 * state, root of trust, disk, lock) that may clear. */
	bool bundle_refused;
};

/* Stream the bundle once into a temporary file in the inactive slot while hashing it; then verify
 * (trusted signature over the hashed bytes, os-bundle, the expected image ID and version, version >
 * active version and >= floor, payload safety walk of the written copy), fsync, rename into place,
 * fsync the directory, and only then mark the slot pending with the given attempts. Any failure
 * (altered, truncated or over-long bundle, disk full) removes the temporary file and leaves both
 * slots and the state as they were. Memory: one PACKAGE_STREAM_CHUNK buffer. */
int boot_slot_install(const struct boot_install_request *req, struct boot_install_result *res,
                      rp_error *err) RP_MUST_CHECK;

