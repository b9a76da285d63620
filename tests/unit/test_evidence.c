/* Unit tests for attestation evidence: encode/decode round trip, verification, and every way a
 * hostile or stale evidence must be refused (wrong nonce, other device, tampered log, truncated,
 * trailing, oversized, non-canonical). Evidence is made by the soft root of trust. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "attest/evidence.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "device/rot/rot.h"

struct fixture {
	char *dir;
	rot *rot;
	EVP_PKEY *pub;
	uint8_t nonce[EVIDENCE_NONCE_LEN];
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->dir = xstrdup("/tmp/rp-evidence-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	rp_error err = RP_ERROR_INIT;
	rot_config cfg = {.create = true};
	f->rot = rot_open("soft", f->dir, &cfg, NULL, &err);
	assert_non_null(f->rot);
	f->pub = rot_identity_public_key(f->rot, &err);
	assert_non_null(f->pub);
	memset(f->nonce, 0x5a, sizeof(f->nonce));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY_free(f->pub);
	rot_close(f->rot);
	assert_int_equal(rp_remove_tree(f->dir, &err), 0);
	free(f->dir);
	free(f);
	return 0;
}

/* Quote over QUALIFYING (the claims' digest when NULL), as the monitor does: one signature. */
static void sign_claims(struct fixture *f, evidence *ev, const uint8_t *qualifying)
{
	rp_error err = RP_ERROR_INIT;
	uint8_t digest[RP_SHA256_LEN];
	assert_int_equal(evidence_claims_digest(ev, digest, &err), 0);
	rot_quote q;
	assert_int_equal(rot_quote_pcrs(f->rot, qualifying ? qualifying : digest, EVIDENCE_PCR_MASK, &q, &err), 0);
	memcpy(ev->quote_attest, q.attest, q.attest_len);
	ev->quote_attest_len = q.attest_len;
	memcpy(ev->quote_sig, q.sig, q.sig_len);
	ev->quote_sig_len = q.sig_len;
}

/* What the monitor does: measure, then build the claims and quote over their digest. */
static void make_evidence(struct fixture *f, evidence *ev, bool lie_about_log)
{
	rp_error err = RP_ERROR_INIT;
	evidence_init(ev);
	assert_int_equal(evidence_set_backend(ev, "soft", true, &err), 0);
	assert_int_equal(rot_device_id(f->rot, ev->device_id, &err), 0);
	memcpy(ev->nonce, f->nonce, EVIDENCE_NONCE_LEN);
	uint8_t d[RP_SHA256_LEN];
	memset(d, 0x42, sizeof(d));
	assert_int_equal(rot_pcr_extend(f->rot, 8, d, &err), 0);
	assert_int_equal(evidence_add_measurement(ev, 8, "os-bundle", "1.2.3", d, &err), 0);
	assert_int_equal(evidence_add_image(ev, "bbbbbbbb-2222-3333-4444-555555555555", "2", &err), 0);
	assert_int_equal(evidence_add_image(ev, "aaaaaaaa-2222-3333-4444-555555555555", "1", &err), 0);
	assert_int_equal(evidence_add_image(ev, "aaaaaaaa-2222-3333-4444-555555555555", "1", &err), -1);
	assert_int_equal(evidence_add_counter(ev, 0, 3, &err), 0);
	assert_int_equal(evidence_add_counter(ev, 0, 4, &err), -1);
	if (lie_about_log)
		ev->log[0].digest[0] ^= 1; /* the device lies about what it measured, and signs the lie */
	sign_claims(f, ev, NULL);
}

static void round_trip_and_verify(void **state)
{
	struct fixture *f = *state;
	rp_error err = RP_ERROR_INIT;
	evidence ev, back;
	make_evidence(f, &ev, false);
	rp_buf enc, enc2;
	rp_buf_init(&enc);
	rp_buf_init(&enc2);
	assert_int_equal(evidence_encode(&ev, &enc, &err), 0);
	assert_int_equal(evidence_decode(enc.data, enc.len, &back, &err), 0);
	assert_int_equal(evidence_encode(&back, &enc2, &err), 0);
	assert_int_equal(enc.len, enc2.len);
	assert_memory_equal(enc.data, enc2.data, enc.len);
	assert_string_equal(back.images[0].id, "aaaaaaaa-2222-3333-4444-555555555555");
	assert_int_equal(evidence_verify(&back, f->pub, f->nonce, &err), 0);
	json_t *j = evidence_to_json(&back);
	assert_non_null(j);
	json_decref(j);
	/* wrong nonce */
	uint8_t other[EVIDENCE_NONCE_LEN];
	memset(other, 1, sizeof(other));
	assert_int_equal(evidence_verify(&back, f->pub, other, &err), -1);
	assert_non_null(strstr(err.message, "nonce"));
	/* another device's key */
	EVP_PKEY *k = rp_key_generate_p256(&err);
	assert_int_equal(evidence_verify(&back, k, f->nonce, &err), -1);
	assert_non_null(strstr(err.message, "not the registered device"));
	/* another key claiming this device ID: the signature check catches it */
	memcpy(back.device_id, ev.device_id, RP_KEY_ID_LEN);
	assert_int_equal(rp_key_id(k, back.device_id, &err), 0);
	assert_int_equal(evidence_verify(&back, k, f->nonce, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	EVP_PKEY_free(k);
	/* tampered log without re-signing: the measurement's version string "1.2.3" becomes "1.2.2",
	 * which still decodes (and leaves the PCR replay alone), so only the quote's qualifying data
	 * (the digest of the claims) catches it */
	evidence_free(&back);
	uint8_t *ver = memmem(enc.data, enc.len, "1.2.3", 5);
	assert_non_null(ver);
	ver[4] ^= 1;
	rp_error_clear(&err);
	assert_int_equal(evidence_decode(enc.data, enc.len, &back, &err), 0);
	assert_string_equal(back.log[0].version, "1.2.2");
	assert_int_equal(evidence_verify(&back, f->pub, f->nonce, &err), -1);
	assert_int_equal(err.code, RP_E_VERIFY);
	assert_non_null(strstr(err.message, "the quote does not sign these claims"));
	evidence_free(&back);
	/* a quote over the bare nonce (what a monitor that quoted caller-chosen data would give) signs
	 * no claims: refused although the key, nonce and PCRs are right */
	sign_claims(f, &ev, f->nonce);
	assert_int_equal(evidence_verify(&ev, f->pub, f->nonce, &err), -1);
	assert_non_null(strstr(err.message, "the quote does not sign these claims"));
	/* the same claims quoted over their digest verify */
	sign_claims(f, &ev, NULL);
	assert_int_equal(evidence_verify(&ev, f->pub, f->nonce, &err), 0);
	/* a quote signed by another key over this evidence's claims */
	EVP_PKEY *k2 = rp_key_generate_p256(&err);
	assert_non_null(k2);
	assert_int_equal(rp_ecdsa_sign(k2, ev.quote_attest, ev.quote_attest_len, ev.quote_sig, &ev.quote_sig_len, &err), 0);
	assert_int_equal(evidence_verify(&ev, f->pub, f->nonce, &err), -1);
	assert_non_null(strstr(err.message, "not signed by the device's registered identity key"));
	EVP_PKEY_free(k2);
	evidence_free(&ev);
	rp_buf_free(&enc);
	rp_buf_free(&enc2);
}

static void tampered_log_fails_quote(void **state)
{
	struct fixture *f = *state;
	rp_error err = RP_ERROR_INIT;
	evidence ev;
	make_evidence(f, &ev, true);
	assert_int_equal(evidence_verify(&ev, f->pub, f->nonce, &err), -1);
	assert_non_null(strstr(err.message, "does not match the replayed measurement log"));
	evidence_free(&ev);
}

static void hostile_encodings_are_refused(void **state)
{
	struct fixture *f = *state;
	rp_error err = RP_ERROR_INIT;
	evidence ev, back;
	make_evidence(f, &ev, false);
	rp_buf enc;
	rp_buf_init(&enc);
	assert_int_equal(evidence_encode(&ev, &enc, &err), 0);
	/* every truncation fails cleanly */
	for (size_t n = 0; n < enc.len; n++) {
		assert_int_equal(evidence_decode(enc.data, n, &back, &err), -1);
		evidence_free(&back);
	}
	/* trailing data */
	uint8_t *longer = xmalloc(enc.len + 1);
	memcpy(longer, enc.data, enc.len);
	longer[enc.len] = 0;
	assert_int_equal(evidence_decode(longer, enc.len + 1, &back, &err), -1);
	assert_non_null(strstr(err.message, "trailing"));
	evidence_free(&back);
	free(longer);
	/* version 3, and version 1 (a body signature beside the quote) named as retired */
	enc.data[5] = 3;
	assert_int_equal(evidence_decode(enc.data, enc.len, &back, &err), -1);
	assert_int_equal(err.code, RP_E_UNSUPPORTED);
	evidence_free(&back);
	enc.data[5] = 1;
	assert_int_equal(evidence_decode(enc.data, enc.len, &back, &err), -1);
	assert_int_equal(err.code, RP_E_UNSUPPORTED);
	assert_non_null(strstr(err.message, "version 1"));
	evidence_free(&back);
	enc.data[5] = 2;
	/* a quote that is not a TPMS_ATTEST quote (its magic flipped) is malformed evidence */
	uint8_t *magic = memmem(enc.data, enc.len, "\xff\x54\x43\x47", 4);
	assert_non_null(magic);
	magic[0] = 0;
	assert_int_equal(evidence_decode(enc.data, enc.len, &back, &err), -1);
	assert_int_equal(err.code, RP_E_INVALID);
	evidence_free(&back);
	magic[0] = 0xff;
	assert_int_equal(evidence_decode(enc.data, enc.len, &back, &err), 0);
	evidence_free(&back);
	/* bad magic */
	enc.data[0] = 'X';
	assert_int_equal(evidence_decode(enc.data, enc.len, &back, &err), -1);
	assert_non_null(strstr(err.message, "magic"));
	evidence_free(&back);
	/* oversized */
	uint8_t *big = xcalloc(1, EVIDENCE_MAX_LEN + 1);
	assert_int_equal(evidence_decode(big, EVIDENCE_MAX_LEN + 1, &back, &err), -1);
	assert_int_equal(err.code, RP_E_LIMIT);
	evidence_free(&back);
	free(big);
	/* bad builder input */
	uint8_t d[32] = {0};
	assert_int_equal(evidence_add_measurement(&ev, 3, "x", "", d, &err), -1);
	assert_int_equal(evidence_add_measurement(&ev, 8, "bad name", "", d, &err), -1);
	assert_int_equal(evidence_add_measurement(&ev, 8, "ok", "has space", d, &err), -1);
	assert_int_equal(evidence_add_image(&ev, "AAAAAAAA-2222-3333-4444-555555555555", "1", &err), -1);
	/* a soft evidence claiming to be secure is refused */
	ev.insecure = false;
	sign_claims(f, &ev, NULL);
	assert_int_equal(evidence_verify(&ev, f->pub, f->nonce, &err), -1);
	assert_non_null(strstr(err.message, "inconsistent"));
	evidence_free(&ev);
	rp_buf_free(&enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(round_trip_and_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(tampered_log_fails_quote, setup, teardown),
		cmocka_unit_test_setup_teardown(hostile_encodings_are_refused, setup, teardown),
	};
	return cmocka_run_group_tests_name("evidence", tests, NULL, NULL);
}
