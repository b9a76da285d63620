/* Strict parsers of the API's JSON request bodies (see bodies.h). */
#include "service/bodies.h"

#include <string.h>
#include "common/guid.h"
#include "common/json.h"
#include "service/validate.h"

static int guid_field(json_t *obj, const char *key, bool required, const char **out, rp_error *err)
{
	int found = rp_json_get_string(obj, key, required, out, err);
	if (found < 0)
		return -1;
	/* Lowercase only: IDs are compared as stored. */
	if (found && (!rp_guid_is_valid(*out) || strpbrk(*out, "ABCDEF")))
		return rp_error_set(err, RP_E_INVALID, "\"%s\" must be an ID of the form 8-4-4-4-12 lowercase hex", key);
	return found;
}

static int version_field(json_t *obj, int64_t *out, rp_error *err)
{
	*out = -1;
	return rp_json_get_int(obj, "version", false, 1, INT64_MAX, out, err) < 0 ? -1 : 0;
}

int body_tenant_create(json_t *obj, struct body_tenant_create *out, rp_error *err)
{
	static const char *const keys[] = {"name", NULL};
	memset(out, 0, sizeof(*out));
	if (rp_json_check_keys(obj, keys, "request body", err) < 0 ||
	    rp_json_get_string(obj, "name", true, &out->name, err) < 0)
		return -1;
	return validate_name(out->name, "tenant name", err);
}

int body_role_add(json_t *obj, struct body_role_add *out, rp_error *err)
{
	static const char *const keys[] = {"user", "role", NULL};
	const char *role = NULL;
	memset(out, 0, sizeof(*out));
	if (rp_json_check_keys(obj, keys, "request body", err) < 0 ||
	    rp_json_get_string(obj, "user", true, &out->user, err) < 0 ||
	    rp_json_get_string(obj, "role", true, &role, err) < 0 || validate_user(out->user, err) < 0)
		return -1;
	if (store_role_parse(role, &out->role) < 0)
		return rp_error_set(err, RP_E_INVALID, "\"role\" must be Administrator, Contributor or Reader");
	return 0;
}

int body_product(json_t *obj, bool create, struct body_product *out, rp_error *err)
{
	static const char *const create_keys[] = {"name", "description", NULL};
	static const char *const update_keys[] = {"name", "description", "version", NULL};
	memset(out, 0, sizeof(*out));
	out->version = -1;
	if (rp_json_check_keys(obj, create ? create_keys : update_keys, "request body", err) < 0)
		return -1;
	int has_name = rp_json_get_string(obj, "name", create, &out->name, err);
	int has_desc = rp_json_get_string(obj, "description", false, &out->description, err);
	if (has_name < 0 || has_desc < 0)
		return -1;
	if (!create && version_field(obj, &out->version, err) < 0)
		return -1;
	if (has_name && validate_name(out->name, "product name", err) < 0)
		return -1;
	if (has_desc && validate_description(out->description, "description", err) < 0)
		return -1;
	if (!create && !has_name && !has_desc)
		return rp_error_set(err, RP_E_INVALID, "nothing to change: give \"name\" or \"description\"");
	return 0;
}

int body_device_group(json_t *obj, bool create, struct body_device_group *out, rp_error *err)
{
	static const char *const create_keys[] = {"product_id", "name", "description", "os_feed", "update_policy",
	                                          "allow_crash_dumps", NULL};
	static const char *const update_keys[] = {"name", "description", "os_feed", "update_policy",
	                                          "allow_crash_dumps", "version", NULL};
	memset(out, 0, sizeof(*out));
	out->f.expect_version = -1;
	if (rp_json_check_keys(obj, create ? create_keys : update_keys, "request body", err) < 0)
		return -1;
	if (create && guid_field(obj, "product_id", true, &out->product_id, err) < 0)
		return -1;
	int n = 0, r;
	if ((r = rp_json_get_string(obj, "name", create, &out->f.name, err)) < 0)
		return -1;
	n += r;
	if (r && validate_name(out->f.name, "device group name", err) < 0)
		return -1;
	if ((r = rp_json_get_string(obj, "description", false, &out->f.description, err)) < 0)
		return -1;
	n += r;
	if (r && validate_description(out->f.description, "description", err) < 0)
		return -1;
	if ((r = rp_json_get_string(obj, "os_feed", false, &out->f.os_feed, err)) < 0)
		return -1;
	n += r;
	if (r && strcmp(out->f.os_feed, "Retail") != 0 && strcmp(out->f.os_feed, "RetailEval") != 0)
		return rp_error_set(err, RP_E_INVALID, "\"os_feed\" must be Retail or RetailEval");
	if ((r = rp_json_get_string(obj, "update_policy", false, &out->f.update_policy, err)) < 0)
		return -1;
	n += r;
	if (r && strcmp(out->f.update_policy, "UpdateAll") != 0 &&
	    strcmp(out->f.update_policy, "No3rdPartyAppUpdates") != 0)
		return rp_error_set(err, RP_E_INVALID, "\"update_policy\" must be UpdateAll or No3rdPartyAppUpdates");
	if ((r = rp_json_get_bool(obj, "allow_crash_dumps", false, &out->f.allow_crash_dumps, err)) < 0)
		return -1;
	n += r;
	out->f.has_allow_crash_dumps = r == 1;
	if (!create) {
		if (version_field(obj, &out->f.expect_version, err) < 0)
			return -1;
		if (n == 0)
			return rp_error_set(err, RP_E_INVALID,
			                    "nothing to change: give name, description, os_feed, update_policy or "
			                    "allow_crash_dumps");
	}
	return 0;
}

int body_deployment(json_t *obj, struct body_deployment *out, rp_error *err)
{
	static const char *const keys[] = {"image_ids", NULL};
	json_t *arr = NULL;
	memset(out, 0, sizeof(*out));
	if (rp_json_check_keys(obj, keys, "request body", err) < 0 ||
	    rp_json_get_array(obj, "image_ids", true, &arr, err) < 0)
		return -1;
	if (json_array_size(arr) > BODIES_DEPLOYMENT_IMAGES_MAX)
		return rp_error_set(err, RP_E_LIMIT, "a deployment holds at most %d images", BODIES_DEPLOYMENT_IMAGES_MAX);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const char *id = json_string_value(json_array_get(arr, i));
		if (!id || !rp_guid_is_valid(id) || strpbrk(id, "ABCDEF"))
			return rp_error_set(err, RP_E_INVALID, "\"image_ids\"[%zu] must be an image ID (lowercase GUID)", i);
		for (size_t k = 0; k < i; k++)
			if (strcmp(out->image_ids[k], id) == 0)
				return rp_error_set(err, RP_E_INVALID, "image %s is listed twice", id);
		out->image_ids[out->n++] = id;
	}
	return 0;
}

int body_device_register(json_t *obj, struct body_device_register *out, rp_error *err)
{
	static const char *const keys[] = {"device_id", "public_key_pem", NULL};
	memset(out, 0, sizeof(*out));
	if (rp_json_check_keys(obj, keys, "device", err) < 0 ||
	    rp_json_get_string(obj, "device_id", true, &out->device_id, err) < 0 ||
	    rp_json_get_string(obj, "public_key_pem", true, &out->public_key_pem, err) < 0)
		return -1;
	if (!validate_hex64(out->device_id))
		return rp_error_set(err, RP_E_INVALID, "\"device_id\" must be 64 lowercase hex digits");
	size_t len = strnlen(out->public_key_pem, BODIES_PEM_MAX + 1);
	if (len > BODIES_PEM_MAX)
		return rp_error_set(err, RP_E_INVALID, "\"public_key_pem\" is longer than %d bytes", BODIES_PEM_MAX);
	/* PEM is ASCII; newlines are its only control characters. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out->public_key_pem[i];
		if (c >= 0x7f || (c < 0x20 && c != '\n' && c != '\r'))
			return rp_error_set(err, RP_E_INVALID, "\"public_key_pem\" must be a PEM public key (ASCII)");
	}
	return 0;
}

int body_device_bulk(json_t *obj, json_t **devices, rp_error *err)
{
	static const char *const keys[] = {"devices", NULL};
	if (rp_json_check_keys(obj, keys, "request body", err) < 0 ||
	    rp_json_get_array(obj, "devices", true, devices, err) < 0)
		return -1;
	size_t n = json_array_size(*devices);
	if (n == 0)
		return rp_error_set(err, RP_E_INVALID, "\"devices\" is empty");
	if (n > BODIES_BULK_DEVICES_MAX)
		return rp_error_set(err, RP_E_LIMIT, "at most %d devices per request", BODIES_BULK_DEVICES_MAX);
	for (size_t i = 0; i < n; i++) {
		struct body_device_register d;
		if (body_device_register(json_array_get(*devices, i), &d, err) < 0)
			return rp_error_prefix(err, "devices[%zu]", i);
	}
	return 0;
}

int body_device_claim(json_t *obj, struct body_device_claim *out, rp_error *err)
{
	static const char *const keys[] = {"device_id", "device_group_id", NULL};
	memset(out, 0, sizeof(*out));
	if (rp_json_check_keys(obj, keys, "request body", err) < 0 ||
	    rp_json_get_string(obj, "device_id", true, &out->device_id, err) < 0 ||
	    guid_field(obj, "device_group_id", false, &out->device_group_id, err) < 0)
		return -1;
	if (!validate_hex64(out->device_id))
		return rp_error_set(err, RP_E_INVALID, "\"device_id\" must be 64 lowercase hex digits");
	return 0;
}

int body_device_update(json_t *obj, struct body_device_update *out, rp_error *err)
{
	static const char *const keys[] = {"device_group_id", "version", NULL};
	memset(out, 0, sizeof(*out));
	if (rp_json_check_keys(obj, keys, "request body", err) < 0 ||
	    guid_field(obj, "device_group_id", true, &out->device_group_id, err) < 0)
		return -1;
	return version_field(obj, &out->version, err);
}

int body_signing_key(json_t *obj, struct body_signing_key *out, rp_error *err)
{
	static const char *const keys[] = {"name", "public_key_pem", NULL};
	memset(out, 0, sizeof(*out));
	if (rp_json_check_keys(obj, keys, "request body", err) < 0)
		return -1;
	int has_name = rp_json_get_string(obj, "name", false, &out->name, err);
	if (has_name < 0 || rp_json_get_string(obj, "public_key_pem", true, &out->public_key_pem, err) < 0)
		return -1;
	if (has_name && validate_name(out->name, "key name", err) < 0)
		return -1;
	if (strnlen(out->public_key_pem, BODIES_PEM_MAX + 1) > BODIES_PEM_MAX)
		return rp_error_set(err, RP_E_INVALID, "\"public_key_pem\" is longer than %d bytes", BODIES_PEM_MAX);
	return 0;
}

int body_proof(json_t *obj, struct body_proof *out, rp_error *err)
{
	static const char *const keys[] = {"verification_code", NULL};
	memset(out, 0, sizeof(*out));
	if (rp_json_check_keys(obj, keys, "request body", err) < 0 ||
	    rp_json_get_string(obj, "verification_code", true, &out->verification_code, err) < 0)
		return -1;
	size_t len = strnlen(out->verification_code, 65);
	bool ok = len >= 1 && len <= 64;
	for (size_t i = 0; ok && i < len; i++) {
		char c = out->verification_code[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
	}
	if (!ok)
		return rp_error_set(err, RP_E_INVALID, "\"verification_code\" must be 1..64 of letters, digits and '-'");
	return 0;
}
