/* The route table of rampartd's /v1 API: the only list of what the server serves. docs/api.yaml
 * documents the same set, and tests/blackbox/test_api_spec.py checks that they agree. */
#include "service/routes.h"

#define T "/v1/tenants/{tenant_id}"

/* Most routes have no prepare step (api.h) and leave the field out. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
const struct api_route api_routes[] = {
	{"GET", "/v1/health", routes_health, API_PUBLIC, API_BODY_NONE, NULL},
	{"GET", "/v1/whoami", routes_whoami, API_AUTHENTICATED, API_BODY_NONE, NULL},

	{"POST", "/v1/tenants", routes_tenant_create, API_SERVICE_ADMIN, API_BODY_JSON, "tenant.create"},
	{"GET", "/v1/tenants", routes_tenant_list, API_AUTHENTICATED, API_BODY_NONE, NULL},
	{"GET", T, routes_tenant_show, API_TENANT_READER, API_BODY_NONE, NULL},

	{"POST", T "/roles", routes_role_add, API_TENANT_ADMINISTRATOR, API_BODY_JSON, "role.add"},
	{"GET", T "/roles", routes_role_list, API_TENANT_READER, API_BODY_NONE, NULL},
	{"DELETE", T "/roles/{user}", routes_role_delete, API_TENANT_ADMINISTRATOR, API_BODY_NONE, "role.delete"},

	{"POST", T "/products", routes_product_create, API_TENANT_CONTRIBUTOR, API_BODY_JSON, "product.create"},
	{"GET", T "/products", routes_product_list, API_TENANT_READER, API_BODY_NONE, NULL},
	{"GET", T "/products/{product}", routes_product_show, API_TENANT_READER, API_BODY_NONE, NULL},
	{"PATCH", T "/products/{product}", routes_product_update, API_TENANT_CONTRIBUTOR, API_BODY_JSON,
	 "product.update"},
	{"DELETE", T "/products/{product}", routes_product_delete, API_TENANT_CONTRIBUTOR, API_BODY_NONE,
	 "product.delete"},
	{"GET", T "/products/{product}/device-groups", routes_product_group_list, API_TENANT_READER, API_BODY_NONE,
	 NULL},

	{"POST", T "/device-groups", routes_group_create, API_TENANT_CONTRIBUTOR, API_BODY_JSON,
	 "device_group.create"},
	{"GET", T "/device-groups", routes_group_list, API_TENANT_READER, API_BODY_NONE, NULL},
	{"GET", T "/device-groups/{device_group_id}", routes_group_show, API_TENANT_READER, API_BODY_NONE, NULL},
	{"PATCH", T "/device-groups/{device_group_id}", routes_group_update, API_TENANT_CONTRIBUTOR, API_BODY_JSON,
	 "device_group.update"},
	{"DELETE", T "/device-groups/{device_group_id}", routes_group_delete, API_TENANT_CONTRIBUTOR, API_BODY_NONE,
	 "device_group.delete"},
	{"POST", T "/device-groups/{device_group_id}/deployments", routes_deployment_create, API_TENANT_CONTRIBUTOR,
	 API_BODY_JSON, "deployment.create"},
	{"GET", T "/device-groups/{device_group_id}/deployments", routes_deployment_list, API_TENANT_READER,
	 API_BODY_NONE, NULL},
	{"GET", T "/device-groups/{device_group_id}/devices", routes_group_device_list, API_TENANT_READER,
	 API_BODY_NONE, NULL},

	{"POST", "/v1/devices", routes_device_register, API_SERVICE_ADMIN, API_BODY_JSON, "device.register"},
	{"POST", "/v1/devices/bulk", routes_device_register_bulk, API_SERVICE_ADMIN, API_BODY_JSON,
	 "device.register_bulk"},
	{"POST", T "/devices/claim", routes_device_claim, API_TENANT_CONTRIBUTOR, API_BODY_JSON, "device.claim"},
	{"GET", T "/devices", routes_device_list, API_TENANT_READER, API_BODY_NONE, NULL},
	{"GET", T "/devices/{device_id}", routes_device_show, API_TENANT_READER, API_BODY_NONE, NULL},
	{"PATCH", T "/devices/{device_id}", routes_device_update, API_TENANT_CONTRIBUTOR, API_BODY_JSON,
	 "device.update"},

	{"POST", T "/images", routes_image_add, API_TENANT_CONTRIBUTOR, API_BODY_BINARY, "image.add",
	 .prepare = routes_image_add_prepare},
	{"GET", T "/images", routes_image_list, API_TENANT_READER, API_BODY_NONE, NULL},
	{"GET", T "/images/{image_id}", routes_image_show, API_TENANT_READER, API_BODY_NONE, NULL},
	{"GET", "/v1/blobs/sha256/{digest}", routes_blob_get, API_AUTHENTICATED, API_BODY_NONE, NULL},
	{"POST", T "/image-signing-keys", routes_signing_key_add, API_TENANT_ADMINISTRATOR, API_BODY_JSON,
	 "signing_key.add"},
	{"GET", T "/image-signing-keys", routes_signing_key_list, API_TENANT_READER, API_BODY_NONE, NULL},

	{"GET", T "/ca-certificates", routes_ca_list, API_TENANT_READER, API_BODY_NONE, NULL},
	{"GET", T "/ca-certificates/{thumbprint}", routes_ca_download, API_TENANT_READER, API_BODY_NONE, NULL},
	{"POST", T "/ca-certificates/{thumbprint}/proof", routes_ca_proof, API_TENANT_CONTRIBUTOR, API_BODY_JSON,
	 "ca.proof"},
	{"GET", T "/ca-chain", routes_ca_chain, API_TENANT_READER, API_BODY_NONE, NULL},

	{"GET", T "/audit", routes_audit_tenant, API_TENANT_ADMINISTRATOR, API_BODY_NONE, NULL},
	{"GET", "/v1/audit", routes_audit_all, API_SERVICE_ADMIN, API_BODY_NONE, NULL},

	/* Devices attest without a token: the evidence signature by the registered key authenticates
	 * them; the handlers audit every attempt in the device's tenant themselves. */
	{"POST", "/v1/attestation/challenge", routes_attest_challenge, API_PUBLIC, API_BODY_JSON, NULL},
	{"POST", "/v1/attestation/evidence", routes_attest_evidence, API_PUBLIC, API_BODY_JSON, NULL},
	{"POST", T "/devices/{device_id}/revoke", routes_device_revoke, API_TENANT_CONTRIBUTOR, API_BODY_NONE,
	 "device.revoke"},
	/* The device API: mutual TLS with the device-API certificate, no token. */
	{"GET", "/v1/device/self", routes_device_self, API_DEVICE, API_BODY_NONE, NULL},

	/* Update delivery: TUF metadata is public (signatures, versions and expiry protect it, so any
	 * cache may serve it); status reports come from the agent (docs/protocol.md "Update delivery"). */
	{"GET", "/v1/tuf/tenants/{tenant}/image/{file}", routes_tuf_image_get, API_PUBLIC, API_BODY_NONE, NULL},
	{"GET", "/v1/tuf/device-groups/{device_group_id}/director/{file}", routes_tuf_director_get, API_PUBLIC,
	 API_BODY_NONE, NULL},
	{"PUT", T "/tuf/image/targets", routes_tuf_targets_upload, API_TENANT_ADMINISTRATOR, API_BODY_BINARY,
	 "tuf.targets.upload"},
	{"POST", "/v1/devices/{device_id}/update-status", routes_device_update_status_post, API_AUTHENTICATED,
	 API_BODY_JSON, "device.update_status"},
	{"GET", T "/devices/{device_id}/update-status", routes_device_update_status_get, API_TENANT_READER,
	 API_BODY_NONE, NULL},
	{"POST", "/v1/device/update-status", routes_device_self_update_status, API_DEVICE, API_BODY_JSON,
	 "device.update_status"},
	{"GET", "/v1/device/blobs/sha256/{digest}", routes_device_blob_get, API_DEVICE, API_BODY_NONE, NULL},

	/* Device capabilities (routes_capability.c) */
	{"POST", T "/devices/{device_id}/capabilities/{type}", routes_capability_issue, API_TENANT_CONTRIBUTOR,
	 API_BODY_JSON, "device.capability.issue"},
	{"GET", T "/devices/{device_id}/capabilities/{type}", routes_capability_get, API_TENANT_CONTRIBUTOR,
	 API_BODY_NONE, NULL},
	{"GET", T "/capability-signing-key", routes_capability_signing_key, API_TENANT_READER, API_BODY_NONE, NULL},
};
#pragma GCC diagnostic pop

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
