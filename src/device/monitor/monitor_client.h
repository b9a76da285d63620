/* Client of the security monitor, for the agent, the boot stage and rampart-os: one call per
 * message type; responses are checked as strictly as requests are on the server side. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "attest/evidence.h"
#include "common/bytes.h"
#include "common/error.h"
#include "device/monitor/monitor_protocol.h"

typedef struct monitor_client monitor_client;

monitor_client *monitor_client_connect(const char *socket_path, rp_error *err);
void monitor_client_close(monitor_client *c);
RP_DEFINE_CLEANUP(monitor_client, monitor_client_close)
#define _cleanup_monitor_client_ _cleanup_(monitor_client_closep)

typedef struct monitor_identity {
	uint8_t device_id[RP_KEY_ID_LEN];
	char backend[EVIDENCE_BACKEND_MAX + 1];
	bool insecure;
	rp_key *public_key; /* only from monitor_client_get_identity; caller frees */
} monitor_identity;

int monitor_client_get_device_id(monitor_client *c, monitor_identity *out, rp_error *err) RP_MUST_CHECK;
int monitor_client_get_identity(monitor_client *c, monitor_identity *out, rp_error *err) RP_MUST_CHECK;
int monitor_client_extend(monitor_client *c, unsigned pcr, const char *name, const char *version,
                          const uint8_t digest[RP_SHA256_LEN], uint8_t new_value[RP_SHA256_LEN],
                          rp_error *err) RP_MUST_CHECK;
/* PCRs 8..15 (values[0] is PCR 8) and the measurement log (into log->log / log->n_log). */
int monitor_client_read_measurements(monitor_client *c, uint8_t values[8][RP_SHA256_LEN], evidence *log,
                                     rp_error *err) RP_MUST_CHECK;
/* Ask for evidence over NONCE; the encoded evidence is appended to OUT. */
int monitor_client_attest(monitor_client *c, const uint8_t nonce[EVIDENCE_NONCE_LEN], const monitor_image_claim *images,
                          size_t n_images, rp_buf *out, rp_error *err) RP_MUST_CHECK;
int monitor_client_read_counters(monitor_client *c, evidence_counter out[EVIDENCE_MAX_COUNTERS], size_t *n,
                                 rp_error *err) RP_MUST_CHECK;
int monitor_client_advance_counter(monitor_client *c, unsigned index, uint64_t value, uint64_t *now,
                                   rp_error *err) RP_MUST_CHECK;
int monitor_client_random(monitor_client *c, void *buf, size_t len, rp_error *err) RP_MUST_CHECK;
