/* Install-time check of a package tree. The mounts already neutralise device nodes (nodev) and
 * setuid bits (nosuid, no_new_privs) and the container root contains symlinks; refusing such
 * packages outright is the second barrier, and tells the developer what is wrong. */
#include "device/appmgr/sandbox_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macros.h"

#define TREE_MAX_DEPTH 32

bool sandbox_tree_link_stays_inside(const char *target, unsigned depth)
{
	if (!target[0] || target[0] == '/')
		return false;
	long level = depth;
	for (const char *p = target; *p;) {
		const char *slash = strchr(p, '/');
		size_t l = slash ? (size_t)(slash - p) : strlen(p);
		if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (--level < 0)
				return false;
		} else if (l > 0 && !(l == 1 && p[0] == '.')) {
			level++;
		}
		p = slash ? slash + 1 : p + l;
	}
	return true;
}

struct walk {
	unsigned seen, max;
	char path[4096];
};

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static int walk_dir(struct walk *w, int dfd, unsigned depth, rp_error *err)
{
	if (depth > TREE_MAX_DEPTH)
		return rp_error_set(err, RP_E_LIMIT, "package tree is deeper than %d levels at %s", TREE_MAX_DEPTH,
		                    w->path);
	_cleanup_(closedirp) DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return rp_error_set_errno(err, errno, "listing %s", w->path);
	}
	struct dirent *de;
	size_t base_len = strlen(w->path);
	while ((errno = 0, de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (++w->seen > w->max)
			return rp_error_set(err, RP_E_LIMIT, "package tree has more than %u entries", w->max);
		int n = snprintf(w->path + base_len, sizeof(w->path) - base_len, "/%s", name);
		if (n < 0 || (size_t)n >= sizeof(w->path) - base_len)
			return rp_error_set(err, RP_E_LIMIT, "path too long in package tree");
		const char *rel = w->path + 1;
		if (depth == 0 && (strcmp(name, "dev") == 0 || strcmp(name, "proc") == 0 || strcmp(name, "tmp") == 0 ||
		                   strcmp(name, "mnt") == 0))
			return rp_error_set(err, RP_E_INVALID, "package has a top-level %s, which the device provides; "
			                    "remove it from the package", rel);
		struct stat st;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return rp_error_set_errno(err, errno, "inspecting %s", rel);
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			return rp_error_set(err, RP_E_PERMISSION, "package contains a device node: %s", rel);
		if (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode))
			return rp_error_set(err, RP_E_PERMISSION, "package contains a socket or FIFO: %s", rel);
		if ((st.st_mode & (S_ISUID | S_ISGID)) && !S_ISDIR(st.st_mode))
			return rp_error_set(err, RP_E_PERMISSION, "package contains a setuid/setgid file: %s", rel);
		if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t l = readlinkat(dirfd(d), name, target, sizeof(target) - 1);
			if (l < 0)
				return rp_error_set_errno(err, errno, "reading link %s", rel);
			target[l] = '\0';
			if (!sandbox_tree_link_stays_inside(target, depth))
				return rp_error_set(err, RP_E_PERMISSION,
				                    "package contains a symlink that leaves the package: %s -> %s", rel,
				                    target);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				return rp_error_set_errno(err, errno, "opening %s", rel);
			if (walk_dir(w, sub, depth + 1, err) < 0)
				return -1;
		} else if (!S_ISREG(st.st_mode)) {
			return rp_error_set(err, RP_E_INVALID, "package contains an unsupported file type: %s", rel);
		}
		w->path[base_len] = '\0';
	}
	if (errno != 0)
		return rp_error_set_errno(err, errno, "listing %s", w->path);
	return 0;
}

int sandbox_tree_check(const char *root, unsigned max_entries, rp_error *err)
{
	struct walk w = {.seen = 0, .max = max_entries, .path = ""};
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening package tree %s", root);
	if (walk_dir(&w, fd, 0, err) < 0)
		return rp_error_prefix(err, "checking package tree");
	return 0;
}
