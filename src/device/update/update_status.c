/* Per-image update status kept on the device and reported to the service. The file is written
 * only by the update client, but is still read strictly: a damaged file must not stop updates. */
#include "device/update/update_status.h"

#include <string.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "tuf/metadata.h"

static const char *const state_names[] = {
    [UPDATE_STATE_DOWNLOADING] = "downloading", [UPDATE_STATE_INSTALLED] = "installed",
    [UPDATE_STATE_COMMITTED] = "committed",     [UPDATE_STATE_ROLLED_BACK] = "rolled-back",
    [UPDATE_STATE_FAILED] = "failed",           [UPDATE_STATE_DEFERRED] = "deferred",
    [UPDATE_STATE_SUPERSEDED] = "superseded",
};

const char *update_image_state_name(enum update_image_state s)
{
	return (unsigned)s < RP_ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

static char *status_path(const char *state_dir)
{
	return xasprintf("%s/update/status.json", state_dir);
}

static json_t *empty_doc(void)
{
	return json_pack("{s:i, s:{}}", "version", 1, "images");
}

void update_status_load(struct update_status *st, const char *state_dir)
{
	_cleanup_free_ char *path = status_path(state_dir);
	rp_error err = RP_ERROR_INIT;
	st->doc = rp_json_load_file(path, UPDATE_STATUS_MAX_LEN, &err);
	json_t *images = st->doc ? json_object_get(st->doc, "images") : NULL;
	if (!st->doc || !json_is_object(images)) {
		if (st->doc || err.code != RP_E_NOT_FOUND)
			rp_log_event(RP_LOG_WARNING, "update.status.damaged", "%s unreadable (%s); starting afresh", path,
			             st->doc ? "no images object" : err.message);
		json_decref(st->doc);
		st->doc = empty_doc();
	}
}

void update_status_free(struct update_status *st)
{
	json_decref(st->doc);
	st->doc = NULL;
}

int update_status_save(const struct update_status *st, const char *state_dir, rp_error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/update", state_dir);
	_cleanup_free_ char *path = status_path(state_dir);
	_cleanup_free_ char *text = rp_json_dump(st->doc);
	if (rp_mkdir_p(dir, 0700, err) < 0 || rp_write_file_atomic(path, text, strlen(text), 0600, err) < 0)
		return rp_error_prefix(err, "saving update status");
	return 0;
}

static json_t *time_json(int64_t t)
{
	char buf[TUF_TIME_LEN + 1];
	if (tuf_time_format(t, buf, NULL) < 0)
		return json_null();
	return json_string(buf);
}

void update_status_set(struct update_status *st, const char *name, const char *image_id, const char *type,
                       uint64_t version, const uint8_t sha256[RP_SHA256_LEN], enum update_image_state state,
                       const char *reason, bool permanent, int64_t now)
{
	json_t *images = json_object_get(st->doc, "images");
	if (!json_object_get(images, name) && json_object_size(images) >= UPDATE_STATUS_MAX_IMAGES) {
		/* Bounded: forget the oldest failed entry first, else refuse to grow. */
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(images, tmp, k, v) {
			if (strcmp(json_string_value(json_object_get(v, "state")) ?: "", "failed") == 0) {
				json_object_del(images, k);
				break;
			}
		}
		if (json_object_size(images) >= UPDATE_STATUS_MAX_IMAGES)
			return;
	}
	_cleanup_free_ char *hex = rp_hex_encode(sha256, RP_SHA256_LEN);
	/* Keep when the first deferral of these bytes began: the 24 h cap counts from there. */
	json_t *since = NULL;
	json_t *old = json_object_get(images, name);
	const char *old_sha = old ? json_string_value(json_object_get(old, "sha256")) : NULL;
	if (old_sha && strcmp(old_sha, hex) == 0)
		since = json_object_get(old, "deferred_since");
	json_t *e = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:b}", "name", name, "image_id", image_id ?: "",
	                      "type", type ?: "", "version", (json_int_t)version, "sha256", hex, "state",
	                      update_image_state_name(state), "time", time_json(now), "permanent", permanent);
	if (reason)
		json_object_set_new(e, "reason", json_string(reason));
	if (since)
		json_object_set(e, "deferred_since", since);
	else if (state == UPDATE_STATE_DEFERRED)
		json_object_set_new(e, "deferred_since", json_integer(now));
	json_object_set_new(images, name, e);
}

static bool entry_state_is(json_t *e, const char *a, const char *b)
{
	const char *s = json_string_value(json_object_get(e, "state"));
	return s && (strcmp(s, a) == 0 || (b && strcmp(s, b) == 0));
}

void update_status_supersede(struct update_status *st, const char *name, const char *component_id, int64_t now)
{
	json_t *images = json_object_get(st->doc, "images");
	json_t *cur = json_object_get(images, name);
	if (!cur || !component_id || !component_id[0])
		return;
	const char *type = json_string_value(json_object_get(cur, "type"));
	bool os = type && strcmp(type, "os-bundle") == 0;
	/* COMPONENT_ID may be CUR's own string: copy before replacing it. */
	_cleanup_free_ char *cid_own = xstrdup(component_id);
	component_id = cid_own;
	json_object_set_new(cur, "component_id", json_string(component_id));
	if (!entry_state_is(cur, "installed", "committed") || (os && !entry_state_is(cur, "committed", NULL)))
		return; /* an OS bundle replaces the running one only when it commits */
	const char *k;
	json_t *v;
	json_object_foreach(images, k, v) {
		if (v == cur || !entry_state_is(v, "installed", "committed"))
			continue;
		const char *cid = json_string_value(json_object_get(v, "component_id"));
		const char *vtype = json_string_value(json_object_get(v, "type"));
		bool same = cid ? strcmp(cid, component_id) == 0 : os && vtype && strcmp(vtype, "os-bundle") == 0;
		if (!same)
			continue;
		json_object_set_new(v, "state", json_string(update_image_state_name(UPDATE_STATE_SUPERSEDED)));
		_cleanup_free_ char *why = xasprintf("superseded by %s", name);
		json_object_set_new(v, "reason", json_string(why));
		json_object_set_new(v, "time", time_json(now));
		rp_log_event(RP_LOG_INFO, "update.status.superseded", "%s is superseded by %s", k, name);
	}
}

int64_t update_status_deferred_since(const struct update_status *st, const char *name,
                                     const uint8_t sha256[RP_SHA256_LEN])
{
	json_t *e = update_status_get(st, name);
	_cleanup_free_ char *hex = rp_hex_encode(sha256, RP_SHA256_LEN);
	const char *have = e ? json_string_value(json_object_get(e, "sha256")) : NULL;
	if (!have || strcmp(have, hex) != 0)
		return 0;
	return json_integer_value(json_object_get(e, "deferred_since"));
}

json_t *update_status_get(const struct update_status *st, const char *name)
{
	return json_object_get(json_object_get(st->doc, "images"), name);
}

bool update_status_done(const struct update_status *st, const char *name, const uint8_t sha256[RP_SHA256_LEN])
{
	json_t *e = update_status_get(st, name);
	if (!e)
		return false;
	_cleanup_free_ char *hex = rp_hex_encode(sha256, RP_SHA256_LEN);
	const char *have = json_string_value(json_object_get(e, "sha256"));
	const char *state = json_string_value(json_object_get(e, "state"));
	if (!have || !state || strcmp(have, hex) != 0)
		return false;
	if (strcmp(state, "installed") == 0 || strcmp(state, "committed") == 0)
		return true;
	/* A refusal by the installer (older bundle, bad signature) would repeat: do not download the
	 * same bytes again every check. A rolled-back bundle is not retried either. */
	return strcmp(state, "rolled-back") == 0 ||
	       (strcmp(state, "failed") == 0 && json_is_true(json_object_get(e, "permanent")));
}

void update_status_set_check(struct update_status *st, int64_t now, const char *error)
{
	json_object_set_new(st->doc, "last_check", time_json(now));
	json_object_set_new(st->doc, "last_error", error ? json_string(error) : json_null());
}

char *update_status_report_json(const struct update_status *st, const char *device_id)
{
	_cleanup_json_ json_t *images = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(st->doc, "images"), k, v) {
		json_t *copy = json_deep_copy(v);
		json_object_del(copy, "permanent");
		json_object_del(copy, "component_id"); /* kept for superseding; the report's keys are fixed */
		json_array_append_new(images, copy);
	}
	_cleanup_json_ json_t *body = json_pack("{s:s, s:O, s:O, s:O}", "device_id", device_id ?: "", "images", images,
	                                        "last_check", json_object_get(st->doc, "last_check") ?: json_null(),
	                                        "last_error", json_object_get(st->doc, "last_error") ?: json_null());
	return rp_json_dump(body);
}
