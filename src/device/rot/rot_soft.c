/* The soft root of trust: identity key in a 0600 PEM file, 24 emulated SHA-256 PCRs and the
 * counters in a checksummed state file replaced atomically. INSECURE: anyone who can read the
 * state directory can copy the key. It exists so development and CI need no TPM; every place a
 * user sees it says so. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "attest/quote_verify.h"
#include "common/bytes.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/rot/rot.h"
#include "device/rot/rot_soft_state.h"

#define SOFT_BOOT_ID_LEN ROT_SOFT_BOOT_ID_LEN

struct soft {
	char *dir;
	char *state_path;
	int lock_fd;
	rp_key *key; /* private */
	char boot_id[SOFT_BOOT_ID_LEN];
	uint8_t pcr[ROT_PCR_COUNT][RP_SHA256_LEN];
	uint64_t counter[ROT_COUNTER_COUNT];
	/* Set when a save failed: the file may or may not hold the new state (the rename can succeed
	 * and the directory sync fail), so memory no longer knows what is on disk. Writing the old
	 * values back with a later save could roll a counter back, so every later operation is
	 * refused until a restart re-reads the file. */
	bool failed;
	char failure[RP_ERROR_MESSAGE_MAX];
};

static struct soft *soft_of(rot *r) { return rot_priv(r); }

/* The kernel's boot ID lets the emulated PCRs reset on reboot, as a TPM's do. */
static void soft_read_boot_id(char out[SOFT_BOOT_ID_LEN])
{
	memset(out, '0', SOFT_BOOT_ID_LEN);
	_cleanup_close_ int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[SOFT_BOOT_ID_LEN];
	if (rp_read_full(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
		memcpy(out, buf, sizeof(buf));
}

static int soft_save(struct soft *s, rp_error *err)
{
	struct rot_soft_state st;
	memcpy(st.boot_id, s->boot_id, sizeof(st.boot_id));
	memcpy(st.pcr, s->pcr, sizeof(st.pcr));
	memcpy(st.counter, s->counter, sizeof(st.counter));
	rp_buf b;
	rp_buf_init(&b);
	rot_soft_state_encode(&st, &b);
	int rc = rp_write_file_atomic(s->state_path, b.data, b.len, 0600, err);
	rp_buf_free(&b);
	if (rc < 0) {
		s->failed = true;
		snprintf(s->failure, sizeof(s->failure), "%s", err->message);
		return rp_error_prefix(err, "saving soft root-of-trust state (the soft root of trust now refuses "
		                            "every operation until the security monitor is restarted)");
	}
	return 0;
}

/* Fails closed after a failed save (see struct soft). */
static int soft_usable(struct soft *s, rp_error *err)
{
	if (!s->failed)
		return 0;
	return rp_error_set(err, RP_E_UNAVAILABLE,
	                    "the soft root of trust failed to save its state earlier (%s) and refuses every "
	                    "operation until it is reopened: restart the security monitor", s->failure);
}

/* The state file is read as hostile input: exact size, magic, version and checksum. A damaged
 * file is an error, never a silent reset (a reset would roll the counters back). */
static int soft_load(struct soft *s, rp_error *err)
{
	struct rot_soft_state st;
	if (rot_soft_state_load(s->state_path, &st, err) < 0)
		return -1;
	memcpy(s->pcr, st.pcr, sizeof(s->pcr));
	memcpy(s->counter, st.counter, sizeof(s->counter));
	if (memcmp(st.boot_id, s->boot_id, SOFT_BOOT_ID_LEN) != 0) {
		/* A new boot: PCRs start from zero, counters persist. */
		memset(s->pcr, 0, sizeof(s->pcr));
		return soft_save(s, err);
	}
	return 0;
}

static int soft_load_key(struct soft *s, const char *path, rp_error *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return rp_error_set_errno(err, errno, "checking %s", path);
	/* Defends against a key that other users could have read (and copied). */
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077))
		return rp_error_set(err, RP_E_PERMISSION,
		                    "%s must be a regular file readable only by its owner (chmod 600 %s)", path, path);
	s->key = rp_key_load_private_pem(path, err);
	return s->key ? 0 : -1;
}

static int soft_open(rot *r, const char *state_dir, const rot_config *cfg, bool *created, rp_error *err)
{
	struct soft *s = soft_of(r);
	s->lock_fd = -1;
	s->dir = xasprintf("%s/rot-soft", state_dir);
	s->state_path = xasprintf("%s/state.bin", s->dir);
	soft_read_boot_id(s->boot_id);
	if (cfg->create && rp_mkdir_p(s->dir, 0700, err) < 0)
		return -1;
	struct stat st;
	if (stat(s->dir, &st) < 0) {
		if (errno == ENOENT)
			return rp_error_set(err, RP_E_NOT_FOUND,
			                    "this device is not provisioned (%s does not exist); run 'rampart-os provision "
			                    "--state %s --rot soft' first", s->dir, state_dir);
		return rp_error_set_errno(err, errno, "checking %s", s->dir);
	}
	s->lock_fd = rot_lock_dir(s->dir, err);
	if (s->lock_fd < 0)
		return -1;
	_cleanup_free_ char *key_path = xasprintf("%s/identity.pem", s->dir);
	if (access(key_path, F_OK) == 0) {
		if (soft_load_key(s, key_path, err) < 0)
			return -1;
		if (access(s->state_path, F_OK) != 0)
			return rp_error_set(err, RP_E_NOT_FOUND,
			                    "%s is missing while the identity exists: counters would restart at 0 (a "
			                    "rollback); restore it from a backup", s->state_path);
		return soft_load(s, err);
	}
	if (!cfg->create)
		return rp_error_set(err, RP_E_NOT_FOUND,
		                    "this device is not provisioned (no %s); run 'rampart-os provision --state %s --rot "
		                    "soft' first", key_path, state_dir);
	s->key = rp_key_generate_p256(err);
	if (!s->key)
		return -1;
	memset(s->pcr, 0, sizeof(s->pcr));
	memset(s->counter, 0, sizeof(s->counter));
	if (soft_save(s, err) < 0 || rp_key_save_private_pem(s->key, key_path, err) < 0)
		return -1;
	*created = true;
	return 0;
}

static void soft_close(rot *r)
{
	struct soft *s = soft_of(r);
	rp_key_free(s->key);
	free(s->dir);
	free(s->state_path);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
}

static rp_key *soft_identity_public_key(rot *r, rp_error *err)
{
	_cleanup_free_ uint8_t *der = NULL;
	size_t len = 0;
	if (rp_key_public_der(soft_of(r)->key, &der, &len, err) < 0)
		return NULL;
	return rp_key_from_public_der(der, len, err);
}

static int soft_pcr_extend(rot *r, unsigned index, const uint8_t digest[RP_SHA256_LEN], rp_error *err)
{
	struct soft *s = soft_of(r);
	if (soft_usable(s, err) < 0)
		return -1;
	uint8_t buf[2 * RP_SHA256_LEN];
	memcpy(buf, s->pcr[index], RP_SHA256_LEN);
	memcpy(buf + RP_SHA256_LEN, digest, RP_SHA256_LEN);
	rp_sha256_buf(buf, sizeof(buf), s->pcr[index]);
	return soft_save(s, err);
}

static int soft_pcr_read(rot *r, uint32_t mask, uint8_t values[ROT_PCR_COUNT][RP_SHA256_LEN], rp_error *err)
{
	struct soft *s = soft_of(r);
	if (soft_usable(s, err) < 0)
		return -1;
	for (unsigned i = 0; i < ROT_PCR_COUNT; i++)
		if (mask & (1u << i))
			memcpy(values[i], s->pcr[i], RP_SHA256_LEN);
	return 0;
}

static int soft_quote(rot *r, const uint8_t nonce[ROT_NONCE_LEN], uint32_t mask, rot_quote *out, rp_error *err)
{
	struct soft *s = soft_of(r);
	if (soft_usable(s, err) < 0)
		return -1;
	uint8_t digest[RP_SHA256_LEN], name[2 + RP_KEY_ID_LEN] = {0x00, 0x0b};
	if (rp_key_id(s->key, name + 2, err) < 0)
		return -1;
	quote_pcr_digest(mask, (const uint8_t(*)[RP_SHA256_LEN])s->pcr, digest);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	rp_buf b;
	rp_buf_init(&b);
	quote_attest_build(&b, name, sizeof(name), nonce, ROT_NONCE_LEN, mask, digest,
	                   (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	if (b.len > sizeof(out->attest)) {
		rp_buf_free(&b);
		return rp_error_set(err, RP_E_INTERNAL, "quote larger than its buffer");
	}
	memcpy(out->attest, b.data, b.len);
	out->attest_len = b.len;
	rp_buf_free(&b);
	/* The identity key signs nothing but quotes (rot.h). */
	return rp_ecdsa_sign(s->key, out->attest, out->attest_len, out->sig, &out->sig_len, err);
}

static int soft_counter_read(rot *r, unsigned index, uint64_t *value, rp_error *err)
{
	struct soft *s = soft_of(r);
	if (soft_usable(s, err) < 0)
		return -1;
	*value = s->counter[index];
	return 0;
}

static int soft_counter_advance_to(rot *r, unsigned index, uint64_t value, rp_error *err)
{
	struct soft *s = soft_of(r);
	if (soft_usable(s, err) < 0)
		return -1;
	s->counter[index] = value;
	return soft_save(s, err);
}

static int soft_random(rot *r, void *buf, size_t len, rp_error *err)
{
	if (soft_usable(soft_of(r), err) < 0)
		return -1;
	return rp_random_bytes(buf, len, err);
}

const struct rot_ops rot_soft_ops = {
	.backend_name = "soft",
	.insecure = true,
	.priv_size = sizeof(struct soft),
	.open = soft_open,
	.close = soft_close,
	.identity_public_key = soft_identity_public_key,
	.pcr_extend = soft_pcr_extend,
	.pcr_read = soft_pcr_read,
	.quote = soft_quote,
	.counter_read = soft_counter_read,
	.counter_advance_to = soft_counter_advance_to,
	.random = soft_random,
};
