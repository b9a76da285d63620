/* The TLS cipher suites Rampart's devices offer the service, most preferred first. AES-128-GCM
 * with SHA-256 leads: 128-bit strength matches the P-256 keys on both ends, and SHA-256 (that
 * suite's TLS 1.3 handshake hash) runs on the SHA extensions of x86 and ARMv8 CPUs, which have none
 * for SHA-384, on the device and on the service alike. The service takes the client's order among
 * the AEAD suites it allows (src/service/server.c). */
#pragma once

#define AGENT_TLS13_CIPHERS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define AGENT_TLS12_CIPHERS                                                                            \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"   \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305"
/* The same order in GnuTLS's priority syntax, for bench/attest's simulated devices. */
#define AGENT_TLS_GNUTLS_CIPHERS "-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"
