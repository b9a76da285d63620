/* The soft root of trust's state file (see rot_soft_state.h). */
#include "device/rot/rot_soft_state.h"

#include <string.h>

#include "common/fileio.h"
#include "common/macros.h"
#include "common/xalloc.h"

#define SOFT_MAGIC 0x52505353u /* "RPSS" */
#define SOFT_VERSION 1
#define SOFT_STATE_LEN \
	(4 + 2 + ROT_SOFT_BOOT_ID_LEN + ROT_PCR_COUNT * RP_SHA256_LEN + ROT_COUNTER_COUNT * 8 + RP_SHA256_LEN)

void rot_soft_state_encode(const struct rot_soft_state *st, rp_buf *b)
{
	size_t start = b->len;
	rp_buf_u32(b, SOFT_MAGIC);
	rp_buf_u16(b, SOFT_VERSION);
	rp_buf_append(b, st->boot_id, ROT_SOFT_BOOT_ID_LEN);
	rp_buf_append(b, st->pcr, sizeof(st->pcr));
	for (unsigned i = 0; i < ROT_COUNTER_COUNT; i++)
		rp_buf_u64(b, st->counter[i]);
	uint8_t sum[RP_SHA256_LEN];
	rp_sha256_buf(b->data + start, b->len - start, sum);
	rp_buf_append(b, sum, sizeof(sum));
}

int rot_soft_state_load(const char *path, struct rot_soft_state *st, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, 4096, &data, &len, err) < 0)
		return -1;
	if (len != SOFT_STATE_LEN)
		return rp_error_set(err, RP_E_INVALID, "%s is %zu bytes, expected %d: damaged; restore it from a backup",
		                    path, len, SOFT_STATE_LEN);
	uint8_t sum[RP_SHA256_LEN];
	rp_sha256_buf(data, len - RP_SHA256_LEN, sum);
	if (memcmp(sum, data + len - RP_SHA256_LEN, RP_SHA256_LEN) != 0)
		return rp_error_set(err, RP_E_INVALID, "%s: checksum does not match: damaged; restore it from a backup",
		                    path);
	rp_reader r;
	rp_reader_init(&r, data, len - RP_SHA256_LEN);
	uint32_t magic = 0;
	uint16_t version = 0;
	rp_reader_u32(&r, "magic", &magic);
	rp_reader_u16(&r, "version", &version);
	if (magic != SOFT_MAGIC)
		return rp_error_set(err, RP_E_INVALID, "%s is not a soft root-of-trust state file", path);
	if (version != SOFT_VERSION)
		return rp_error_set(err, RP_E_UNSUPPORTED, "%s has version %u; this build reads version %d", path, version,
		                    SOFT_VERSION);
	rp_reader_bytes(&r, "boot id", st->boot_id, sizeof(st->boot_id));
	rp_reader_bytes(&r, "pcrs", st->pcr, sizeof(st->pcr));
	for (unsigned i = 0; i < ROT_COUNTER_COUNT; i++)
		rp_reader_u64(&r, "counter", &st->counter[i]);
	return rp_reader_finish(&r, path, err);
}

int rot_soft_state_read_counter(const char *state_dir, unsigned index, uint64_t *value, rp_error *err)
{
	if (index >= ROT_COUNTER_COUNT)
		return rp_error_set(err, RP_E_INVALID, "counter %u does not exist (0..%d)", index, ROT_COUNTER_COUNT - 1);
	_cleanup_free_ char *path = xasprintf("%s/rot-soft/state.bin", state_dir);
	struct rot_soft_state st;
	if (rot_soft_state_load(path, &st, err) < 0)
		return -1;
	*value = st.counter[index];
	return 0;
}
