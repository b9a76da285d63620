/* SQLite store: products, device groups, deployments and devices. */
#include "service/store_sqlite_ops.h"

#include <stdio.h>
#include <string.h>
#include "service/sqlrow.h"

/* ---- products ---- */

#define PRODUCT_SELECT                                                                                                 \
	"SELECT p.seq AS _seq, p.id AS product_id, t.id AS tenant_id, p.name, p.description, p.created_at, "         \
	"p.updated_at, p.version FROM products p JOIN tenants t ON t.seq = p.tenant_seq "

static json_t *product_by_seq(int64_t seq, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep(PRODUCT_SELECT "WHERE p.seq = ?1", err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, seq);
	return sqlrow_one(stmt, NULL, err, "product not found");
}

static json_t *sq_product_create(struct store *st, const char *tenant_id, const char *product_id, const char *name,
                                 const char *description, int64_t now, rp_error *err)
{
	(void)st;
	int64_t tseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO products (id, tenant_seq, name, description, created_at, updated_at) "
	                          "VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
	                          err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlrow_bind_text(stmt, 1, product_id);
		sqlite3_bind_int64(stmt, 2, tseq);
		sqlrow_bind_text(stmt, 3, name);
		sqlrow_bind_text(stmt, 4, description ? description : "");
		sqlite3_bind_int64(stmt, 5, now);
		if (sqlrow_run(stmt, "creating the product", err) < 0) {
			if (err && err->code == RP_E_EXISTS)
				rp_error_set(err, RP_E_EXISTS, "a product named \"%s\" exists already in this tenant", name);
			return NULL;
		}
	}
	return product_by_seq(sqlite3_last_insert_rowid(sqlrow_db()), err);
}

static json_t *sq_product_get(struct store *st, const char *tenant_id, const char *id_or_name, rp_error *err)
{
	(void)st;
	int64_t tseq, pseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || sqlrow_product_seq(tseq, id_or_name, &pseq, err) < 0)
		return NULL;
	return product_by_seq(pseq, err);
}

static json_t *sq_product_list(struct store *st, const char *tenant_id, const struct store_page *page, int64_t *next,
                               rp_error *err)
{
	(void)st;
	return sqlrow_tenant_page(PRODUCT_SELECT "WHERE p.tenant_seq = ?1 AND p.seq > ?2 ORDER BY p.seq LIMIT ?3", tenant_id, page, next, err);
}

static json_t *sq_product_update(struct store *st, const char *tenant_id, const char *product_id,
                                 const struct store_product_update *u, int64_t now, rp_error *err)
{
	(void)st;
	int64_t tseq, pseq, version = 0;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || sqlrow_product_seq(tseq, product_id, &pseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT version FROM products WHERE seq = ?1", err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, pseq);
		if (sqlrow_int(stmt, &version, "reading the product", err) != 0)
			return NULL;
	}
	if (sqlrow_check_version("product", product_id, version, u->expect_version, err) < 0)
		return NULL;
	stmt = sqlrow_prep("UPDATE products SET name = coalesce(?1, name), description = coalesce(?2, description), "
	            "updated_at = ?3, version = version + 1 WHERE seq = ?4",
	            err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlrow_bind_text(stmt, 1, u->name);
		sqlrow_bind_text(stmt, 2, u->description);
		sqlite3_bind_int64(stmt, 3, now);
		sqlite3_bind_int64(stmt, 4, pseq);
		if (sqlrow_run(stmt, "updating the product", err) < 0) {
			if (err && err->code == RP_E_EXISTS)
				rp_error_set(err, RP_E_EXISTS, "a product named \"%s\" exists already in this tenant",
				             u->name ? u->name : "");
			return NULL;
		}
	}
	return product_by_seq(pseq, err);
}

static int sq_product_delete(struct store *st, const char *tenant_id, const char *product_id, rp_error *err)
{
	(void)st;
	int64_t tseq, pseq, devices = 0;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || sqlrow_product_seq(tseq, product_id, &pseq, err) < 0)
		return -1;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT count(*) FROM devices d JOIN device_groups g ON g.seq = d.device_group_seq "
	                          "WHERE g.product_seq = ?1",
	                          err);
	if (!stmt)
		return -1;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, pseq);
		if (sqlrow_int(stmt, &devices, "counting devices", err) < 0)
			return -1;
	}
	if (devices > 0)
		return rp_error_set(err, RP_E_CONFLICT,
		                    "product \"%s\" still has %lld device(s) in its device groups; move them first",
		                    product_id, (long long)devices);
	stmt = sqlrow_prep("DELETE FROM products WHERE seq = ?1", err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, pseq);
	return sqlrow_run(stmt, "deleting the product", err);
}

/* ---- deployments ---- */

#define DEPLOYMENT_SELECT                                                                                              \
	"SELECT d.seq AS _seq, d.id AS deployment_id, g.id AS device_group_id, d.created_at, d.created_by "          \
	"FROM deployments d JOIN device_groups g ON g.seq = d.device_group_seq "

static int attach_image_ids(json_t *dep, int64_t dseq, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep("SELECT i.id FROM deployment_images di JOIN images i ON i.seq = di.image_seq "
	                          "WHERE di.deployment_seq = ?1 ORDER BY di.position",
	                          err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, dseq);
	json_t *ids = json_array();
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		json_array_append_new(ids, json_string((const char *)sqlite3_column_text(stmt, 0)));
	json_object_set_new(dep, "image_ids", ids);
	if (rc != SQLITE_DONE)
		return sqlrow_error(rc, "reading deployment images", err);
	return 0;
}

/* The group's newest deployment, or JSON null. */
static json_t *current_deployment(int64_t gseq, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep(DEPLOYMENT_SELECT "WHERE d.device_group_seq = ?1 ORDER BY d.seq DESC LIMIT 1", err);
	if (!stmt)
		return NULL;
	int64_t dseq = 0;
	json_t *dep;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, gseq);
		int rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			return json_null();
		if (rc != SQLITE_ROW) {
			sqlrow_error(rc, "reading the current deployment", err);
			return NULL;
		}
		dep = sqlrow_json(stmt, &dseq);
	}
	if (attach_image_ids(dep, dseq, err) < 0) {
		json_decref(dep);
		return NULL;
	}
	return dep;
}

/* ---- device groups ---- */

#define GROUP_SELECT                                                                                                   \
	"SELECT g.seq AS _seq, g.id AS device_group_id, t.id AS tenant_id, p.id AS product_id, g.name, "             \
	"g.description, g.os_feed, g.update_policy, g.allow_crash_dumps, g.created_at, g.updated_at, g.version "     \
	"FROM device_groups g JOIN products p ON p.seq = g.product_seq JOIN tenants t ON t.seq = p.tenant_seq "

static int attach_current_deployment(json_t *group, int64_t gseq, rp_error *err)
{
	json_t *dep = current_deployment(gseq, err);
	if (!dep)
		return -1;
	json_object_set_new(group, "current_deployment", dep);
	return 0;
}

static json_t *group_by_seq(int64_t gseq, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep(GROUP_SELECT "WHERE g.seq = ?1", err);
	if (!stmt)
		return NULL;
	json_t *g;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, gseq);
		g = sqlrow_one(stmt, NULL, err, "device group not found");
	}
	if (g && attach_current_deployment(g, gseq, err) < 0) {
		json_decref(g);
		return NULL;
	}
	return g;
}

static json_t *sq_group_create(struct store *st, const char *tenant_id, const char *product_id,
                               const char *group_id, const struct store_device_group_fields *f, int64_t now,
                               rp_error *err)
{
	(void)st;
	int64_t tseq, pseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || sqlrow_product_seq(tseq, product_id, &pseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO device_groups (id, product_seq, name, description, os_feed, update_policy, "
	                          "allow_crash_dumps, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
	                          err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlrow_bind_text(stmt, 1, group_id);
		sqlite3_bind_int64(stmt, 2, pseq);
		sqlrow_bind_text(stmt, 3, f->name);
		sqlrow_bind_text(stmt, 4, f->description ? f->description : "");
		sqlrow_bind_text(stmt, 5, f->os_feed ? f->os_feed : "Retail");
		sqlrow_bind_text(stmt, 6, f->update_policy ? f->update_policy : "UpdateAll");
		sqlite3_bind_int(stmt, 7, f->has_allow_crash_dumps && f->allow_crash_dumps);
		sqlite3_bind_int64(stmt, 8, now);
		if (sqlrow_run(stmt, "creating the device group", err) < 0) {
			if (err && err->code == RP_E_EXISTS)
				rp_error_set(err, RP_E_EXISTS, "a device group named \"%s\" exists already in this product",
				             f->name);
			return NULL;
		}
	}
	return group_by_seq(sqlite3_last_insert_rowid(sqlrow_db()), err);
}

static json_t *sq_group_get(struct store *st, const char *tenant_id, const char *group_id, rp_error *err)
{
	(void)st;
	int64_t tseq, gseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || sqlrow_group_seq(tseq, group_id, &gseq, err) < 0)
		return NULL;
	return group_by_seq(gseq, err);
}

static json_t *sq_group_list(struct store *st, const char *tenant_id, const char *product_id,
                             const struct store_page *page, int64_t *next, rp_error *err)
{
	(void)st;
	int64_t tseq, pseq = 0;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return NULL;
	if (product_id && sqlrow_product_seq(tseq, product_id, &pseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt = sqlrow_prep(GROUP_SELECT "WHERE p.tenant_seq = ?1 AND (?2 = 0 OR g.product_seq = ?2) AND g.seq > ?3 "
	                                       "ORDER BY g.seq LIMIT ?4",
	                          err);
	if (!stmt)
		return NULL;
	json_t *items;
	int64_t seqs[1001];
	int64_t *seqp = seqs;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, tseq);
		sqlite3_bind_int64(stmt, 2, pseq);
		sqlite3_bind_int64(stmt, 3, page->after);
		sqlite3_bind_int(stmt, 4, page->limit + 1);
		items = sqlrow_page(stmt, page, next, &seqp, err);
	}
	if (!items)
		return NULL;
	for (size_t i = 0; i < json_array_size(items); i++)
		if (attach_current_deployment(json_array_get(items, i), seqs[i], err) < 0) {
			json_decref(items);
			return NULL;
		}
	return items;
}

static json_t *sq_group_update(struct store *st, const char *tenant_id, const char *group_id,
                               const struct store_device_group_fields *f, int64_t now, rp_error *err)
{
	(void)st;
	int64_t tseq, gseq, version = 0;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || sqlrow_group_seq(tseq, group_id, &gseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT version FROM device_groups WHERE seq = ?1", err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, gseq);
		if (sqlrow_int(stmt, &version, "reading the device group", err) != 0)
			return NULL;
	}
	if (sqlrow_check_version("device group", group_id, version, f->expect_version, err) < 0)
		return NULL;
	stmt = sqlrow_prep("UPDATE device_groups SET name = coalesce(?1, name), description = coalesce(?2, description), "
	            "os_feed = coalesce(?3, os_feed), update_policy = coalesce(?4, update_policy), "
	            "allow_crash_dumps = coalesce(?5, allow_crash_dumps), updated_at = ?6, version = version + 1 "
	            "WHERE seq = ?7",
	            err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlrow_bind_text(stmt, 1, f->name);
		sqlrow_bind_text(stmt, 2, f->description);
		sqlrow_bind_text(stmt, 3, f->os_feed);
		sqlrow_bind_text(stmt, 4, f->update_policy);
		if (f->has_allow_crash_dumps)
			sqlite3_bind_int(stmt, 5, f->allow_crash_dumps);
		else
			sqlite3_bind_null(stmt, 5);
		sqlite3_bind_int64(stmt, 6, now);
		sqlite3_bind_int64(stmt, 7, gseq);
		if (sqlrow_run(stmt, "updating the device group", err) < 0) {
			if (err && err->code == RP_E_EXISTS)
				rp_error_set(err, RP_E_EXISTS, "a device group named \"%s\" exists already in this product",
				             f->name ? f->name : "");
			return NULL;
		}
	}
	return group_by_seq(gseq, err);
}

static int sq_group_delete(struct store *st, const char *tenant_id, const char *group_id, rp_error *err)
{
	(void)st;
	int64_t tseq, gseq, devices = 0;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || sqlrow_group_seq(tseq, group_id, &gseq, err) < 0)
		return -1;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT count(*) FROM devices WHERE device_group_seq = ?1", err);
	if (!stmt)
		return -1;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, gseq);
		if (sqlrow_int(stmt, &devices, "counting devices", err) < 0)
			return -1;
	}
	if (devices > 0)
		return rp_error_set(err, RP_E_CONFLICT, "device group %s still has %lld device(s); move them first",
		                    group_id, (long long)devices);
	stmt = sqlrow_prep("DELETE FROM device_groups WHERE seq = ?1", err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, gseq);
	return sqlrow_run(stmt, "deleting the device group", err);
}

/* ---- deployments ---- */

static json_t *sq_deployment_create(struct store *st, const char *tenant_id, const char *group_id,
                                    const char *deployment_id, const char *const *image_ids, size_t n_images,
                                    const char *created_by, int64_t now, rp_error *err)
{
	(void)st;
	int64_t tseq, gseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || sqlrow_group_seq(tseq, group_id, &gseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO deployments (id, device_group_seq, created_at, created_by) "
	                          "VALUES (?1, ?2, ?3, ?4)",
	                          err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlrow_bind_text(stmt, 1, deployment_id);
		sqlite3_bind_int64(stmt, 2, gseq);
		sqlite3_bind_int64(stmt, 3, now);
		sqlrow_bind_text(stmt, 4, created_by);
		if (sqlrow_run(stmt, "creating the deployment", err) < 0)
			return NULL;
	}
	int64_t dseq = sqlite3_last_insert_rowid(sqlrow_db());
	for (size_t i = 0; i < n_images; i++) {
		/* The tenant condition is what stops a deployment of another tenant's image. */
		stmt = sqlrow_prep("INSERT INTO deployment_images (deployment_seq, position, image_seq) "
		            "SELECT ?1, ?2, seq FROM images WHERE id = ?3 AND tenant_seq = ?4",
		            err);
		if (!stmt)
			return NULL;
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, dseq);
		sqlite3_bind_int64(stmt, 2, (int64_t)i);
		sqlrow_bind_text(stmt, 3, image_ids[i]);
		sqlite3_bind_int64(stmt, 4, tseq);
		if (sqlrow_run(stmt, "adding an image to the deployment", err) < 0)
			return NULL;
		if (sqlite3_changes(sqlrow_db()) != 1) {
			rp_error_set(err, RP_E_NOT_FOUND, "image %s is not an image of this tenant; upload it first",
			             image_ids[i]);
			return NULL;
		}
	}
	stmt = sqlrow_prep(DEPLOYMENT_SELECT "WHERE d.seq = ?1", err);
	if (!stmt)
		return NULL;
	json_t *dep;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, dseq);
		dep = sqlrow_one(stmt, NULL, err, "deployment not found");
	}
	if (dep && attach_image_ids(dep, dseq, err) < 0) {
		json_decref(dep);
		return NULL;
	}
	return dep;
}

static json_t *sq_deployment_list(struct store *st, const char *tenant_id, const char *group_id,
                                  const struct store_page *page, int64_t *next, rp_error *err)
{
	(void)st;
	int64_t tseq, gseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0 || sqlrow_group_seq(tseq, group_id, &gseq, err) < 0)
		return NULL;
	int64_t seqs[1001];
	int64_t *seqp = seqs;
	json_t *items = sqlrow_scoped_page(
		DEPLOYMENT_SELECT "WHERE d.device_group_seq = ?1 AND d.seq > ?2 ORDER BY d.seq LIMIT ?3", gseq, page, next,
		&seqp, err);
	if (!items)
		return NULL;
	for (size_t i = 0; i < json_array_size(items); i++)
		if (attach_image_ids(json_array_get(items, i), seqs[i], err) < 0) {
			json_decref(items);
			return NULL;
		}
	return items;
}

/* ---- devices ---- */

#define DEVICE_SELECT                                                                                                  \
	"SELECT d.seq AS _seq, d.id AS device_id, d.public_key_pem, t.id AS tenant_id, g.id AS device_group_id, "    \
	"p.id AS product_id, d.registered_at, d.claimed_at, (d.revoked_at IS NOT NULL) AS revoked, d.revoked_at, "   \
	"d.version FROM devices d LEFT JOIN tenants t ON t.seq = d.tenant_seq "                                       \
	"LEFT JOIN device_groups g ON g.seq = d.device_group_seq LEFT JOIN products p ON p.seq = g.product_seq "

static json_t *device_by_seq(int64_t seq, rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep(DEVICE_SELECT "WHERE d.seq = ?1", err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, seq);
	return sqlrow_one(stmt, NULL, err, "device not found");
}

static json_t *sq_device_register(struct store *st, const char *device_id, const char *pem, int64_t now,
                                  rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO devices (id, public_key_pem, registered_at) VALUES (?1, ?2, ?3)", err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlrow_bind_text(stmt, 1, device_id);
		sqlrow_bind_text(stmt, 2, pem);
		sqlite3_bind_int64(stmt, 3, now);
		if (sqlrow_run(stmt, "registering the device", err) < 0) {
			if (err && err->code == RP_E_EXISTS)
				rp_error_set(err, RP_E_EXISTS, "device %s is registered already", device_id);
			return NULL;
		}
	}
	return device_by_seq(sqlite3_last_insert_rowid(sqlrow_db()), err);
}

/* The device's sequence, owning tenant (0 = unclaimed) and version. */
static int device_row(const char *device_id, int64_t *seq, int64_t *owner, int64_t *version,
                      rp_error *err)
{
	sqlite3_stmt *stmt = sqlrow_prep("SELECT seq, coalesce(tenant_seq, 0), version FROM devices WHERE id = ?1", err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, device_id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return 1;
	if (rc != SQLITE_ROW)
		return sqlrow_error(rc, "finding the device", err);
	*seq = sqlite3_column_int64(stmt, 0);
	*owner = sqlite3_column_int64(stmt, 1);
	*version = sqlite3_column_int64(stmt, 2);
	return 0;
}

static json_t *sq_device_claim(struct store *st, const char *tenant_id, const char *device_id, const char *group_id,
                               int64_t now, rp_error *err)
{
	(void)st;
	int64_t tseq, gseq = 0, dseq, owner, version;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return NULL;
	int rc = device_row(device_id, &dseq, &owner, &version, err);
	if (rc < 0)
		return NULL;
	if (rc == 1) {
		rp_error_set(err, RP_E_NOT_FOUND, "device %s is not registered; the device maker registers it first",
		             device_id);
		return NULL;
	}
	if (owner == tseq) {
		rp_error_set(err, RP_E_CONFLICT, "device %s is already claimed by this tenant", device_id);
		return NULL;
	}
	if (owner != 0) {
		rp_error_set(err, RP_E_CONFLICT, "device %s is claimed by another tenant; a device is claimed only once",
		             device_id);
		return NULL;
	}
	if (group_id && sqlrow_group_seq(tseq, group_id, &gseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt = sqlrow_prep("UPDATE devices SET tenant_seq = ?1, device_group_seq = nullif(?2, 0), claimed_at = ?3, "
	                          "version = version + 1 WHERE seq = ?4 AND tenant_seq IS NULL",
	                          err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, tseq);
		sqlite3_bind_int64(stmt, 2, gseq);
		sqlite3_bind_int64(stmt, 3, now);
		sqlite3_bind_int64(stmt, 4, dseq);
		if (sqlrow_run(stmt, "claiming the device", err) < 0)
			return NULL;
	}
	return device_by_seq(dseq, err);
}

static json_t *sq_device_get(struct store *st, const char *tenant_id, const char *device_id, rp_error *err)
{
	(void)st;
	int64_t tseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt = sqlrow_prep(DEVICE_SELECT "WHERE d.id = ?1 AND d.tenant_seq = ?2", err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, device_id);
	sqlite3_bind_int64(stmt, 2, tseq);
	return sqlrow_one(stmt, NULL, err, "device %s not found in this tenant", device_id);
}

static json_t *sq_device_list(struct store *st, const char *tenant_id, const char *group_id,
                              const struct store_page *page, int64_t *next, rp_error *err)
{
	(void)st;
	int64_t tseq, gseq = 0;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return NULL;
	if (group_id && sqlrow_group_seq(tseq, group_id, &gseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt =
		sqlrow_prep(DEVICE_SELECT "WHERE d.tenant_seq = ?1 AND (?2 = 0 OR d.device_group_seq = ?2) AND d.seq > ?3 "
		                   "ORDER BY d.seq LIMIT ?4",
		     err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, tseq);
	sqlite3_bind_int64(stmt, 2, gseq);
	sqlite3_bind_int64(stmt, 3, page->after);
	sqlite3_bind_int(stmt, 4, page->limit + 1);
	return sqlrow_page(stmt, page, next, NULL, err);
}

static json_t *sq_device_update(struct store *st, const char *tenant_id, const char *device_id, const char *group_id,
                                int64_t expect_version, int64_t now, rp_error *err)
{
	(void)now;
	(void)st;
	int64_t tseq, gseq, dseq, owner, version;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return NULL;
	int rc = device_row(device_id, &dseq, &owner, &version, err);
	if (rc < 0)
		return NULL;
	if (rc == 1 || owner != tseq) {
		rp_error_set(err, RP_E_NOT_FOUND, "device %s not found in this tenant", device_id);
		return NULL;
	}
	if (sqlrow_check_version("device", device_id, version, expect_version, err) < 0)
		return NULL;
	if (sqlrow_group_seq(tseq, group_id, &gseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt = sqlrow_prep("UPDATE devices SET device_group_seq = ?1, version = version + 1 WHERE seq = ?2", err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, gseq);
		sqlite3_bind_int64(stmt, 2, dseq);
		if (sqlrow_run(stmt, "updating the device", err) < 0)
			return NULL;
	}
	return device_by_seq(dseq, err);
}

void store_sqlite_fleet_ops(struct store_ops *ops)
{
	ops->product_create = sq_product_create;
	ops->product_get = sq_product_get;
	ops->product_list = sq_product_list;
	ops->product_update = sq_product_update;
	ops->product_delete = sq_product_delete;
	ops->device_group_create = sq_group_create;
	ops->device_group_get = sq_group_get;
	ops->device_group_list = sq_group_list;
	ops->device_group_update = sq_group_update;
	ops->device_group_delete = sq_group_delete;
	ops->deployment_create = sq_deployment_create;
	ops->deployment_list = sq_deployment_list;
	ops->device_register = sq_device_register;
	ops->device_claim = sq_device_claim;
	ops->device_get = sq_device_get;
	ops->device_list = sq_device_list;
	ops->device_update = sq_device_update;
}
