/* bench/app_start: time from a start request to an app's first instruction (it writes a marker
 * line to stdout) for rampart-appmgr, bwrap and crun running the same static binary, measured
 * the same way for all three: an inotify watch on the file that receives the app's stdout. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what)
{
	fprintf(stderr, "app_start: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Block until FILE is modified (the marker), return the time. */
static double wait_modified(int ino)
{
	char buf[4096];
	struct pollfd pfd = {.fd = ino, .events = POLLIN};
	if (poll(&pfd, 1, 10000) != 1) {
		fprintf(stderr, "app_start: no marker within 10 s (did the container fail to start?)\n");
		exit(1);
	}
	if (read(ino, buf, sizeof(buf)) <= 0)
		die("inotify read");
	return now_us();
}

static int watch(const char *file, int *wd)
{
	int ino = inotify_init1(IN_CLOEXEC);
	if (ino < 0)
		die("inotify_init1");
	*wd = inotify_add_watch(ino, file, IN_MODIFY);
	if (*wd < 0)
		die(file);
	return ino;
}

static int ctl(const char *sock, const char *op, const char *cid, char *reply, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect to rampart-appmgr");
	char req[256];
	int n = snprintf(req, sizeof(req), "{\"version\":1,\"op\":\"%s\",\"app\":\"%s\"}", op, cid);
	if (send(fd, req, (size_t)n, 0) < 0)
		die("send");
	return fd; /* the caller reads the reply when it wants to */
	(void)reply;
	(void)len;
}

static double run_manager(const char *sock, const char *cid, const char *log)
{
	int wd, ino = watch(log, &wd);
	double t0 = now_us();
	int fd = ctl(sock, "start", cid, NULL, 0);
	double t1 = wait_modified(ino);
	char reply[4096];
	ssize_t n = recv(fd, reply, sizeof(reply) - 1, 0);
	close(fd);
	if (n <= 0 || !strstr(reply, "\"ok\":true")) {
		fprintf(stderr, "app_start: start refused: %.*s\n", (int)(n > 0 ? n : 0), reply);
		exit(1);
	}
	/* Wait (bounded) until the manager has reaped the app so the next start is accepted. */
	for (int i = 0; i < 2000; i++) {
		fd = ctl(sock, "status", cid, NULL, 0);
		n = recv(fd, reply, sizeof(reply) - 1, 0);
		close(fd);
		if (n > 0) {
			reply[n] = '\0';
			if (strstr(reply, "\"state\":\"stopped\""))
				break;
		}
		usleep(1000);
	}
	close(ino);
	return t1 - t0;
}

static double run_cmd(char *const argv[], const char *out)
{
	int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (ofd < 0)
		die(out);
	int wd, ino = watch(out, &wd);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ofd, 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	double t0 = now_us();
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	if (rc != 0) {
		errno = rc;
		die(argv[0]);
	}
	double t1 = wait_modified(ino);
	int st;
	waitpid(pid, &st, 0);
	posix_spawn_file_actions_destroy(&fa);
	close(ino);
	close(ofd);
	return t1 - t0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: app_start SOCKET CID APP_LOG BWRAP_ROOT CRUN_BUNDLE OUT_DIR ITERATIONS\n");
		return 2;
	}
	const char *sock = argv[1], *cid = argv[2], *log = argv[3], *root = argv[4], *bundle = argv[5], *dir = argv[6];
	char *end = NULL;
	long iters = strtol(argv[7], &end, 10);
	if (end == argv[7] || *end || iters < 1 || iters > 10000) {
		fprintf(stderr, "app_start: ITERATIONS must be a number from 1 to 10000\n");
		return 2;
	}
	/* crun refuses hybrid cgroup layouts (v1 controllers plus a cgroup2 mount, as on the CI
	 * hosts); hide the cgroup2 mount in this process's private mount namespace only. */
	if (access("/sys/fs/cgroup/unified", F_OK) == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    umount2("/sys/fs/cgroup/unified", MNT_DETACH) < 0)
			die("hiding the cgroup2 mount for crun");
		printf("note: /sys/fs/cgroup/unified hidden from crun (hybrid cgroup layout)\n");
	}
	double *m = calloc((size_t)iters, sizeof(double)), *b = calloc((size_t)iters, sizeof(double)),
	       *c = calloc((size_t)iters, sizeof(double));
	char out[4096];
	snprintf(out, sizeof(out), "%s/stdout", dir);
	/* Interleaved, so that machine noise hits all three alike. */
	for (int i = 0; i < iters; i++) {
		m[i] = run_manager(sock, cid, log);
		char *bw[] = {"/usr/bin/bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
		              "--unshare-cgroup", "--ro-bind", (char *)root, "/", "--dev", "/dev", "--proc", "/proc",
		              "--tmpfs", "/tmp", "--new-session", "--die-with-parent", "--cap-drop", "ALL",
		              "/bin/app", "marker", NULL};
		b[i] = run_cmd(bw, out);
		char id[64];
		snprintf(id, sizeof(id), "rampart-bench-%d-%d", (int)getpid(), i);
		char *cr[] = {"/usr/bin/crun", "run", "--bundle", (char *)bundle, id, NULL};
		c[i] = run_cmd(cr, out);
	}
	double mm = median(m, iters), bm = median(b, iters), cm = median(c, iters);
	printf("iterations: %ld (median of each)\n", iters);
	printf("rampart-appmgr start -> first instruction: %8.0f us\n", mm);
	printf("bwrap                -> first instruction: %8.0f us\n", bm);
	printf("crun run             -> first instruction: %8.0f us\n", cm);
	printf("ratio rampart/bwrap: %.2fx (goal <= 0.40x)\n", mm / bm);
	printf("ratio rampart/crun:  %.2fx\n", mm / cm);
	free(m);
	free(b);
	free(c);
	return 0;
}
