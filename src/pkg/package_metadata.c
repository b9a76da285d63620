/* The METADATA section: strict TLV encoding and decoding. Malformed image metadata once bricked
 * Azure Sphere devices, so every field is length-checked, once-only and validated here. */
#include <string.h>

#include "common/guid.h"
#include "common/xalloc.h"
#include "pkg/package_metadata.h"

#include "common/text.h"

void package_limits_default(struct package_limits *l)
{
	l->max_package_bytes = PACKAGE_DEFAULT_MAX_PACKAGE_BYTES;
	l->max_metadata_bytes = PACKAGE_METADATA_SECTION_MAX;
	l->max_files = PACKAGE_DEFAULT_MAX_FILES;
	l->max_total_bytes = PACKAGE_DEFAULT_MAX_TOTAL_BYTES;
	l->max_depth = PACKAGE_DEFAULT_MAX_DEPTH;
	l->max_path_len = PACKAGE_DEFAULT_MAX_PATH_LEN;
}

static const char *const type_names[] = {
	[PACKAGE_TYPE_APPLICATION] = "application",
	[PACKAGE_TYPE_OS_BUNDLE] = "os-bundle",
	[PACKAGE_TYPE_TRUST_UPDATE] = "trust-update",
	[PACKAGE_TYPE_BOARD_CONFIG] = "board-config",
};

const char *package_image_type_name(uint32_t type)
{
	if (type == 0 || type >= RP_ARRAY_SIZE(type_names))
		return NULL;
	return type_names[type];
}

int package_image_type_parse(const char *name, enum package_image_type *out)
{
	for (size_t i = 1; i < RP_ARRAY_SIZE(type_names); i++)
		if (strcmp(name, type_names[i]) == 0) {
			*out = (enum package_image_type)i;
			return 0;
		}
	return -1;
}

static int check_text(const char *field, const char *s, size_t max, rp_error *err)
{
	size_t len = strnlen(s, max + 1);
	if (len == 0 || len > max)
		return rp_error_set(err, RP_E_INVALID, "%s must be 1 to %zu bytes", field, max);
	if (!rp_text_is_printable_utf8(s, len))
		return rp_error_set(err, RP_E_INVALID, "%s is not printable UTF-8", field);
	return 0;
}

static int check_guid(const char *field, const char *s, rp_error *err)
{
	char norm[RP_GUID_STRLEN + 1];
	if (!rp_guid_is_valid(s) || rp_guid_normalize(s, norm, NULL) < 0 || strcmp(norm, s) != 0)
		return rp_error_set(err, RP_E_INVALID, "%s is not a lowercase GUID", field);
	return 0;
}

int package_metadata_validate(const struct package_metadata *md, rp_error *err)
{
	if (check_guid("component ID", md->component_id, err) < 0 || check_guid("image ID", md->image_id, err) < 0)
		return -1;
	if (!package_image_type_name(md->type))
		return rp_error_set(err, RP_E_INVALID, "image type %u is unknown", (unsigned)md->type);
	if (check_text("version string", md->version_string, PACKAGE_VERSION_STRING_MAX, err) < 0 ||
	    check_text("name", md->name, PACKAGE_NAME_MAX, err) < 0)
		return -1;
	if (md->n_abi_depends > PACKAGE_ABI_LIST_MAX || md->n_abi_provides > PACKAGE_ABI_LIST_MAX)
		return rp_error_set(err, RP_E_LIMIT, "at most %d ABI entries per list", PACKAGE_ABI_LIST_MAX);
	for (size_t i = 0; i < md->n_abi_depends; i++)
		if (check_text("ABI depends entry", md->abi_depends[i], PACKAGE_ABI_ENTRY_MAX, err) < 0)
			return -1;
	for (size_t i = 0; i < md->n_abi_provides; i++)
		if (check_text("ABI provides entry", md->abi_provides[i], PACKAGE_ABI_ENTRY_MAX, err) < 0)
			return -1;
	return 0;
}

static void put_tlv(rp_buf *out, uint16_t tag, const void *v, size_t len)
{
	rp_buf_u16(out, tag);
	rp_buf_u32(out, (uint32_t)len);
	rp_buf_append(out, v, len);
}

static void put_list(rp_buf *out, uint16_t tag, char list[][PACKAGE_ABI_ENTRY_MAX + 1], size_t n)
{
	if (n == 0)
		return;
	rp_buf tmp;
	rp_buf_init(&tmp);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(list[i]);
		rp_buf_u16(&tmp, (uint16_t)l);
		rp_buf_append(&tmp, list[i], l);
	}
	put_tlv(out, tag, tmp.data, tmp.len);
	rp_buf_free(&tmp);
}

int package_metadata_encode(const struct package_metadata *md, rp_buf *out, rp_error *err)
{
	if (package_metadata_validate(md, err) < 0)
		return rp_error_prefix(err, "package metadata");
	uint8_t u8 = (uint8_t)md->type, b64[8], b32[4];
	put_tlv(out, PACKAGE_TAG_COMPONENT_ID, md->component_id, PACKAGE_GUID_LEN);
	put_tlv(out, PACKAGE_TAG_IMAGE_ID, md->image_id, PACKAGE_GUID_LEN);
	put_tlv(out, PACKAGE_TAG_IMAGE_TYPE, &u8, 1);
	rp_put_u64be(b64, md->version);
	put_tlv(out, PACKAGE_TAG_VERSION, b64, 8);
	put_tlv(out, PACKAGE_TAG_VERSION_STRING, md->version_string, strlen(md->version_string));
	put_tlv(out, PACKAGE_TAG_NAME, md->name, strlen(md->name));
	rp_put_u64be(b64, md->build_time);
	put_tlv(out, PACKAGE_TAG_BUILD_TIME, b64, 8);
	put_list(out, PACKAGE_TAG_ABI_DEPENDS, (char(*)[PACKAGE_ABI_ENTRY_MAX + 1])md->abi_depends, md->n_abi_depends);
	put_list(out, PACKAGE_TAG_ABI_PROVIDES, (char(*)[PACKAGE_ABI_ENTRY_MAX + 1])md->abi_provides,
	         md->n_abi_provides);
	rp_put_u32be(b32, md->development ? PACKAGE_FLAG_DEVELOPMENT : 0);
	put_tlv(out, PACKAGE_TAG_FLAGS, b32, 4);
	return 0;
}

static const char *tag_name(uint16_t tag)
{
	static const char *const names[] = {
		[PACKAGE_TAG_COMPONENT_ID] = "component ID", [PACKAGE_TAG_IMAGE_ID] = "image ID",
		[PACKAGE_TAG_IMAGE_TYPE] = "image type",     [PACKAGE_TAG_VERSION] = "version",
		[PACKAGE_TAG_VERSION_STRING] = "version string", [PACKAGE_TAG_NAME] = "name",
		[PACKAGE_TAG_BUILD_TIME] = "build time",     [PACKAGE_TAG_ABI_DEPENDS] = "ABI depends",
		[PACKAGE_TAG_ABI_PROVIDES] = "ABI provides", [PACKAGE_TAG_FLAGS] = "flags",
	};
	return tag < RP_ARRAY_SIZE(names) && names[tag] ? names[tag] : "unknown";
}

static int decode_text(const char *field, const uint8_t *v, size_t len, char *out, size_t max, rp_error *err)
{
	if (len == 0 || len > max)
		return rp_error_set(err, RP_E_INVALID, "metadata field '%s' is %zu bytes (allowed 1 to %zu)", field, len,
		                    max);
	if (!rp_text_is_printable_utf8(v, len))
		return rp_error_set(err, RP_E_INVALID, "metadata field '%s' is not printable UTF-8 (or contains NUL)",
		                    field);
	memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

static int decode_list(const char *field, const uint8_t *v, size_t len, char list[][PACKAGE_ABI_ENTRY_MAX + 1],
                       size_t *n, rp_error *err)
{
	rp_reader r;
	rp_reader_init(&r, v, len);
	*n = 0;
	if (len == 0)
		return rp_error_set(err, RP_E_INVALID, "metadata field '%s' is present but empty", field);
	while (rp_reader_remaining(&r) > 0) {
		uint16_t l;
		const uint8_t *s;
		if (*n >= PACKAGE_ABI_LIST_MAX)
			return rp_error_set(err, RP_E_LIMIT, "metadata field '%s' has more than %d entries", field,
			                    PACKAGE_ABI_LIST_MAX);
		if (!rp_reader_u16(&r, field, &l) || !rp_reader_view(&r, field, &s, l))
			return rp_error_set(err, RP_E_INVALID, "metadata field '%s': entry length runs past the field",
			                    field);
		if (decode_text(field, s, l, list[*n], PACKAGE_ABI_ENTRY_MAX, err) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

int package_metadata_decode(const uint8_t *data, size_t len, struct package_metadata *md, rp_error *err)
{
	rp_reader r;
	unsigned last = 0;
	uint32_t seen = 0;
	memset(md, 0, sizeof(*md));
	rp_reader_init(&r, data, len);
	while (rp_reader_remaining(&r) > 0) {
		uint16_t tag;
		uint32_t l;
		const uint8_t *v;
		if (!rp_reader_u16(&r, "tag", &tag) || !rp_reader_u32(&r, "length", &l))
			return rp_error_set(err, RP_E_INVALID, "metadata is truncated inside a field header");
		if (tag == 0 || tag > PACKAGE_TAG_FLAGS)
			return rp_error_set(err, RP_E_INVALID, "metadata contains unknown field tag %u", tag);
		if (tag <= last)
			return rp_error_set(err, RP_E_INVALID, "metadata field '%s' is %s", tag_name(tag),
			                    tag == last ? "duplicated" : "out of order");
		last = tag;
		if (!rp_reader_view(&r, "value", &v, l))
			return rp_error_set(err, RP_E_INVALID, "metadata field '%s' claims %u bytes but only %zu remain",
			                    tag_name(tag), l, rp_reader_remaining(&r));
		size_t want = 0;
		switch (tag) {
		case PACKAGE_TAG_COMPONENT_ID:
		case PACKAGE_TAG_IMAGE_ID: want = PACKAGE_GUID_LEN; break;
		case PACKAGE_TAG_IMAGE_TYPE: want = 1; break;
		case PACKAGE_TAG_VERSION:
		case PACKAGE_TAG_BUILD_TIME: want = 8; break;
		case PACKAGE_TAG_FLAGS: want = 4; break;
		default: break;
		}
		if (want && l != want)
			return rp_error_set(err, RP_E_INVALID, "metadata field '%s' is %u bytes, must be %zu",
			                    tag_name(tag), l, want);
		switch (tag) {
		case PACKAGE_TAG_COMPONENT_ID:
		case PACKAGE_TAG_IMAGE_ID: {
			char *dst = tag == PACKAGE_TAG_COMPONENT_ID ? md->component_id : md->image_id;
			memcpy(dst, v, PACKAGE_GUID_LEN);
			dst[PACKAGE_GUID_LEN] = '\0';
			if (strlen(dst) != PACKAGE_GUID_LEN || check_guid(tag_name(tag), dst, err) < 0)
				return rp_error_set(err, RP_E_INVALID, "metadata field '%s' is not a lowercase GUID",
				                    tag_name(tag));
			break;
		}
		case PACKAGE_TAG_IMAGE_TYPE:
			if (!package_image_type_name(v[0]))
				return rp_error_set(err, RP_E_INVALID, "metadata image type %u is unknown", v[0]);
			md->type = v[0];
			break;
		case PACKAGE_TAG_VERSION: md->version = rp_get_u64be(v); break;
		case PACKAGE_TAG_BUILD_TIME: md->build_time = rp_get_u64be(v); break;
		case PACKAGE_TAG_VERSION_STRING:
			if (decode_text("version string", v, l, md->version_string, PACKAGE_VERSION_STRING_MAX, err) < 0)
				return -1;
			break;
		case PACKAGE_TAG_NAME:
			if (decode_text("name", v, l, md->name, PACKAGE_NAME_MAX, err) < 0)
				return -1;
			break;
		case PACKAGE_TAG_ABI_DEPENDS:
			if (decode_list("ABI depends", v, l, md->abi_depends, &md->n_abi_depends, err) < 0)
				return -1;
			break;
		case PACKAGE_TAG_ABI_PROVIDES:
			if (decode_list("ABI provides", v, l, md->abi_provides, &md->n_abi_provides, err) < 0)
				return -1;
			break;
		case PACKAGE_TAG_FLAGS: {
			uint32_t f = rp_get_u32be(v);
			if (f & ~PACKAGE_FLAG_DEVELOPMENT)
				return rp_error_set(err, RP_E_INVALID, "metadata flags 0x%x has unknown bits set", f);
			md->development = f & PACKAGE_FLAG_DEVELOPMENT;
			break;
		}
		default: rp_abort("metadata tag switch");
		}
		seen |= 1u << tag;
	}
	static const uint16_t required[] = {PACKAGE_TAG_COMPONENT_ID, PACKAGE_TAG_IMAGE_ID,       PACKAGE_TAG_IMAGE_TYPE,
	                                    PACKAGE_TAG_VERSION,      PACKAGE_TAG_VERSION_STRING, PACKAGE_TAG_NAME,
	                                    PACKAGE_TAG_BUILD_TIME,   PACKAGE_TAG_FLAGS};
	for (size_t i = 0; i < RP_ARRAY_SIZE(required); i++)
		if (!(seen & (1u << required[i])))
			return rp_error_set(err, RP_E_INVALID, "metadata is missing required field '%s'",
			                    tag_name(required[i]));
	return 0;
}
