/* Unit tests for the soft root of trust: identity, PCRs, counters, quotes, and a hostile state
 * directory (tampered, truncated or world-readable files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include "attest/quote_verify.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "device/rot/rot.h"

static char *make_tmp(void)
{
	char *dir = xstrdup("/tmp/rp-rot-soft-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void drop_tmp(char *dir)
{
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_remove_tree(dir, &err), 0);
	free(dir);
}

static rot *open_soft(const char *dir, bool create, rp_error *err)
{
	rot_config cfg = {.create = create};
	return rot_open("soft", dir, &cfg, NULL, err);
}

static void unprovisioned_is_refused(void **state)
{
	(void)state;
	char *dir = make_tmp();
	rp_error err = RP_ERROR_INIT;
	assert_null(open_soft(dir, false, &err));
	assert_int_equal(err.code, RP_E_NOT_FOUND);
	assert_non_null(strstr(err.message, "rampart-os provision"));
	drop_tmp(dir);
}

static void identity_is_stable_and_locked(void **state)
{
	(void)state;
	char *dir = make_tmp();
	rp_error err = RP_ERROR_INIT;
	rot_config cfg = {.create = true};
	bool created = false;
	uint8_t id1[RP_KEY_ID_LEN], id2[RP_KEY_ID_LEN];
	rot *r = rot_open("soft", dir, &cfg, &created, &err);
	assert_non_null(r);
	assert_true(created);
	assert_true(rot_insecure(r));
	assert_string_equal(rot_backend_name(r), "soft");
	assert_int_equal(rot_device_id(r, id1, &err), 0);
	/* a second opener (even in this process) is refused while the first holds the lock */
	rp_error err2 = RP_ERROR_INIT;
	assert_null(open_soft(dir, false, &err2));
	assert_int_equal(err2.code, RP_E_CONFLICT);
	rot_close(r);
	r = rot_open("soft", dir, &cfg, &created, &err);
	assert_non_null(r);
	assert_false(created);
	assert_int_equal(rot_device_id(r, id2, &err), 0);
	assert_memory_equal(id1, id2, RP_KEY_ID_LEN);
	_cleanup_free_ char *key = xasprintf("%s/rot-soft/identity.pem", dir);
	struct stat st;
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	rot_close(r);
	drop_tmp(dir);
}

static void pcr_extend_matches_tpm_semantics(void **state)
{
	(void)state;
	char *dir = make_tmp();
	rp_error err = RP_ERROR_INIT;
	rot *r = open_soft(dir, true, &err);
	assert_non_null(r);
	uint8_t d[RP_SHA256_LEN], buf[64], want[RP_SHA256_LEN];
	uint8_t values[ROT_PCR_COUNT][RP_SHA256_LEN];
	memset(d, 0xab, sizeof(d));
	assert_int_equal(rot_pcr_extend(r, 8, d, &err), 0);
	memset(buf, 0, 32);
	memcpy(buf + 32, d, 32);
	rp_sha256_buf(buf, 64, want);
	assert_int_equal(rot_pcr_read(r, 1u << 8, values, &err), 0);
	assert_memory_equal(values[8], want, 32);
	assert_int_equal(rot_pcr_extend(r, 24, d, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
	/* persisted: same boot, so a reopen keeps the PCR */
	rot_close(r);
	r = open_soft(dir, false, &err);
	assert_non_null(r);
	assert_int_equal(rot_pcr_read(r, 1u << 8, values, &err), 0);
	assert_memory_equal(values[8], want, 32);
	rot_close(r);
	drop_tmp(dir);
}

static void counters_only_move_forward(void **state)
{
	(void)state;
	char *dir = make_tmp();
	rp_error err = RP_ERROR_INIT;
	rot *r = open_soft(dir, true, &err);
	assert_non_null(r);
	uint64_t v = 99;
	assert_int_equal(rot_counter_read(r, 0, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(rot_counter_advance_to(r, 0, 5, &err), 0);
	assert_int_equal(rot_counter_advance_to(r, 0, 5, &err), 0);
	assert_int_equal(rot_counter_advance_to(r, 0, 4, &err), -1);
	assert_int_equal(err.code, RP_E_CONFLICT);
	assert_non_null(strstr(err.message, "only moves forward"));
	assert_int_equal(rot_counter_advance_to(r, 0, 5 + ROT_COUNTER_MAX_STEP + 1, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	assert_int_equal(rot_counter_advance_to(r, ROT_COUNTER_COUNT, 1, &err), -1);
	rot_close(r);
	r = open_soft(dir, false, &err);
	assert_non_null(r);
	assert_int_equal(rot_counter_read(r, 0, &v, &err), 0);
	assert_int_equal(v, 5);
	rot_close(r);
	drop_tmp(dir);
}

/* A save that fails may still have replaced the file (the rename done, the directory sync
 * failed): the backend cannot know what is on disk, so it refuses everything until reopened
 * rather than write its older values back with the next save (a counter rollback). */
static void failed_save_fails_closed(void **state)
{
	(void)state;
	char *dir = make_tmp();
	rp_error err = RP_ERROR_INIT;
	rot *r = open_soft(dir, true, &err);
	assert_non_null(r);
	assert_int_equal(rot_counter_advance_to(r, 1, 5, &err), 0);
	/* A non-empty directory in the file's place makes the rename fail, even for root. */
	_cleanup_free_ char *path = xasprintf("%s/rot-soft/state.bin", dir);
	_cleanup_free_ char *kept = xasprintf("%s/rot-soft/state.kept", dir);
	_cleanup_free_ char *blocker = xasprintf("%s/rot-soft/state.bin/x", dir);
	assert_int_equal(rename(path, kept), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	int fd = open(blocker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rot_counter_advance_to(r, 1, 7, &err), -1);
	assert_non_null(strstr(err.message, "restarted"));
	/* the obstacle is gone, but the backend stays failed: nothing is written or answered */
	assert_int_equal(unlink(blocker), 0);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rename(kept, path), 0);
	rp_error later = RP_ERROR_INIT;
	assert_int_equal(rot_counter_advance_to(r, 2, 1, &later), -1);
	assert_int_equal(later.code, RP_E_UNAVAILABLE);
	assert_non_null(strstr(later.message, "restart the security monitor"));
	uint64_t v = 0;
	rp_error e2 = RP_ERROR_INIT;
	assert_int_equal(rot_counter_read(r, 1, &v, &e2), -1);
	uint8_t digest[RP_SHA256_LEN] = {1};
	rp_error e3 = RP_ERROR_INIT;
	assert_int_equal(rot_pcr_extend(r, 8, digest, &e3), -1);
	rot_close(r);
	/* reopened: the state is what the file holds */
	r = open_soft(dir, false, &err);
	assert_non_null(r);
	assert_int_equal(rot_counter_read(r, 1, &v, &err), 0);
	assert_int_equal(v, 5);
	assert_int_equal(rot_counter_read(r, 2, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(rot_counter_advance_to(r, 2, 1, &err), 0);
	rot_close(r);
	drop_tmp(dir);
}

static void quote_verifies_and_binds_nonce(void **state)
{
	(void)state;
	char *dir = make_tmp();
	rp_error err = RP_ERROR_INIT;
	rot *r = open_soft(dir, true, &err);
	assert_non_null(r);
	uint8_t d[RP_SHA256_LEN], nonce[ROT_NONCE_LEN], values[ROT_PCR_COUNT][RP_SHA256_LEN];
	memset(d, 0x11, sizeof(d));
	memset(nonce, 0x22, sizeof(nonce));
	assert_int_equal(rot_pcr_extend(r, 9, d, &err), 0);
	rot_quote q;
	assert_int_equal(rot_quote_pcrs(r, nonce, 0xff00, &q, &err), 0);
	memset(values, 0, sizeof(values));
	assert_int_equal(rot_pcr_read(r, 0xff00, values, &err), 0);
	EVP_PKEY *pub = rot_identity_public_key(r, &err);
	assert_non_null(pub);
	quote_info info;
	assert_int_equal(quote_verify(pub, q.attest, q.attest_len, q.sig, q.sig_len, nonce, sizeof(nonce), 1u << 9,
	                              (const uint8_t(*)[32])values, &info, &err), 0);
	assert_int_equal(info.pcr_mask, 0xff00);
	nonce[0] ^= 1;
	assert_int_equal(quote_verify(pub, q.attest, q.attest_len, q.sig, q.sig_len, nonce, sizeof(nonce), 0,
	                              (const uint8_t(*)[32])values, NULL, &err), -1);
	assert_non_null(strstr(err.message, "nonce"));
	EVP_PKEY_free(pub);
	rot_close(r);
	drop_tmp(dir);
}

static void hostile_state_is_refused(void **state)
{
	(void)state;
	char *dir = make_tmp();
	rp_error err = RP_ERROR_INIT;
	rot *r = open_soft(dir, true, &err);
	assert_non_null(r);
	rot_close(r);
	_cleanup_free_ char *path = xasprintf("%s/rot-soft/state.bin", dir);
	_cleanup_free_ char *key = xasprintf("%s/rot-soft/identity.pem", dir);
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	assert_int_equal(rp_read_file(path, 4096, &data, &len, &err), 0);
	/* flipped byte: checksum */
	data[100] ^= 1;
	assert_int_equal(rp_write_file_atomic(path, data, len, 0600, &err), 0);
	assert_null(open_soft(dir, false, &err));
	assert_non_null(strstr(err.message, "checksum"));
	/* truncated */
	data[100] ^= 1;
	assert_int_equal(rp_write_file_atomic(path, data, len - 1, 0600, &err), 0);
	assert_null(open_soft(dir, false, &err));
	assert_non_null(strstr(err.message, "damaged"));
	/* oversized */
	uint8_t big[8192] = {0};
	assert_int_equal(rp_write_file_atomic(path, big, sizeof(big), 0600, &err), 0);
	assert_null(open_soft(dir, false, &err));
	assert_int_equal(err.code, RP_E_LIMIT);
	/* restored, but the key file is readable by others */
	assert_int_equal(rp_write_file_atomic(path, data, len, 0600, &err), 0);
	assert_int_equal(chmod(key, 0644), 0);
	assert_null(open_soft(dir, false, &err));
	assert_int_equal(err.code, RP_E_PERMISSION);
	assert_int_equal(chmod(key, 0600), 0);
	r = open_soft(dir, false, &err);
	assert_non_null(r);
	rot_close(r);
	/* missing state with an existing identity: refused (counters would roll back) */
	assert_int_equal(unlink(path), 0);
	assert_null(open_soft(dir, true, &err));
	assert_non_null(strstr(err.message, "rollback"));
	drop_tmp(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unprovisioned_is_refused),
		cmocka_unit_test(identity_is_stable_and_locked),
		cmocka_unit_test(pcr_extend_matches_tpm_semantics),
		cmocka_unit_test(counters_only_move_forward),
		cmocka_unit_test(failed_save_fails_closed),
		cmocka_unit_test(quote_verifies_and_binds_nonce),
		cmocka_unit_test(hostile_state_is_refused),
	};
	return cmocka_run_group_tests_name("rot_soft", tests, NULL, NULL);
}
