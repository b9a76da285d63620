/* Test-only (tests/blackbox/test_monitor_landlock.py): applies the security monitor's hardening
 * (monitor_harden_apply, the same call rampart-monitor makes) for a state directory, backend and
 * TCTI, then tries what a subverted monitor might and prints one line per attempt:
 * "NAME ok" or "NAME ERRNO-NAME". Never installed.
 *
 * Usage: monitor-landlock-probe STATE BACKEND TCTI|- OUTSIDE-DIR [TCP-PORT...] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/monitor/monitor_harden.h"

static void report(const char *name, int rc)
{
	if (rc >= 0)
		printf("%s ok\n", name);
	else
		printf("%s %s\n", name, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	fflush(stdout);
}

static int try_create(const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int rc = write(fd, "x", 1) == 1 ? 0 : -1;
	close(fd);
	return rc;
}

static int try_open(const char *dir, const char *name, int flags)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int try_atomic(const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	rp_error err = RP_ERROR_INIT;
	int rc = rp_write_file_atomic(path, "state", 5, 0600, &err);
	if (rc < 0)
		errno = err.sys_errno ? err.sys_errno : EIO;
	rp_error_clear(&err);
	return rc;
}

static int try_rename(const char *dir, const char *from, const char *to)
{
	_cleanup_free_ char *a = xasprintf("%s/%s", dir, from);
	_cleanup_free_ char *b = xasprintf("%s/%s", dir, to);
	return rename(a, b);
}

static int try_unlink(const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	return unlink(path);
}

static int try_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: monitor-landlock-probe STATE BACKEND TCTI|- OUTSIDE-DIR [TCP-PORT...]\n");
		return 64;
	}
	rp_log_init("monitor-landlock-probe", RP_LOG_FORMAT_HUMAN, RP_LOG_DEBUG, NULL);
	const char *state = argv[1], *outside = argv[4];
	monitor_harden_config cfg = {.state_dir = state, .backend = argv[2],
	                             .tcti = strcmp(argv[3], "-") == 0 ? NULL : argv[3]};
	rp_error err = RP_ERROR_INIT;
	if (monitor_harden_apply(&cfg, &err) < 0) {
		rp_error_report(&err, "monitor-landlock-probe");
		return 1;
	}
	_cleanup_free_ char *mon = xasprintf("%s/monitor", state);
	_cleanup_free_ char *rot = xasprintf("%s/rot-%s", state, argv[2]);
	/* what the monitor needs */
	report("monitor_create", try_create(mon, "probe-new"));
	report("monitor_atomic_save", try_atomic(mon, "eventlog.bin"));
	report("monitor_rename", try_rename(mon, "probe-new", "probe-renamed"));
	report("monitor_unlink", try_unlink(mon, "probe-renamed"));
	report("rot_atomic_save", try_atomic(rot, "probe-state.bin"));
	/* what it must not do */
	report("state_create", try_create(state, "planted"));
	report("state_atomic_save", try_atomic(state, "planted.json"));
	report("outside_create", try_create(outside, "planted"));
	report("outside_write", try_open(outside, "root-owned", O_WRONLY));
	report("outside_read", try_open(outside, "root-owned", O_RDONLY));
	report("outside_unlink", try_unlink(outside, "root-owned"));
	report("etc_write", try_open("/etc", "passwd", O_WRONLY | O_APPEND));
	_cleanup_free_ char *sub = xasprintf("%s/sub", mon);
	report("monitor_mkdir", mkdir(sub, 0700));
	for (int i = 5; i < argc; i++) {
		uint32_t port = 0;
		if (rp_parse_u32(argv[i], 1, 65535, &port, &err) < 0) {
			rp_error_report(&err, "monitor-landlock-probe");
			return 64;
		}
		char name[32];
		snprintf(name, sizeof(name), "connect_%u", (unsigned)port);
		report(name, try_connect((uint16_t)port));
	}
	return 0;
}
