/* bench/ca_issue: what issuing one device certificate costs the tenant CA, measured against the
 * one ECDSA P-256 signature every certificate needs, in the same process and run. An attestation
 * issues two (docs/benchmarks.md, "Certificate issuance"); whatever a certificate costs beyond its
 * signature is assembly and encoding.
 *   ca_issue [SECONDS]
 * Prints issued/s, signatures/s over a certificate-sized message, and their ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/crypto.h"
#include "common/xalloc.h"
#include "service/ca.h"

#define TENANT "6d1f3a52-8c0e-4d5b-9a77-2f4e1c9b0a13"
#define DEVICE "a3f1c29b8e7d6054132ab9c8d7e6f50412a3b4c5d6e7f8091a2b3c4d5e6f7081"

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const rp_error *err, const char *what)
{
	fprintf(stderr, "ca_issue: %s: %s\n", what, err->message);
	exit(1);
}

int main(int argc, char **argv)
{
	double budget = argc > 1 ? atof(argv[1]) : 3.0;
	if (budget <= 0 || budget > 600) {
		fprintf(stderr, "usage: ca_issue [SECONDS (0 < S <= 600)]\n");
		return 2;
	}
	rp_error err = RP_ERROR_INIT;
	char dir[] = "/tmp/rampart-bench-ca.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	time_t now = time(NULL);
	struct tenant_ca *ca = ca_create(dir, TENANT, now, &err);
	if (!ca)
		die(&err, "creating the tenant CA");
	_cleanup_pkey_ EVP_PKEY *device_key = rp_key_generate_p256(&err);
	_cleanup_pkey_ EVP_PKEY *sign_key = rp_key_generate_p256(&err);
	if (!device_key || !sign_key)
		die(&err, "generating keys");

	/* Issuance: both kinds in turn, as an attestation does. */
	size_t issued = 0, pem_bytes = 0;
	double t0 = seconds_now(), t1 = t0;
	for (size_t i = 0; i < 10000000 && t1 - t0 < budget; i++) {
		enum ca_device_cert_kind kind = i % 2 ? CA_DEVICE_CERT_DEVICE_API : CA_DEVICE_CERT_CLIENT;
		struct ca_issued facts;
		char *pem = ca_issue_device_cert_key(ca, device_key, DEVICE, kind, now, 0, &facts, &err);
		if (!pem)
			die(&err, "issuing");
		pem_bytes = strlen(pem);
		free(pem);
		issued++;
		if (i % 16 == 15)
			t1 = seconds_now();
	}
	t1 = seconds_now();
	double issue_rate = (double)issued / (t1 - t0);

	/* The reference: one signature over a message the size of a certificate's signed part. */
	uint8_t msg[512];
	memset(msg, 0x5a, sizeof(msg));
	size_t signs = 0;
	t0 = seconds_now(), t1 = t0;
	for (size_t i = 0; i < 10000000 && t1 - t0 < budget; i++) {
		uint8_t sig[RP_ECDSA_SIG_MAX];
		size_t sig_len = 0;
		msg[0] = (uint8_t)i;
		if (rp_ecdsa_sign(sign_key, msg, sizeof(msg), sig, &sig_len, &err) < 0)
			die(&err, "signing");
		signs++;
		if (i % 16 == 15)
			t1 = seconds_now();
	}
	t1 = seconds_now();
	double sign_rate = (double)signs / (t1 - t0);

	printf("certificates issued: %.0f/s (%zu-byte PEM each)\n", issue_rate, pem_bytes);
	printf("ECDSA P-256 signatures over %zu bytes: %.0f/s\n", sizeof(msg), sign_rate);
	printf("one certificate costs %.2f signatures (%.1f us, of which %.1f us beyond the signature)\n",
	       sign_rate / issue_rate, 1e6 / issue_rate, 1e6 / issue_rate - 1e6 / sign_rate);
	ca_free(ca);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "ca_issue: could not remove %s\n", dir);
	return 0;
}
