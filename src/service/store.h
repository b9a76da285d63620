/* The storage interface of rampartd: every operation the API layer needs, as a table of function
 * pointers, so a PostgreSQL backend can be added beside store_sqlite.c without touching the API.
 *
 * Contract for every backend:
 * - All operations run inside a transaction opened with begin() and closed with commit() or
 *   rollback(); a backend serialises write transactions, and commit() returns only once the
 *   change is durable (an acknowledged write survives a crash).
 * - Reads return objects as JSON in the API's shape (docs/api.yaml): snake_case keys, times as
 *   RFC 3339 UTC strings, NULLs as JSON null. The caller owns the returned reference.
 * - Failures carry precise codes: RP_E_NOT_FOUND (named thing absent), RP_E_EXISTS (unique name or
 *   ID taken), RP_E_CONFLICT (version mismatch, object still in use, device already claimed),
 *   RP_E_UNAVAILABLE (database busy), RP_E_IO/RP_E_INTERNAL otherwise.
 * - Lists are keyset-paginated on an internal, increasing sequence number: items with a sequence
 *   greater than page->after, at most page->limit of them, oldest first; *next receives the
 *   sequence of the last item when more may follow, else 0.
 * - Tenant-scoped operations take the tenant's GUID and never return another tenant's rows. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "common/crypto.h"
#include "common/error.h"

enum store_role {
	STORE_ROLE_NONE = 0,
	STORE_ROLE_READER = 1,
	STORE_ROLE_CONTRIBUTOR = 2,
	STORE_ROLE_ADMINISTRATOR = 3,
};

const char *store_role_name(enum store_role role);
/* "Administrator" | "Contributor" | "Reader" (exact case); -1 when unknown. */
int store_role_parse(const char *name, enum store_role *out);

#define STORE_USER_MAX 100
#define STORE_GUID_LEN 36

/* Whoever a request's token belongs to. */
struct store_principal {
	int64_t user_seq;
	char user[STORE_USER_MAX + 1];
	bool service_admin;
};

struct store_page {
	int64_t after; /* 0 = from the start */
	int limit;     /* 1..1000 */
};

/* Optional fields of an update: NULL / has_* false = keep. */
struct store_product_update {
	const char *name;
	const char *description;
	int64_t expect_version; /* -1 = any */
};

struct store_device_group_fields {
	const char *name;
	const char *description;
	const char *os_feed;       /* "Retail" | "RetailEval" */
	const char *update_policy; /* "UpdateAll" | "No3rdPartyAppUpdates" */
	bool has_allow_crash_dumps;
	bool allow_crash_dumps;
	int64_t expect_version; /* updates only; -1 = any */
};

struct store_image {
	char image_id[STORE_GUID_LEN + 1];
	char component_id[STORE_GUID_LEN + 1];
	const char *name;
	const char *image_type;
	const char *version_string;
	uint64_t version;
	bool development;
	char sha256[65];
	uint64_t size;
	char signing_key_id[65];
	const char *uploaded_by;
};

enum store_audit_result { STORE_AUDIT_SUCCESS, STORE_AUDIT_REFUSED, STORE_AUDIT_FAILED };
const char *store_audit_result_name(enum store_audit_result r);
int store_audit_result_parse(const char *name, enum store_audit_result *out);

struct store_audit_entry {
	int64_t time;
	const char *actor;     /* user name, or "-" */
	const char *tenant_id; /* NULL for service-wide actions */
	const char *action;    /* "product.create", ... */
	const char *target;    /* "" when none */
	enum store_audit_result result;
	const char *detail;    /* "" on success */
};

struct store_audit_filter {
	const char *tenant_id; /* NULL = every tenant and service-wide */
	const char *actor;
	const char *action;
	bool has_result;
	enum store_audit_result result;
	int64_t since; /* 0 = no bound */
	int64_t until; /* 0 = no bound */
};

/* Issued certificates. */
struct store_cert_record {
	const char *device_id;
	const char *kind; /* "client" | "device_api" */
	const char *serial;
	int64_t not_after;
	int64_t issued_at;
};

struct store;

struct store_ops {
	void (*close)(struct store *st);
	/* WRITE takes the write lock for the whole transaction. */
	int (*begin)(struct store *st, bool write, rp_error *err);
	int (*commit)(struct store *st, rp_error *err);
	void (*rollback)(struct store *st);
	/* Whether the transaction begin() opened is still open: a backend may end it on its own on an
	 * error (SQLite does on SQLITE_FULL or SQLITE_IOERR), and later writes would then not be in it. */
	bool (*txn_active)(struct store *st);
	int (*schema_version)(struct store *st, int *out, rp_error *err);

	/* Users and tokens: only token hashes (SHA-256) are stored. */
	int (*user_create)(struct store *st, const char *name, bool service_admin, const uint8_t token_hash[RP_SHA256_LEN],
	                   int64_t now, rp_error *err);
	int (*user_exists)(struct store *st, const char *name, bool *exists, rp_error *err);
	int (*token_lookup)(struct store *st, const uint8_t token_hash[RP_SHA256_LEN], struct store_principal *out,
	                    rp_error *err);
	int (*role_get)(struct store *st, int64_t user_seq, const char *tenant_id, enum store_role *out, rp_error *err);
	json_t *(*user_roles)(struct store *st, int64_t user_seq, rp_error *err);

	json_t *(*tenant_create)(struct store *st, const char *tenant_id, const char *name, int64_t now, rp_error *err);
	json_t *(*tenant_get)(struct store *st, const char *tenant_id, rp_error *err);
	/* USER_SEQ 0 lists every tenant; otherwise those the user has a role in. */
	json_t *(*tenant_list)(struct store *st, int64_t user_seq, const struct store_page *page, int64_t *next,
	                       rp_error *err);

	/* The role the user named USER holds in the tenant (STORE_ROLE_NONE when none). */
	int (*role_of)(struct store *st, const char *tenant_id, const char *user, enum store_role *out, rp_error *err);
	/* Gives USER the role, replacing the one it holds in the tenant; RP_E_CONFLICT when that would
	 * demote the tenant's last Administrator. */
	json_t *(*role_add)(struct store *st, const char *tenant_id, const char *user, enum store_role role, int64_t now,
	                    rp_error *err);
	json_t *(*role_list)(struct store *st, const char *tenant_id, const struct store_page *page, int64_t *next,
	                     rp_error *err);
	/* Refuses (RP_E_CONFLICT) to remove the tenant's last Administrator. */
	int (*role_delete)(struct store *st, const char *tenant_id, const char *user, rp_error *err);

	json_t *(*product_create)(struct store *st, const char *tenant_id, const char *product_id, const char *name,
	                          const char *description, int64_t now, rp_error *err);
	/* ID_OR_NAME: a product GUID or its exact name. */
	json_t *(*product_get)(struct store *st, const char *tenant_id, const char *id_or_name, rp_error *err);
	json_t *(*product_list)(struct store *st, const char *tenant_id, const struct store_page *page, int64_t *next,
	                        rp_error *err);
	json_t *(*product_update)(struct store *st, const char *tenant_id, const char *product_id,
	                          const struct store_product_update *u, int64_t now, rp_error *err);
	/* Deletes the product's device groups too; RP_E_CONFLICT while any of them holds devices. */
	int (*product_delete)(struct store *st, const char *tenant_id, const char *product_id, rp_error *err);

	json_t *(*device_group_create)(struct store *st, const char *tenant_id, const char *product_id,
	                               const char *device_group_id, const struct store_device_group_fields *f,
	                               int64_t now, rp_error *err);
	json_t *(*device_group_get)(struct store *st, const char *tenant_id, const char *device_group_id,
	                            rp_error *err);
	/* PRODUCT_ID NULL lists the whole tenant's groups. */
	json_t *(*device_group_list)(struct store *st, const char *tenant_id, const char *product_id,
	                             const struct store_page *page, int64_t *next, rp_error *err);
	json_t *(*device_group_update)(struct store *st, const char *tenant_id, const char *device_group_id,
	                               const struct store_device_group_fields *f, int64_t now, rp_error *err);
	int (*device_group_delete)(struct store *st, const char *tenant_id, const char *device_group_id,
	                           rp_error *err);

	/* Every image must belong to TENANT_ID (RP_E_NOT_FOUND naming the first that does not). */
	json_t *(*deployment_create)(struct store *st, const char *tenant_id, const char *device_group_id,
	                             const char *deployment_id, const char *const *image_ids, size_t n_images,
	                             const char *created_by, int64_t now, rp_error *err);
	json_t *(*deployment_list)(struct store *st, const char *tenant_id, const char *device_group_id,
	                           const struct store_page *page, int64_t *next, rp_error *err);

	json_t *(*device_register)(struct store *st, const char *device_id, const char *public_key_pem, int64_t now,
	                           rp_error *err);
	/* RP_E_NOT_FOUND for an unknown device, RP_E_CONFLICT when any tenant claimed it already. */
	json_t *(*device_claim)(struct store *st, const char *tenant_id, const char *device_id,
	                        const char *device_group_id, int64_t now, rp_error *err);
	json_t *(*device_get)(struct store *st, const char *tenant_id, const char *device_id, rp_error *err);
	/* DEVICE_GROUP_ID NULL lists every device of the tenant. */
	json_t *(*device_list)(struct store *st, const char *tenant_id, const char *device_group_id,
	                       const struct store_page *page, int64_t *next, rp_error *err);
	json_t *(*device_update)(struct store *st, const char *tenant_id, const char *device_id,
	                         const char *device_group_id, int64_t expect_version, int64_t now, rp_error *err);

	json_t *(*image_insert)(struct store *st, const char *tenant_id, const struct store_image *img, int64_t now,
	                        rp_error *err);
	json_t *(*image_get)(struct store *st, const char *tenant_id, const char *image_id, rp_error *err);
	json_t *(*image_list)(struct store *st, const char *tenant_id, const struct store_page *page, int64_t *next,
	                      rp_error *err);
	/* The first of the tenants that uploaded the blob with this SHA-256 (hex). Several tenants may
	 * hold the same package, so authorise with blob_held_by / blob_visible_to instead. */
	int (*blob_tenant)(struct store *st, const char *sha256_hex, char tenant_id[STORE_GUID_LEN + 1],
	                   rp_error *err);
	/* Whether TENANT_ID holds an image with this SHA-256: 1 yes, 0 no, -1 error. */
	int (*blob_held_by)(struct store *st, const char *sha256_hex, const char *tenant_id, rp_error *err);
	/* Whether some tenant in which USER_SEQ has a role holds it: 1 yes, 0 no, -1 error. */
	int (*blob_visible_to)(struct store *st, const char *sha256_hex, int64_t user_seq, rp_error *err);

	json_t *(*signing_key_add)(struct store *st, const char *tenant_id, const char *key_id, const char *name,
	                           const char *public_key_pem, int64_t now, rp_error *err);
	json_t *(*signing_key_list)(struct store *st, const char *tenant_id, const struct store_page *page,
	                            int64_t *next, rp_error *err);

	int (*audit_append)(struct store *st, const struct store_audit_entry *e, rp_error *err);
	json_t *(*audit_list)(struct store *st, const struct store_audit_filter *f, const struct store_page *page,
	                      int64_t *next, rp_error *err);

	/* ---- attestation (docs/protocol.md "Attestation protocol v1") ---- */
	/* A device by ID whichever tenant holds it: device_id, public_key_pem, tenant_id (null when
	 * unclaimed), device_group_id, device_group_name, revoked. RP_E_NOT_FOUND when unregistered. */
	json_t *(*device_lookup)(struct store *st, const char *device_id, rp_error *err);
	/* Mark the tenant's device revoked (idempotent); RP_E_NOT_FOUND outside the tenant. */
	int (*device_revoke)(struct store *st, const char *tenant_id, const char *device_id, int64_t now,
	                    rp_error *err);
	/* Attestation nonces are issued without a write (attest_nonce.h); the store remembers the used
	 * ones until an hour after they expire, and below a floor every older one counts as used.
	 * *USED: whether NONCE (expiring at EXPIRES_AT) was used already. */
	int (*nonce_used)(struct store *st, const char *nonce_hex, int64_t expires_at, bool *used, rp_error *err);
	/* Record NONCE as used by DEVICE_ID (in the caller's write transaction); *WAS_USED tells whether
	 * it already was, in which case nothing changes. Drops nonces expired for over an hour. */
	int (*nonce_use)(struct store *st, const char *nonce_hex, const char *device_id, int64_t expires_at,
	                 int64_t now, bool *was_used, rp_error *err);
	/* The tenant's image whose package has this SHA-256 (hex); RP_E_NOT_FOUND otherwise. */
	json_t *(*image_by_sha256)(struct store *st, const char *tenant_id, const char *sha256_hex, rp_error *err);
	int (*certificate_record)(struct store *st, const struct store_cert_record *c, rp_error *err);

	/* ---- update status (docs/protocol.md "Update delivery") ---- */
	/* Replace the device's last update-status report (a JSON document); RP_E_NOT_FOUND when the
	 * device is not registered. */
	int (*update_status_put)(struct store *st, const char *device_id, const char *report_json, int64_t now,
	                         rp_error *err);
	/* The last report of the tenant's device with "reported_at"; RP_E_NOT_FOUND when none. */
	json_t *(*update_status_get)(struct store *st, const char *tenant_id, const char *device_id, rp_error *err);
};

struct store {
	const struct store_ops *ops;
};

/* Close and free; NULL is fine. */
void store_close(struct store *st);
RP_DEFINE_CLEANUP(struct store, store_close)
#define _cleanup_store_ _cleanup_(store_closep)
