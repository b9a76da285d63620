/* The application sandbox. The parent prepares everything that allocates (paths, mount options,
 * the seccomp program); the child, after clone3, only makes system calls, reports the first
 * failure precisely through a pipe, and ends in execve of the app. */
#include "device/appmgr/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>
#include <linux/sched.h>
#include <linux/securebits.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/appmgr/sandbox_landlock.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

#define PLAN_PATH 640

enum entry_kind { ENTRY_DIR, ENTRY_FILE, ENTRY_SYMLINK };

struct plan_entry {
	enum entry_kind kind;
	char src[PLAN_PATH];    /* host path (dir, file) or link text (symlink) */
	char dst[PLAN_PATH];    /* path under the staging root */
};

/* Everything the child needs, computed before clone so the child does not allocate. */
struct plan {
	const struct sandbox_spec *spec;
	struct plan_entry entries[SANDBOX_MAX_TOP_ENTRIES];
	unsigned entry_count;
	char dev[PLAN_PATH], proc[PLAN_PATH], tmp[PLAN_PATH], mnt[PLAN_PATH], storage[PLAN_PATH];
	char run[PLAN_PATH], run_rampart[PLAN_PATH], deviceauth[PLAN_PATH];
	char tmp_opts[128];
	int landlock_abi; /* 0: do not apply */
	cap_t empty_caps;
	int err_fd;
	int go_fd; /* read end, in the child */
};

struct child_report {
	int ready; /* 1: setup done, waiting for release; 0: STEP failed with SYS_ERRNO */
	int sys_errno;
	char step[160];
};

static const char *const reserved_names[] = {"dev", "proc", "tmp", "mnt"};

static bool is_reserved(const char *name)
{
	for (size_t i = 0; i < RP_ARRAY_SIZE(reserved_names); i++)
		if (strcmp(name, reserved_names[i]) == 0)
			return true;
	return false;
}

static int join(char *out, const char *a, const char *b, rp_error *err)
{
	int n = snprintf(out, PLAN_PATH, "%s/%s", a, b);
	if (n < 0 || n >= PLAN_PATH)
		return rp_error_set(err, RP_E_LIMIT, "path too long: %s/%s", a, b);
	return 0;
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* List the package root's top-level entries: each becomes a read-only bind mount (or a copied
 * symlink, which then resolves inside the container, never on the host). */
static int plan_entries(struct plan *p, rp_error *err)
{
	const struct sandbox_spec *spec = p->spec;
	_cleanup_(closedirp) DIR *d = opendir(spec->rootfs);
	if (!d)
		return rp_error_set_errno(err, errno, "opening package root %s", spec->rootfs);
	struct dirent *de;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (is_reserved(de->d_name))
			return rp_error_set(err, RP_E_INVALID,
			                    "package root has a top-level \"%s\", which the sandbox reserves "
			                    "(dev, proc, tmp and mnt are provided by the device)", de->d_name);
		if (spec->deviceauth_dir && strcmp(de->d_name, "run") == 0)
			return rp_error_set(err, RP_E_INVALID,
			                    "package root has a top-level \"run\", but the app declares DeviceAuthentication "
			                    "and the device provides /run (" SANDBOX_DEVICEAUTH_PATH "); remove run/ from "
			                    "the package");
		if (p->entry_count == SANDBOX_MAX_TOP_ENTRIES)
			return rp_error_set(err, RP_E_LIMIT, "package root has more than %d top-level entries",
			                    SANDBOX_MAX_TOP_ENTRIES);
		struct plan_entry *e = &p->entries[p->entry_count];
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return rp_error_set_errno(err, errno, "inspecting %s/%s", spec->rootfs, de->d_name);
		if (join(e->dst, spec->staging, de->d_name, err) < 0)
			return -1;
		if (S_ISDIR(st.st_mode)) {
			e->kind = ENTRY_DIR;
		} else if (S_ISREG(st.st_mode)) {
			e->kind = ENTRY_FILE;
		} else if (S_ISLNK(st.st_mode)) {
			e->kind = ENTRY_SYMLINK;
			ssize_t n = readlinkat(dirfd(d), de->d_name, e->src, sizeof(e->src) - 1);
			if (n < 0)
				return rp_error_set_errno(err, errno, "reading link %s/%s", spec->rootfs, de->d_name);
			e->src[n] = '\0';
			p->entry_count++;
			continue;
		} else {
			return rp_error_set(err, RP_E_INVALID, "package root entry %s is not a file, directory or link",
			                    de->d_name);
		}
		if (join(e->src, spec->rootfs, de->d_name, err) < 0)
			return -1;
		p->entry_count++;
	}
	if (errno != 0)
		return rp_error_set_errno(err, errno, "listing package root %s", spec->rootfs);
	return 0;
}

/* ---- child side: system calls only ---- */

RP_NORETURN static void child_fail(const struct plan *p, const char *step)
{
	struct child_report r = {.ready = 0, .sys_errno = errno};
	size_t l = strlen(step);
	if (l >= sizeof(r.step))
		l = sizeof(r.step) - 1;
	memcpy(r.step, step, l);
	(void)!write(p->err_fd, &r, sizeof(r));
	_exit(127);
}

static void must(const struct plan *p, int rc, const char *step)
{
	if (rc < 0)
		child_fail(p, step);
}

static void mount_dev(const struct plan *p)
{
	/* A tmpfs of its own because the nodes need a mount without nodev; read-only afterwards, and
	 * the app has neither CAP_MKNOD nor Landlock's make-char right to add nodes. */
	must(p, mount("tmpfs", p->dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=16k,nr_inodes=32"),
	     "mounting /dev");
	static const struct {
		const char *name;
		unsigned minor;
	} nodes[] = {{"null", 3}, {"zero", 5}, {"full", 7}, {"random", 8}, {"urandom", 9}};
	int dfd = open(p->dev, O_PATH | O_DIRECTORY | O_CLOEXEC);
	must(p, dfd, "opening /dev");
	for (size_t i = 0; i < RP_ARRAY_SIZE(nodes); i++)
		must(p, mknodat(dfd, nodes[i].name, S_IFCHR | 0666, makedev(1, nodes[i].minor)), "creating /dev nodes");
	must(p, symlinkat("/proc/self/fd", dfd, "fd"), "creating /dev/fd");
	must(p, symlinkat("/proc/self/fd/0", dfd, "stdin"), "creating /dev/stdin");
	must(p, symlinkat("/proc/self/fd/1", dfd, "stdout"), "creating /dev/stdout");
	must(p, symlinkat("/proc/self/fd/2", dfd, "stderr"), "creating /dev/stderr");
	close(dfd);
	must(p, mount(NULL, p->dev, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL),
	     "making /dev read-only");
}

static void build_root(const struct plan *p)
{
	const struct sandbox_spec *s = p->spec;
	/* Nothing done here may propagate back to the host's mounts. */
	must(p, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "making mounts private");
	must(p, mount("tmpfs", s->staging, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=256"),
	     "mounting the root tmpfs");
	for (unsigned i = 0; i < p->entry_count; i++) {
		const struct plan_entry *e = &p->entries[i];
		if (e->kind == ENTRY_SYMLINK) {
			must(p, symlink(e->src, e->dst), "copying a top-level symlink");
			continue;
		}
		if (e->kind == ENTRY_DIR) {
			must(p, mkdir(e->dst, 0755), "creating a mount point");
		} else {
			int fd = open(e->dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			must(p, fd, "creating a mount point");
			close(fd);
		}
		must(p, mount(e->src, e->dst, NULL, MS_BIND, NULL), "bind-mounting the package");
		/* Read-only, and device nodes and setuid bits in the package mean nothing. */
		must(p, mount(NULL, e->dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL),
		     "making the package read-only");
	}
	must(p, mkdir(p->dev, 0755), "creating /dev");
	must(p, mkdir(p->proc, 0555), "creating /proc");
	must(p, mkdir(p->tmp, 0755), "creating /tmp");
	must(p, mkdir(p->mnt, 0755), "creating /mnt");
	mount_dev(p);
	/* subset=pid: no /proc/sys, /proc/kcore, sysrq-trigger and friends; only this PID
	 * namespace's processes, and only those the app may ptrace-read (hidepid). */
	must(p, mount("proc", p->proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible,subset=pid"),
	     "mounting /proc");
	must(p, mount("tmpfs", p->tmp, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, p->tmp_opts), "mounting /tmp");
	if (s->storage_dir) {
		must(p, mkdir(p->storage, 0755), "creating the storage mount point");
		must(p, mount(s->storage_dir, p->storage, NULL, MS_BIND, NULL), "bind-mounting storage");
		must(p, mount(NULL, p->storage, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
		     "restricting storage");
	}
	if (s->deviceauth_dir) {
		/* Only this app's copy (owned by its uid, 0400): read-only, so the app cannot replace
		 * what later starts or renewals put there. */
		must(p, mkdir(p->run, 0755), "creating /run");
		must(p, mkdir(p->run_rampart, 0755), "creating /run/rampart");
		must(p, mkdir(p->deviceauth, 0755), "creating the device certificate mount point");
		must(p, mount(s->deviceauth_dir, p->deviceauth, NULL, MS_BIND, NULL), "bind-mounting the device certificate");
		must(p, mount(NULL, p->deviceauth, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
		     "making the device certificate read-only");
	}
	must(p, mount(NULL, s->staging, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
	     "making the root read-only");
	must(p, chdir(s->staging), "entering the new root");
	must(p, (int)syscall(SYS_pivot_root, ".", "."), "pivot_root");
	/* The old root is stacked under the new one; detaching it leaves no path to the host. */
	must(p, umount2(".", MNT_DETACH), "detaching the old root");
	must(p, chdir("/"), "chdir /");
}

static void loopback_up(const struct plan *p)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	must(p, s, "socket for loopback");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	must(p, ioctl(s, SIOCGIFFLAGS, &ifr), "reading loopback flags");
	ifr.ifr_flags |= IFF_UP;
	must(p, ioctl(s, SIOCSIFFLAGS, &ifr), "bringing loopback up");
	close(s);
}

static void set_limit(const struct plan *p, int resource, rlim_t value, const char *step)
{
	struct rlimit rl = {value, value};
	must(p, setrlimit(resource, &rl), step);
}

/* Put the inherited descriptors on their fixed numbers; everything else closes at execve. */
static void arrange_fds(const struct plan *p)
{
	const struct sandbox_spec *s = p->spec;
	/* Move sources above the target range first, so dup2 cannot clobber one with another. */
	int log_fd = fcntl(s->log_fd, F_DUPFD_CLOEXEC, 64);
	must(p, log_fd, "duplicating the log fd");
	int broker = -1;
	if (s->broker_fd >= 0) {
		broker = fcntl(s->broker_fd, F_DUPFD_CLOEXEC, 64);
		must(p, broker, "duplicating the broker fd");
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	must(p, null, "opening /dev/null");
	must(p, dup2(null, 0), "dup2 stdin");
	must(p, dup2(log_fd, 1), "dup2 stdout");
	must(p, dup2(log_fd, 2), "dup2 stderr");
	unsigned first_closed = 3;
	if (broker >= 0) {
		must(p, dup2(broker, SANDBOX_BROKER_FD), "dup2 broker fd");
		first_closed = SANDBOX_BROKER_FD + 1;
	}
	/* CLOEXEC rather than close: the error pipe must stay usable until execve succeeds. */
	must(p, (int)syscall(SYS_close_range, first_closed, ~0U, CLOSE_RANGE_CLOEXEC), "close_range");
}

static void drop_privileges(const struct plan *p)
{
	const struct sandbox_spec *s = p->spec;
	/* Locked securebits: root-uid semantics and capability retention can never come back. */
	must(p, prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
	                                     SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
	                                     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, 0, 0, 0),
	     "setting securebits");
	must(p, cap_reset_ambient(), "clearing ambient capabilities");
	for (cap_value_t c = 0; c < (cap_value_t)cap_max_bits(); c++)
		must(p, cap_drop_bound(c), "dropping bounding capabilities");
	must(p, setgroups(0, NULL), "setgroups");
	must(p, setresgid(s->gid, s->gid, s->gid), "setresgid");
	must(p, setresuid(s->uid, s->uid, s->uid), "setresuid");
	must(p, cap_set_proc(p->empty_caps), "clearing capabilities");
	/* After the uid change, which would clear it: if the manager dies, its apps die too rather
	 * than run on unsupervised (a restarted manager starts them again). */
	must(p, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG");
	must(p, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
}

/* Close every fd but KEEP (N small): other apps' start pipes, the control socket, pidfds. A
 * prepared child may wait a long time before its execve closes them, and holding another app's
 * start pipe would keep that app from seeing its cancellation. */
static void close_all_except(const struct plan *p, int *keep, int n)
{
	for (int i = 1; i < n; i++) /* insertion sort: n <= 8, no allocation */
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned from = 0;
	for (int i = 0; i < n; i++) {
		if (keep[i] < 0)
			continue;
		if ((unsigned)keep[i] > from)
			must(p, (int)syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0), "closing inherited fds");
		from = (unsigned)keep[i] + 1;
	}
	must(p, (int)syscall(SYS_close_range, from, ~0U, 0), "closing inherited fds");
}

RP_NORETURN static void child_main(struct plan *p)
{
	const struct sandbox_spec *s = p->spec;
	/* The manager's daemon blocks SIGTERM and SIGINT for its signalfd; a blocked mask survives
	 * execve, and the app must get its SIGTERM at shutdown. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Our pipes above the fixed numbers (0-3) that arrange_fds() fills, whatever they were. */
	int hi = fcntl(p->err_fd, F_DUPFD_CLOEXEC, 64);
	if (hi >= 0)
		p->err_fd = hi;
	must(p, hi, "moving the report pipe");
	must(p, (p->go_fd = fcntl(p->go_fd, F_DUPFD_CLOEXEC, 64)), "moving the start pipe");
	int keep[] = {0, 1, 2, p->err_fd, p->go_fd, s->log_fd, s->broker_fd, s->cgroup->procs_fd[0], s->cgroup->procs_fd[1]};
	close_all_except(p, keep, (int)RP_ARRAY_SIZE(keep));
	umask(0);
	if (s->cgroup->mode == CGROUP_MODE_V1) {
		/* Join the app's groups before anything else runs, then root a cgroup namespace there
		 * so the app sees only its own group. */
		for (int i = 0; i < 2; i++)
			if (write(s->cgroup->procs_fd[i], "0", 1) != 1)
				child_fail(p, "joining the app cgroup");
		must(p, unshare(CLONE_NEWCGROUP), "unshare(CLONE_NEWCGROUP)");
	}
	build_root(p);
	must(p, sethostname(s->name, strnlen(s->name, 64)), "sethostname");
	loopback_up(p);
	must(p, setsid(), "setsid");
	set_limit(p, RLIMIT_NOFILE, s->nofile, "RLIMIT_NOFILE");
	set_limit(p, RLIMIT_NPROC, s->nproc, "RLIMIT_NPROC");
	set_limit(p, RLIMIT_CORE, 0, "RLIMIT_CORE");
	set_limit(p, RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK");
	set_limit(p, RLIMIT_MSGQUEUE, 0, "RLIMIT_MSGQUEUE");
	/* Bounds the log on the state partition: fds 1 and 2 are a regular file opened for append,
	 * and past this size a write fails with EFBIG. SIGXFSZ is ignored (the disposition survives
	 * execve) so that a full log silences the app instead of killing it; storage and /tmp have
	 * quotas of their own, which the limit is never below. */
	set_limit(p, RLIMIT_FSIZE, s->file_max_bytes > SANDBOX_LOG_MAX_BYTES ? s->file_max_bytes : SANDBOX_LOG_MAX_BYTES,
	          "RLIMIT_FSIZE");
	struct sigaction ign = {.sa_handler = SIG_IGN};
	must(p, sigaction(SIGXFSZ, &ign, NULL), "ignoring SIGXFSZ");
	arrange_fds(p);
	umask(077);
	drop_privileges(p);
	if (p->landlock_abi > 0) {
		static const char *const rw[] = {"/tmp", SANDBOX_STORAGE_PATH};
		static const char *const dev[] = {"/dev"};
		struct sandbox_landlock_paths paths = {rw, s->storage_dir ? 2 : 1, dev, 1};
		const char *step = "landlock";
		must(p, sandbox_landlock_apply(p->landlock_abi, &paths, &step), step);
	}
	/* Last: from here on only the allow list applies, and read and execve are on it. */
	must(p, sandbox_seccomp_install(s->seccomp), "installing the seccomp filter");
	if (!s->run_now) {
		struct child_report ready = {.ready = 1, .sys_errno = 0, .step = "ready"};
		if (write(p->err_fd, &ready, sizeof(ready)) != (ssize_t)sizeof(ready))
			_exit(127);
		/* Wait for the start request; EOF means the manager cancelled (or died). */
		char go;
		if (read(p->go_fd, &go, 1) != 1)
			_exit(0);
	}
	static char *const envp[] = {"PATH=/bin:/usr/bin", "TMPDIR=/tmp", "HOME=" SANDBOX_STORAGE_PATH, NULL};
	execve(s->entry_point, (char *const *)s->argv, envp);
	child_fail(p, "execve of the entry point");
}

/* ---- parent side ---- */

static void plan_freep(struct plan **p)
{
	if (*p) {
		if ((*p)->empty_caps)
			cap_free((*p)->empty_caps);
		free(*p);
	}
}

static int check_landlock(const struct sandbox_spec *spec, int *use_abi, rp_error *err)
{
	*use_abi = spec->landlock_abi;
	if (spec->landlock_abi >= spec->landlock_required_abi)
		return 0;
	char missing[256];
	sandbox_landlock_missing(spec->landlock_abi, spec->landlock_required_abi, missing, sizeof(missing));
	if (spec->landlock_mode != SANDBOX_LANDLOCK_DEGRADED)
		return rp_error_set(err, RP_E_UNSUPPORTED,
		                    "refusing to start %s: the kernel's Landlock ABI is %d but the policy requires %d "
		                    "(missing: %s); upgrade the kernel or configure the explicit degraded mode",
		                    spec->name, spec->landlock_abi, spec->landlock_required_abi, missing);
	rp_log_event(RP_LOG_WARNING, "sandbox.degraded",
	             "starting %s in DEGRADED mode: Landlock ABI %d < required %d (missing: %s)", spec->name,
	             spec->landlock_abi, spec->landlock_required_abi, missing);
	return 0;
}

static int report_to_error(const struct child_report *r, const char *name, rp_error *err)
{
	char step[sizeof(r->step)];
	memcpy(step, r->step, sizeof(step));
	step[sizeof(step) - 1] = '\0';
	return rp_error_set_errno(err, r->sys_errno, "starting %s: sandbox: %s", name, step);
}

void sandbox_child_close(struct sandbox_child *c)
{
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->go_fd >= 0)
		close(c->go_fd);
	if (c->report_fd >= 0)
		close(c->report_fd);
	c->pidfd = c->go_fd = c->report_fd = -1;
	c->pid = 0;
}

void sandbox_cancel(struct sandbox_child *c)
{
	if (c->pid <= 0)
		return;
	if (c->go_fd >= 0) {
		close(c->go_fd); /* EOF: the child exits without running anything */
		c->go_fd = -1;
	}
	siginfo_t si;
	/* Bounded: the child is blocked in read() and exits at once; SIGKILL if it does not. */
	struct pollfd pfd = {.fd = c->pidfd, .events = POLLIN};
	if (poll(&pfd, 1, 1000) != 1)
		syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
	waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED);
	sandbox_child_close(c);
}

int sandbox_prepare(const struct sandbox_spec *spec, struct sandbox_child *child, rp_error *err)
{
	_cleanup_(plan_freep) struct plan *p = xcalloc(1, sizeof(*p));
	p->spec = spec;
	if (!spec->entry_point || spec->entry_point[0] != '/')
		return rp_error_set(err, RP_E_INVALID, "entry point of %s must be an absolute path", spec->name);
	if (check_landlock(spec, &p->landlock_abi, err) < 0)
		return -1;
	if (plan_entries(p, err) < 0 || join(p->dev, spec->staging, "dev", err) < 0 ||
	    join(p->proc, spec->staging, "proc", err) < 0 || join(p->tmp, spec->staging, "tmp", err) < 0 ||
	    join(p->mnt, spec->staging, "mnt", err) < 0 ||
	    join(p->storage, spec->staging, &SANDBOX_STORAGE_PATH[1], err) < 0 ||
	    join(p->run, spec->staging, "run", err) < 0 || join(p->run_rampart, spec->staging, "run/rampart", err) < 0 ||
	    join(p->deviceauth, spec->staging, &SANDBOX_DEVICEAUTH_PATH[1], err) < 0)
		return rp_error_prefix(err, "preparing the sandbox for %s", spec->name);
	snprintf(p->tmp_opts, sizeof(p->tmp_opts), "mode=0700,uid=%u,gid=%u,size=%llu,nr_inodes=1024",
	         (unsigned)spec->uid, (unsigned)spec->gid, (unsigned long long)spec->tmp_bytes);
	p->empty_caps = cap_init();
	if (!p->empty_caps)
		return rp_error_set_errno(err, errno, "cap_init");

	int report[2], go[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		return rp_error_set_errno(err, errno, "pipe2");
	if (pipe2(go, O_CLOEXEC) < 0) {
		int e = errno;
		close(report[0]);
		close(report[1]);
		return rp_error_set_errno(err, e, "pipe2");
	}
	_cleanup_close_ int rd = report[0];
	_cleanup_close_ int go_wr = go[1];
	p->err_fd = report[1];
	p->go_fd = go[0];

	int child_pidfd = -1;
	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_PIDFD;
	args.pidfd = (uint64_t)(uintptr_t)&child_pidfd;
	args.exit_signal = SIGCHLD;
	if (spec->cgroup->mode == CGROUP_MODE_V2) {
		/* Born inside its group: no moment outside the limits. */
		args.flags |= CLONE_INTO_CGROUP | CLONE_NEWCGROUP;
		args.cgroup = (uint64_t)spec->cgroup->v2_dirfd;
	}
	fflush(NULL);
	long rc = syscall(SYS_clone3, &args, sizeof(args));
	if (rc == 0) {
		close(rd);
		close(go_wr);
		child_main(p);
	}
	int saved = errno;
	close(p->err_fd);
	close(p->go_fd);
	if (rc < 0)
		return rp_error_set_errno(err, saved, "starting %s: clone3", spec->name);

	struct child_report r;
	ssize_t n = rp_read_full(rd, &r, sizeof(r));
	/* run_now: EOF (the pipe closed on execve) is success; ready mode: the ready report. */
	bool ok = spec->run_now ? n == 0 : n == (ssize_t)sizeof(r) && r.ready;
	if (!ok) {
		siginfo_t si;
		waitid(P_PIDFD, (id_t)child_pidfd, &si, WEXITED);
		close(child_pidfd);
		if (n != (ssize_t)sizeof(r))
			return rp_error_set(err, RP_E_INTERNAL, "starting %s: sandbox setup died without a report", spec->name);
		return report_to_error(&r, spec->name, err);
	}
	child->pid = (pid_t)rc;
	child->pidfd = child_pidfd;
	if (!spec->run_now) {
		child->go_fd = steal_fd(go_wr);
		child->report_fd = steal_fd(rd);
	}
	return 0;
}

bool sandbox_child_released(const struct sandbox_child *c)
{
	return c->pid > 0 && c->go_fd < 0;
}

int sandbox_release(struct sandbox_child *c, rp_error *err)
{
	if (c->go_fd < 0)
		return rp_error_set(err, RP_E_INTERNAL, "sandbox child was already released");
	ssize_t n = write(c->go_fd, "g", 1);
	int e = errno;
	close(c->go_fd);
	c->go_fd = -1;
	if (n != 1)
		return rp_error_set_errno(err, n < 0 ? e : EPIPE, "releasing the prepared sandbox");
	return 0;
}

int sandbox_exec_result(struct sandbox_child *c, const char *name, rp_error *err)
{
	if (c->report_fd < 0)
		return 0;
	struct child_report r;
	ssize_t n = rp_read_full(c->report_fd, &r, sizeof(r));
	close(c->report_fd);
	c->report_fd = -1;
	if (n == (ssize_t)sizeof(r) && !r.ready)
		return report_to_error(&r, name, err);
	return 0;
}

int sandbox_spawn(const struct sandbox_spec *spec, pid_t *pid, int *pidfd, rp_error *err)
{
	struct sandbox_child c = SANDBOX_CHILD_INIT;
	if (sandbox_prepare(spec, &c, err) < 0)
		return -1;
	if (sandbox_release(&c, err) < 0) {
		sandbox_cancel(&c);
		return -1;
	}
	/* Wait for the execve: EOF on the report pipe (close-on-exec) means it succeeded. */
	struct child_report r;
	ssize_t n = rp_read_full(c.report_fd, &r, sizeof(r));
	if (n == (ssize_t)sizeof(r)) {
		siginfo_t si;
		waitid(P_PIDFD, (id_t)c.pidfd, &si, WEXITED);
		sandbox_child_close(&c);
		return report_to_error(&r, spec->name, err);
	}
	close(c.report_fd);
	*pid = c.pid;
	*pidfd = c.pidfd;
	return 0;
}
