/* Escape-attempt test app: argv[1] names one attack; it prints "ATTACK <name>: refused: <errno
 * name>" when the sandbox stopped it, or "ATTACK <name>: SUCCEEDED ..." when it did not. The
 * black-box tests (tests/blackbox/test_sandbox.py) read these lines from the app's log. */

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/if_ether.h>


/* Bounded decimal argument (this static test app links nothing but libc). A malformed one ends
 * the run with status 2, so it can never be mistaken for a refused attack. */
static long number_arg(const char *arg, long max)
{
	char *end = NULL;
	errno = 0;
	long v = arg ? strtol(arg, &end, 10) : -1;
	if (!arg || errno || end == arg || *end || v < 1 || v > max) {
		fprintf(stderr, "sbx_escape: argument '%s' is not a number in [1, %ld]\n", arg ? arg : "", max);
		exit(2);
	}
	return v;
}

static const char *attack;

static int report(long rc, const char *what)
{
	if (rc < 0) {
		printf("ATTACK %s: refused: %s (%s)\n", attack, strerrorname_np(errno), what);
		fflush(stdout);
		return 0;
	}
	printf("ATTACK %s: SUCCEEDED (%s)\n", attack, what);
	fflush(stdout);
	return 0;
}

static int try_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);
	if (fd >= 0 && (flags & O_ACCMODE) != O_RDONLY && write(fd, "x", 1) != 1)
		return report(-1, path);
	return report(fd, path);
}

static int try_connect_unix(const char *path, int abstract)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return report(-1, "socket");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t l = strlen(path);
	if (l + 2 > sizeof(sa.sun_path))
		return report(-1, "path too long");
	memcpy(sa.sun_path + (abstract ? 1 : 0), path, l);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l + (abstract ? 1 : 0));
	return report(connect(s, (struct sockaddr *)&sa, len), path);
}

static int try_tcp(const char *ip, int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return report(-1, "socket");
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, ip, &sa.sin_addr);
	return report(connect(s, (struct sockaddr *)&sa, sizeof(sa)), ip);
}

static int fork_bomb(void)
{
	int made = 0;
	for (int i = 0; i < 10000; i++) {
		pid_t p = fork();
		if (p == 0) {
			pause();
			_exit(0);
		}
		if (p < 0) {
			printf("ATTACK fork-bomb: refused: %s after %d processes\n", strerrorname_np(errno), made);
			fflush(stdout);
			return 0;
		}
		made++;
	}
	printf("ATTACK fork-bomb: SUCCEEDED (%d processes)\n", made);
	return 0;
}

static int memory_bomb(void)
{
	size_t total = 0;
	for (int i = 0; i < 100000; i++) {
		char *p = malloc(1 << 20);
		if (!p) {
			printf("ATTACK memory-bomb: refused: malloc failed at %zu MiB\n", total >> 20);
			return 0;
		}
		memset(p, 0x5a, 1 << 20);
		total += 1 << 20;
	}
	printf("ATTACK memory-bomb: SUCCEEDED (%zu MiB)\n", total >> 20);
	return 0;
}

static int fill_storage(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return report(-1, "open storage file");
	static char block[1024];
	memset(block, 'q', sizeof(block));
	long written = 0;
	for (int i = 0; i < 1 << 20; i++) {
		ssize_t n = write(fd, block, sizeof(block));
		if (n < 0) {
			printf("ATTACK fill-storage: refused: %s after %ld bytes\n", strerrorname_np(errno), written);
			fflush(stdout);
			close(fd);
			return 0;
		}
		written += n;
	}
	printf("ATTACK fill-storage: SUCCEEDED (%ld bytes)\n", written);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sbx_escape ATTACK [ARG]\n");
		return 2;
	}
	attack = argv[1];
	const char *arg = argc > 2 ? argv[2] : "";
	printf("uid=%d gid=%d pid=%d\n", (int)getuid(), (int)getgid(), (int)getpid());
	if (!strcmp(attack, "read-shadow"))
		return try_open("/etc/shadow", O_RDONLY);
	if (!strcmp(attack, "read-path"))
		return try_open(arg, O_RDONLY);
	if (!strcmp(attack, "write-package"))
		return try_open("/bin/pwned", O_WRONLY | O_CREAT);
	if (!strcmp(attack, "write-package-existing"))
		return try_open("/app_manifest.json", O_WRONLY);
	if (!strcmp(attack, "write-root"))
		return try_open("/pwned", O_WRONLY | O_CREAT);
	if (!strcmp(attack, "connect-unix"))
		return try_connect_unix(arg, 0);
	if (!strcmp(attack, "connect-abstract"))
		return try_connect_unix(arg, 1);
	if (!strcmp(attack, "connect-tcp"))
		return try_tcp("127.0.0.1", (int)number_arg(arg, 65535));
	if (!strcmp(attack, "connect-internet"))
		return try_tcp("1.1.1.1", 80);
	if (!strcmp(attack, "raw-socket"))
		return report(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), "socket(AF_INET, SOCK_RAW)");
	if (!strcmp(attack, "packet-socket"))
		return report(socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), "socket(AF_PACKET)");
	if (!strcmp(attack, "netlink-socket"))
		return report(socket(AF_NETLINK, SOCK_RAW, 0), "socket(AF_NETLINK)");
	if (!strcmp(attack, "ptrace"))
		return report(ptrace(PTRACE_ATTACH, 1, NULL, NULL), "ptrace(PTRACE_ATTACH, 1)");
	if (!strcmp(attack, "ptrace-traceme"))
		return report(ptrace(PTRACE_TRACEME, 0, NULL, NULL), "ptrace(PTRACE_TRACEME)");
	if (!strcmp(attack, "mount"))
		return report(mount("none", "/tmp", "tmpfs", 0, NULL), "mount tmpfs");
	if (!strcmp(attack, "umount"))
		return report(umount2("/proc", MNT_DETACH), "umount /proc");
	if (!strcmp(attack, "unshare"))
		return report(unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)");
	if (!strcmp(attack, "unshare-ns"))
		return report(unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)");
	if (!strcmp(attack, "clone-newuser"))
		return report(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), "clone(CLONE_NEWUSER)");
	if (!strcmp(attack, "setns")) {
		int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		return report(setns(fd < 0 ? 0 : fd, 0), "setns");
	}
	if (!strcmp(attack, "keyctl"))
		return report(syscall(SYS_add_key, "user", "rampart", "x", 1, -4 /* session */), "add_key");
	if (!strcmp(attack, "bpf")) {
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.map_type = BPF_MAP_TYPE_ARRAY;
		a.key_size = 4;
		a.value_size = 4;
		a.max_entries = 1;
		return report(syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a)), "bpf(BPF_MAP_CREATE)");
	}
	if (!strcmp(attack, "perf_event_open")) {
		struct perf_event_attr pa;
		memset(&pa, 0, sizeof(pa));
		pa.size = sizeof(pa);
		pa.type = PERF_TYPE_SOFTWARE;
		pa.config = PERF_COUNT_SW_CPU_CLOCK;
		return report(syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0), "perf_event_open");
	}
	if (!strcmp(attack, "init_module"))
		return report(syscall(SYS_init_module, "", 0, ""), "init_module");
	if (!strcmp(attack, "finit_module"))
		return report(syscall(SYS_finit_module, 0, "", 0), "finit_module");
	if (!strcmp(attack, "delete_module"))
		return report(syscall(SYS_delete_module, "loop", 0), "delete_module");
	if (!strcmp(attack, "kill-host"))
		return report(kill((pid_t)number_arg(arg, 4194304), SIGKILL), "kill(host pid)");
	if (!strcmp(attack, "kill-all")) {
		/* kill(-1) may only reach the app's own PID namespace; report what it hit. */
		signal(SIGTERM, SIG_IGN);
		long rc = kill(-1, SIGTERM);
		printf("ATTACK kill-all: kill(-1) returned %ld (%s)\n", rc, rc < 0 ? strerrorname_np(errno) : "ok");
		return 0;
	}
	if (!strcmp(attack, "list-procs")) {
		int n = 0;
		for (int pid = 1; pid < 4194304 && n < 50; pid++) {
			char p[32];
			snprintf(p, sizeof(p), "/proc/%d", pid);
			if (access(p, F_OK) == 0) {
				printf("visible pid %d\n", pid);
				n++;
			}
			if (pid > 100000)
				break;
		}
		printf("ATTACK list-procs: %d visible\n", n);
		return 0;
	}
	if (!strcmp(attack, "mknod"))
		return report(mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)), "mknod /tmp/mem");
	if (!strcmp(attack, "exec-setuid"))
		return report(execl(arg, arg, (char *)NULL), arg);
	if (!strcmp(attack, "chroot"))
		return report(chroot("/tmp"), "chroot");
	if (!strcmp(attack, "fork-bomb"))
		return fork_bomb();
	if (!strcmp(attack, "memory-bomb"))
		return memory_bomb();
	if (!strcmp(attack, "fill-storage"))
		return fill_storage("/mnt/storage/fill");
	if (!strcmp(attack, "write-storage")) {
		int fd = open("/mnt/storage/data", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, arg, strlen(arg)) < 0)
			return report(-1, "write storage");
		close(fd);
		printf("STORAGE wrote %s\n", arg);
		return 0;
	}
	if (!strcmp(attack, "read-storage")) {
		char buf[256] = "";
		int fd = open("/mnt/storage/data", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		printf("STORAGE read %s\n", n > 0 ? buf : "(nothing)");
		return 0;
	}
	if (!strcmp(attack, "whoami")) {
		char host[65] = "";
		gethostname(host, sizeof(host));
		FILE *f = fopen("/proc/self/status", "r");
		char line[256];
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) || !strncmp(line, "Seccomp:", 8))
				fputs(line, stdout);
		if (f)
			fclose(f);
		printf("hostname=%s\n", host);
		for (int fd = 0; fd < 64; fd++)
			if (fcntl(fd, F_GETFD) >= 0)
				printf("open fd %d\n", fd);
		printf("sid=%d\n", (int)getsid(0));
		printf("cwd-write=%s\n", access("/", W_OK) == 0 ? "yes" : "no");
		return 0;
	}
	printf("unknown attack %s\n", attack);
	return 2;
}
