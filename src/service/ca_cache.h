/* Opened tenant CAs shared by request threads: opening one (index, certificates and keys decoded
 * and cross-checked) costs more than issuing a certificate, so the attestation and device-API
 * paths borrow an open CA instead. An entry is reopened after CA_CACHE_TTL_SECONDS, so generations
 * another rampartd process added are seen within that time; issuance only reads a tenant_ca, so
 * several threads may use one at once. With more than CA_CACHE_MAX tenants in use, the least
 * recently used entry nobody borrows makes room. A CA is opened outside the cache's lock, so a
 * slow open (disk, a new generation) holds up only borrowers of that same tenant, who wait for it
 * instead of opening it again. */
#pragma once

#include <stdint.h>
#include "common/error.h"
#include "service/api.h"
#include "service/ca.h"

#define CA_CACHE_TTL_SECONDS 60
#define CA_CACHE_MAX 256

/* Borrow the tenant's CA (opened, successor ensured, at NOW); give it back with ca_cache_put. */
struct tenant_ca *ca_cache_get(struct api_ctx *ctx, const char *tenant_id, int64_t now, rp_error *err);
void ca_cache_put(struct tenant_ca *ca);
