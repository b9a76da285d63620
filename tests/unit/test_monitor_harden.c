/* Unit tests for the security monitor's hardening: which TCTIs count as TCP, and that the
 * seccomp filter really refuses TCP sockets unless the TPM is reached over TCP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device/monitor/monitor_harden.h"

static void tcp_tctis_are_recognised(void **state)
{
	(void)state;
	assert_true(monitor_harden_tcti_is_tcp("swtpm:host=127.0.0.1,port=2321"));
	assert_true(monitor_harden_tcti_is_tcp("mssim"));
	assert_true(monitor_harden_tcti_is_tcp("libtss2-tcti-swtpm.so.0:port=2321"));
	assert_false(monitor_harden_tcti_is_tcp(NULL));
	assert_false(monitor_harden_tcti_is_tcp("device:/dev/tpmrm0"));
	assert_false(monitor_harden_tcti_is_tcp("tabrmd"));
	/* only the TCTI's name counts, not its configuration */
	assert_false(monitor_harden_tcti_is_tcp("device:/dev/swtpm0"));
}

static void tcti_device_and_port_are_parsed(void **state)
{
	(void)state;
	char buf[64];
	assert_string_equal(monitor_harden_tcti_device(NULL, buf, sizeof(buf)), "/dev/tpmrm0");
	assert_string_equal(monitor_harden_tcti_device("device:/dev/tpm0", buf, sizeof(buf)), "/dev/tpm0");
	assert_string_equal(monitor_harden_tcti_device("device", buf, sizeof(buf)), "/dev/tpm0");
	assert_string_equal(monitor_harden_tcti_device("libtss2-tcti-device.so.0:/dev/tpmrm1", buf, sizeof(buf)),
	                    "/dev/tpmrm1");
	assert_null(monitor_harden_tcti_device("swtpm:host=127.0.0.1,port=2321", buf, sizeof(buf)));
	assert_null(monitor_harden_tcti_device("tabrmd:bus_type=system", buf, sizeof(buf)));
	assert_null(monitor_harden_tcti_device("device:/dev/a-very-long-path", buf, 8));
	uint16_t port = 0;
	rp_error err = RP_ERROR_INIT;
	assert_int_equal(monitor_harden_tcti_port("swtpm:host=127.0.0.1,port=40123", &port, &err), 0);
	assert_int_equal(port, 40123);
	assert_int_equal(monitor_harden_tcti_port("mssim:port=2400,host=localhost", &port, &err), 0);
	assert_int_equal(port, 2400);
	assert_int_equal(monitor_harden_tcti_port("swtpm", &port, &err), 0);
	assert_int_equal(port, 2321);
	assert_int_equal(monitor_harden_tcti_port("swtpm:host=127.0.0.1", &port, &err), 0);
	assert_int_equal(port, 2321);
	assert_int_equal(monitor_harden_tcti_port("swtpm:port=65536", &port, &err), -1);
	assert_non_null(strstr(err.message, "port"));
	rp_error_clear(&err);
	assert_int_equal(monitor_harden_tcti_port("swtpm:port=12x", &port, &err), -1);
	rp_error_clear(&err);
	assert_int_equal(monitor_harden_tcti_port("swtpm:port=123456789", &port, &err), -1);
	rp_error_clear(&err);
	assert_int_equal(monitor_harden_tcti_port("swtpm:port=", &port, &err), -1);
	rp_error_clear(&err);
}

/* In a child: harden, then report which socket families can still be created. */
static int child_sockets(bool allow_inet)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rp_error err = RP_ERROR_INIT;
		/* A state directory of the layout the monitor keeps writable (STATE/monitor, STATE/rot-*). */
		char state[] = "/tmp/rp-harden-XXXXXX";
		if (!mkdtemp(state))
			_exit(101);
		const char *backend = allow_inet ? "tpm2" : "soft";
		char dir[64];
		snprintf(dir, sizeof(dir), "%s/monitor", state);
		if (mkdir(dir, 0700) < 0)
			_exit(102);
		snprintf(dir, sizeof(dir), "%s/rot-%s", state, backend);
		if (mkdir(dir, 0700) < 0)
			_exit(103);
		monitor_harden_config cfg = {.state_dir = state, .backend = backend,
		                             .tcti = allow_inet ? "swtpm:host=127.0.0.1,port=2321" : NULL};
		if (monitor_harden_apply(&cfg, &err) < 0)
			_exit(100);
		int code = 0;
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			code |= 1;
			close(fd);
		}
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			code |= 2;
			close(fd);
		} else if (errno != EPERM)
			code |= 8;
		fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			code |= 4;
			close(fd);
		}
		_exit(code);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void tcp_sockets_only_for_a_tcp_tcti(void **state)
{
	(void)state;
	assert_int_equal(child_sockets(false), 1);
	int both = child_sockets(true);
	assert_int_equal(both & 3, 3); /* AF_INET6 may be absent from the kernel */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tcp_tctis_are_recognised),
		cmocka_unit_test(tcti_device_and_port_are_parsed),
		cmocka_unit_test(tcp_sockets_only_for_a_tcp_tcti),
	};
	return cmocka_run_group_tests_name("monitor_harden", tests, NULL, NULL);
}
