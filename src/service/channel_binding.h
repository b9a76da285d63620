/* Evidence bound to the TLS connection it arrives on (docs/protocol.md "Channel-bound
 * attestation"): the nonce is the connection's TLS 1.3 exporter value, which both ends derive
 * from the handshake the service took part in, so it is fresh without a challenge request and
 * evidence made for one connection is worthless on any other. The service keeps, per connection,
 * when it was accepted (the nonce's age) and whether evidence was already sent on it (single use). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "attest/evidence.h"
#include "common/error.h"

struct channel {
	int64_t opened_at; /* when the service accepted the connection (seconds since the epoch) */
	bool nonce_used;   /* evidence was already sent on this connection */
};

/* The TLS session (gnutls_session_t) and connection state of the request dispatched on this thread:
 * server.c sets them before api_dispatch() and clears them after (NULL for plain HTTP). */
void channel_binding_set(void *tls_session, struct channel *ch);

/* The current request's nonce: the exporter value of its TLS 1.3 connection, with the connection's
 * state in *CH. RP_E_INVALID naming why when the request has none (no TLS, or TLS 1.2). */
int channel_binding_nonce(uint8_t nonce[EVIDENCE_NONCE_LEN], struct channel **ch, rp_error *err) RP_MUST_CHECK;
