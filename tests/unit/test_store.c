/* Unit tests for rampartd's storage and API layer without HTTP: SQLite migrations in place,
 * store semantics (last administrator, optimistic versions, claims), text validation, and
 * api_dispatch end to end on a temporary state directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "service/api.h"
#include "service/bodies.h"
#include "service/devkey.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "service/migrations.h"
#include "service/sqlrow.h"
#include "service/state.h"
#include "service/store_sqlite.h"
#include "service/validate.h"

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rampart-test-store-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_remove_tree(tmpdir, &err), 0);
	return 0;
}

static char *db_path(void)
{
	return xasprintf("%s/test.db", tmpdir);
}

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static void migrates_v1_database_in_place(void **state)
{
	(void)state;
	_cleanup_free_ char *path = db_path();
	rp_error err = RP_ERROR_INIT;
	struct store *st = store_sqlite_open(path, 1, &err);
	assert_non_null(st);
	int v = 0;
	assert_int_equal(st->ops->schema_version(st, &v, &err), 0);
	assert_int_equal(v, 1);
	store_close(st);
	/* Data written by a version-1 rampartd. */
	exec_sql(path, "INSERT INTO tenants (id, name, created_at) VALUES "
	               "('0c0c0c0c-1111-4222-8333-444444444444', 'Old', 1);"
	               "INSERT INTO devices (id, public_key_pem, registered_at, tenant_seq, claimed_at) VALUES "
	               "('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'pem', 1, 1, 2);");

	st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	assert_int_equal(st->ops->schema_version(st, &v, &err), 0);
	assert_int_equal(v, migrations_latest());
	assert_int_equal(st->ops->begin(st, false, &err), 0);
	json_t *d = st->ops->device_get(st, "0c0c0c0c-1111-4222-8333-444444444444",
	                                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &err);
	assert_non_null(d);
	assert_true(json_is_false(json_object_get(d, "revoked")));
	assert_true(json_is_null(json_object_get(d, "revoked_at")));
	json_decref(d);
	st->ops->rollback(st);
	store_close(st);
}

static int64_t query_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	int64_t v = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

static struct store_image shared_image(void)
{
	struct store_image img = {.name = "os", .image_type = "os-bundle", .version_string = "3", .version = 3,
	                          .size = 10, .uploaded_by = "ann"};
	snprintf(img.image_id, sizeof(img.image_id), "5e5e5e5e-1111-4222-8333-444444444444");
	snprintf(img.component_id, sizeof(img.component_id), "6e6e6e6e-1111-4222-8333-444444444444");
	memset(img.sha256, 'a', 64);
	memset(img.signing_key_id, 'b', 64);
	return img;
}

/* Version 6 rebuilds the images table (unique per tenant) under a database holding images that a
 * deployment references: the references stay valid and foreign keys stay enforced. */
static void migrates_images_to_per_tenant_uniqueness(void **state)
{
	(void)state;
	_cleanup_free_ char *path = db_path();
	rp_error err = RP_ERROR_INIT;
	struct store *st = store_sqlite_open(path, 5, &err);
	assert_non_null(st);
	store_close(st);
	exec_sql(path, "INSERT INTO tenants (id, name, created_at) VALUES "
	               "('0c0c0c0c-1111-4222-8333-444444444444', 'A', 1), ('1c0c0c0c-1111-4222-8333-444444444444', 'B', 1);"
	               "INSERT INTO products (id, tenant_seq, name, created_at, updated_at) VALUES "
	               "('2c0c0c0c-1111-4222-8333-444444444444', 1, 'P', 1, 1);"
	               "INSERT INTO device_groups (id, product_seq, name, os_feed, update_policy, allow_crash_dumps, "
	               "created_at, updated_at) VALUES ('3c0c0c0c-1111-4222-8333-444444444444', 1, 'G', 'Retail', "
	               "'UpdateAll', 0, 1, 1);"
	               "INSERT INTO images (seq, id, tenant_seq, component_id, name, image_type, version_string, version, "
	               "development, sha256, size, signing_key_id, uploaded_at, uploaded_by) VALUES "
	               "(7, '5e5e5e5e-1111-4222-8333-444444444444', 1, '6e6e6e6e-1111-4222-8333-444444444444', 'os', "
	               "'os-bundle', '3', 3, 0, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 10, 'k', 1, "
	               "'ann');"
	               "INSERT INTO deployments (id, device_group_seq, created_at, created_by) VALUES "
	               "('4c0c0c0c-1111-4222-8333-444444444444', 1, 2, 'ann');"
	               "INSERT INTO deployment_images (deployment_seq, position, image_seq) VALUES (1, 0, 7);");

	st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	int v = 0;
	assert_int_equal(st->ops->schema_version(st, &v, &err), 0);
	assert_int_equal(v, migrations_latest());
	/* The same package in the second tenant: accepted; again in either tenant: refused. */
	struct store_image img = shared_image();
	assert_int_equal(st->ops->begin(st, true, &err), 0);
	json_t *j = st->ops->image_insert(st, "1c0c0c0c-1111-4222-8333-444444444444", &img, 5, &err);
	assert_non_null(j);
	json_decref(j);
	assert_null(st->ops->image_insert(st, "1c0c0c0c-1111-4222-8333-444444444444", &img, 5, &err));
	assert_int_equal(err.code, RP_E_EXISTS);
	assert_null(st->ops->image_insert(st, "0c0c0c0c-1111-4222-8333-444444444444", &img, 5, &err));
	assert_int_equal(err.code, RP_E_EXISTS);
	assert_int_equal(st->ops->blob_held_by(st, img.sha256, "0c0c0c0c-1111-4222-8333-444444444444", &err), 1);
	assert_int_equal(st->ops->blob_held_by(st, img.sha256, "1c0c0c0c-1111-4222-8333-444444444444", &err), 1);
	memset(img.sha256, 'c', 64);
	assert_int_equal(st->ops->blob_held_by(st, img.sha256, "1c0c0c0c-1111-4222-8333-444444444444", &err), 0);
	assert_int_equal(st->ops->commit(st, &err), 0);
	store_close(st);

	/* The deployment still names its image, and nothing dangles. */
	assert_int_equal(query_int(path, "SELECT di.image_seq FROM deployment_images di JOIN images i ON i.seq = "
	                                 "di.image_seq WHERE i.id = '5e5e5e5e-1111-4222-8333-444444444444' AND "
	                                 "i.tenant_seq = 1"),
	                 7);
	assert_int_equal(query_int(path, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	assert_int_equal(query_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'images_new'"), 0);
	assert_int_equal(query_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'images' "
	                                 "AND name IN ('images_tenant', 'images_sha256')"),
	                 2);
	/* Foreign keys are enforced again after the rebuild. */
	st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	store_close(st);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "INSERT INTO deployment_images VALUES (1, 1, 999)", NULL, NULL, NULL),
	                     SQLITE_OK);
	sqlite3_close(db);
}

static void refuses_newer_database(void **state)
{
	(void)state;
	_cleanup_free_ char *path = db_path();
	rp_error err = RP_ERROR_INIT;
	struct store *st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	store_close(st);
	exec_sql(path, "INSERT INTO schema_migrations VALUES (99, 'from the future', 0)");
	assert_null(store_sqlite_open(path, 0, &err));
	assert_int_equal(err.code, RP_E_UNSUPPORTED);
}

static void store_semantics(void **state)
{
	(void)state;
	_cleanup_free_ char *path = db_path();
	rp_error err = RP_ERROR_INIT;
	struct store *st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	const char *t = "0c0c0c0c-1111-4222-8333-444444444444";
	uint8_t h1[32] = {1}, h2[32] = {2};
	assert_int_equal(st->ops->begin(st, true, &err), 0);
	json_t *j = st->ops->tenant_create(st, t, "T", 1, &err);
	assert_non_null(j);
	json_decref(j);
	assert_null(st->ops->tenant_create(st, "1c0c0c0c-1111-4222-8333-444444444444", "T", 1, &err));
	assert_int_equal(err.code, RP_E_EXISTS);
	assert_int_equal(st->ops->user_create(st, "ann", false, h1, 1, &err), 0);
	assert_int_equal(st->ops->user_create(st, "bob", false, h2, 1, &err), 0);
	json_decref(st->ops->role_add(st, t, "ann", STORE_ROLE_ADMINISTRATOR, 1, &err));
	/* The last Administrator stays. */
	assert_int_equal(st->ops->role_delete(st, t, "ann", &err), -1);
	assert_int_equal(err.code, RP_E_CONFLICT);
	/* Nor is demoted; otherwise a second role replaces the first. */
	assert_null(st->ops->role_add(st, t, "ann", STORE_ROLE_READER, 1, &err));
	assert_int_equal(err.code, RP_E_CONFLICT);
	enum store_role role = STORE_ROLE_NONE;
	assert_int_equal(st->ops->role_of(st, t, "ann", &role, &err), 0);
	assert_int_equal(role, STORE_ROLE_ADMINISTRATOR);
	assert_int_equal(st->ops->role_of(st, t, "bob", &role, &err), 0);
	assert_int_equal(role, STORE_ROLE_NONE);
	json_decref(st->ops->role_add(st, t, "bob", STORE_ROLE_READER, 1, &err));
	j = st->ops->role_add(st, t, "bob", STORE_ROLE_ADMINISTRATOR, 1, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "role")), "Administrator");
	json_decref(j);
	assert_int_equal(st->ops->role_delete(st, t, "ann", &err), 0);
	struct store_principal who;
	assert_int_equal(st->ops->token_lookup(st, h2, &who, &err), 0);
	assert_string_equal(who.user, "bob");
	uint8_t h3[32] = {3};
	assert_int_equal(st->ops->token_lookup(st, h3, &who, &err), -1);
	assert_int_equal(err.code, RP_E_PERMISSION);

	j = st->ops->product_create(st, t, "2c0c0c0c-1111-4222-8333-444444444444", "P", "", 1, &err);
	assert_non_null(j);
	json_decref(j);
	struct store_product_update u = {.description = "d", .expect_version = 7};
	assert_null(st->ops->product_update(st, t, "P", &u, 2, &err));
	assert_int_equal(err.code, RP_E_CONFLICT);
	u.expect_version = 1;
	j = st->ops->product_update(st, t, "P", &u, 2, &err);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
	json_decref(j);
	assert_int_equal(st->ops->commit(st, &err), 0);
	store_close(st);
}

static void validation(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	assert_true(rp_text_is_printable_utf8("caf\xc3\xa9 \xe2\x98\x95", 9));
	assert_false(rp_text_is_printable_utf8("\xc0\xaf", 2));         /* overlong '/' */
	assert_false(rp_text_is_printable_utf8("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(rp_text_is_printable_utf8("\xc2\x85", 2));         /* C1 control (NEL) */
	assert_false(rp_text_is_printable_utf8("a\x1b[31m", 6));        /* terminal escape */
	assert_false(rp_text_is_printable_utf8("\xf4\x90\x80\x80", 4)); /* beyond U+10FFFF */
	assert_int_equal(validate_name("Coffee; DROP TABLE x", "name", &err), 0);
	assert_int_equal(validate_name("", "name", &err), -1);
	assert_int_equal(validate_name("0c0c0c0c-1111-4222-8333-444444444444", "name", &err), -1);
	assert_int_equal(validate_user("alice@example.com", &err), 0);
	assert_int_equal(validate_user("-x", &err), -1);
	assert_int_equal(validate_user("a b", &err), -1);
}

static void bodies_are_strict(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	json_t *j = json_loads("{\"name\": \"G\", \"os_feed\": \"RetailEval\", \"allow_crash_dumps\": true}", 0, NULL);
	struct body_device_group g;
	assert_int_equal(body_device_group(j, false, &g, &err), 0);
	assert_true(g.f.has_allow_crash_dumps && g.f.allow_crash_dumps);
	assert_int_equal(g.f.expect_version, -1);
	json_decref(j);
	j = json_loads("{\"name\": \"G\", \"product_id\": \"x\"}", 0, NULL);
	assert_int_equal(body_device_group(j, false, &g, &err), -1); /* product_id is create-only */
	json_decref(j);
	j = json_loads("{}", 0, NULL);
	struct body_product p;
	assert_int_equal(body_product(j, false, &p, &err), -1); /* nothing to change */
	json_decref(j);
	j = json_loads("{\"image_ids\": [\"0c0c0c0c-1111-4222-8333-444444444444\", 5]}", 0, NULL);
	struct body_deployment d;
	assert_int_equal(body_deployment(j, &d, &err), -1);
	json_decref(j);
}

static void device_keys_fast_and_generic_paths_agree(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	for (int i = 0; i < 20; i++) {
		_cleanup_pkey_ EVP_PKEY *key = rp_key_generate_p256(&err);
		assert_non_null(key);
		_cleanup_free_ char *pem = rp_key_public_pem(key, &err);
		_cleanup_free_ char *want = rp_key_id_hex(key, &err);
		char id[DEVKEY_ID_HEX_LEN + 1];
		_cleanup_free_ char *canon = NULL;
		assert_int_equal(devkey_parse(pem, strlen(pem), id, &canon, &err), 0);
		assert_string_equal(id, want);
		assert_string_equal(canon, pem);
	}
	/* A point moved off the curve is refused, not silently accepted by either path. */
	_cleanup_pkey_ EVP_PKEY *key = rp_key_generate_p256(&err);
	uint8_t *der = NULL;
	size_t len = 0;
	assert_int_equal(rp_key_public_der(key, &der, &len, &err), 0);
	assert_int_equal(len, 91);
	der[90] ^= 1;
	_cleanup_free_ char *b64 = rp_base64_encode(der, len);
	free(der);
	_cleanup_free_ char *bad = xasprintf("-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n", b64);
	char id[DEVKEY_ID_HEX_LEN + 1];
	char *canon = NULL;
	assert_int_equal(devkey_parse(bad, strlen(bad), id, &canon, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
	const char *junk = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
	assert_int_equal(devkey_parse(junk, strlen(junk), id, &canon, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
}

/* SQLite can end a transaction on its own (SQLITE_FULL, SQLITE_IOERR): commit says so and saves
 * nothing, rather than failing with "cannot commit - no transaction is active". */
static void commit_after_database_ended_transaction(void **state)
{
	(void)state;
	_cleanup_free_ char *path = db_path();
	rp_error err = RP_ERROR_INIT;
	struct store *st = store_sqlite_open(path, 0, &err);
	assert_non_null(st);
	assert_int_equal(st->ops->begin(st, true, &err), 0);
	assert_true(st->ops->txn_active(st));
	assert_int_equal(sqlite3_exec(sqlrow_db(), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_false(st->ops->txn_active(st));
	/* A caller that goes on regardless writes nothing: in autocommit mode it would be saved. */
	const char *tenant = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
	assert_null(st->ops->tenant_create(st, tenant, "Orphan", 1767225600, &err));
	assert_int_equal(err.code, RP_E_IO);
	assert_non_null(strstr(err.message, "ended the transaction"));
	err = (rp_error)RP_ERROR_INIT;
	assert_int_equal(st->ops->commit(st, &err), -1);
	assert_int_equal(err.code, RP_E_IO);
	assert_non_null(strstr(err.message, "nothing was saved"));
	/* The writer is free again, and the refused write is not there. */
	err = (rp_error)RP_ERROR_INIT;
	assert_int_equal(st->ops->begin(st, true, &err), 0);
	assert_null(st->ops->tenant_get(st, tenant, &err));
	assert_int_equal(err.code, RP_E_NOT_FOUND);
	err = (rp_error)RP_ERROR_INIT;
	assert_int_equal(st->ops->commit(st, &err), 0);
	store_close(st);
}

/* An audit_append that succeeds, then has the database end the transaction behind its back, as a
 * write error can; only for success rows, so the refusal is still recorded. */
static const struct store_ops *real_ops;

static int audit_append_then_end(struct store *st, const struct store_audit_entry *e, rp_error *err)
{
	if (real_ops->audit_append(st, e, err) < 0)
		return -1;
	if (e->result == STORE_AUDIT_SUCCESS)
		sqlite3_exec(sqlrow_db(), "ROLLBACK", NULL, NULL, NULL);
	return 0;
}

static int64_t fixed_clock(void)
{
	return 1767225600; /* 2026-01-01 */
}

static json_t *call(struct api_ctx *ctx, const char *method, const char *path, const char *token, const char *body,
                    int expect_status)
{
	char auth[128];
	snprintf(auth, sizeof(auth), "Bearer %s", token ? token : "");
	struct api_response res;
	api_dispatch(ctx, method, path, NULL, token ? auth : NULL, body ? "application/json" : NULL,
	             (const uint8_t *)body, body ? strlen(body) : 0, &res);
	if (res.status != expect_status) {
		_cleanup_free_ char *text = res.json ? rp_json_dump(res.json) : xstrdup("");
		fail_msg("%s %s: status %d, expected %d: %s", method, path, res.status, expect_status, text);
	}
	json_t *j = res.json ? json_incref(res.json) : NULL;
	api_response_free(&res);
	return j;
}

static void dispatch_end_to_end(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	char token[API_TOKEN_LEN + 1];
	_cleanup_free_ char *dir = xasprintf("%s/state", tmpdir);
	struct store *st = state_open(dir, token, &err);
	assert_non_null(st);
	assert_int_equal(strncmp(token, "rpt_", 4), 0);
	struct api_ctx ctx = {.store = st, .state_dir = dir, .max_image_size = 1 << 20, .clock = fixed_clock};
	assert_int_equal(attest_nonce_key_load(dir, &ctx.nonce_key, &err), 0);
	pthread_mutex_init(&ctx.ca_lock, NULL);

	json_decref(call(&ctx, "GET", "/v1/health", NULL, NULL, 200));
	json_decref(call(&ctx, "GET", "/v1/whoami", NULL, NULL, 401));
	json_t *t = call(&ctx, "POST", "/v1/tenants", token, "{\"name\": \"T\"}", 201);
	_cleanup_free_ char *base = xasprintf("/v1/tenants/%s", json_string_value(json_object_get(t, "tenant_id")));
	json_decref(t);
	_cleanup_free_ char *products = xasprintf("%s/products", base);
	json_decref(call(&ctx, "POST", products, token, "{\"name\": \"P\", \"bogus\": 1}", 400));
	json_t *p = call(&ctx, "POST", products, token, "{\"name\": \"P\"}", 201);
	assert_string_equal(json_string_value(json_object_get(p, "created_at")), "2026-01-01T00:00:00Z");
	json_decref(p);
	json_t *list = call(&ctx, "GET", products, token, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
	json_decref(list);
	_cleanup_free_ char *audit = xasprintf("%s/audit", base);
	list = call(&ctx, "GET", audit, token, NULL, 200);
	/* product.create refused, then product.create succeeded. */
	assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
	json_decref(list);

	/* A transaction the store ended before commit fails the request, and nothing is saved. */
	real_ops = st->ops;
	struct store_ops ending = *st->ops;
	ending.audit_append = audit_append_then_end;
	st->ops = &ending;
	struct api_response res;
	const char *body = "{\"name\": \"Gone\"}";
	char auth[128];
	snprintf(auth, sizeof(auth), "Bearer %s", token);
	api_dispatch(&ctx, "POST", products, NULL, auth, "application/json", (const uint8_t *)body, strlen(body), &res);
	st->ops = real_ops;
	assert_int_equal(res.status, 500);
	_cleanup_free_ char *text = rp_json_dump(res.json);
	assert_non_null(strstr(text, "the store ended the transaction"));
	api_response_free(&res);
	list = call(&ctx, "GET", products, token, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
	json_decref(list);
	list = call(&ctx, "GET", audit, token, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(list, "items"), 2), "result")),
	                    "failed");
	json_decref(list);

	pthread_mutex_destroy(&ctx.ca_lock);
	store_close(st);

	/* A second open finds the administrator and prints no new token. */
	st = state_open(dir, token, &err);
	assert_non_null(st);
	assert_string_equal(token, "");
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(migrates_v1_database_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(migrates_images_to_per_tenant_uniqueness, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_newer_database, setup, teardown),
		cmocka_unit_test_setup_teardown(store_semantics, setup, teardown),
		cmocka_unit_test_setup_teardown(commit_after_database_ended_transaction, setup, teardown),
		cmocka_unit_test(validation),
		cmocka_unit_test(bodies_are_strict),
		cmocka_unit_test(device_keys_fast_and_generic_paths_agree),
		cmocka_unit_test_setup_teardown(dispatch_end_to_end, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
