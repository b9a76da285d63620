/* Remote attestation at the service (docs/protocol.md "Attestation protocol v1"): parse a device's
 * challenge and evidence requests, verify evidence against the device's registration, the nonce
 * the service issued and the images its tenant knows, and issue the device's two certificates.
 * Pure: no HTTP, no SQL. The caller looks the device, the nonce and images up and passes them in,
 * so every refusal can be unit-tested and fuzzed without a server. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "attest/evidence.h"
#include "common/error.h"
#include "service/ca.h"

#define ATTEST_NONCE_TTL_SECONDS 300
/* How far clocks of instances sharing a state directory may differ for nonce expiries. */
#define ATTEST_NONCE_CLOCK_SLACK_SECONDS 60
#define ATTEST_DEVICE_ID_LEN 64
#define ATTEST_NONCE_HEX_LEN (2 * EVIDENCE_NONCE_LEN)
/* Base64 of the largest evidence the decoder accepts. */
#define ATTEST_EVIDENCE_B64_MAX (((EVIDENCE_MAX_LEN + 2) / 3) * 4)
/* Lifetimes: the client certificate for applications, the device-API credential. */
#define ATTEST_CLIENT_CERT_SECONDS (24 * 3600)
#define ATTEST_DEVICE_API_CERT_SECONDS (24 * 3600)
/* The device group whose members may attest without a measured OS bundle (development boards
 * running from a workstation). Every other device without one is refused: fail closed. */
#define ATTEST_DEV_GROUP_NAME "Development"

/* Why an attestation was refused: a stable machine name for audit records, device logs and tests. */
enum attest_reason {
	ATTEST_OK = 0,
	ATTEST_REQUEST_MALFORMED,  /* request body: missing or bad field */
	ATTEST_EVIDENCE_MALFORMED, /* evidence bytes do not decode */
	ATTEST_EVIDENCE_TOO_LARGE,
	ATTEST_DEVICE_UNKNOWN,   /* not registered */
	ATTEST_DEVICE_UNCLAIMED, /* registered, no tenant */
	ATTEST_DEVICE_REVOKED,
	ATTEST_DEVICE_MISMATCH, /* evidence names another device */
	ATTEST_NONCE_UNKNOWN,   /* never issued */
	ATTEST_NONCE_REPLAYED,  /* already used */
	ATTEST_NONCE_EXPIRED,
	ATTEST_NONCE_WRONG_DEVICE, /* issued to another device */
	ATTEST_SIGNATURE,          /* not signed by the registered identity key */
	ATTEST_MEASUREMENTS,       /* quote or backend does not match the measurement log */
	ATTEST_OS_UNMEASURED,      /* no OS bundle in the log, and the device is not in Development */
	ATTEST_OS_UNKNOWN,         /* measured OS bundle is no os-bundle image of the tenant */
	ATTEST_IMAGE_UNKNOWN,      /* a claimed installed image is unknown to the tenant */
	ATTEST_CSR_INVALID,        /* a CSR the CA refuses (key type, extensions, signature) */
	ATTEST_INTERNAL,
};

const char *attest_reason_name(enum attest_reason r);

/* What the store knows about the device (borrowed strings). */
struct attest_device {
	bool registered;
	const char *device_id;
	const char *public_key_pem;    /* registered identity key */
	EVP_PKEY *public_key;          /* the same, already decoded by the caller, or NULL (decoded here) */
	const char *tenant_id;         /* NULL when unclaimed */
	const char *device_group_name; /* may be NULL */
	bool revoked;
};

/* A nonce as the store recorded it, or (CHANNEL_BOUND) the TLS connection's exporter value with
 * the connection's state (channel_binding.h). USED is its state BEFORE this request consumed it. */
struct attest_nonce {
	bool found;
	char device_id[ATTEST_DEVICE_ID_LEN + 1];
	int64_t expires_at;
	bool used;
	bool channel_bound;
};

/* Image lookups in the device's tenant: 1 found, 0 unknown, -1 error (ERR filled). */
struct attest_images {
	void *ctx;
	/* An image whose package SHA-256 is SHA256_HEX; fills its type name ("OsBundle", ...). */
	int (*by_sha256)(void *ctx, const char *tenant_id, const char *sha256_hex, char type[32], rp_error *err);
	/* An image with ID IMAGE_ID; fills its version string (at most 64 characters). */
	int (*by_id)(void *ctx, const char *tenant_id, const char *image_id, char version[65], rp_error *err);
};

/* POST /v1/attestation/challenge body. */
int attest_parse_challenge(json_t *body, char device_id[ATTEST_DEVICE_ID_LEN + 1], rp_error *err) RP_MUST_CHECK;

/* POST /v1/attestation/evidence body (borrowed from BODY; free EVIDENCE). */
struct attest_submission {
	char device_id[ATTEST_DEVICE_ID_LEN + 1];
	/* "nonce_binding": "tls-exporter" instead of a "nonce": the caller fills NONCE with the
	 * connection's exporter value. */
	bool channel_bound;
	uint8_t nonce[EVIDENCE_NONCE_LEN];
	uint8_t *evidence;
	size_t evidence_len;
	const char *client_csr;
	const char *device_api_csr;
};
void attest_submission_free(struct attest_submission *s);
/* On failure *REASON says which class of input was wrong. */
int attest_parse_submission(json_t *body, struct attest_submission *out, enum attest_reason *reason,
                            rp_error *err) RP_MUST_CHECK;

/* The verified facts, for the audit record and the response. */
struct attest_outcome {
	enum attest_reason reason;
	bool insecure;
	char backend[EVIDENCE_BACKEND_MAX + 1];
	char os_sha256[65]; /* "" when none was measured */
	char os_version[EVIDENCE_VERSION_MAX + 1];
	size_t n_images;
};

/* Check in order: device registered, claimed, not revoked; nonce known, issued to this device,
 * unexpired, unused; evidence decodes, names this device and the nonce, is signed by the registered
 * key (a key inside the evidence is never trusted: there is none), its quote replays; the OS
 * bundle is a known os-bundle image of the tenant (or the device is in the Development group and
 * measured none); every installed image is known with the claimed version. Returns 0 or -1 with
 * OUT->reason and ERR naming the first failed check. */
int attest_verify(const struct attest_device *dev, const struct attest_nonce *nonce, const struct attest_submission *sub,
                  const struct attest_images *images, int64_t now, struct attest_outcome *out,
                  rp_error *err) RP_MUST_CHECK;

/* The checks of attest_verify that depend on state a concurrent request can change (device
 * registered, claimed, not revoked; nonce known, this device's, unexpired, unused), run again on
 * the state found when the nonce is consumed. On failure OUT->reason and ERR name the check; on
 * success OUT is left as attest_verify filled it. */
int attest_recheck(const struct attest_device *dev, const struct attest_nonce *nonce, const char *device_id,
                   int64_t now, struct attest_outcome *out, rp_error *err) RP_MUST_CHECK;

struct attest_certs {
	char *client_pem;     /* 24 h client certificate (applications, any cloud) */
	char *device_api_pem; /* credential for the service's device API (mutual TLS) */
	char *chain_pem;      /* tenant CA chain */
	int64_t not_after;
	char client_serial[41], device_api_serial[41]; /* lowercase hex, for the issuance records */
};
void attest_certs_free(struct attest_certs *c);

/* Issue both certificates after a successful attestation. The two CSRs must carry different keys,
 * neither the identity key (IDENTITY_PEM): a device that reused a key would let an application
 * holding the client key speak as the OS agent. ON failure *REASON is ATTEST_CSR_INVALID or
 * ATTEST_INTERNAL. */
int attest_issue(struct tenant_ca *ca, const struct attest_submission *sub, const char *identity_pem, int64_t now,
                 struct attest_certs *out, enum attest_reason *reason, rp_error *err) RP_MUST_CHECK;

/* The same with the identity key already decoded (IDENTITY; NULL = decode IDENTITY_PEM), so a
 * request decodes it once for verification and issuance. */
int attest_issue_key(struct tenant_ca *ca, const struct attest_submission *sub, EVP_PKEY *identity,
                     const char *identity_pem, int64_t now, struct attest_certs *out, enum attest_reason *reason,
                     rp_error *err) RP_MUST_CHECK;

/* The response body of a successful attestation (takes nothing from CERTS). */
json_t *attest_response_json(const struct attest_certs *certs, const struct attest_outcome *o, int64_t now);
