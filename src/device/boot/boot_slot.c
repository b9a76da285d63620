/* A/B slots: trusted keys, verified slot opening, state reconstruction and installation into the
 * inactive slot. Installation streams the bundle once into a temporary file in the slot while
 * hashing it, and renames it into place only after the signatures matched the hashed bytes: what
 * lands in the slot is exactly what was checked, with one pass and a bounded buffer. */
#include "device/boot/boot_slot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/boot/boot_fault.h"
#include "device/rot/rot.h"
#include "pkg/package_stream.h"

char *boot_dir_path(const char *state_dir)
{
	return xasprintf("%s/boot", state_dir);
}

char *boot_state_path(const char *state_dir)
{
	return xasprintf("%s/boot/state", state_dir);
}

char *boot_slot_path(const char *state_dir, unsigned slot)
{
	return xasprintf("%s/boot/slots/%s/bundle.rpkg", state_dir, boot_state_slot_name(slot));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int boot_trust_load(const char *state_dir, struct boot_trust *trust, rp_error *err)
{
	memset(trust, 0, sizeof(*trust));
	_cleanup_free_ char *dir = xasprintf("%s/trust", state_dir);
	DIR *d = opendir(dir);
	if (!d)
		return rp_error_set_errno(err, errno, "opening the trusted-key directory %s (install the image-signing "
		                                      "public keys as %s/NAME.pub)", dir, dir);
	char *names[BOOT_TRUST_MAX_KEYS];
	size_t n = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".pub") != 0)
			continue;
		if (n == BOOT_TRUST_MAX_KEYS) {
			rc = rp_error_set(err, RP_E_LIMIT, "%s holds more than %d keys", dir, BOOT_TRUST_MAX_KEYS);
			break;
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (rc == 0 && n == 0)
		rc = rp_error_set(err, RP_E_NOT_FOUND, "%s holds no trusted image-signing key (*.pub)", dir);
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
			rp_key *k = rp_key_load_public_pem(path, err);
			if (!k)
				rc = rp_error_prefix(err, "loading trusted key %s", path);
			else
				trust->keys[trust->nkeys++] = k;
		}
		free(names[i]);
	}
	if (rc < 0)
		boot_trust_free(trust);
	return rc;
}

void boot_trust_free(struct boot_trust *trust)
{
	for (size_t i = 0; i < trust->nkeys; i++)
		rp_key_free(trust->keys[i]);
	trust->nkeys = 0;
}

int boot_lock(const char *state_dir, rp_error *err)
{
	_cleanup_free_ char *dir = boot_dir_path(state_dir);
	if (rp_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_free_ char *path = xasprintf("%s/lock", dir);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening %s", path);
	/* Bounded wait: another install or the boot stage holds it only for short state transitions. */
	for (int i = 0; i < 500; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return steal_fd(fd);
		if (errno != EWOULDBLOCK)
			return rp_error_set_errno(err, errno, "locking %s", path);
		nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
	}
	return rp_error_set(err, RP_E_CONFLICT, "%s is held by another rampart-boot process; try again", path);
}

void boot_slot_remove_partial(const char *state_dir)
{
	for (unsigned slot = 0; slot < 2; slot++) {
		_cleanup_free_ char *tmp =
		    xasprintf("%s/boot/slots/%s/bundle.rpkg.tmp", state_dir, boot_state_slot_name(slot));
		if (unlink(tmp) == 0)
			rp_log_event(RP_LOG_NOTICE, "boot.install.partial-removed",
			             "removed %s left by an interrupted install", tmp);
		else if (errno != ENOENT)
			rp_warn("removing %s left by an interrupted install: %s", tmp, strerror(errno));
	}
}

struct package *boot_slot_open(const char *state_dir, unsigned slot, const struct boot_trust *trust, rp_error *err)
{
	_cleanup_free_ char *path = boot_slot_path(state_dir, slot);
	struct stat stbuf;
	if (lstat(path, &stbuf) < 0) {
		rp_error_set_errno(err, errno, "slot %s (%s)", boot_state_slot_name(slot), path);
		return NULL;
	}
	if (!S_ISREG(stbuf.st_mode)) {
		rp_error_set(err, RP_E_INVALID, "slot %s: %s is not a regular file", boot_state_slot_name(slot), path);
		return NULL;
	}
	struct package_trust pt = {.keys = trust->keys, .nkeys = trust->nkeys, .threshold = 1};
	struct package *pkg = package_reader_open_path(path, NULL, &pt, err);
	if (!pkg) {
		rp_error_prefix(err, "slot %s: verifying %s", boot_state_slot_name(slot), path);
		return NULL;
	}
	if (pkg->md.type != PACKAGE_TYPE_OS_BUNDLE) {
		const char *tn = package_image_type_name(pkg->md.type);
		rp_error_set(err, RP_E_VERIFY, "slot %s: %s is a %s package, not an os-bundle", boot_state_slot_name(slot),
		             path, tn ? tn : "unknown");
		package_free(pkg);
		return NULL;
	}
	return pkg;
}

int boot_state_reconstruct(const char *state_dir, const struct boot_trust *trust, uint64_t floor,
                           struct boot_state *st, rp_error *err)
{
	uint64_t version[BOOT_SLOTS] = {0};
	bool ok[BOOT_SLOTS] = {false};
	for (unsigned s = 0; s < BOOT_SLOTS; s++) {
		rp_error e = RP_ERROR_INIT;
		_cleanup_package_ struct package *pkg = boot_slot_open(state_dir, s, trust, &e);
		if (!pkg) {
			if (e.code != RP_E_NOT_FOUND)
				rp_log_event(RP_LOG_WARNING, "boot.slot.refused", "%s", e.message);
			continue;
		}
		if (pkg->md.version < floor) {
			rp_log_event(RP_LOG_WARNING, "boot.slot.refused", "slot %s: version %llu is below the floor %llu",
			             boot_state_slot_name(s), (unsigned long long)pkg->md.version,
			             (unsigned long long)floor);
			continue;
		}
		ok[s] = true;
		version[s] = pkg->md.version;
	}
	if (!ok[0] && !ok[1])
		return rp_error_set(err, RP_E_VERIFY, "no slot holds a verified os-bundle at or above the version floor %llu",
		                    (unsigned long long)floor);
	unsigned best = !ok[0] ? 1 : !ok[1] ? 0 : version[1] > version[0] ? 1 : 0;
	unsigned other = 1 - best;
	boot_state_init(st);
	st->active = (uint8_t)best;
	st->previous = ok[other] ? (uint8_t)other : BOOT_SLOT_NONE;
	st->committed_version = floor;
	if (version[best] > floor) {
		/* Never proven healthy as far as we can tell: give it one attempt, with the other slot as
		 * fallback when there is one. */
		st->pending = true;
		st->attempts_left = 1;
	}
	boot_state_set_result(st, "boot state reconstructed from the slots: slot %s (version %llu) active",
	                      boot_state_slot_name(best), (unsigned long long)version[best]);
	return 0;
}

int boot_state_load_or_reconstruct(const char *state_dir, const struct boot_trust *trust, uint64_t floor,
                                   struct boot_state *st, bool *fresh, bool *rebuilt, rp_error *err)
{
	_cleanup_free_ char *path = boot_state_path(state_dir);
	rp_error e = RP_ERROR_INIT;
	*fresh = false;
	*rebuilt = false;
	if (boot_state_load(path, st, &e) == 0)
		return 0;
	if (e.code == RP_E_NOT_FOUND) {
		*fresh = true;
		boot_state_init(st);
		return 0;
	}
	rp_log_event(RP_LOG_WARNING, "boot.state.damaged", "%s; reconstructing it from the verified slots", e.message);
	*rebuilt = true;
	return boot_state_reconstruct(state_dir, trust, floor, st, err);
}

/* Where the streamed bundle goes: DIR/bundle.rpkg.tmp, written as it is read and hashed. */
struct slot_sink {
	int fd;
	const char *path;
	bool failed; /* the write failed (disk full...): the slot's problem, not the bundle's */
};

static int slot_sink_write(void *ctx, uint64_t off, const void *buf, size_t len, rp_error *err)
{
	struct slot_sink *s = ctx;
	(void)off;
	if (rp_write_full(s->fd, buf, len) < 0) {
		s->failed = true;
		return rp_error_set_errno(err, errno, "writing %s", s->path);
	}
	boot_fault_point("install.copy");
	return 0;
}

int boot_slot_verify(const char *state_dir, unsigned slot, const struct boot_trust *trust,
                     struct package_stream_result *res, rp_error *err)
{
	_cleanup_free_ char *path = boot_slot_path(state_dir, slot);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "slot %s (%s)", boot_state_slot_name(slot), path);
	struct stat stbuf;
	if (fstat(fd, &stbuf) < 0 || !S_ISREG(stbuf.st_mode))
		return rp_error_set(err, RP_E_INVALID, "slot %s: %s is not a regular file", boot_state_slot_name(slot), path);
	struct package_trust pt = {.keys = trust->keys, .nkeys = trust->nkeys, .threshold = 1};
	if (package_stream_verify(fd, NULL, &pt, NULL, NULL, res, err) < 0)
		return rp_error_prefix(err, "slot %s: verifying %s", boot_state_slot_name(slot), path);
	if (res->md.type != PACKAGE_TYPE_OS_BUNDLE) {
		const char *tn = package_image_type_name(res->md.type);
		return rp_error_set(err, RP_E_VERIFY, "slot %s: %s is a %s package, not an os-bundle",
		                    boot_state_slot_name(slot), path, tn ? tn : "unknown");
	}
	return 0;
}

/* Stream the bundle from REQ into SLOT_DIR/bundle.rpkg.tmp (TMP), verifying it on the way: one
 * pass, one bounded buffer. On success the temporary file holds exactly the verified bytes and
 * *RES says what they are; on any failure the caller removes it. */
static int stream_into(const struct boot_install_request *req, const struct boot_trust *trust, const char *tmp,
                       int *tmp_fd, bool *write_failed, bool *refused, struct package_stream_result *res,
                       rp_error *err)
{
	_cleanup_close_ int in = -1;
	int src = req->fd;
	if (req->path) {
		in = open(req->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (in < 0)
			return rp_error_set_errno(err, errno, "opening %s", req->path);
		struct stat st;
		if (fstat(in, &st) == 0 && S_ISDIR(st.st_mode))
			return rp_error_set(err, RP_E_INVALID, "%s is a directory, not an image package", req->path);
		src = in;
	}
	/* O_RDWR: the payload walk maps the copy afterwards. */
	*tmp_fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*tmp_fd < 0) {
		*write_failed = true;
		return rp_error_set_errno(err, errno, "creating %s", tmp);
	}
	struct slot_sink sink = {.fd = *tmp_fd, .path = tmp};
	struct package_trust pt = {.keys = trust->keys, .nkeys = trust->nkeys, .threshold = 1};
	if (package_stream_verify(src, NULL, &pt, slot_sink_write, &sink, res, err) < 0) {
		*write_failed = sink.failed;
		/* A read error (errno set) is about the download file, not the bundle's bytes. */
		*refused = !sink.failed && err && err->sys_errno == 0;
		return sink.failed ? -1 : rp_error_prefix(err, "verifying the bundle");
	}
	return 0;
}

/* The verified bundle's claims against the device: type, what the caller expects, the floor and
 * the running version. */
static int check_bundle(const struct boot_install_request *req, const struct package_metadata *md, uint64_t floor,
                        bool cur_ok, uint64_t cur_version, unsigned active, rp_error *err)
{
	if (md->type != PACKAGE_TYPE_OS_BUNDLE) {
		const char *tn = package_image_type_name(md->type);
		return rp_error_set(err, RP_E_VERIFY, "the package is a %s, not an os-bundle", tn ? tn : "unknown type");
	}
	if (req->expect_image_id && req->expect_image_id[0] && strcasecmp(md->image_id, req->expect_image_id) != 0)
		return rp_error_set(err, RP_E_VERIFY, "the package is image %s but the update metadata says %s",
		                    md->image_id, req->expect_image_id);
	if (req->expect_version && md->version != req->expect_version)
		return rp_error_set(err, RP_E_VERIFY, "the package is version %llu but the update metadata says %llu",
		                    (unsigned long long)md->version, (unsigned long long)req->expect_version);
	if (md->version < floor)
		return rp_error_set(err, RP_E_VERIFY,
		                    "version %llu is below the device's OS version floor %llu: downgrades are refused",
		                    (unsigned long long)md->version, (unsigned long long)floor);
	/* The floor follows a committed version in steps of at most ROT_COUNTER_MAX_STEP (a bound that
	 * keeps one bad counter write from exhausting a TPM NV counter): a longer jump would leave the
	 * floor behind the running version, so it is refused before it can be installed. */
	if (md->version - floor > ROT_COUNTER_MAX_STEP)
		return rp_error_set(err, RP_E_VERIFY,
		                    "version %llu is more than %d above the device's OS version floor %llu: the floor "
		                    "advances at most %d versions per update, so install an intermediate version "
		                    "(at most %llu) first",
		                    (unsigned long long)md->version, ROT_COUNTER_MAX_STEP, (unsigned long long)floor,
		                    ROT_COUNTER_MAX_STEP, (unsigned long long)(floor + ROT_COUNTER_MAX_STEP));
	if (cur_ok && md->version <= cur_version)
		return rp_error_set(err, RP_E_VERIFY,
		                    "version %llu is not newer than the running version %llu (slot %s): "
		                    "downgrades and reinstalls are refused",
		                    (unsigned long long)md->version, (unsigned long long)cur_version,
		                    boot_state_slot_name(active));
	return 0;
}

int boot_slot_install(const struct boot_install_request *req, struct boot_install_result *res, rp_error *err)
{
	memset(res, 0, sizeof(*res));
	unsigned attempts = req->attempts ? req->attempts : BOOT_DEFAULT_ATTEMPTS;
	if (attempts > BOOT_ATTEMPTS_MAX)
		return rp_error_set(err, RP_E_INVALID, "attempts %u is over the limit of %d", attempts, BOOT_ATTEMPTS_MAX);
	struct boot_trust trust;
	if (boot_trust_load(req->state_dir, &trust, err) < 0)
		return rp_error_prefix(err, "installing an OS bundle");
	int rc = -1;
	_cleanup_close_ int lock = boot_lock(req->state_dir, err);
	_cleanup_close_ int tmp_fd = -1;
	_cleanup_free_ char *slot_dir = NULL, *tmp = NULL, *dst = NULL;
	_cleanup_free_ char *state_path = boot_state_path(req->state_dir);
	struct package_stream_result pkg, cur;
	memset(&cur, 0, sizeof(cur));
	bool cur_ok = false;
	uint64_t floor = 0;
	struct boot_state st;
	bool fresh = false, rebuilt = false;
	if (lock < 0)
		goto out;
	boot_slot_remove_partial(req->state_dir);
	/* Everything the decision needs except the bundle itself comes first, so the bundle is read
	 * once, straight into the slot. */
	if (boot_floor_read(req->state_dir, req->rot_backend, req->tcti, req->monitor_socket, &floor, err) < 0)
		goto out;
	if (boot_state_load_or_reconstruct(req->state_dir, &trust, floor, &st, &fresh, &rebuilt, err) < 0)
		goto out;
	if (fresh) {
		/* No record yet, but a slot may hold a bundle placed at manufacture: keep it as fallback. */
		rp_error e = RP_ERROR_INIT;
		if (boot_state_reconstruct(req->state_dir, &trust, floor, &st, &e) == 0)
			fresh = false;
	}
	if (st.committed_version > floor)
		floor = st.committed_version;
	res->floor = floor;
	if (!fresh && st.pending) {
		rp_error_set(err, RP_E_CONFLICT,
		             "slot %s holds an update that has not passed its health check yet; boot it (it commits "
		             "or rolls back) before installing another",
		             boot_state_slot_name(st.active));
		goto out;
	}
	unsigned target = 0;
	if (!fresh) {
		rp_error e = RP_ERROR_INIT;
		cur_ok = boot_slot_verify(req->state_dir, st.active, &trust, &cur, &e) == 0;
		if (cur_ok) {
			res->previous_version = cur.md.version;
			target = 1u - st.active;
		} else {
			/* The active slot does not verify: install over it, keep the other as fallback. */
			rp_log_event(RP_LOG_WARNING, "boot.install.active-unusable", "%s; installing into it", e.message);
			target = st.active;
		}
	}
	res->slot = target;
	slot_dir = xasprintf("%s/boot/slots/%s", req->state_dir, boot_state_slot_name(target));
	tmp = xasprintf("%s/bundle.rpkg.tmp", slot_dir);
	dst = xasprintf("%s/bundle.rpkg", slot_dir);
	if (rp_mkdir_p(slot_dir, 0700, err) < 0) {
		rp_error_prefix(err, "writing slot %s (the device keeps its current OS)", boot_state_slot_name(target));
		goto out;
	}
	/* Written under a temporary name and renamed only once verified: a bundle that fails at the end
	 * of the stream (altered, cut short, too long) never replaces what the slot held. */
	bool write_failed = false;
	if (stream_into(req, &trust, tmp, &tmp_fd, &write_failed, &res->bundle_refused, &pkg, err) < 0) {
		if (write_failed)
			rp_error_prefix(err, "writing slot %s (the device keeps its current OS)", boot_state_slot_name(target));
		goto out;
	}
	res->version = pkg.md.version;
	if (check_bundle(req, &pkg.md, floor, cur_ok, cur.md.version, st.active, err) < 0) {
		res->bundle_refused = true;
		goto out;
	}
	if (package_stream_check_payload(tmp_fd, &pkg, NULL, NULL, err) < 0) {
		/* Mapping the copy can fail locally (errno set); a bad payload cannot. */
		res->bundle_refused = err && err->sys_errno == 0;
		rp_error_prefix(err, "verifying the bundle");
		goto out;
	}
	boot_fault_point("install.verified");
	if (fsync(tmp_fd) < 0) {
		rp_error_set_errno(err, errno, "writing slot %s: flushing %s (the device keeps its current OS)",
		                   boot_state_slot_name(target), tmp);
		goto out;
	}
	boot_fault_point("install.before-rename");
	if (rename(tmp, dst) < 0) {
		rp_error_set_errno(err, errno, "writing slot %s: renaming %s to %s (the device keeps its current OS)",
		                   boot_state_slot_name(target), tmp, dst);
		goto out;
	}
	if (rp_fsync_dir(slot_dir, err) < 0) {
		rp_error_prefix(err, "writing slot %s (the device keeps its current OS)", boot_state_slot_name(target));
		goto out;
	}
	boot_fault_point("install.after-rename");
	struct boot_state next = st;
	if (fresh) {
		boot_state_init(&next);
		next.generation = st.generation;
	}
	if (target != next.active) {
		next.previous = next.active;
		next.active = (uint8_t)target;
	} else if (!cur_ok) {
		next.previous = BOOT_SLOT_NONE;
	}
	next.pending = true;
	next.attempts_left = (uint8_t)attempts;
	next.bad_mask &= (uint8_t)~(1u << target);
	boot_state_set_result(&next, "installed version %llu into slot %s; pending its health check",
	                      (unsigned long long)pkg.md.version, boot_state_slot_name(target));
	if (boot_state_save(state_path, &next, err) < 0) {
		rp_error_prefix(err, "switching to slot %s (the device keeps its current OS)", boot_state_slot_name(target));
		goto out;
	}
	boot_fault_point("install.after-switch");
	rp_log_event(RP_LOG_NOTICE, "boot.install.done", "version %llu installed into slot %s; boots at next start",
	             (unsigned long long)pkg.md.version, boot_state_slot_name(target));
	rc = 0;
out:
	/* Nothing half-written or unverified stays behind (after the rename the name is gone). */
	if (rc < 0 && tmp_fd >= 0)
		unlink(tmp);
	boot_trust_free(&trust);
	return rc;
}
