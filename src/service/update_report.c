/* Checking a device's update-status report: known keys only, bounded sizes and counts, states
 * from the documented set, so nothing a device sends can bloat or confuse what operators see. */
#include "service/update_report.h"

#include <string.h>

#include "common/json.h"

static int check_image(json_t *img, size_t i, rp_error *err)
{
	static const char *const keys[] = {"name", "image_id", "type", "version", "sha256", "state", "time", "reason",
	                                   "deferred_since", NULL};
	static const char *const states[] = {"downloading", "installed", "committed", "rolled-back", "failed",
	                                     "deferred", "superseded", NULL};
	const char *name, *state, *sha, *id = NULL, *type = NULL, *reason = NULL, *time = NULL;
	int64_t v;
	if (!json_is_object(img))
		return rp_error_set(err, RP_E_INVALID, "images[%zu]: expected an object", i);
	if (rp_json_check_keys(img, keys, "image status", err) < 0 || rp_json_get_string(img, "name", true, &name, err) < 0 ||
	    rp_json_get_string(img, "state", true, &state, err) < 0 || rp_json_get_string(img, "sha256", true, &sha, err) < 0 ||
	    rp_json_get_string(img, "image_id", false, &id, err) < 0 || rp_json_get_string(img, "type", false, &type, err) < 0 ||
	    rp_json_get_string(img, "reason", false, &reason, err) < 0 ||
	    rp_json_get_string(img, "time", false, &time, err) < 0 ||
	    rp_json_get_int(img, "version", false, 0, INT64_MAX, &v, err) < 0 ||
	    rp_json_get_int(img, "deferred_since", false, 0, INT64_MAX, &v, err) < 0)
		return rp_error_prefix(err, "images[%zu]", i);
	bool known = false;
	for (size_t k = 0; states[k]; k++)
		known |= strcmp(state, states[k]) == 0;
	if (!known)
		return rp_error_set(err, RP_E_INVALID, "images[%zu]: unknown state \"%.40s\"", i, state);
	if (strlen(name) > 255 || strlen(sha) != 64 || (id && strlen(id) > 64) || (type && strlen(type) > 32) ||
	    (time && strlen(time) > 32) || (reason && strlen(reason) > UPDATE_REPORT_TEXT_MAX))
		return rp_error_set(err, RP_E_INVALID, "images[%zu]: a field is too long", i);
	return 0;
}

json_t *update_report_check(json_t *body, const char *device_id, rp_error *err)
{
	static const char *const keys[] = {"device_id", "images", "last_check", "last_error", NULL};
	json_t *images = NULL;
	const char *body_dev = NULL, *last_check = NULL, *last_error = NULL;
	if (!json_is_object(body))
		return rp_error_set(err, RP_E_INVALID, "update status: expected a JSON object"), NULL;
	if (rp_json_check_keys(body, keys, "update status", err) < 0 ||
	    rp_json_get_array(body, "images", true, &images, err) < 0 ||
	    rp_json_get_string(body, "device_id", false, &body_dev, err) < 0)
		return NULL;
	json_t *lc = json_object_get(body, "last_check"), *le = json_object_get(body, "last_error");
	if (lc && !json_is_null(lc) && rp_json_get_string(body, "last_check", false, &last_check, err) < 0)
		return NULL;
	if (le && !json_is_null(le) && rp_json_get_string(body, "last_error", false, &last_error, err) < 0)
		return NULL;
	if ((last_check && strlen(last_check) > 32) || (last_error && strlen(last_error) > 4 * UPDATE_REPORT_TEXT_MAX))
		return rp_error_set(err, RP_E_INVALID, "\"last_check\" or \"last_error\" is too long"), NULL;
	if (body_dev && body_dev[0] && strcmp(body_dev, device_id) != 0)
		return rp_error_set(err, RP_E_INVALID, "\"device_id\" differs from the reporting device"), NULL;
	if (json_array_size(images) > UPDATE_REPORT_IMAGES_MAX)
		return rp_error_set(err, RP_E_LIMIT, "at most %d images per report", UPDATE_REPORT_IMAGES_MAX), NULL;
	for (size_t i = 0; i < json_array_size(images); i++)
		if (check_image(json_array_get(images, i), i, err) < 0)
			return NULL;
	return json_pack("{s:s, s:O, s:O, s:O}", "device_id", device_id, "images", images, "last_check",
	                 lc ? lc : json_null(), "last_error", le ? le : json_null());
}
