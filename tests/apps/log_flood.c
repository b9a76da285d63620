/* log_flood: a static test app that attacks its own log (stdout/stderr, a regular file on the
 * device's state partition), run inside real sandboxes by tests/blackbox/test_app_logs.py. The
 * verdict is the exit status, since the log itself may be full:
 *   flood       write up to 64 MiB to stdout: 10 when a write fails with EFBIG, 11 on another
 *               error, 12 when everything was written
 *   fallocate   fallocate(KEEP_SIZE, 1 GiB) on fd 1 and on a dup of it: 0 when both are
 *               refused, 1 when either succeeds
 *   ftruncate   ftruncate(1, 0): 0 when refused with EPERM, 1 otherwise */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int flood(void)
{
	static char block[64 * 1024];
	memset(block, 'f', sizeof(block));
	block[sizeof(block) - 1] = '\n';
	for (int i = 0; i < 1024; i++) {
		ssize_t n = write(1, block, sizeof(block));
		if (n < 0)
			return errno == EFBIG ? 10 : 11;
	}
	return 12;
}

static int try_fallocate(void)
{
	int copy = dup(1);
	int a = fallocate(1, FALLOC_FL_KEEP_SIZE, 0, 1L << 30);
	int ea = errno;
	int b = copy < 0 ? 0 : fallocate(copy, FALLOC_FL_KEEP_SIZE, 0, 1L << 30);
	int eb = errno;
	printf("fallocate fd1: %s, dup: %s\n", a < 0 ? strerrorname_np(ea) : "SUCCEEDED",
	       b < 0 ? strerrorname_np(eb) : "SUCCEEDED");
	return a < 0 && b < 0 ? 0 : 1;
}

static int try_ftruncate(void)
{
	int rc = ftruncate(1, 0);
	int e = errno;
	printf("ftruncate fd1: %s\n", rc < 0 ? strerrorname_np(e) : "SUCCEEDED");
	return rc < 0 && e == EPERM ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (!strcmp(what, "flood"))
		return flood();
	if (!strcmp(what, "fallocate"))
		return try_fallocate();
	if (!strcmp(what, "ftruncate"))
		return try_ftruncate();
	printf("unknown command %s\n", what);
	return 2;
}
