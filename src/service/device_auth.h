/* Mutual TLS for the device API: a device presents the DEVICE_API certificate it received from
 * attestation; the service verifies it against the tenant CA the certificate names, checks its
 * kind (the device-API EKU, which application client certificates never carry) and that the device
 * is still claimed by that tenant and not revoked. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "service/api.h"

/* The TLS peer's certificate (DER) for the request dispatched on this thread: server.c sets it
 * before api_dispatch() and clears it after (NULL when the client sent none). */
void device_auth_set_peer(const uint8_t *der, size_t len);

/* Authenticate the current request's peer as a device: fills DEVICE_ID and TENANT_ID. Needs an
 * open store transaction. RP_E_PERMISSION with the reason when refused. */
int device_auth_verify(struct api_ctx *ctx, int64_t now, char device_id[65], char tenant_id[37],
                       rp_error *err) RP_MUST_CHECK;
/* The store half of device_auth_verify alone, for a device already authenticated earlier in the
 * same request (its certificate cannot change within it): still registered, still claimed by
 * TENANT_ID, not revoked, as the caller's open transaction sees it. */
int device_auth_recheck(struct api_ctx *ctx, const char *device_id, const char *tenant_id, rp_error *err) RP_MUST_CHECK;
