/* Attestation nonces without a database write (see attest_nonce.h). */
#include "service/attest_nonce.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/macros.h"
#include "common/xalloc.h"

#define RANDOM_LEN 8
#define EXPIRY_LEN 4 /* u32 big-endian seconds */
#define TAG_LEN 10
#define SIGNED_LEN (RANDOM_LEN + EXPIRY_LEN)
_Static_assert(SIGNED_LEN + 2 * TAG_LEN == EVIDENCE_NONCE_LEN, "nonce layout");

static const char label_service[] = "rampart attestation nonce v1";
static const char label_device[] = "rampart attestation nonce v1 device";

/* HMAC-SHA256(key, LABEL 0x00 || nonce[0..SIGNED_LEN) || DEVICE_ID?)[0..TAG_LEN). */
static int tag(const struct attest_nonce_key *key, const char *label, const uint8_t *signed_part,
               const char *device_id, uint8_t out[TAG_LEN])
{
	uint8_t msg[sizeof(label_device) + SIGNED_LEN + ATTEST_DEVICE_ID_LEN];
	size_t n = strlen(label) + 1;
	memcpy(msg, label, n); /* with its NUL: the separator */
	memcpy(msg + n, signed_part, SIGNED_LEN);
	n += SIGNED_LEN;
	if (device_id) {
		if (strlen(device_id) != ATTEST_DEVICE_ID_LEN)
			return -1;
		memcpy(msg + n, device_id, ATTEST_DEVICE_ID_LEN);
		n += ATTEST_DEVICE_ID_LEN;
	}
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (!HMAC(EVP_sha256(), key->bytes, sizeof(key->bytes), msg, n, mac, &mac_len) || mac_len < TAG_LEN)
		return -1;
	memcpy(out, mac, TAG_LEN);
	return 0;
}

/* The key file as a secret (rp_read_file_at: no symlink, the service's own, 0600 or stricter),
 * exactly ATTEST_NONCE_KEY_LEN bytes. */
static int key_read(const char *state_dir, struct attest_nonce_key *key, rp_error *err)
{
	_cleanup_close_ int dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return rp_error_set_errno(err, errno, "opening %s", state_dir);
	uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file_at(dirfd, ATTEST_NONCE_KEY_FILE, ATTEST_NONCE_KEY_LEN, true, &data, &len, err) < 0) {
		if (err->code == RP_E_LIMIT)
			rp_error_set(err, RP_E_INVALID, "%s/%s is longer than a %d-byte key", state_dir, ATTEST_NONCE_KEY_FILE,
			             ATTEST_NONCE_KEY_LEN);
		return -1;
	}
	int rc = 0;
	if (len != ATTEST_NONCE_KEY_LEN)
		rc = rp_error_set(err, RP_E_INVALID, "%s/%s is not a %d-byte key", state_dir, ATTEST_NONCE_KEY_FILE,
		                  ATTEST_NONCE_KEY_LEN);
	else
		memcpy(key->bytes, data, ATTEST_NONCE_KEY_LEN);
	explicit_bzero(data, len);
	free(data);
	return rc;
}

int attest_nonce_key_load(const char *state_dir, struct attest_nonce_key *key, rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", state_dir, ATTEST_NONCE_KEY_FILE);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (key_read(state_dir, key, err) == 0)
			return 0;
		if (err->code != RP_E_NOT_FOUND)
			return rp_error_prefix(err, "the attestation nonce key (to make a new one, remove it and restart every "
			                            "rampartd instance; outstanding nonces are then refused once)");
		rp_error_clear(err);
		/* Create: a private temporary file under a random name (instances in other PID namespaces
		 * may share a PID), then link(2), which fails rather than replace a key another instance
		 * made meanwhile; the loop then reads that one. */
		uint8_t fresh[ATTEST_NONCE_KEY_LEN], salt[8];
		if (rp_random_bytes(fresh, sizeof(fresh), err) < 0 || rp_random_bytes(salt, sizeof(salt), err) < 0)
			return -1;
		_cleanup_free_ char *salt_hex = rp_hex_encode(salt, sizeof(salt));
		_cleanup_free_ char *tmp = xasprintf("%s.%s.tmp", path, salt_hex);
		int rc = rp_write_file_atomic(tmp, fresh, sizeof(fresh), 0600, err);
		explicit_bzero(fresh, sizeof(fresh));
		if (rc < 0)
			return rp_error_prefix(err, "creating the attestation nonce key");
		if (link(tmp, path) < 0 && errno != EEXIST) {
			int e = errno;
			unlink(tmp);
			return rp_error_set_errno(err, e, "creating the attestation nonce key %s", path);
		}
		unlink(tmp);
		if (rp_fsync_dir(state_dir, err) < 0)
			return rp_error_prefix(err, "creating the attestation nonce key");
	}
	return rp_error_set(err, RP_E_INTERNAL, "the attestation nonce key %s could not be read back", path);
}

int attest_nonce_issue(const struct attest_nonce_key *key, const char *device_id, int64_t expires_at,
                       uint8_t nonce[EVIDENCE_NONCE_LEN], rp_error *err)
{
	if (expires_at <= 0 || expires_at > UINT32_MAX)
		return rp_error_set(err, RP_E_INTERNAL, "nonce expiry %lld is out of range", (long long)expires_at);
	if (rp_random_bytes(nonce, RANDOM_LEN, err) < 0)
		return -1;
	rp_put_u32be(nonce + RANDOM_LEN, (uint32_t)expires_at);
	if (tag(key, label_service, nonce, NULL, nonce + SIGNED_LEN) < 0 ||
	    tag(key, label_device, nonce, device_id, nonce + SIGNED_LEN + TAG_LEN) < 0)
		return rp_error_set(err, RP_E_CRYPTO, "computing the nonce's tags");
	return 0;
}

void attest_nonce_open(const struct attest_nonce_key *key, const char *device_id,
                       const uint8_t nonce[EVIDENCE_NONCE_LEN], struct attest_nonce *out)
{
	memset(out, 0, sizeof(*out));
	uint8_t want[TAG_LEN];
	if (tag(key, label_service, nonce, NULL, want) < 0 || !rp_memeq_consttime(want, nonce + SIGNED_LEN, TAG_LEN))
		return; /* not ours: found = false */
	out->found = true;
	out->expires_at = (int64_t)rp_get_u32be(nonce + RANDOM_LEN);
	if (tag(key, label_device, nonce, device_id, want) == 0 &&
	    rp_memeq_consttime(want, nonce + SIGNED_LEN + TAG_LEN, TAG_LEN))
		snprintf(out->device_id, sizeof(out->device_id), "%s", device_id);
	else
		snprintf(out->device_id, sizeof(out->device_id), "%s", "(another device)");
}
