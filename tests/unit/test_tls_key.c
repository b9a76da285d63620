/* tls_key: a P-256 service key signs TLS handshakes through libcrypto. Proven by real GnuTLS
 * handshakes over a socketpair (TLS 1.3 and 1.2) whose client checks the server's signature
 * against the certificate, and by a count of the signatures the key made; other key types and
 * mismatched pairs are refused at load. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "common/crypto.h"
#include "common/macros.h"
#include "common/xalloc.h"
#include "service/tls_cert.h"
#include "service/tls_key.h"

static char *pem_private(EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	char *out = xstrndup(data, (size_t)len);
	BIO_free(bio);
	return out;
}

struct pair {
	char *cert_pem, *key_pem;
};

static struct pair p256_pair(void)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_pkey_ EVP_PKEY *key = rp_key_generate_p256(&err);
	assert_non_null(key);
	const char *sans[] = {"127.0.0.1"};
	struct pair p = {.cert_pem = tls_cert_self_signed_pem(key, sans, 1, 2, time(NULL), &err), .key_pem = pem_private(key)};
	assert_non_null(p.cert_pem);
	return p;
}

static void pair_free(struct pair *p)
{
	free(p->cert_pem);
	free(p->key_pem);
}

struct server_run {
	int fd;
	const char *priority;
	int rc;
};

static void *server_side(void *arg)
{
	struct server_run *r = arg;
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_certificate_set_retrieve_function2(cred, tls_key_retrieve);
	gnutls_init(&s, GNUTLS_SERVER);
	gnutls_priority_set_direct(s, r->priority, NULL);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_transport_set_int(s, r->fd);
	gnutls_handshake_set_timeout(s, 10000);
	do
		r->rc = gnutls_handshake(s);
	while (r->rc < 0 && !gnutls_error_is_fatal(r->rc));
	if (r->rc == 0)
		gnutls_bye(s, GNUTLS_SHUT_WR);
	gnutls_deinit(s);
	close(r->fd); /* a failed handshake need not send an alert: the client sees the close */
	gnutls_certificate_free_credentials(cred);
	return NULL;
}

/* One handshake with the served key; returns the client's result (0: the server's certificate
 * verified against CERT_PEM as the only trust anchor and its handshake signature checked). */
static int handshake(const char *cert_pem, const char *priority)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct server_run run = {.fd = sv[0], .priority = priority};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, server_side, &run), 0);
	gnutls_certificate_credentials_t cred;
	gnutls_session_t c;
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_datum_t ca = {.data = (unsigned char *)cert_pem, .size = (unsigned int)strlen(cert_pem)};
	assert_true(gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM) > 0);
	gnutls_init(&c, GNUTLS_CLIENT);
	gnutls_priority_set_direct(c, priority, NULL);
	gnutls_credentials_set(c, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_session_set_verify_cert(c, "127.0.0.1", 0);
	gnutls_transport_set_int(c, sv[1]);
	gnutls_handshake_set_timeout(c, 10000);
	int rc;
	do
		rc = gnutls_handshake(c);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	gnutls_deinit(c);
	close(sv[1]);
	pthread_join(t, NULL);
	gnutls_certificate_free_credentials(cred);
	return rc;
}

static void p256_key_signs_handshakes(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct pair p = p256_pair();
	struct tls_key *k = tls_key_load(p.cert_pem, p.key_pem, &err);
	if (!k)
		fail_msg("%s", err.message);
	tls_key_serve(k);
	const char *prios[] = {"NORMAL:-VERS-ALL:+VERS-TLS1.3", "NORMAL:-VERS-ALL:+VERS-TLS1.2"};
	for (size_t i = 0; i < RP_ARRAY_SIZE(prios); i++) {
		unsigned long before = tls_key_signatures(k);
		int rc = handshake(p.cert_pem, prios[i]);
		if (rc != 0)
			fail_msg("%s: %s", prios[i], gnutls_strerror(rc));
		assert_int_equal(tls_key_signatures(k), before + 1);
	}
	/* A client that trusts another certificate refuses this one. */
	struct pair other = p256_pair();
	assert_int_not_equal(handshake(other.cert_pem, prios[0]), 0);
	pair_free(&other);
	tls_key_free(k); /* also stops serving it */
	assert_int_not_equal(handshake(p.cert_pem, prios[0]), 0);
	pair_free(&p);
}

static void other_keys_and_mismatched_pairs_are_refused(void **state)
{
	(void)state;
	rp_error err = RP_ERROR_INIT;
	struct pair p = p256_pair();
	struct pair q = p256_pair();
	/* The key of another certificate. */
	assert_null(tls_key_load(p.cert_pem, q.key_pem, &err));
	assert_int_equal(err.code, RP_E_INVALID);
	assert_non_null(strstr(err.message, "not the key of the TLS certificate"));
	rp_error_clear(&err);
	/* Not a key at all. */
	assert_null(tls_key_load(p.cert_pem, p.cert_pem, &err));
	assert_int_not_equal(err.code, RP_E_UNSUPPORTED);
	rp_error_clear(&err);
	/* Ed25519 and RSA stay with the TLS library. */
	EVP_PKEY *keys[] = {EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)};
	for (size_t i = 0; i < RP_ARRAY_SIZE(keys); i++) {
		EVP_PKEY *key = keys[i];
		assert_non_null(key);
		_cleanup_free_ char *pem = pem_private(key);
		assert_null(tls_key_load(p.cert_pem, pem, &err));
		assert_int_equal(err.code, RP_E_UNSUPPORTED);
		rp_error_clear(&err);
		EVP_PKEY_free(key);
	}
	pair_free(&p);
	pair_free(&q);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* a side that gave up closes its end while the other still writes */
	gnutls_global_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(p256_key_signs_handshakes),
		cmocka_unit_test(other_keys_and_mismatched_pairs_are_refused),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	gnutls_global_deinit();
	return rc;
}
