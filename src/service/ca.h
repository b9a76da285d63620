/* Per-tenant certificate authority: self-signed P-256 tenant CA generations with overlapping
 * rollover, chain downloads (PEM, PKCS#7), proof-of-possession certificates and device certificates
 * issued from a CSR. A pure library: PEM strings, OpenSSL objects and one directory; no HTTP, no SQL.
 *
 * Time is always a parameter ("now"), so callers and tests decide what the clock says.
 *
 * Rollover (docs/decisions.md "Tenant CA"): each generation lives 2 years. When the newest
 * generation is within 90 days of expiry, ca_ensure_successor() creates the next one, which starts
 * signing 45 days after its creation. Every generation that has not expired is listed and is in
 * the chain relying parties install, so certificates from either side of a rollover verify.
 *
 * Storage in the caller's directory (for example STATE/ca/<tenant-id>/), mode 0700:
 *   index.json            generations and their fingerprints (written last: the commit point)
 *   gen-<N>.cert.pem      the CA certificate of generation N
 *   gen-<N>.key.pem       its private key, 0600
 *   lock                  flock()ed while a generation is added, so two processes cannot race
 * Everything read back is treated as hostile: bounded sizes, no symlinks, fingerprints, names and
 * dates checked against the index, and each key must match its certificate. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/x509.h>
#include "common/error.h"
#include "service/ca_csr.h"

#define CA_VALIDITY_SECONDS (730LL * 86400)     /* 2 years */
#define CA_RENEW_BEFORE_SECONDS (90LL * 86400)  /* successor created this long before expiry */
#define CA_ACTIVATE_AFTER_SECONDS (45LL * 86400) /* successor signs this long after creation */
#define CA_CLOCK_SKEW_SECONDS (5 * 60)           /* notBefore is backdated by this much */
#define CA_POP_VALIDITY_SECONDS (24 * 3600)      /* proof-of-possession certificate lifetime */
#define CA_DEVICE_CERT_DEFAULT_SECONDS (24 * 3600)
#define CA_DEVICE_CERT_MAX_SECONDS (7 * 24 * 3600)
#define CA_DEVICE_CERT_MIN_SECONDS 60
#define CA_MAX_GENERATIONS 64
#define CA_DEVICE_ID_LEN 64 /* lowercase hex SHA-256 of the identity public key */
#define CA_VERIFICATION_CODE_MAX 64

/* Extended key usage that marks the device's credential for the service's own device API (in
 * addition to clientAuth). Certificates handed to applications never carry it, so an application
 * holding its client certificate cannot speak to the device API as the OS agent. A UUID-based OID
 * (ITU-T X.667, arc 2.25) needs no registration. */
#define CA_OID_DEVICE_API "2.25.239344030698435211120034577052294411421"
/* Subject alternative name URIs carried by device certificates. */
#define CA_URI_TENANT_PREFIX "urn:rampart:tenant:"
#define CA_URI_DEVICE_PREFIX "urn:rampart:device:"

enum ca_cert_status {
	CA_STATUS_ACTIVE,  /* signs new certificates now */
	CA_STATUS_PENDING, /* successor: trusted, signs from activates_at */
	CA_STATUS_RETIRED, /* superseded but not expired: still trusted */
	CA_STATUS_EXPIRED, /* past not_after: listed for history, not in the chain */
};

struct ca_cert_info {
	int generation;
	char fingerprint_sha256[65]; /* lowercase hex SHA-256 of the DER certificate */
	char serial[41];             /* lowercase hex */
	time_t not_before, not_after, activates_at;
	enum ca_cert_status status;
	bool active;
	char *pem; /* malloc'd certificate PEM */
};

enum ca_device_cert_kind {
	CA_DEVICE_CERT_CLIENT,     /* 24 h client certificate for applications (DeviceAuthentication) */
	CA_DEVICE_CERT_DEVICE_API, /* the OS agent's credential for the service's device API (mTLS) */
};

struct tenant_ca; /* opaque */

const char *ca_status_name(enum ca_cert_status status);

/* Create generation 1 for TENANT_ID (a GUID) in DIR (created 0700 if missing). Fails with
 * RP_E_EXISTS when DIR already holds a CA. */
struct tenant_ca *ca_create(const char *dir, const char *tenant_id, time_t now, rp_error *err);
/* Load and check an existing CA; TENANT_ID must match the one it was created for. */
struct tenant_ca *ca_open(const char *dir, const char *tenant_id, rp_error *err);
void ca_free(struct tenant_ca *ca);
const char *ca_tenant_id(const struct tenant_ca *ca);

/* Idempotent: create the successor when the newest generation is within 90 days of expiry.
 * Returns 1 when a generation was created, 0 when none was needed, -1 on error. Holds the
 * directory lock and re-reads the index, so concurrent callers create at most one successor. */
int ca_ensure_successor(struct tenant_ca *ca, time_t now, rp_error *err) RP_MUST_CHECK;

/* Every generation, newest first. Free with ca_cert_info_free(). */
int ca_list(struct tenant_ca *ca, time_t now, struct ca_cert_info **out, size_t *count, rp_error *err) RP_MUST_CHECK;
void ca_cert_info_free(struct ca_cert_info *infos, size_t count);

/* PEM of the generation that signs at NOW (malloc'd). */
char *ca_active_cert_pem(struct tenant_ca *ca, time_t now, rp_error *err);
/* All generations not expired at NOW (active first), concatenated PEM (malloc'd). */
char *ca_chain_pem(struct tenant_ca *ca, time_t now, rp_error *err);
/* The same set as a certs-only PKCS#7 SignedData, DER or PEM (malloc'd into *out). */
int ca_chain_pkcs7(struct tenant_ca *ca, time_t now, bool pem, uint8_t **out, size_t *len,
                   rp_error *err) RP_MUST_CHECK;
/* An X509_STORE holding the chain at NOW, for verifying peers (caller frees). */
X509_STORE *ca_trust_store(struct tenant_ca *ca, time_t now, rp_error *err);

/* Proof-of-possession certificate (CN = VERIFICATION_CODE, 1..64 of [A-Za-z0-9-]) signed by
 * GENERATION, or by the active generation when GENERATION is 0. The leaf's key is thrown away. */
char *ca_proof_of_possession_pem(struct tenant_ca *ca, int generation, const char *verification_code, time_t now,
                                 rp_error *err);

/* Issue a certificate for the key in CSR_PEM to DEVICE_ID (64 lowercase hex) at NOW, valid for
 * VALIDITY_SECONDS (0 = 24 h; at most 7 days; never past the signing CA's expiry). The subject is
 * set from DEVICE_ID; the CSR's subject is ignored. Returns malloc'd PEM. */
char *ca_issue_device_cert(struct tenant_ca *ca, const char *csr_pem, size_t csr_len, const char *device_id,
                           enum ca_device_cert_kind kind, time_t now, int validity_seconds, rp_error *err);

/* What the issuer recorded in a certificate it just built: notAfter and serial (lowercase hex). */
struct ca_issued {
	int64_t not_after;
	char serial[41];
};
/* The same for a public key the caller already took from a CSR checked with ca_csr_check() (so a
 * CSR is decoded and its signature verified once); FACTS, when not NULL, receives notAfter and serial. */
char *ca_issue_device_cert_key(struct tenant_ca *ca, EVP_PKEY *pub, const char *device_id,
                               enum ca_device_cert_kind kind, time_t now, int validity_seconds,
                               struct ca_issued *facts, rp_error *err);

/* Verify a presented device certificate against this tenant's chain at NOW and that it is of
 * KIND for this tenant; on success copy its device ID to DEVICE_ID. For the device API (mTLS). */
int ca_verify_device_cert(struct tenant_ca *ca, X509 *cert, enum ca_device_cert_kind kind, time_t now,
                          char device_id[CA_DEVICE_ID_LEN + 1], rp_error *err) RP_MUST_CHECK;

/* Validators shared with callers that want to check input early. */
bool ca_verification_code_is_valid(const char *code);
bool ca_device_id_is_valid(const char *device_id);
