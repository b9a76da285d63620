/* Uptane director/image-repository agreement (see director.h). */
#include "tuf/director.h"

#include <inttypes.h>
#include <string.h>

#include "common/xalloc.h"

/* Custom fields the director may state and the image repository must confirm. */
static const char *const checked_custom[] = {"image_id", "component_id", "version", "type"};

static int agree(const tuf_target *img, const tuf_target *dir, rp_error *err)
{
	if (img->length != dir->length)
		return rp_error_set(err, RP_E_VERIFY,
		                    "director asks for target %s with length %" PRIu64 " but the release is %" PRIu64
		                    " bytes",
		                    dir->name, dir->length, img->length);
	if (memcmp(img->sha256, dir->sha256, RP_SHA256_LEN) != 0)
		return rp_error_set(err, RP_E_VERIFY, "director asks for target %s with a SHA-256 that was never released",
		                    dir->name);
	const char *alg;
	json_t *h;
	json_object_foreach(dir->hashes, alg, h) {
		json_t *other = json_object_get(img->hashes, alg);
		if (other && !json_equal(other, h))
			return rp_error_set(err, RP_E_VERIFY, "director and release disagree on the %.32s hash of %s", alg,
			                    dir->name);
	}
	for (size_t i = 0; i < RP_ARRAY_SIZE(checked_custom); i++) {
		json_t *want = json_object_get(dir->custom, checked_custom[i]);
		if (!want)
			continue;
		json_t *have = json_object_get(img->custom, checked_custom[i]);
		if (!have || !json_equal(want, have))
			return rp_error_set(err, RP_E_VERIFY, "director's %s for target %s is not what was released",
			                    checked_custom[i], dir->name);
	}
	return 0;
}

int tuf_uptane_resolve(const tuf_client *image_repo, const tuf_client *director, tuf_resolved *out, rp_error *err)
{
	memset(out, 0, sizeof(*out));
	const tuf_meta *img_targets = tuf_client_targets(image_repo);
	const tuf_meta *dir_targets = tuf_client_targets(director);
	if (!img_targets || !dir_targets)
		return rp_error_set(err, RP_E_INVALID, "both repositories must be refreshed before resolving targets");
	json_t *wanted = tuf_meta_targets(dir_targets);
	out->targets = xcalloc(json_object_size(wanted) + 1, sizeof(*out->targets));
	const char *name;
	json_t *e;
	json_object_foreach(wanted, name, e) {
		tuf_target dir, img;
		if (tuf_meta_target(dir_targets, name, &dir, err) < 0)
			goto fail;
		if (tuf_meta_target(img_targets, name, &img, err) < 0) {
			rp_error_set(err, RP_E_VERIFY, "director asks for target %s, which the image repository never released",
			             name);
			goto fail;
		}
		if (agree(&img, &dir, err) < 0)
			goto fail;
		out->targets[out->count++] = img;
	}
	return 0;
fail:
	tuf_resolved_free(out);
	return rp_error_prefix(err, "resolving update targets");
}

void tuf_resolved_free(tuf_resolved *r)
{
	free(r->targets);
	memset(r, 0, sizeof(*r));
}
