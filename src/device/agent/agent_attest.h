/* One attestation round of the device agent (docs/protocol.md "Attestation protocol v1"):
 * two fresh keys and CSRs, evidence through the security monitor over the TLS connection's own
 * nonce (channel-bound, one request), certificates back, stored atomically under STATE/agent/. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "device/agent/agent_http.h"
#include "device/monitor/monitor_protocol.h"

/* Files under STATE/agent/ (docs/protocol.md lists them):
 *   client.key, client.pem         24 h client key (0600) and certificate + tenant chain
 *   device-api.key, device-api.pem the device-API credential (mutual TLS to the service)
 *   ca-chain.pem                   the tenant CA chain
 *   deviceauth/client.pem          certificate chain then key, the file applications with
 *                                  DeviceAuthentication see as DeviceAuth_GetCertificatePath()
 *   status.json                    the last result (for `status` and operators) */
#define AGENT_DIR "agent"

struct agent_config {
	const char *state_dir;
	const char *monitor_socket;
	struct agent_http http;
	monitor_image_claim images[EVIDENCE_MAX_IMAGES];
	size_t n_images;
};

struct agent_result {
	bool ok;
	int64_t not_before, not_after; /* of the client certificate */
	char device_id[65];
	char reason[RP_ERROR_MESSAGE_MAX]; /* why it failed, as precise as the service or the monitor said */
};

/* Attest once; on success the new certificates are in place. Never leaves a key without its
 * certificate: keys and certificates are written to new files first, then renamed. A certificate
 * that expires within AGENT_RESCHEDULE_MIN_SECONDS of the device's clock fails the round
 * (agent_sched_cert_check) but stays installed. RES->reason is printable ASCII. */
int agent_attest_once(const struct agent_config *cfg, int64_t now, struct agent_result *res,
                      rp_error *err) RP_MUST_CHECK;

/* The validity of the installed client certificate, if there is one whose key matches. */
int agent_attest_current(const char *state_dir, int64_t *not_before, int64_t *not_after) RP_MUST_CHECK;
