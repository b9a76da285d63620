/* Boot-state record: strict binary encoding with a checksum, atomic replacement on disk.
 * Defends against a damaged or edited state file being taken at face value: every field is
 * range-checked and a mismatching checksum makes the whole record unusable (the boot stage then
 * reconstructs the state from the slots themselves, never trusting the file to pick a bundle). */
#include "device/boot/boot_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/crypto.h"
#include "common/fileio.h"

/* magic u32, version u16, generation u64, active u8, previous u8, flags u8, attempts u8,
 * bad_mask u8, committed_version u64, result length u16, result bytes, SHA-256. */
#define BOOT_STATE_FIXED_LEN (4 + 2 + 8 + 1 + 1 + 1 + 1 + 1 + 8 + 2)

const char *boot_state_slot_name(unsigned slot)
{
	return slot == 0 ? "a" : slot == 1 ? "b" : "none";
}

int boot_state_slot_parse(const char *name, unsigned *slot)
{
	if (strcmp(name, "a") == 0)
		*slot = 0;
	else if (strcmp(name, "b") == 0)
		*slot = 1;
	else
		return -1;
	return 0;
}

void boot_state_init(struct boot_state *st)
{
	memset(st, 0, sizeof(*st));
	st->active = 0;
	st->previous = BOOT_SLOT_NONE;
}

void boot_state_set_result(struct boot_state *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->last_result, sizeof(st->last_result), fmt, ap);
	va_end(ap);
	/* The result is shown to people and reported upstream: keep it printable. */
	for (char *p = st->last_result; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

static bool result_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int boot_state_check(const struct boot_state *st, rp_error *err)
{
	if (st->active >= BOOT_SLOTS)
		return rp_error_set(err, RP_E_INVALID, "boot state: active slot %u is not a or b", st->active);
	if (st->previous != BOOT_SLOT_NONE && (st->previous >= BOOT_SLOTS || st->previous == st->active))
		return rp_error_set(err, RP_E_INVALID, "boot state: previous slot %u is invalid", st->previous);
	if (st->attempts_left > BOOT_ATTEMPTS_MAX)
		return rp_error_set(err, RP_E_INVALID, "boot state: %u attempts left is over the limit %d",
		                    st->attempts_left, BOOT_ATTEMPTS_MAX);
	if (!st->pending && st->attempts_left != 0)
		return rp_error_set(err, RP_E_INVALID, "boot state: attempts left without a pending update");
	if (st->bad_mask & ~0x3u)
		return rp_error_set(err, RP_E_INVALID, "boot state: unknown bits in the bad-slot mask");
	size_t rlen = strnlen(st->last_result, sizeof(st->last_result));
	if (rlen > BOOT_RESULT_MAX || !result_ok(st->last_result, rlen))
		return rp_error_set(err, RP_E_INVALID, "boot state: last result is not printable text");
	return 0;
}

int boot_state_encode(const struct boot_state *st, rp_buf *out, rp_error *err)
{
	if (boot_state_check(st, err) < 0)
		return -1;
	size_t start = out->len;
	size_t rlen = strlen(st->last_result);
	rp_buf_u32(out, BOOT_STATE_MAGIC);
	rp_buf_u16(out, BOOT_STATE_VERSION);
	rp_buf_u64(out, st->generation);
	rp_buf_u8(out, st->active);
	rp_buf_u8(out, st->previous);
	rp_buf_u8(out, st->pending ? BOOT_STATE_FLAG_PENDING : 0);
	rp_buf_u8(out, st->attempts_left);
	rp_buf_u8(out, st->bad_mask);
	rp_buf_u64(out, st->committed_version);
	rp_buf_u16(out, (uint16_t)rlen);
	rp_buf_append(out, st->last_result, rlen);
	uint8_t sum[RP_SHA256_LEN];
	rp_sha256_buf(out->data + start, out->len - start, sum);
	rp_buf_append(out, sum, sizeof(sum));
	return 0;
}

int boot_state_decode(const uint8_t *data, size_t len, struct boot_state *st, rp_error *err)
{
	if (len > BOOT_STATE_MAX_LEN)
		return rp_error_set(err, RP_E_LIMIT, "boot state: %zu bytes is over the limit of %d", len,
		                    BOOT_STATE_MAX_LEN);
	if (len < BOOT_STATE_FIXED_LEN + RP_SHA256_LEN)
		return rp_error_set(err, RP_E_INVALID, "boot state: truncated (%zu bytes)", len);
	uint8_t sum[RP_SHA256_LEN];
	rp_sha256_buf(data, len - RP_SHA256_LEN, sum);
	if (memcmp(sum, data + len - RP_SHA256_LEN, RP_SHA256_LEN) != 0)
		return rp_error_set(err, RP_E_INVALID, "boot state: checksum does not match (damaged or edited)");
	rp_reader r;
	rp_reader_init(&r, data, len - RP_SHA256_LEN);
	uint32_t magic = 0;
	uint16_t version = 0, rlen = 0;
	uint8_t flags = 0;
	struct boot_state s;
	boot_state_init(&s);
	rp_reader_u32(&r, "magic", &magic);
	rp_reader_u16(&r, "version", &version);
	if (!rp_reader_ok(&r) || magic != BOOT_STATE_MAGIC)
		return rp_error_set(err, RP_E_INVALID, "boot state: not a boot-state file (bad magic)");
	if (version != BOOT_STATE_VERSION)
		return rp_error_set(err, RP_E_UNSUPPORTED, "boot state: format version %u is not supported (expected %d)",
		                    version, BOOT_STATE_VERSION);
	rp_reader_u64(&r, "generation", &s.generation);
	rp_reader_u8(&r, "active", &s.active);
	rp_reader_u8(&r, "previous", &s.previous);
	rp_reader_u8(&r, "flags", &flags);
	rp_reader_u8(&r, "attempts", &s.attempts_left);
	rp_reader_u8(&r, "bad mask", &s.bad_mask);
	rp_reader_u64(&r, "committed version", &s.committed_version);
	rp_reader_u16(&r, "result length", &rlen);
	if (rlen > BOOT_RESULT_MAX)
		return rp_error_set(err, RP_E_INVALID, "boot state: last result of %u bytes is over the limit", rlen);
	rp_reader_bytes(&r, "result", s.last_result, rlen);
	s.last_result[rlen] = '\0';
	if (rp_reader_finish(&r, "boot state", err) < 0)
		return -1;
	if (flags & ~BOOT_STATE_FLAG_PENDING)
		return rp_error_set(err, RP_E_INVALID, "boot state: unknown flags 0x%02x", flags);
	s.pending = flags & BOOT_STATE_FLAG_PENDING;
	if (memchr(s.last_result, '\0', rlen))
		return rp_error_set(err, RP_E_INVALID, "boot state: last result contains a NUL byte");
	if (boot_state_check(&s, err) < 0)
		return -1;
	*st = s;
	return 0;
}

int boot_state_load(const char *path, struct boot_state *st, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, BOOT_STATE_MAX_LEN, &data, &len, err) < 0)
		return -1;
	if (boot_state_decode(data, len, st, err) < 0)
		return rp_error_prefix(err, "%s", path);
	return 0;
}

int boot_state_save(const char *path, struct boot_state *st, rp_error *err)
{
	st->generation++;
	rp_buf b;
	rp_buf_init(&b);
	int rc = boot_state_encode(st, &b, err);
	if (rc == 0)
		rc = rp_write_file_atomic(path, b.data, b.len, 0600, err);
	rp_buf_free(&b);
	return rc < 0 ? rp_error_prefix(err, "saving the boot state") : 0;
}
