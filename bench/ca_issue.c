/* bench/ca_issue: what issuing one device certificate costs the tenant CA, measured against the
 * one ECDSA P-256 signature every certificate needs, in the same process and run. An attestation
 * issues two (docs/benchmarks.md, eighth session); whatever a certificate costs beyond its
 * signature is assembly and encoding.
 *   ca_issue [SECONDS]
 * Prints issued/s, signatures/s over a certificate-sized message, and their ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/crypto.h"
#include "common/fileio.h"
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

struct run {
	struct tenant_ca *ca;
	EVP_PKEY *device_key, *sign_key;
	time_t now;
	size_t pem_bytes;
	uint8_t msg[512]; /* the reference signs a message the size of a certificate's signed part */
};

/* Issuance: both kinds in turn, as an attestation does. */
static void issue_one(struct run *r, size_t i)
{
	rp_error err = RP_ERROR_INIT;
	enum ca_device_cert_kind kind = i % 2 ? CA_DEVICE_CERT_DEVICE_API : CA_DEVICE_CERT_CLIENT;
	struct ca_issued facts;
	char *pem = ca_issue_device_cert_key(r->ca, r->device_key, DEVICE, kind, r->now, 0, &facts, &err);
	if (!pem)
		die(&err, "issuing");
	r->pem_bytes = strlen(pem);
	free(pem);
}

static void sign_one(struct run *r, size_t i)
{
	rp_error err = RP_ERROR_INIT;
	uint8_t sig[RP_ECDSA_SIG_MAX];
	size_t sig_len = 0;
	r->msg[0] = (uint8_t)i;
	if (rp_ecdsa_sign(r->sign_key, r->msg, sizeof(r->msg), sig, &sig_len, &err) < 0)
		die(&err, "signing");
}

/* Operations per second of OP over BUDGET seconds (bounded in count too). */
static double rate(struct run *r, void (*op)(struct run *, size_t), double budget)
{
	size_t n = 0;
	double t0 = seconds_now(), t1 = t0;
	for (; n < 10000000 && t1 - t0 < budget; n++) {
		op(r, n);
		if (n % 16 == 15)
			t1 = seconds_now();
	}
	return (double)n / (seconds_now() - t0);
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
	struct run r = {.now = time(NULL)};
	memset(r.msg, 0x5a, sizeof(r.msg));
	r.ca = ca_create(dir, TENANT, r.now, &err);
	if (!r.ca)
		die(&err, "creating the tenant CA");
	_cleanup_pkey_ EVP_PKEY *device_key = r.device_key = rp_key_generate_p256(&err);
	_cleanup_pkey_ EVP_PKEY *sign_key = r.sign_key = rp_key_generate_p256(&err);
	if (!device_key || !sign_key)
		die(&err, "generating keys");

	double issue_rate = rate(&r, issue_one, budget);
	double sign_rate = rate(&r, sign_one, budget);
	printf("certificates issued: %.0f/s (%zu-byte PEM each)\n", issue_rate, r.pem_bytes);
	printf("ECDSA P-256 signatures over %zu bytes: %.0f/s\n", sizeof(r.msg), sign_rate);
	printf("one certificate costs %.2f signatures (%.1f us, of which %.1f us beyond the signature)\n",
	       sign_rate / issue_rate, 1e6 / issue_rate, 1e6 / issue_rate - 1e6 / sign_rate);
	ca_free(r.ca);
	if (rp_remove_tree(dir, &err) < 0)
		fprintf(stderr, "ca_issue: %s\n", err.message);
	return 0;
}
