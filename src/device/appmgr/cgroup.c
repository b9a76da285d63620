/* Control groups for app containers. They defend against an app exhausting the device: memory
 * (the kernel OOM-kills inside the group, never the manager), and process count (fork bombs stop
 * at pids.max). Works on cgroup v2 and on hosts that mount the v1 controllers. */
#include "device/appmgr/cgroup.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/xalloc.h"

static int copy_str(char *out, size_t len, const char *s, rp_error *err)
{
	int n = snprintf(out, len, "%s", s);
	if (n < 0 || (size_t)n >= len)
		return rp_error_set(err, RP_E_LIMIT, "cgroup path too long: %s", s);
	return 0;
}

/* True when the comma-separated OPTS list contains WORD. */
static int has_word(const char *opts, const char *word, char sep)
{
	size_t wl = strlen(word);
	for (const char *p = opts; p && *p;) {
		const char *end = strchr(p, sep);
		size_t l = end ? (size_t)(end - p) : strlen(p);
		if (l == wl && memcmp(p, word, wl) == 0)
			return 1;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

int cgroup_parse_mounts(const char *mounts, const char *controllers_v2, struct cgroup_layout *out, rp_error *err)
{
	memset(out, 0, sizeof(*out));
	char v2[CGROUP_PATH_MAX] = "";
	for (const char *line = mounts; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		char buf[1024];
		if (ll < sizeof(buf)) {
			memcpy(buf, line, ll);
			buf[ll] = '\0';
			char *save = NULL;
			char *dev = strtok_r(buf, " ", &save);
			char *dir = strtok_r(NULL, " ", &save);
			char *type = strtok_r(NULL, " ", &save);
			char *opts = strtok_r(NULL, " ", &save);
			/* /proc/self/mounts escapes spaces as \040; a cgroup mount point with one is
			 * unusual enough to be skipped rather than decoded. */
			if (dev && dir && type && opts && !strchr(dir, '\\')) {
				if (strcmp(type, "cgroup2") == 0 && !v2[0] && copy_str(v2, sizeof(v2), dir, err) < 0)
					return -1;
				if (strcmp(type, "cgroup") == 0) {
					if (has_word(opts, "memory", ',') && !out->v1_memory_mount[0] &&
					    copy_str(out->v1_memory_mount, CGROUP_PATH_MAX, dir, err) < 0)
						return -1;
					if (has_word(opts, "pids", ',') && !out->v1_pids_mount[0] &&
					    copy_str(out->v1_pids_mount, CGROUP_PATH_MAX, dir, err) < 0)
						return -1;
				}
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	if (v2[0]) {
		char ctl[256] = "";
		if (controllers_v2 && copy_str(ctl, sizeof(ctl), controllers_v2, err) < 0)
			return -1;
		ctl[strcspn(ctl, "\n")] = '\0';
		bool mem = has_word(ctl, "memory", ' '), pids = has_word(ctl, "pids", ' ');
		if (mem && pids) {
			out->mode = CGROUP_MODE_V2;
			return copy_str(out->v2_mount, CGROUP_PATH_MAX, v2, err);
		}
		/* Typical of hybrid hosts: the controllers are bound to v1 hierarchies, and a controller
		 * is in one hierarchy at a time. */
		bool v1_bound = (!mem && out->v1_memory_mount[0]) || (!pids && out->v1_pids_mount[0]);
		if (copy_str(out->v2_unused_mount, CGROUP_PATH_MAX, v2, err) < 0)
			return -1;
		snprintf(out->v2_unused_why, sizeof(out->v2_unused_why), "its cgroup.controllers lacks %s%s%s%s",
		         mem ? "" : "memory", !mem && !pids ? " and " : "", pids ? "" : "pids",
		         v1_bound ? " (bound to the cgroup v1 hierarchies)" : "");
	}
	if (out->v1_memory_mount[0] && out->v1_pids_mount[0]) {
		out->mode = CGROUP_MODE_V1;
		return 0;
	}
	return rp_error_set(err, RP_E_UNSUPPORTED,
	                    "no cgroup memory and pids controllers are mounted (need cgroup v2 with memory and pids "
	                    "enabled, or the v1 memory and pids hierarchies)");
}

int cgroup_apply_policy(struct cgroup_layout *layout, enum cgroup_policy policy, rp_error *err)
{
	if (policy == CGROUP_POLICY_V2 && layout->mode != CGROUP_MODE_V2) {
		if (!layout->v2_unused_mount[0])
			return rp_error_set(err, RP_E_UNSUPPORTED, "the policy requires cgroup v2 (--cgroup v2), but no cgroup2 "
			                    "file system is mounted; mount one with memory and pids, or use --cgroup auto");
		return rp_error_set(err, RP_E_UNSUPPORTED,
		                    "the policy requires cgroup v2 (--cgroup v2), but the cgroup2 mount at %s cannot limit "
		                    "apps: %s; boot with cgroup_no_v1=memory,pids (or a unified hierarchy), or use "
		                    "--cgroup auto", layout->v2_unused_mount, layout->v2_unused_why);
	}
	if (policy == CGROUP_POLICY_V1 && layout->mode != CGROUP_MODE_V1) {
		if (!layout->v1_memory_mount[0] || !layout->v1_pids_mount[0])
			return rp_error_set(err, RP_E_UNSUPPORTED, "the policy requires cgroup v1 (--cgroup v1), but the v1 "
			                    "memory and pids hierarchies are not both mounted; use --cgroup auto");
		layout->mode = CGROUP_MODE_V1;
	}
	return 0;
}

int cgroup_parse_self(const char *self, const char *controller, char *out, size_t len, rp_error *err)
{
	for (const char *line = self; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		const char *c1 = memchr(line, ':', ll);
		const char *c2 = c1 ? memchr(c1 + 1, ':', ll - (size_t)(c1 + 1 - line)) : NULL;
		if (c2) {
			size_t cl = (size_t)(c2 - c1 - 1);
			const char *path = c2 + 1;
			size_t pl = ll - (size_t)(path - line);
			char ctl[256];
			int match = 0;
			if (cl < sizeof(ctl)) {
				memcpy(ctl, c1 + 1, cl);
				ctl[cl] = '\0';
				match = controller ? has_word(ctl, controller, ',') : (cl == 0 && strncmp(line, "0:", 2) == 0);
			}
			if (match) {
				if (pl >= len || pl == 0 || path[0] != '/')
					return rp_error_set(err, RP_E_INVALID, "unexpected /proc/self/cgroup entry");
				memcpy(out, path, pl);
				out[pl] = '\0';
				return 0;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return rp_error_set(err, RP_E_NOT_FOUND, "this process is in no %s cgroup", controller ? controller : "v2");
}

int cgroup_join(const char *base, const char *name, char *out, size_t len, rp_error *err)
{
	if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/') || strchr(name, '\n'))
		return rp_error_set(err, RP_E_INVALID, "invalid cgroup name \"%s\"", name);
	size_t bl = strlen(base);
	while (bl > 1 && base[bl - 1] == '/')
		bl--;
	int n = snprintf(out, len, "%.*s%s%s", (int)bl, base, (bl == 1 && base[0] == '/') ? "" : "/", name);
	if (n < 0 || (size_t)n >= len)
		return rp_error_set(err, RP_E_LIMIT, "cgroup path too long: %s/%s", base, name);
	return 0;
}

static int write_file(const char *dir, const char *file, const char *value, rp_error *err)
{
	char path[CGROUP_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || rp_write_full(fd, value, strlen(value)) < 0)
		return rp_error_set_errno(err, errno, "writing \"%s\" to %s", value, path);
	return 0;
}

static int read_small(const char *path, char *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = rp_read_full(fd, buf, len - 1);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int make_dir(const char *path, rp_error *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return rp_error_set_errno(err, errno, "creating cgroup %s", path);
	return 0;
}

/* BASE (a mount) + SELF (a path inside it) + NAME. */
static int parent_dir(const char *mount, const char *self, const char *name, char *out, rp_error *err)
{
	char base[CGROUP_PATH_MAX];
	int n = snprintf(base, sizeof(base), "%s%s", mount, strcmp(self, "/") == 0 ? "" : self);
	if (n < 0 || (size_t)n >= sizeof(base))
		return rp_error_set(err, RP_E_LIMIT, "cgroup path too long");
	return cgroup_join(base, name, out, CGROUP_PATH_MAX, err);
}

int cgroup_setup(struct cgroup_layout *layout, const char *parent_name, enum cgroup_policy policy, rp_error *err)
{
	_cleanup_free_ uint8_t *mounts = NULL, *self = NULL, *ctl = NULL;
	size_t ml = 0, sl = 0, cl = 0;
	if (rp_read_file("/proc/self/mounts", 1 << 20, &mounts, &ml, err) < 0 ||
	    rp_read_file("/proc/self/cgroup", 1 << 16, &self, &sl, err) < 0)
		return rp_error_prefix(err, "probing cgroups");
	/* Find the v2 mount first to read its controllers. */
	char v2mount[CGROUP_PATH_MAX] = "";
	for (const char *line = (const char *)mounts; line && *line;) {
		char dev[64], dir[CGROUP_PATH_MAX], type[32];
		if (sscanf(line, "%63s %511s %31s", dev, dir, type) == 3 && strcmp(type, "cgroup2") == 0) {
			snprintf(v2mount, sizeof(v2mount), "%s", dir);
			break;
		}
		const char *nl = strchr(line, '\n');
		line = nl ? nl + 1 : NULL;
	}
	if (v2mount[0]) {
		char path[CGROUP_PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/cgroup.controllers", v2mount);
		rp_error e2 = RP_ERROR_INIT;
		if (rp_read_file(path, 4096, &ctl, &cl, &e2) < 0)
			ctl = NULL;
	}
	if (cgroup_parse_mounts((const char *)mounts, (const char *)ctl, layout, err) < 0 ||
	    cgroup_apply_policy(layout, policy, err) < 0)
		return -1;
	char own[CGROUP_PATH_MAX];
	if (layout->mode == CGROUP_MODE_V2) {
		if (cgroup_parse_self((const char *)self, NULL, own, sizeof(own), err) < 0 ||
		    parent_dir(layout->v2_mount, own, parent_name, layout->parent_v2, err) < 0)
			return rp_error_prefix(err, "probing cgroups");
		char owndir[2 * CGROUP_PATH_MAX];
		snprintf(owndir, sizeof(owndir), "%s%s", layout->v2_mount, strcmp(own, "/") == 0 ? "" : own);
		/* cgroup v2 forbids processes in a group that hands controllers down: move the
		 * manager into a leaf of its own first when its group is not the root. */
		rp_error e2 = RP_ERROR_INIT;
		if (write_file(owndir, "cgroup.subtree_control", "+memory +pids", &e2) < 0) {
			if (e2.sys_errno != EBUSY) {
				*err = e2;
				return -1;
			}
			char leaf[CGROUP_PATH_MAX];
			if (cgroup_join(owndir, "manager", leaf, sizeof(leaf), err) < 0 || make_dir(leaf, err) < 0 ||
			    write_file(leaf, "cgroup.procs", "0", err) < 0 ||
			    write_file(owndir, "cgroup.subtree_control", "+memory +pids", err) < 0)
				return rp_error_prefix(err, "delegating cgroup controllers");
		}
		if (make_dir(layout->parent_v2, err) < 0 ||
		    write_file(layout->parent_v2, "cgroup.subtree_control", "+memory +pids", err) < 0)
			return -1;
		return 0;
	}
	if (cgroup_parse_self((const char *)self, "memory", own, sizeof(own), err) < 0 ||
	    parent_dir(layout->v1_memory_mount, own, parent_name, layout->parent_memory, err) < 0 ||
	    cgroup_parse_self((const char *)self, "pids", own, sizeof(own), err) < 0 ||
	    parent_dir(layout->v1_pids_mount, own, parent_name, layout->parent_pids, err) < 0)
		return rp_error_prefix(err, "probing cgroups");
	if (make_dir(layout->parent_memory, err) < 0 || make_dir(layout->parent_pids, err) < 0)
		return -1;
	/* v1 memory limits only nest when hierarchy accounting is on (always on since Linux 6.?,
	 * but older kernels default to off). */
	rp_error e2 = RP_ERROR_INIT;
	(void)write_file(layout->parent_memory, "memory.use_hierarchy", "1", &e2);
	return 0;
}

void cgroup_teardown(const struct cgroup_layout *layout)
{
	/* Fails harmlessly (EBUSY) while another manager's apps still use the same parent. */
	if (layout->parent_v2[0])
		rmdir(layout->parent_v2);
	if (layout->parent_memory[0])
		rmdir(layout->parent_memory);
	if (layout->parent_pids[0])
		rmdir(layout->parent_pids);
}

int cgroup_app_create(const struct cgroup_layout *layout, const char *name, uint64_t memory_bytes, uint32_t pids_max,
                      struct cgroup_app *app, rp_error *err)
{
	memset(app, 0, sizeof(*app));
	app->mode = layout->mode;
	app->v2_dirfd = -1;
	app->procs_fd[0] = app->procs_fd[1] = -1;
	char mem[32], pids[32];
	snprintf(mem, sizeof(mem), "%llu", (unsigned long long)memory_bytes);
	snprintf(pids, sizeof(pids), "%u", pids_max);
	if (layout->mode == CGROUP_MODE_V2) {
		if (cgroup_join(layout->parent_v2, name, app->dir_v2, sizeof(app->dir_v2), err) < 0 ||
		    make_dir(app->dir_v2, err) < 0)
			return -1;
		/* No limit file means the controller is not enabled for the group: refuse rather than
		 * run the app unlimited, and leave no empty group behind. */
		if (write_file(app->dir_v2, "memory.max", mem, err) < 0 ||
		    write_file(app->dir_v2, "memory.swap.max", "0", err) < 0 ||
		    write_file(app->dir_v2, "pids.max", pids, err) < 0) {
			int e = err->sys_errno;
			rmdir(app->dir_v2);
			if (e == ENOENT)
				return rp_error_prefix(err, "cgroup v2 group %s cannot be limited (the memory and pids "
				                       "controllers are not enabled for it)", app->dir_v2);
			return -1;
		}
		/* One OOM kill takes the whole container down, so no half-dead app lingers. */
		rp_error e2 = RP_ERROR_INIT;
		(void)write_file(app->dir_v2, "memory.oom.group", "1", &e2);
		app->v2_dirfd = open(app->dir_v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (app->v2_dirfd < 0)
			return rp_error_set_errno(err, errno, "opening cgroup %s", app->dir_v2);
		return 0;
	}
	if (cgroup_join(layout->parent_memory, name, app->dir_memory, sizeof(app->dir_memory), err) < 0 ||
	    cgroup_join(layout->parent_pids, name, app->dir_pids, sizeof(app->dir_pids), err) < 0 ||
	    make_dir(app->dir_memory, err) < 0 || make_dir(app->dir_pids, err) < 0 ||
	    write_file(app->dir_memory, "memory.limit_in_bytes", mem, err) < 0 ||
	    write_file(app->dir_pids, "pids.max", pids, err) < 0)
		return -1;
	char path[CGROUP_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/memory.memsw.limit_in_bytes", app->dir_memory);
	if (access(path, F_OK) == 0 && write_file(app->dir_memory, "memory.memsw.limit_in_bytes", mem, err) < 0)
		return -1;
	/* "tasks", not cgroup.procs: the single-threaded sandbox child moves itself ("0"), which the
	 * kernel does without the global threadgroup lock and its RCU grace period (several ms per
	 * start); cgroup.procs would take both. One thread moved is the whole process here. */
	snprintf(path, sizeof(path), "%s/tasks", app->dir_memory);
	app->procs_fd[0] = open(path, O_WRONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/tasks", app->dir_pids);
	app->procs_fd[1] = open(path, O_WRONLY | O_CLOEXEC);
	if (app->procs_fd[0] < 0 || app->procs_fd[1] < 0)
		return rp_error_set_errno(err, errno, "opening the cgroup tasks files of %s", name);
	return 0;
}

void cgroup_app_close_fds(struct cgroup_app *app)
{
	if (app->v2_dirfd >= 0)
		close(app->v2_dirfd);
	for (int i = 0; i < 2; i++)
		if (app->procs_fd[i] >= 0)
			close(app->procs_fd[i]);
	app->v2_dirfd = app->procs_fd[0] = app->procs_fd[1] = -1;
}

long cgroup_app_oom_kills(const struct cgroup_app *app)
{
	char path[CGROUP_PATH_MAX + 32], buf[2048];
	if (app->mode == CGROUP_MODE_V2)
		snprintf(path, sizeof(path), "%s/memory.events", app->dir_v2);
	else
		snprintf(path, sizeof(path), "%s/memory.oom_control", app->dir_memory);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	const char *p = strstr(buf, "oom_kill ");
	if (!p)
		return -1;
	return strtol(p + strlen("oom_kill "), NULL, 10);
}

int cgroup_v2_populated(const char *dir)
{
	char path[CGROUP_PATH_MAX + 32], buf[512];
	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	const char *p = strstr(buf, "populated ");
	if (!p || (p != buf && p[-1] != '\n'))
		return -1;
	p += strlen("populated ");
	return *p == '1' ? 1 : *p == '0' ? 0 : -1;
}

/* Kill what is listed in DIR/cgroup.procs; returns the number of processes seen. */
static int kill_listed(const char *dir)
{
	char path[CGROUP_PATH_MAX + 32], buf[4096];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return 0;
	int seen = 0;
	for (char *p = buf, *end = NULL; *p; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 0) {
			kill((pid_t)pid, SIGKILL);
			seen++;
		}
		while (*end == '\n')
			end++;
	}
	return seen;
}

int cgroup_app_destroy(struct cgroup_app *app, rp_error *err)
{
	cgroup_app_close_fds(app);
	const char *dirs[3] = {app->dir_v2, app->dir_memory, app->dir_pids};
	if (app->mode == CGROUP_MODE_V2) {
		rp_error e2 = RP_ERROR_INIT;
		(void)write_file(app->dir_v2, "cgroup.kill", "1", &e2);
	}
	for (int i = 0; i < 3; i++) {
		if (!dirs[i][0])
			continue;
		/* Bounded: 200 x 5 ms. Dying processes leave the group within microseconds. */
		int tries = 0;
		while (rmdir(dirs[i]) < 0) {
			if (errno == ENOENT)
				break;
			if (errno != EBUSY || ++tries > 200)
				return rp_error_set_errno(err, errno, "removing cgroup %s", dirs[i]);
			kill_listed(dirs[i]);
			struct timespec ts = {0, 5 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}
