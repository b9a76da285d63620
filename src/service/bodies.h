/* Parsers of the API's JSON request bodies: strict (unknown keys refused, types checked, every
 * text validated). Pure functions over a parsed object, so they are fuzzed directly
 * (tests/fuzz/fuzz_api_body.c). Strings point into the JSON object, which the caller keeps. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "common/error.h"
#include "service/store.h"

#define BODIES_DEPLOYMENT_IMAGES_MAX 64
#define BODIES_BULK_DEVICES_MAX 1000
#define BODIES_PEM_MAX 4096

struct body_tenant_create { const char *name; };
struct body_role_add { const char *user; enum store_role role; };
struct body_product { const char *name; const char *description; int64_t version; /* -1 = absent */ };
struct body_device_group {
	const char *product_id; /* create only */
	struct store_device_group_fields f;
};
struct body_deployment {
	const char *image_ids[BODIES_DEPLOYMENT_IMAGES_MAX];
	size_t n;
};
struct body_device_register { const char *device_id; const char *public_key_pem; };
struct body_device_claim { const char *device_id; const char *device_group_id; };
struct body_device_update { const char *device_group_id; int64_t version; };
struct body_signing_key { const char *name; const char *public_key_pem; };
struct body_proof { const char *verification_code; };

int body_tenant_create(json_t *obj, struct body_tenant_create *out, rp_error *err) RP_MUST_CHECK;
int body_role_add(json_t *obj, struct body_role_add *out, rp_error *err) RP_MUST_CHECK;
/* CREATE: name required; otherwise every field optional (at least one). */
int body_product(json_t *obj, bool create, struct body_product *out, rp_error *err) RP_MUST_CHECK;
int body_device_group(json_t *obj, bool create, struct body_device_group *out, rp_error *err) RP_MUST_CHECK;
int body_deployment(json_t *obj, struct body_deployment *out, rp_error *err) RP_MUST_CHECK;
int body_device_register(json_t *obj, struct body_device_register *out, rp_error *err) RP_MUST_CHECK;
/* {"devices": [...]}: returns the array after checking every element with body_device_register. */
int body_device_bulk(json_t *obj, json_t **devices, rp_error *err) RP_MUST_CHECK;
int body_device_claim(json_t *obj, struct body_device_claim *out, rp_error *err) RP_MUST_CHECK;
int body_device_update(json_t *obj, struct body_device_update *out, rp_error *err) RP_MUST_CHECK;
int body_signing_key(json_t *obj, struct body_signing_key *out, rp_error *err) RP_MUST_CHECK;
int body_proof(json_t *obj, struct body_proof *out, rp_error *err) RP_MUST_CHECK;
