/* Root-of-trust dispatch: picks the backend, checks arguments once for every backend, and owns
 * the rules both backends share (PCR range, counter monotonicity, the TPM_GENERATED guard). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "device/rot/rot.h"

struct rot {
	const struct rot_ops *ops;
	rp_key *identity; /* cached public key */
	void *priv;
};

const struct rot_ops *rot_backend(const char *name)
{
	if (strcmp(name, "soft") == 0)
		return &rot_soft_ops;
#ifndef RP_ROT_SOFT_ONLY /* rampart-monitor-soft: see src/device/meson.build */
	if (strcmp(name, "tpm2") == 0)
		return &rot_tpm2_ops;
#endif
	return NULL;
}

rot *rot_open(const char *backend, const char *state_dir, const rot_config *cfg, bool *created, rp_error *err)
{
	const struct rot_ops *ops = rot_backend(backend);
	if (!ops) {
#ifdef RP_ROT_SOFT_ONLY
		if (strcmp(backend, "tpm2") == 0)
			return rp_error_set(err, RP_E_UNSUPPORTED, "this program has only the soft backend; run rampart-monitor for tpm2"),
			       NULL;
#endif
		rp_error_set(err, RP_E_INVALID, "unknown root-of-trust backend '%s' (use 'tpm2' or 'soft')", backend);
		return NULL;
	}
	rot *r = xcalloc(1, sizeof(*r));
	r->ops = ops;
	r->priv = xcalloc(1, ops->priv_size);
	bool made = false;
	if (ops->open(r, state_dir, cfg, &made, err) < 0) {
		rp_error_prefix(err, "opening the %s root of trust", ops->backend_name);
		ops->close(r);
		free(r->priv);
		free(r);
		return NULL;
	}
	if (ops->insecure)
		rp_warn("INSECURE: the '%s' root of trust keeps its key in a file; use it for development only",
		        ops->backend_name);
	if (created)
		*created = made;
	return r;
}

void rot_close(rot *r)
{
	if (!r)
		return;
	r->ops->close(r);
	rp_key_free(r->identity);
	free(r->priv);
	free(r);
}

const char *rot_backend_name(const rot *r) { return r->ops->backend_name; }
bool rot_insecure(const rot *r) { return r->ops->insecure; }
void *rot_priv(rot *r) { return r->priv; }

rp_key *rot_identity_public_key(rot *r, rp_error *err)
{
	if (!r->identity) {
		r->identity = r->ops->identity_public_key(r, err);
		if (!r->identity)
			return NULL;
	}
	return rp_key_ref(r->identity);
}

int rot_device_id(rot *r, uint8_t id[RP_KEY_ID_LEN], rp_error *err)
{
	_cleanup_key_ rp_key *key = rot_identity_public_key(r, err);
	if (!key)
		return -1;
	return rp_key_id(key, id, err);
}

int rot_pcr_extend(rot *r, unsigned index, const uint8_t digest[RP_SHA256_LEN], rp_error *err)
{
	if (index >= ROT_PCR_COUNT)
		return rp_error_set(err, RP_E_INVALID, "PCR index %u is out of range 0..%d", index, ROT_PCR_COUNT - 1);
	return r->ops->pcr_extend(r, index, digest, err);
}

int rot_pcr_read(rot *r, uint32_t mask, uint8_t values[ROT_PCR_COUNT][RP_SHA256_LEN], rp_error *err)
{
	if (mask >> ROT_PCR_COUNT)
		return rp_error_set(err, RP_E_INVALID, "PCR selection 0x%x names PCRs above %d", mask, ROT_PCR_COUNT - 1);
	if (mask == 0)
		return 0;
	return r->ops->pcr_read(r, mask, values, err);
}

int rot_quote_pcrs(rot *r, const uint8_t nonce[ROT_NONCE_LEN], uint32_t mask, rot_quote *out, rp_error *err)
{
	if (mask == 0 || mask >> ROT_PCR_COUNT)
		return rp_error_set(err, RP_E_INVALID, "PCR selection 0x%x is empty or out of range", mask);
	memset(out, 0, sizeof(*out));
	return r->ops->quote(r, nonce, mask, out, err);
}

int rot_counter_read(rot *r, unsigned index, uint64_t *value, rp_error *err)
{
	if (index >= ROT_COUNTER_COUNT)
		return rp_error_set(err, RP_E_INVALID, "counter index %u is out of range 0..%d", index,
		                    ROT_COUNTER_COUNT - 1);
	return r->ops->counter_read(r, index, value, err);
}

int rot_counter_advance_to(rot *r, unsigned index, uint64_t value, rp_error *err)
{
	uint64_t current = 0;
	if (rot_counter_read(r, index, &current, err) < 0)
		return -1;
	if (value < current)
		return rp_error_set(err, RP_E_CONFLICT,
		                    "counter %u is at %llu; it only moves forward, refusing to set it to %llu", index,
		                    (unsigned long long)current, (unsigned long long)value);
	if (value == current)
		return 0;
	if (value - current > ROT_COUNTER_MAX_STEP)
		return rp_error_set(err, RP_E_LIMIT,
		                    "counter %u: advancing from %llu to %llu is a step above the limit of %d", index,
		                    (unsigned long long)current, (unsigned long long)value, ROT_COUNTER_MAX_STEP);
	return r->ops->counter_advance_to(r, index, value, err);
}

int rot_random(rot *r, void *buf, size_t len, rp_error *err)
{
	if (len > 1024)
		return rp_error_set(err, RP_E_LIMIT, "at most 1024 random bytes per request (asked for %zu)", len);
	if (len == 0)
		return 0;
	return r->ops->random(r, buf, len, err);
}

int rot_lock_dir(const char *dir, rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/lock", dir);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening lock file %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return rp_error_set(err, RP_E_CONFLICT,
			                    "the root of trust in %s is in use by another process (is rampart-monitor "
			                    "running? only one process may talk to the root of trust)", dir);
		return rp_error_set_errno(err, errno, "locking %s", path);
	}
	return steal_fd(fd);
}
