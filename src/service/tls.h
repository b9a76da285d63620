/* rampartd's TLS server certificate: created on first start when the operator gives none. */
#pragma once

#include "common/error.h"

/* Ensure STATE/tls/cert.pem and key.pem exist: a P-256 key and a self-signed certificate with
 * SANs for HOST, localhost, 127.0.0.1 and ::1. Existing files are kept. */
int tls_ensure_self_signed(const char *state_dir, const char *host, rp_error *err) RP_MUST_CHECK;
