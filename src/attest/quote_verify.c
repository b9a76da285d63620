/* TPMS_ATTEST quotes: marshalling (soft backend), strict parsing and verification (service).
 * Everything here reads bytes a device sent, so every size is bounded before it is used. */
#include <string.h>

#include "attest/quote_verify.h"

void quote_pcr_digest(uint32_t mask, const uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN], uint8_t out[RP_SHA256_LEN])
{
	uint8_t buf[QUOTE_PCR_COUNT * RP_SHA256_LEN];
	size_t n = 0;
	for (unsigned i = 0; i < QUOTE_PCR_COUNT; i++)
		if (mask & (1u << i)) {
			memcpy(buf + n, values[i], RP_SHA256_LEN);
			n += RP_SHA256_LEN;
		}
	rp_sha256_buf(buf, n, out);
}

void quote_attest_build(rp_buf *out, const uint8_t *signer_name, size_t signer_name_len, const uint8_t *nonce,
                        size_t nonce_len, uint32_t pcr_mask, const uint8_t pcr_digest[RP_SHA256_LEN], uint64_t clock)
{
	rp_buf_u32(out, QUOTE_TPM_GENERATED);
	rp_buf_u16(out, QUOTE_ST_ATTEST_QUOTE);
	rp_buf_u16(out, (uint16_t)signer_name_len);
	rp_buf_append(out, signer_name, signer_name_len);
	rp_buf_u16(out, (uint16_t)nonce_len);
	rp_buf_append(out, nonce, nonce_len);
	rp_buf_u64(out, clock); /* TPMS_CLOCK_INFO */
	rp_buf_u32(out, 0);     /* resetCount */
	rp_buf_u32(out, 0);     /* restartCount */
	rp_buf_u8(out, 1);      /* safe */
	rp_buf_u64(out, 0);     /* firmwareVersion */
	rp_buf_u32(out, 1);     /* TPML_PCR_SELECTION.count */
	rp_buf_u16(out, QUOTE_ALG_SHA256);
	rp_buf_u8(out, 3);
	rp_buf_u8(out, (uint8_t)pcr_mask);
	rp_buf_u8(out, (uint8_t)(pcr_mask >> 8));
	rp_buf_u8(out, (uint8_t)(pcr_mask >> 16));
	rp_buf_u16(out, RP_SHA256_LEN);
	rp_buf_append(out, pcr_digest, RP_SHA256_LEN);
}

int quote_attest_parse(const uint8_t *attest, size_t len, quote_info *out, rp_error *err)
{
	memset(out, 0, sizeof(*out));
	if (len > QUOTE_ATTEST_MAX)
		return rp_error_set(err, RP_E_LIMIT, "quote: %zu bytes is above the limit of %d", len, QUOTE_ATTEST_MAX);
	rp_reader r;
	rp_reader_init(&r, attest, len);
	uint32_t magic = 0, count = 0;
	uint16_t type = 0, name_len = 0, extra_len = 0, hash = 0, digest_len = 0;
	uint8_t safe = 0, select_size = 0;
	if (!rp_reader_u32(&r, "magic", &magic) || !rp_reader_u16(&r, "type", &type))
		return rp_error_set(err, RP_E_INVALID, "quote: truncated header");
	/* Defends against a signature over arbitrary bytes being presented as a TPM attestation. */
	if (magic != QUOTE_TPM_GENERATED)
		return rp_error_set(err, RP_E_INVALID, "quote: magic is 0x%08x, not TPM_GENERATED_VALUE", magic);
	if (type != QUOTE_ST_ATTEST_QUOTE)
		return rp_error_set(err, RP_E_INVALID, "quote: attestation type is 0x%04x, not TPM_ST_ATTEST_QUOTE", type);
	const uint8_t *skip = NULL;
	if (!rp_reader_u16(&r, "qualifiedSigner.size", &name_len))
		return rp_error_set(err, RP_E_INVALID, "quote: truncated qualifiedSigner");
	if (name_len > 68)
		return rp_error_set(err, RP_E_INVALID, "quote: qualifiedSigner of %u bytes is too long", name_len);
	if (!rp_reader_view(&r, "qualifiedSigner", &skip, name_len) || !rp_reader_u16(&r, "extraData.size", &extra_len))
		return rp_error_set(err, RP_E_INVALID, "quote: truncated qualifiedSigner");
	if (extra_len > QUOTE_NONCE_MAX)
		return rp_error_set(err, RP_E_INVALID, "quote: extraData of %u bytes is too long", extra_len);
	out->nonce_len = extra_len;
	rp_reader_bytes(&r, "extraData", out->nonce, extra_len);
	rp_reader_u64(&r, "clock", &out->clock);
	rp_reader_u32(&r, "resetCount", &out->reset_count);
	rp_reader_u32(&r, "restartCount", &out->restart_count);
	rp_reader_u8(&r, "safe", &safe);
	rp_reader_u64(&r, "firmwareVersion", &out->firmware_version);
	rp_reader_u32(&r, "pcrSelect.count", &count);
	if (!rp_reader_ok(&r))
		return rp_error_set(err, RP_E_INVALID, "quote: truncated at %s", r.failed_field);
	if (count != 1)
		return rp_error_set(err, RP_E_INVALID, "quote: %u PCR banks selected; exactly one (SHA-256) is accepted",
		                    count);
	rp_reader_u16(&r, "pcrSelect.hash", &hash);
	rp_reader_u8(&r, "pcrSelect.sizeofSelect", &select_size);
	if (!rp_reader_ok(&r))
		return rp_error_set(err, RP_E_INVALID, "quote: truncated at %s", r.failed_field);
	if (hash != QUOTE_ALG_SHA256)
		return rp_error_set(err, RP_E_INVALID, "quote: PCR bank 0x%04x is not SHA-256", hash);
	if (select_size < 1 || select_size > 4)
		return rp_error_set(err, RP_E_INVALID, "quote: PCR selection of %u bytes is out of range 1..4", select_size);
	uint8_t sel[4] = {0};
	rp_reader_bytes(&r, "pcrSelect", sel, select_size);
	uint32_t mask = (uint32_t)sel[0] | (uint32_t)sel[1] << 8 | (uint32_t)sel[2] << 16 | (uint32_t)sel[3] << 24;
	if (mask >> QUOTE_PCR_COUNT)
		return rp_error_set(err, RP_E_INVALID, "quote: selects PCRs above %d", QUOTE_PCR_COUNT - 1);
	out->pcr_mask = mask;
	rp_reader_u16(&r, "pcrDigest.size", &digest_len);
	if (rp_reader_ok(&r) && digest_len != RP_SHA256_LEN)
		return rp_error_set(err, RP_E_INVALID, "quote: pcrDigest is %u bytes, not 32", digest_len);
	rp_reader_bytes(&r, "pcrDigest", out->pcr_digest, RP_SHA256_LEN);
	if (rp_reader_finish(&r, "quote", err) < 0)
		return -1;
	return 0;
}

int quote_check_pcrs(const quote_info *info, uint32_t required_mask, const uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN],
                     rp_error *err)
{
	if ((info->pcr_mask & required_mask) != required_mask)
		return rp_error_set(err, RP_E_VERIFY, "quote: covers PCRs 0x%06x but the measurement log uses 0x%06x",
		                    info->pcr_mask, required_mask);
	uint8_t digest[RP_SHA256_LEN];
	quote_pcr_digest(info->pcr_mask, values, digest);
	if (memcmp(digest, info->pcr_digest, RP_SHA256_LEN) != 0)
		return rp_error_set(err, RP_E_VERIFY,
		                    "quote: the quoted PCR digest does not match the replayed measurement log "
		                    "(the log was tampered with or is incomplete)");
	return 0;
}

int quote_verify(rp_key *key, const uint8_t *attest, size_t attest_len, const uint8_t *sig, size_t sig_len,
                 const uint8_t *nonce, size_t nonce_len, uint32_t required_mask,
                 const uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN], quote_info *out, rp_error *err)
{
	quote_info info;
	if (quote_attest_parse(attest, attest_len, &info, err) < 0)
		return -1;
	if (rp_ecdsa_verify(key, attest, attest_len, sig, sig_len, err) < 0)
		return rp_error_prefix(err, "quote signature is not by the device's identity key");
	if (info.nonce_len != nonce_len || memcmp(info.nonce, nonce, nonce_len) != 0)
		return rp_error_set(err, RP_E_VERIFY, "quote: qualifying data is not the expected nonce (stale or replayed)");
	if (quote_check_pcrs(&info, required_mask, values, err) < 0)
		return -1;
	if (out)
		*out = info;
	return 0;
}
