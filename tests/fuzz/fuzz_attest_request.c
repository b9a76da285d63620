/* libFuzzer target: attestation evidence requests as rampartd receives them from the network. The
 * body is parsed and, when well-formed, verified against a fixed registered device with a fresh
 * nonce: nothing may crash, and nothing but the genuine device's signature may pass. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/json.h"
#include "service/attestation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A registered device whose private key the fuzzer never has (P-256 public key, fixed). */
static const char REGISTERED_PEM[] = "-----BEGIN PUBLIC KEY-----\n"
                                     "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkFYV25oS7i/Iz9SXA/10yWJsQ/SR\n"
                                     "1l8uwO0q2zFvO1rIwFidnxs7r3Ft60ZMYK2mxIA3Ju82fZPPncC9rhEvXA==\n"
                                     "-----END PUBLIC KEY-----\n";

static int no_image(void *ctx, const char *tenant, const char *key, char out[32], rp_error *err)
{
	(void)ctx, (void)tenant, (void)key, (void)out, (void)err;
	return 0;
}

static int no_image_id(void *ctx, const char *tenant, const char *key, char out[65], rp_error *err)
{
	(void)ctx, (void)tenant, (void)key, (void)out, (void)err;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rp_error err = RP_ERROR_INIT;
	json_t *body = rp_json_parse((const char *)data, size, 1 << 20, "request body", &err);
	if (!body)
		return 0;
	if (json_is_object(body)) {
		struct attest_submission sub;
		enum attest_reason reason = ATTEST_OK;
		char id[ATTEST_DEVICE_ID_LEN + 1];
		if (attest_parse_challenge(body, id, &err) == 0 && strlen(id) != ATTEST_DEVICE_ID_LEN)
			abort();
		if (attest_parse_submission(body, &sub, &reason, &err) == 0) {
			struct attest_device dev = {.registered = true, .device_id = sub.device_id,
			                            .public_key_pem = REGISTERED_PEM,
			                            .tenant_id = "0f4d6c1e-2a3b-4c5d-8e9f-0a1b2c3d4e5f",
			                            .device_group_name = "Development"};
			struct attest_nonce n = {.found = true, .expires_at = INT64_MAX};
			memcpy(n.device_id, sub.device_id, sizeof(n.device_id));
			/* Bound to the connection, as the route does: the nonce would be the exporter value. */
			n.channel_bound = sub.channel_bound;
			struct attest_images images = {.by_sha256 = no_image, .by_id = no_image_id};
			struct attest_outcome o;
			if (attest_verify(&dev, &n, &sub, &images, 1800000000, &o, &err) == 0)
				abort(); /* the fuzzer cannot sign with the registered key */
		} else if (reason == ATTEST_OK) {
			abort(); /* a refusal always names its reason */
		}
		attest_submission_free(&sub);
	}
	json_decref(body);
	return 0;
}
