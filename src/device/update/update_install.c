/* Installers for the three kinds of update target, in the order a check applies them: trust
 * updates, OS bundles, applications. Every package is verified against the trusted keys even
 * though TUF already checked its hash: a compromised repository key alone must not be enough
 * (defense in depth), and the package's own metadata must say what the signed metadata said.
 * OS bundles are verified by boot_slot_install while they stream into the slot (one pass). */
#include "device/update/update_install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/boot/boot_fault.h"
#include "device/boot/boot_slot.h"
#include "pkg/payload_reader.h"

#define TRUST_PEM_MAX (16 * 1024)

/* Open PATH verified against STATE/trust and check it against EXPECT. */
static struct package *open_verified(const char *state_dir, const char *path, const struct update_install_expect *ex,
                                     bool *permanent, rp_error *err)
{
	struct boot_trust trust;
	if (boot_trust_load(state_dir, &trust, err) < 0) {
		*permanent = false;
		return NULL;
	}
	struct package_trust policy = {.keys = trust.keys, .nkeys = trust.nkeys, .threshold = 1};
	struct package *pkg = package_reader_open_path(path, NULL, &policy, err);
	boot_trust_free(&trust);
	if (!pkg) {
		*permanent = err && err->code != RP_E_IO;
		rp_error_prefix(err, "verifying the package");
		return NULL;
	}
	*permanent = true;
	const char *type = package_image_type_name(pkg->md.type);
	if (!type || strcmp(type, ex->type) != 0) {
		rp_error_set(err, RP_E_VERIFY, "the package is of type %s but the update metadata says %s",
		             type ? type : "unknown", ex->type);
		goto fail;
	}
	if (ex->image_id && ex->image_id[0] && strcasecmp(pkg->md.image_id, ex->image_id) != 0) {
		rp_error_set(err, RP_E_VERIFY, "the package is image %s but the update metadata says %s", pkg->md.image_id,
		             ex->image_id);
		goto fail;
	}
	if (ex->version && pkg->md.version != ex->version) {
		rp_error_set(err, RP_E_VERIFY, "the package is version %" PRIu64 " but the update metadata says %" PRIu64,
		             pkg->md.version, ex->version);
		goto fail;
	}
	return pkg;
fail:
	package_free(pkg);
	return NULL;
}

/* ---- trust updates ---- */

struct trust_collect {
	const struct package *pkg;
	char *names[BOOT_TRUST_MAX_KEYS];
	char *pems[BOOT_TRUST_MAX_KEYS];
	size_t lens[BOOT_TRUST_MAX_KEYS];
	size_t n;
};

/* A trust-update payload holds the complete new key set as trust/NAME.pub (PEM, P-256). */
static int trust_visit(void *ud, const struct payload_entry *e, rp_error *err)
{
	struct trust_collect *c = ud;
	if (e->type != PAYLOAD_ENTRY_FILE || strncmp(e->path, "trust/", 6) != 0)
		return 0;
	const char *name = e->path + 6;
	size_t len = strlen(name);
	if (strchr(name, '/') || len < 5 || len > 64 || name[0] == '.' || strcmp(name + len - 4, ".pub") != 0)
		return rp_error_set(err, RP_E_INVALID, "trust update: %s is not a trust/NAME.pub key file", e->path);
	if (c->n == BOOT_TRUST_MAX_KEYS)
		return rp_error_set(err, RP_E_LIMIT, "trust update holds more than %d keys", BOOT_TRUST_MAX_KEYS);
	uint8_t *pem = NULL;
	size_t pem_len;
	if (payload_reader_read_file(c->pkg, e->path, TRUST_PEM_MAX, &pem, &pem_len, err) < 0)
		return rp_error_prefix(err, "trust update: reading %s", e->path);
	rp_key *k = rp_key_from_public_pem((const char *)pem, pem_len, err);
	if (!k) {
		free(pem);
		return rp_error_prefix(err, "trust update: %s", e->path);
	}
	rp_key_free(k);
	c->names[c->n] = xstrdup(name);
	c->pems[c->n] = (char *)pem;
	c->lens[c->n++] = pem_len;
	return 0;
}

/* True when DIR holds exactly the keys collected in C (names and bytes). */
static bool trust_set_equal(const char *dir, const struct trust_collect *c)
{
	size_t found = 0;
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *e;
	bool equal = true;
	while (equal && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".pub") != 0)
			continue;
		equal = false;
		for (size_t i = 0; i < c->n && !equal; i++) {
			if (strcmp(c->names[i], e->d_name) != 0)
				continue;
			_cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
			_cleanup_free_ uint8_t *data = NULL;
			size_t dlen;
			equal = rp_read_file(path, TRUST_PEM_MAX, &data, &dlen, NULL) == 0 && dlen == c->lens[i] &&
			        memcmp(data, c->pems[i], dlen) == 0;
		}
		found++;
	}
	closedir(d);
	return equal && found == c->n;
}

static int read_u64_file(const char *path, uint64_t *out, rp_error *err)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len;
	*out = 0;
	if (rp_read_file(path, 32, &buf, &len, err) < 0) {
		if (err && err->code == RP_E_NOT_FOUND) {
			rp_error_clear(err);
			return 0;
		}
		return -1;
	}
	while (len && (buf[len - 1] == '\n'))
		buf[--len] = 0;
	return rp_parse_u64((char *)buf, 0, UINT64_MAX, out, err);
}

/* A key set that no longer holds the key which signed the OS bundle the device boots would leave
 * no bootable slot once the new bundle fails to arrive or power is cut before it is installed:
 * refused (not permanently) while a bundle the boot stage would run verifies only under the
 * current keys. */
static int check_running_bundle(const char *state_dir, const struct trust_collect *c, rp_error *err)
{
	struct boot_trust cur, cand = {.nkeys = 0};
	if (boot_trust_load(state_dir, &cur, err) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < c->n && rc == 0; i++) {
		cand.keys[i] = rp_key_from_public_pem(c->pems[i], c->lens[i], err);
		rc = cand.keys[i] ? 0 : rp_error_prefix(err, "trust update: %s", c->names[i]);
		cand.nkeys += cand.keys[i] != NULL;
	}
	_cleanup_free_ char *state_path = boot_state_path(state_dir);
	struct boot_state st;
	bool have_state = boot_state_load(state_path, &st, NULL) == 0;
	/* With a record: the active slot, and while it is pending also the fallback it rolls back to;
	 * each of them that verifies now must verify after. Without one: at least one slot must. */
	unsigned lost = 0, kept = 0;
	char reason[RP_ERROR_MESSAGE_MAX] = "";
	for (unsigned slot = 0; rc == 0 && slot < BOOT_SLOTS; slot++) {
		if (have_state && slot != st.active && !(st.pending && slot == st.previous))
			continue;
		struct package_stream_result res;
		rp_error e = RP_ERROR_INIT;
		if (boot_slot_verify(state_dir, slot, &cur, &res, &e) < 0)
			continue;
		if (boot_slot_verify(state_dir, slot, &cand, &res, &e) == 0) {
			kept++;
		} else {
			lost++;
			if (!reason[0])
				snprintf(reason, sizeof(reason), "%s", e.message);
		}
	}
	if (rc == 0 && lost > 0 && (have_state || kept == 0))
		rc = rp_error_set(err, RP_E_CONFLICT,
		                  "the new trusted keys do not include the key that signed the running OS bundle (%s); "
		                  "install an OS bundle signed by a key in both sets first, then this trust update",
		                  reason);
	boot_trust_free(&cur);
	boot_trust_free(&cand);
	return rc;
}

static int install_trust(const struct update_config *cfg, struct package *pkg, bool *permanent, rp_error *err)
{
	/* Anti-rollback for the key set: an older trust update could bring back a revoked key. */
	_cleanup_free_ char *ver_path = xasprintf("%s/update/trust-version", cfg->state_dir);
	uint64_t have;
	if (read_u64_file(ver_path, &have, err) < 0)
		return rp_error_prefix(err, "reading %s", ver_path);
	if (pkg->md.version < have)
		return rp_error_set(err, RP_E_VERIFY,
		                    "trust update version %" PRIu64 " is older than the installed %" PRIu64
		                    " (rollback refused)", pkg->md.version, have);
	struct trust_collect c = {.pkg = pkg};
	int rc = payload_reader_list(pkg, trust_visit, &c, err);
	if (rc == 0 && c.n == 0)
		rc = rp_error_set(err, RP_E_INVALID, "trust update holds no trust/NAME.pub key");
	_cleanup_free_ char *dir = xasprintf("%s/trust", cfg->state_dir);
	_cleanup_free_ char *next = xasprintf("%s/trust.next", cfg->state_dir);
	bool already = false;
	if (rc == 0 && pkg->md.version == have) {
		/* The same version again: fine only if it is exactly what is installed (a power cut lost
		 * the status after the swap); anything else under a used version number is refused. */
		if (!trust_set_equal(dir, &c))
			rc = rp_error_set(err, RP_E_VERIFY,
			                  "trust update version %" PRIu64 " is already installed with other keys", have);
		already = rc == 0;
	}
	if (rc == 0 && !already) {
		*permanent = false;
		rc = check_running_bundle(cfg->state_dir, &c, err);
	}
	if (rc == 0 && !already) {
		/* Build the new set beside the old one, then swap both directories in one step
		 * (RENAME_EXCHANGE): after a power cut STATE/trust is either the old or the new set. */
		if (rp_remove_tree(next, err) < 0 || rp_mkdir_p(next, 0755, err) < 0)
			rc = -1;
		for (size_t i = 0; rc == 0 && i < c.n; i++) {
			_cleanup_free_ char *p = xasprintf("%s/%s", next, c.names[i]);
			rc = rp_write_file_atomic(p, c.pems[i], c.lens[i], 0644, err);
		}
		if (rc == 0)
			rc = rp_fsync_dir(next, err);
		if (rc == 0)
			boot_fault_point("update.trust.before-swap");
		if (rc == 0 && renameat2(AT_FDCWD, next, AT_FDCWD, dir, RENAME_EXCHANGE) < 0)
			rc = rp_error_set_errno(err, errno, "replacing %s", dir);
		if (rc == 0)
			boot_fault_point("update.trust.after-swap");
		if (rc == 0)
			rc = rp_fsync_dir(cfg->state_dir, err);
		if (rc == 0) {
			char v[32];
			snprintf(v, sizeof(v), "%" PRIu64 "\n", pkg->md.version);
			rc = rp_write_file_atomic(ver_path, v, strlen(v), 0600, err);
			rp_error e2 = RP_ERROR_INIT;
			if (rp_remove_tree(next, &e2) < 0)
				rp_warn("removing the previous key set %s: %s", next, e2.message);
		}
	}
	for (size_t i = 0; i < c.n; i++) {
		free(c.names[i]);
		free(c.pems[i]);
	}
	if (rc == 0)
		rp_log_event(RP_LOG_NOTICE, "update.trust.installed", "trusted image-signing keys replaced (%zu keys, version %" PRIu64 ")",
		             c.n, pkg->md.version);
	return rc;
}

/* ---- OS bundles and applications ---- */

/* One pass: boot_slot_install streams the file into the inactive slot while hashing it and checks
 * the signature and the metadata (type, image ID, version) on the bytes it wrote, so the OS bundle
 * is neither opened here first nor held in memory. */
static int install_os(const struct update_config *cfg, const char *path, const struct update_install_expect *ex,
                      bool *permanent, bool *os_installed, rp_error *err)
{
	struct boot_install_request req = {
	    .state_dir = cfg->state_dir,
	    .path = path,
	    .fd = -1,
	    .rot_backend = cfg->rot_backend,
	    .tcti = cfg->tcti,
	    .monitor_socket = cfg->monitor_socket,
	    .expect_image_id = ex->image_id,
	    .expect_version = ex->version,
	};
	struct boot_install_result res;
	if (boot_slot_install(&req, &res, err) < 0) {
		/* Only refused bundle bytes fail the same way again. The same error codes also come from
		 * local faults (bad key files, a damaged state or root-of-trust file, a full disk) that
		 * clear once fixed, so the code alone does not make a failure permanent. */
		*permanent = res.bundle_refused;
		return -1;
	}
	*os_installed = true;
	rp_log_event(RP_LOG_NOTICE, "update.os.installed",
	             "OS bundle version %" PRIu64 " installed in slot %s (pending; running %" PRIu64 ")", res.version,
	             boot_state_slot_name(res.slot), res.previous_version);
	return 0;
}

static int install_app(const struct update_config *cfg, struct package *pkg, const char *path, bool *permanent,
                       rp_error *err)
{
	*permanent = false;
	if (cfg->app_install)
		return cfg->app_install(cfg->app_install_ctx, path, &pkg->md, err);
	/* No application manager linked in: stage the verified bytes (the sealed copy) for it. */
	_cleanup_free_ char *dir = xasprintf("%s/update/apps", cfg->state_dir);
	_cleanup_free_ char *dst = xasprintf("%s/%s.rpkg", dir, pkg->md.component_id);
	if (rp_mkdir_p(dir, 0700, err) < 0 || rp_write_file_atomic(dst, pkg->data, pkg->len, 0600, err) < 0)
		return rp_error_prefix(err, "staging application %s", pkg->md.component_id);
	rp_log_event(RP_LOG_NOTICE, "update.app.staged", "application %s version %" PRIu64 " staged as %s",
	             pkg->md.component_id, pkg->md.version, dst);
	return 0;
}

int update_install(const struct update_config *cfg, const char *path, const struct update_install_expect *expect,
                   bool *permanent, bool *os_installed, rp_error *err)
{
	*permanent = false;
	if (strcmp(expect->type, UPDATE_TYPE_OS) == 0)
		return install_os(cfg, path, expect, permanent, os_installed, err);
	_cleanup_package_ struct package *pkg = open_verified(cfg->state_dir, path, expect, permanent, err);
	if (!pkg)
		return -1;
	if (strcmp(expect->type, UPDATE_TYPE_TRUST) == 0)
		return install_trust(cfg, pkg, permanent, err);
	if (strcmp(expect->type, UPDATE_TYPE_APP) == 0)
		return install_app(cfg, pkg, path, permanent, err);
	*permanent = true;
	return rp_error_set(err, RP_E_UNSUPPORTED, "image type %s cannot be installed over the air", expect->type);
}
