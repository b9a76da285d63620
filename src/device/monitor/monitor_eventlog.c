/* The measurement log file and its reconciliation with the PCRs. The file is read as hostile
 * input (bounded size, checksum, every entry re-validated): an edited log can only make
 * attestation fail, because the service replays it against a TPM-signed PCR digest. */
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/monitor/monitor_eventlog.h"

#define EVENTLOG_MAGIC 0x52504d4cu /* "RPML" */
#define EVENTLOG_VERSION 1
#define EVENTLOG_MAX_FILE 65536

char *monitor_eventlog_path(const char *state_dir)
{
	return xasprintf("%s/monitor/eventlog.bin", state_dir);
}

static void eventlog_put_str8(rp_buf *b, const char *s)
{
	rp_buf_u8(b, (uint8_t)strlen(s));
	rp_buf_append(b, s, strlen(s));
}

void monitor_eventlog_encode_entries(const evidence *log, rp_buf *b)
{
	rp_buf_u16(b, (uint16_t)log->n_log);
	for (size_t i = 0; i < log->n_log; i++) {
		rp_buf_u8(b, log->log[i].pcr);
		eventlog_put_str8(b, log->log[i].name);
		eventlog_put_str8(b, log->log[i].version);
		rp_buf_append(b, log->log[i].digest, RP_SHA256_LEN);
	}
}

int monitor_eventlog_save(const char *path, const evidence *log, rp_error *err)
{
	rp_buf b;
	rp_buf_init(&b);
	rp_buf_u32(&b, EVENTLOG_MAGIC);
	rp_buf_u16(&b, EVENTLOG_VERSION);
	monitor_eventlog_encode_entries(log, &b);
	uint8_t sum[RP_SHA256_LEN];
	rp_sha256_buf(b.data, b.len, sum);
	rp_buf_append(&b, sum, sizeof(sum));
	int rc = rp_write_file_atomic(path, b.data, b.len, 0600, err);
	rp_buf_free(&b);
	return rc < 0 ? rp_error_prefix(err, "saving the measurement log") : 0;
}

static bool eventlog_str8(rp_reader *r, char *out, size_t max)
{
	uint8_t len = 0;
	const uint8_t *p = NULL;
	if (!rp_reader_u8(r, "string", &len) || len > max || !rp_reader_view(r, "string", &p, len))
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

static int eventlog_load(const char *path, evidence *log, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, EVENTLOG_MAX_FILE, &data, &len, err) < 0)
		return -1;
	if (len < 4 + 2 + 2 + RP_SHA256_LEN)
		return rp_error_set(err, RP_E_INVALID, "%s is truncated", path);
	uint8_t sum[RP_SHA256_LEN];
	rp_sha256_buf(data, len - RP_SHA256_LEN, sum);
	if (memcmp(sum, data + len - RP_SHA256_LEN, RP_SHA256_LEN) != 0)
		return rp_error_set(err, RP_E_INVALID, "%s: checksum does not match", path);
	rp_reader r;
	rp_reader_init(&r, data, len - RP_SHA256_LEN);
	uint32_t magic = 0;
	uint16_t version = 0, n = 0;
	rp_reader_u32(&r, "magic", &magic);
	rp_reader_u16(&r, "version", &version);
	rp_reader_u16(&r, "count", &n);
	if (magic != EVENTLOG_MAGIC || version != EVENTLOG_VERSION || n > EVIDENCE_MAX_LOG)
		return rp_error_set(err, RP_E_INVALID, "%s is not a version-%d measurement log", path, EVENTLOG_VERSION);
	for (size_t i = 0; i < n; i++) {
		uint8_t pcr = 0, digest[RP_SHA256_LEN];
		char name[EVIDENCE_NAME_MAX + 1], version_s[EVIDENCE_VERSION_MAX + 1];
		if (!rp_reader_u8(&r, "pcr", &pcr) || !eventlog_str8(&r, name, EVIDENCE_NAME_MAX) ||
		    !eventlog_str8(&r, version_s, EVIDENCE_VERSION_MAX) || !rp_reader_bytes(&r, "digest", digest, sizeof(digest)))
			return rp_error_set(err, RP_E_INVALID, "%s: entry %zu is truncated", path, i);
		if (evidence_add_measurement(log, pcr, name, version_s, digest, err) < 0)
			return rp_error_prefix(err, "%s: entry %zu", path, i);
	}
	return rp_reader_finish(&r, path, err);
}

int monitor_eventlog_open(rot *r, const char *path, evidence *log, bool *consistent, rp_error *err)
{
	uint8_t pcr[ROT_PCR_COUNT][RP_SHA256_LEN] = {{0}}, replay[QUOTE_PCR_COUNT][RP_SHA256_LEN];
	evidence_free(log);
	if (rot_pcr_read(r, EVIDENCE_PCR_MASK, pcr, err) < 0)
		return -1;
	rp_error lerr = RP_ERROR_INIT;
	if (access(path, F_OK) == 0 && eventlog_load(path, log, &lerr) < 0) {
		rp_log_event(RP_LOG_WARNING, "monitor.eventlog.damaged", "measurement log unusable: %s", lerr.message);
		evidence_free(log);
	}
	evidence_replay(log, replay);
	bool zero = true, match = true;
	static const uint8_t zeros[RP_SHA256_LEN];
	for (unsigned i = EVIDENCE_PCR_FIRST; i <= EVIDENCE_PCR_LAST; i++) {
		zero = zero && memcmp(pcr[i], zeros, RP_SHA256_LEN) == 0;
		match = match && memcmp(pcr[i], replay[i], RP_SHA256_LEN) == 0;
	}
	if (match) {
		*consistent = true;
		return 0;
	}
	if (zero) {
		evidence_free(log);
		*consistent = true;
		rp_log_event(RP_LOG_NOTICE, "monitor.eventlog.reset", "new boot: starting an empty measurement log");
		return monitor_eventlog_save(path, log, err);
	}
	*consistent = false;
	rp_log_event(RP_LOG_ERROR, "monitor.eventlog.inconsistent",
	             "the measurement log does not replay to PCRs 8..15; attestation is refused until the next boot");
	return 0;
}

int monitor_eventlog_extend(rot *r, const char *path, evidence *log, unsigned pcr, const char *name,
                            const char *version, const uint8_t digest[RP_SHA256_LEN], rp_error *err)
{
	if (log->n_log >= EVIDENCE_MAX_LOG)
		return rp_error_set(err, RP_E_LIMIT, "the measurement log is full (%d entries)", EVIDENCE_MAX_LOG);
	/* Validate before the PCR moves, so a bad name cannot leave a PCR without its entry. */
	evidence probe;
	evidence_init(&probe);
	int rc = evidence_add_measurement(&probe, pcr, name, version, digest, err);
	evidence_free(&probe);
	if (rc < 0)
		return -1;
	if (rot_pcr_extend(r, pcr, digest, err) < 0)
		return -1;
	if (evidence_add_measurement(log, pcr, name, version, digest, err) < 0)
		return -1;
	return monitor_eventlog_save(path, log, err);
}

int monitor_eventlog_measure(rot *r, const char *state_dir, unsigned pcr, const char *name, const char *version,
                             const uint8_t digest[RP_SHA256_LEN], rp_error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/monitor", state_dir);
	_cleanup_free_ char *path = monitor_eventlog_path(state_dir);
	if (rp_mkdir_p(dir, 0700, err) < 0)
		return -1;
	evidence log;
	evidence_init(&log);
	bool consistent = false;
	int rc = monitor_eventlog_open(r, path, &log, &consistent, err);
	if (rc == 0 && !consistent) {
		/* The PCR still records what runs; only attestation stays refused until the next boot. */
		rp_log_event(RP_LOG_WARNING, "monitor.eventlog.inconsistent",
		             "measuring %s into PCR %u without a usable measurement log", name, pcr);
		rc = rot_pcr_extend(r, pcr, digest, err);
	} else if (rc == 0) {
		rc = monitor_eventlog_extend(r, path, &log, pcr, name, version, digest, err);
	}
	evidence_free(&log);
	return rc < 0 ? rp_error_prefix(err, "measuring %s into PCR %u", name, pcr) : 0;
}
