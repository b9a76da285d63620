/* Signed per-device capability files (docs/protocol.md, "Device capabilities"): the document the
 * service issues (appDevelopment) and the device checks before it allows sideloading. Parsing is
 * pure and strict (fuzzed: tests/fuzz/fuzz_capability.c); verification fails closed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/crypto.h"
#include "common/error.h"

#define CAPABILITY_FORMAT "rampart-capability-v1"
#define CAPABILITY_FILE_MAX (32 * 1024)
#define CAPABILITY_PAYLOAD_MAX (16 * 1024)
#define CAPABILITY_DEV_KEYS_MAX 4
#define CAPABILITY_DEV_KEY_PEM_MAX 1024
#define CAPABILITY_CLOCK_SKEW 300 /* seconds an issued_at may lie in the device's future */
#define CAPABILITY_TYPE_APP_DEVELOPMENT "appDevelopment"

struct capability {
	char type[32];
	char device_id[65]; /* lowercase hex SHA-256 of the identity public key */
	char tenant_id[37];
	char serial[33];    /* 32 lowercase hex */
	int64_t issued_at;
	int64_t expires_at; /* 0: no expiry */
	char *dev_keys[CAPABILITY_DEV_KEYS_MAX]; /* PEM public keys allowed to sign sideloaded packages */
	size_t ndev_keys;
	uint8_t *payload; /* the signed bytes, exactly as received */
	size_t payload_len;
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t sig_len;
};

/* Parse a capability file (structure only; no signature check). Unknown keys, missing fields,
 * bad IDs, oversized input or trailing data are refused. */
int capability_parse(const uint8_t *buf, size_t len, struct capability *out, rp_error *err) RP_MUST_CHECK;
/* Check, in this order: the signature by SIGNER, that it names DEVICE_ID, that TYPE matches, and
 * that NOW lies within issued_at - skew .. expires_at. Each failure has its own message. */
int capability_verify(const struct capability *c, rp_key *signer, const char *device_id, const char *type,
                      int64_t now, rp_error *err) RP_MUST_CHECK;
/* Build and sign a capability file: payload from C's fields (payload/sig ignored), signed by KEY.
 * Returns the malloc'd document (NUL-terminated JSON). */
char *capability_sign(const struct capability *c, rp_key *key, rp_error *err);
void capability_free(struct capability *c);
