/* The TLS exporter of the connection a request arrived on (see channel_binding.h). */
#include "service/channel_binding.h"

#include <string.h>
#include <gnutls/gnutls.h>

static _Thread_local gnutls_session_t current_session;
static _Thread_local struct channel *current_channel;

void channel_binding_set(void *tls_session, struct channel *ch)
{
	current_session = tls_session;
	current_channel = ch;
}

int channel_binding_nonce(uint8_t nonce[EVIDENCE_NONCE_LEN], struct channel **ch, rp_error *err)
{
	if (!current_session || !current_channel)
		return rp_error_set(err, RP_E_INVALID, "nonce_binding \"%s\" needs a TLS connection",
		                    EVIDENCE_NONCE_BINDING_TLS);
	/* TLS 1.2's exporter is only as good as its extended master secret; TLS 1.3's always binds
	 * the handshake, and every Rampart device speaks it. */
	if (gnutls_protocol_get_version(current_session) != GNUTLS_TLS1_3)
		return rp_error_set(err, RP_E_INVALID,
		                    "nonce_binding \"%s\" needs TLS 1.3 and this connection is %s; connect with TLS 1.3 "
		                    "or request a challenge",
		                    EVIDENCE_NONCE_BINDING_TLS,
		                    gnutls_protocol_get_name(gnutls_protocol_get_version(current_session)));
	static const char label[] = EVIDENCE_TLS_EXPORTER_LABEL;
	if (gnutls_prf_rfc5705(current_session, sizeof(label) - 1, label, 0, NULL, EVIDENCE_NONCE_LEN,
	                       (char *)nonce) < 0)
		return rp_error_set(err, RP_E_CRYPTO, "deriving the connection's TLS exporter value failed");
	*ch = current_channel;
	return 0;
}
