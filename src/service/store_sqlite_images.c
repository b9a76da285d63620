/* SQLite store: images, their blobs' owners and the tenants' trusted image-signing keys. */
#include "service/store_sqlite_ops.h"

#include <stdio.h>
#include <string.h>
#include "service/sqlrow.h"

/* ---- images and blobs ---- */

#define IMAGE_SELECT                                                                                                   \
	"SELECT i.seq AS _seq, i.id AS image_id, t.id AS tenant_id, i.component_id, i.name, i.image_type, "          \
	"i.version, i.version_string, i.development, i.sha256, i.size, i.signing_key_id, i.uploaded_at, "            \
	"i.uploaded_by FROM images i JOIN tenants t ON t.seq = i.tenant_seq "

static json_t *sq_image_insert(struct store *st, const char *tenant_id, const struct store_image *img, int64_t now,
                               rp_error *err)
{
	(void)st;
	int64_t tseq, existing;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return NULL;
	/* Within this tenant only: another tenant may hold the same package (a vendor's OS bundle), and
	 * an answer that depended on it would tell this tenant what the other one has. */
	sqlite3_stmt *stmt = sqlrow_prep("SELECT seq FROM images WHERE tenant_seq = ?3 AND (id = ?1 OR sha256 = ?2)", err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlrow_bind_text(stmt, 1, img->image_id);
		sqlrow_bind_text(stmt, 2, img->sha256);
		sqlite3_bind_int64(stmt, 3, tseq);
		int rc = sqlrow_int(stmt, &existing, "checking for the image", err);
		if (rc < 0)
			return NULL;
		if (rc == 0) {
			rp_error_set(err, RP_E_EXISTS,
			             "image %s was uploaded already to this tenant; images never change, so build a new image "
			             "(it gets a new image ID)",
			             img->image_id);
			return NULL;
		}
	}
	stmt = sqlrow_prep("INSERT INTO images (id, tenant_seq, component_id, name, image_type, version_string, version, "
	            "development, sha256, size, signing_key_id, uploaded_at, uploaded_by) "
	            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	            err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlrow_bind_text(stmt, 1, img->image_id);
		sqlite3_bind_int64(stmt, 2, tseq);
		sqlrow_bind_text(stmt, 3, img->component_id);
		sqlrow_bind_text(stmt, 4, img->name);
		sqlrow_bind_text(stmt, 5, img->image_type);
		sqlrow_bind_text(stmt, 6, img->version_string);
		sqlite3_bind_int64(stmt, 7, (sqlite3_int64)img->version);
		sqlite3_bind_int(stmt, 8, img->development);
		sqlrow_bind_text(stmt, 9, img->sha256);
		sqlite3_bind_int64(stmt, 10, (sqlite3_int64)img->size);
		sqlrow_bind_text(stmt, 11, img->signing_key_id);
		sqlite3_bind_int64(stmt, 12, now);
		sqlrow_bind_text(stmt, 13, img->uploaded_by);
		if (sqlrow_run(stmt, "recording the image", err) < 0)
			return NULL;
	}
	stmt = sqlrow_prep(IMAGE_SELECT "WHERE i.seq = ?1", err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, sqlite3_last_insert_rowid(sqlrow_db()));
	return sqlrow_one(stmt, NULL, err, "image not found");
}

static json_t *sq_image_get(struct store *st, const char *tenant_id, const char *image_id, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep(IMAGE_SELECT "WHERE i.id = ?1 AND t.id = ?2", err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, image_id);
	sqlrow_bind_text(stmt, 2, tenant_id);
	return sqlrow_one(stmt, NULL, err, "image %s not found in this tenant", image_id);
}

static json_t *sq_image_list(struct store *st, const char *tenant_id, const struct store_page *page, int64_t *next,
                             rp_error *err)
{
	(void)st;
	return sqlrow_tenant_page(IMAGE_SELECT "WHERE i.tenant_seq = ?1 AND i.seq > ?2 ORDER BY i.seq LIMIT ?3", tenant_id, page, next, err);
}

static int sq_blob_tenant(struct store *st, const char *sha256_hex, char tenant_id[STORE_GUID_LEN + 1], rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT t.id FROM images i JOIN tenants t ON t.seq = i.tenant_seq "
	                                 "WHERE i.sha256 = ?1 ORDER BY i.seq LIMIT 1",
	                                 err);
	if (!stmt)
		return -1;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlrow_bind_text(stmt, 1, sha256_hex);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return rp_error_set(err, RP_E_NOT_FOUND, "blob sha256:%s not found", sha256_hex);
	if (rc != SQLITE_ROW)
		return sqlrow_error(rc, "finding the blob", err);
	snprintf(tenant_id, STORE_GUID_LEN + 1, "%s", (const char *)sqlite3_column_text(stmt, 0));
	return 0;
}

static int exists(sqlite3_stmt *stmt, const char *what, rp_error *err)
{
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sqlrow_error(rc, what, err);
}

static int sq_blob_held_by(struct store *st, const char *sha256_hex, const char *tenant_id, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT 1 FROM images i JOIN tenants t ON t.seq = i.tenant_seq "
	                                 "WHERE i.sha256 = ?1 AND t.id = ?2",
	                                 err);
	if (!stmt)
		return -1;
	sqlrow_bind_text(stmt, 1, sha256_hex);
	sqlrow_bind_text(stmt, 2, tenant_id);
	return exists(stmt, "finding the blob in the tenant", err);
}

static int sq_blob_visible_to(struct store *st, const char *sha256_hex, int64_t user_seq, rp_error *err)
{
	(void)st;
	sqlite3_stmt *stmt = sqlrow_prep("SELECT 1 FROM images i JOIN roles r ON r.tenant_seq = i.tenant_seq "
	                                 "WHERE i.sha256 = ?1 AND r.user_seq = ?2 LIMIT 1",
	                                 err);
	if (!stmt)
		return -1;
	sqlrow_bind_text(stmt, 1, sha256_hex);
	sqlite3_bind_int64(stmt, 2, user_seq);
	return exists(stmt, "finding the blob in the caller's tenants", err);
}

/* ---- signing keys ---- */

#define KEY_SELECT                                                                                                     \
	"SELECT k.seq AS _seq, k.key_id, t.id AS tenant_id, k.name, k.public_key_pem, k.created_at "                 \
	"FROM signing_keys k JOIN tenants t ON t.seq = k.tenant_seq "

static json_t *sq_signing_key_add(struct store *st, const char *tenant_id, const char *key_id, const char *name,
                                  const char *pem, int64_t now, rp_error *err)
{
	(void)st;
	int64_t tseq;
	if (sqlrow_tenant_seq(tenant_id, &tseq, err) < 0)
		return NULL;
	sqlite3_stmt *stmt = sqlrow_prep("INSERT INTO signing_keys (tenant_seq, key_id, name, public_key_pem, created_at) "
	                          "VALUES (?1, ?2, ?3, ?4, ?5)",
	                          err);
	if (!stmt)
		return NULL;
	{
		_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
		sqlite3_bind_int64(stmt, 1, tseq);
		sqlrow_bind_text(stmt, 2, key_id);
		sqlrow_bind_text(stmt, 3, name);
		sqlrow_bind_text(stmt, 4, pem);
		sqlite3_bind_int64(stmt, 5, now);
		if (sqlrow_run(stmt, "adding the signing key", err) < 0) {
			if (err && err->code == RP_E_EXISTS)
				rp_error_set(err, RP_E_EXISTS, "key %s is trusted already by this tenant", key_id);
			return NULL;
		}
	}
	stmt = sqlrow_prep(KEY_SELECT "WHERE k.seq = ?1", err);
	if (!stmt)
		return NULL;
	_cleanup_sqlrow_ sqlite3_stmt *guard = stmt;
	sqlite3_bind_int64(stmt, 1, sqlite3_last_insert_rowid(sqlrow_db()));
	return sqlrow_one(stmt, NULL, err, "key not found");
}

static json_t *sq_signing_key_list(struct store *st, const char *tenant_id, const struct store_page *page,
                                   int64_t *next, rp_error *err)
{
	(void)st;
	return sqlrow_tenant_page(KEY_SELECT "WHERE k.tenant_seq = ?1 AND k.seq > ?2 ORDER BY k.seq LIMIT ?3", tenant_id, page, next, err);
}

void store_sqlite_images_ops(struct store_ops *ops)
{
	ops->image_insert = sq_image_insert;
	ops->image_get = sq_image_get;
	ops->image_list = sq_image_list;
	ops->blob_tenant = sq_blob_tenant;
	ops->blob_held_by = sq_blob_held_by;
	ops->blob_visible_to = sq_blob_visible_to;
	ops->signing_key_add = sq_signing_key_add;
	ops->signing_key_list = sq_signing_key_list;
}
