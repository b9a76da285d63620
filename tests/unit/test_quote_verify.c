/* Unit tests for the pure quote verifier against real TPM2_Quote output: the test starts swtpm
 * on loopback, provisions the tpm2 root of trust, and checks quotes, evidence, counters and the
 * restricted identity key. Skipped (with the reason) only when swtpm is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "attest/evidence.h"
#include "attest/quote_verify.h"
#include "common/fileio.h"
#include "common/xalloc.h"
#include "device/monitor/monitor_protocol.h"
#include "device/monitor/monitor_server.h"
#include "device/rot/rot.h"

extern char **environ;

struct fixture {
	char *dir;
	pid_t swtpm;
	char tcti[96];
};

static bool port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->dir = xstrdup("/tmp/rp-quote-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	_cleanup_free_ char *tpmdir = xasprintf("%s/tpm", f->dir);
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(rp_mkdir_p(tpmdir, 0700, &err), 0);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int attempt = 0; attempt < 10 && !f->swtpm; attempt++) {
		int port = 20000 + rand() % 20000;
		if (port_open(port) || port_open(port + 1))
			continue;
		_cleanup_free_ char *server = xasprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port);
		_cleanup_free_ char *ctrl = xasprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
		_cleanup_free_ char *st = xasprintf("dir=%s", tpmdir);
		char *argv[] = {"swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl, "--tpmstate", st,
		                "--flags", "not-need-init,startup-clear", NULL};
		pid_t pid = 0;
		assert_int_equal(posix_spawn(&pid, "/usr/bin/swtpm", NULL, NULL, argv, environ), 0);
		for (int i = 0; i < 100 && !port_open(port); i++) {
			struct timespec ts = {0, 50 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		if (!port_open(port)) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			continue;
		}
		f->swtpm = pid;
		snprintf(f->tcti, sizeof(f->tcti), "swtpm:host=127.0.0.1,port=%d", port);
	}
	assert_true(f->swtpm > 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rp_error err = RP_ERROR_INIT;
	kill(f->swtpm, SIGTERM);
	waitpid(f->swtpm, NULL, 0);
	assert_int_equal(rp_remove_tree(f->dir, &err), 0);
	free(f->dir);
	free(f);
	return 0;
}

static rot *open_tpm2(struct fixture *f, bool create)
{
	rp_error err = RP_ERROR_INIT;
	rot_config cfg = {.tcti = f->tcti, .create = create};
	rot *r = rot_open("tpm2", f->dir, &cfg, NULL, &err);
	if (!r)
		print_message("rot_open: %s\n", err.message);
	assert_non_null(r);
	return r;
}

static void real_quote_verifies(void **state)
{
	struct fixture *f = *state;
	rp_error err = RP_ERROR_INIT;
	rot *r = open_tpm2(f, true);
	assert_false(rot_insecure(r));
	uint8_t d[32], nonce[32], values[ROT_PCR_COUNT][32];
	memset(d, 0x31, sizeof(d));
	assert_int_equal(rot_random(r, nonce, sizeof(nonce), &err), 0);
	/* PCR 16 (debug) so the monitor test below still sees an unmeasured 8..15 */
	assert_int_equal(rot_pcr_extend(r, 16, d, &err), 0);
	rot_quote q;
	assert_int_equal(rot_quote_pcrs(r, nonce, 1u << 16, &q, &err), 0);
	/* the verifier replays from zero, as the service does */
	uint8_t buf[64] = {0};
	memcpy(buf + 32, d, 32);
	memset(values, 0, sizeof(values));
	rp_sha256_buf(buf, 64, values[16]);
	EVP_PKEY *pub = rot_identity_public_key(r, &err);
	quote_info info;
	assert_int_equal(quote_verify(pub, q.attest, q.attest_len, q.sig, q.sig_len, nonce, 32, 1u << 16,
	                              (const uint8_t(*)[32])values, &info, &err), 0);
	assert_int_equal(info.pcr_mask, 1u << 16);
	/* a different replay (a lying log) does not match */
	values[16][0] ^= 1;
	assert_int_equal(quote_verify(pub, q.attest, q.attest_len, q.sig, q.sig_len, nonce, 32, 1u << 16,
	                              (const uint8_t(*)[32])values, NULL, &err), -1);
	assert_non_null(strstr(err.message, "replayed"));
	values[16][0] ^= 1;
	/* a flipped attest byte breaks the signature */
	q.attest[q.attest_len - 1] ^= 1;
	assert_int_equal(quote_verify(pub, q.attest, q.attest_len, q.sig, q.sig_len, nonce, 32, 1u << 16,
	                              (const uint8_t(*)[32])values, NULL, &err), -1);
	q.attest[q.attest_len - 1] ^= 1;
	EVP_PKEY_free(pub);
	rot_close(r);
}

static void counters_and_identity_persist(void **state)
{
	struct fixture *f = *state;
	rp_error err = RP_ERROR_INIT;
	uint8_t id1[32], id2[32];
	uint64_t v = 9;
	rot *r = open_tpm2(f, true);
	assert_int_equal(rot_device_id(r, id1, &err), 0);
	assert_int_equal(rot_counter_read(r, 1, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(rot_counter_advance_to(r, 1, 3, &err), 0);
	assert_int_equal(rot_counter_advance_to(r, 1, 2, &err), -1);
	assert_int_equal(err.code, RP_E_CONFLICT);
	rot_close(r);
	r = open_tpm2(f, false);
	assert_int_equal(rot_device_id(r, id2, &err), 0);
	assert_memory_equal(id1, id2, 32);
	assert_int_equal(rot_counter_read(r, 1, &v, &err), 0);
	assert_int_equal(v, 3);
	/* a counter never used still reads 0, whatever the others hold */
	assert_int_equal(rot_counter_read(r, 2, &v, &err), 0);
	assert_int_equal(v, 0);
	rot_close(r);
}

static void monitor_evidence_verifies(void **state)
{
	struct fixture *f = *state;
	rp_error err = RP_ERROR_INIT;
	rot *r = open_tpm2(f, true);
	EVP_PKEY *pub = rot_identity_public_key(r, &err);
	_cleanup_free_ char *log = xasprintf("%s/eventlog.bin", f->dir);
	monitor_policy p = {0};
	monitor_server *s = monitor_server_new(r, &p, log, &err);
	assert_non_null(s);
	monitor_request *req = xcalloc(1, sizeof(*req));
	req->type = MONITOR_MSG_ATTEST;
	memset(req->u.attest.nonce, 0x77, 32);
	rp_buf msg, reply;
	rp_buf_init(&msg);
	rp_buf_init(&reply);
	assert_int_equal(monitor_request_encode(req, &msg, &err), 0);
	monitor_server_handle(s, 0, MONITOR_ROLE_AGENT, msg.data, msg.len, &reply);
	const uint8_t *pl = NULL;
	size_t len = 0;
	assert_int_equal(monitor_response_decode(reply.data, reply.len, MONITOR_MSG_ATTEST, &pl, &len, &err), 0);
	evidence ev;
	assert_int_equal(evidence_decode(pl, len, &ev, &err), 0);
	assert_string_equal(ev.backend, "tpm2");
	if (evidence_verify(&ev, pub, req->u.attest.nonce, &err) < 0)
		fail_msg("%s", err.message);
	evidence_free(&ev);
	monitor_server_free(s);
	/* a PCR extended behind the monitor's back: the log no longer replays, ATTEST is refused */
	r = open_tpm2(f, false);
	uint8_t d[32] = {1};
	assert_int_equal(rot_pcr_extend(r, 10, d, &err), 0);
	s = monitor_server_new(r, &p, log, &err);
	assert_non_null(s);
	rp_buf_free(&reply);
	rp_buf_init(&reply);
	monitor_server_handle(s, 0, MONITOR_ROLE_AGENT, msg.data, msg.len, &reply);
	assert_int_equal(monitor_response_decode(reply.data, reply.len, MONITOR_MSG_ATTEST, &pl, &len, &err), -1);
	assert_int_equal(err.code, RP_E_CONFLICT);
	assert_non_null(strstr(err.message, "does not replay to the PCRs"));
	rp_buf_free(&msg);
	rp_buf_free(&reply);
	free(req);
	EVP_PKEY_free(pub);
	monitor_server_free(s);
}

int main(void)
{
	if (access("/usr/bin/swtpm", X_OK) != 0) {
		printf("SKIP: swtpm is not installed (apt-get install swtpm); the tpm2 tests need it\n");
		return 77; /* meson's "skipped" */
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_quote_verifies),
		cmocka_unit_test(counters_and_identity_persist),
		cmocka_unit_test(monitor_evidence_verifies),
	};
	return cmocka_run_group_tests_name("quote_verify", tests, setup, teardown);
}
