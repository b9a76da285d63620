/* Handlers of the API's routes, one file per area (routes_<area>.c); the table is in routes.c. */
#pragma once

#include "service/api.h"

#define ROUTE(fn) int fn(struct api_ctx *ctx, struct api_request *req, struct api_response *res, rp_error *err)

/* routes_tenants.c */
ROUTE(routes_health);
ROUTE(routes_whoami);
ROUTE(routes_tenant_create);
ROUTE(routes_tenant_list);
ROUTE(routes_tenant_show);
ROUTE(routes_role_add);
ROUTE(routes_role_list);
ROUTE(routes_role_delete);
/* routes_products.c */
ROUTE(routes_product_create);
ROUTE(routes_product_list);
ROUTE(routes_product_show);
ROUTE(routes_product_update);
ROUTE(routes_product_delete);
ROUTE(routes_product_group_list);
/* routes_device_groups.c */
ROUTE(routes_group_create);
ROUTE(routes_group_list);
ROUTE(routes_group_show);
ROUTE(routes_group_update);
ROUTE(routes_group_delete);
ROUTE(routes_deployment_create);
ROUTE(routes_deployment_list);
ROUTE(routes_group_device_list);
/* routes_devices.c */
ROUTE(routes_device_register);
ROUTE(routes_device_register_bulk);
ROUTE(routes_device_claim);
ROUTE(routes_device_list);
ROUTE(routes_device_show);
ROUTE(routes_device_update);
/* routes_images.c */
ROUTE(routes_image_add_prepare);
ROUTE(routes_image_add);
ROUTE(routes_image_list);
ROUTE(routes_image_show);
ROUTE(routes_blob_get);
ROUTE(routes_signing_key_add);
ROUTE(routes_signing_key_list);
/* routes_ca.c */
ROUTE(routes_ca_list);
ROUTE(routes_ca_download);
ROUTE(routes_ca_chain);
ROUTE(routes_ca_proof);
/* routes_audit.c */
ROUTE(routes_audit_tenant);
ROUTE(routes_audit_all);
/* routes_attestation.c */
ROUTE(routes_attest_challenge);
ROUTE(routes_attest_evidence);
ROUTE(routes_device_revoke);
ROUTE(routes_device_self);
/* routes_update.c */
ROUTE(routes_tuf_image_get);
ROUTE(routes_tuf_director_get);
ROUTE(routes_tuf_targets_upload);
ROUTE(routes_device_update_status_post);
ROUTE(routes_device_update_status_get);
ROUTE(routes_device_self_update_status);
ROUTE(routes_device_blob_get);
/* Read the deployment's images in the request's transaction and have RES make the group's director
 * list exactly those once the transaction has committed (api_after_commit). */
int routes_update_publish_deployment(struct api_ctx *ctx, struct api_response *res, const char *tenant_id,
                                     const char *group_id, const char *const *image_ids, size_t n, int64_t now,
                                     rp_error *err) RP_MUST_CHECK;

/* routes_capability.c */
ROUTE(routes_capability_issue);
ROUTE(routes_capability_get);
ROUTE(routes_capability_signing_key);

/* The tenant CA's directory: STATE/ca/<tenant_id> (malloc'd). */
char *routes_ca_dir(const struct api_ctx *ctx, const char *tenant_id);
