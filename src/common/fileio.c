/* File helpers (see fileio.h). */
#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"

/* Move TMP to NAME only if NAME does not exist (errno EEXIST otherwise): renameat2 where the
 * file system supports it, else a hard link (which never replaces) and removing TMP. */
static int link_noreplace(int dirfd, const char *tmp, const char *name)
{
	if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -1;
	if (linkat(dirfd, tmp, dirfd, name, 0) < 0)
		return -1;
	unlinkat(dirfd, tmp, 0);
	return 0;
}

ssize_t rp_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, (uint8_t *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int rp_write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/* NOREPLACE: the final step never replaces an existing NAME (RP_E_EXISTS instead). */
static int write_atomicat(int dirfd, const char *name, const void *data, size_t len, mode_t mode, bool noreplace,
                          rp_error *err)
{
	char tmp[PATH_MAX];
	unsigned char rnd[6];
	int fd = -1;
	for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
		FILE *ur = fopen("/dev/urandom", "rbe");
		if (!ur || fread(rnd, 1, sizeof(rnd), ur) != sizeof(rnd)) {
			if (ur)
				fclose(ur);
			return rp_error_set_errno(err, errno ? errno : EIO, "reading /dev/urandom");
		}
		fclose(ur);
		int n = snprintf(tmp, sizeof(tmp), ".%s.tmp-%02x%02x%02x%02x%02x%02x", name, rnd[0], rnd[1], rnd[2], rnd[3],
		                 rnd[4], rnd[5]);
		if (n < 0 || (size_t)n >= sizeof(tmp))
			return rp_error_set(err, RP_E_INVALID, "file name '%s' is too long", name);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd < 0 && errno != EEXIST)
			return rp_error_set_errno(err, errno, "creating temporary file for %s", name);
	}
	if (fd < 0)
		return rp_error_set(err, RP_E_IO, "could not create a unique temporary file for %s", name);
	if (fchmod(fd, mode) < 0 || rp_write_full(fd, data, len) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return rp_error_set_errno(err, e, "writing %s", name);
	}
	if (close(fd) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		return rp_error_set_errno(err, e, "closing %s", name);
	}
	if (noreplace) {
		if (link_noreplace(dirfd, tmp, name) < 0) {
			int e = errno;
			unlinkat(dirfd, tmp, 0);
			if (e == EEXIST)
				return rp_error_set(err, RP_E_EXISTS, "%s already exists; it was left unchanged", name);
			return rp_error_set_errno(err, e, "putting %s into place", name);
		}
	} else if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		return rp_error_set_errno(err, e, "renaming into place %s", name);
	}
	if (fsync(dirfd) < 0)
		return rp_error_set_errno(err, errno, "syncing directory of %s", name);
	return 0;
}

int rp_write_file_atomicat(int dirfd, const char *name, const void *data, size_t len, mode_t mode, rp_error *err)
{
	return write_atomicat(dirfd, name, data, len, mode, false, err);
}

static int write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool noreplace, rp_error *err)
{
	_cleanup_free_ char *copy = xstrdup(path);
	char *slash = strrchr(copy, '/');
	const char *dir = ".";
	const char *name = copy;
	if (slash) {
		*slash = '\0';
		dir = slash == copy ? "/" : copy;
		name = slash + 1;
	}
	if (!*name)
		return rp_error_set(err, RP_E_INVALID, "'%s' names a directory, not a file", path);
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return rp_error_set_errno(err, errno, "opening directory %s", dir);
	if (write_atomicat(dirfd, name, data, len, mode, noreplace, err) < 0)
		return rp_error_prefix(err, "writing %s", path);
	return 0;
}

int rp_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, rp_error *err)
{
	return write_atomic(path, data, len, mode, false, err);
}

int rp_write_file_new(const char *path, const void *data, size_t len, mode_t mode, rp_error *err)
{
	return write_atomic(path, data, len, mode, true, err);
}

int rp_read_fd_all(int fd, size_t max_len, uint8_t **out, size_t *out_len, rp_error *err)
{
	size_t cap = 4096, len = 0;
	_cleanup_free_ uint8_t *buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap > max_len)
				return rp_error_set(err, RP_E_LIMIT, "larger than the limit of %zu bytes", max_len);
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return rp_error_set_errno(err, errno, "reading");
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max_len)
			return rp_error_set(err, RP_E_LIMIT, "larger than the limit of %zu bytes", max_len);
	}
	buf[len] = '\0';
	*out = steal_ptr(buf);
	*out_len = len;
	return 0;
}

/* The whole of FD (opened as NAME), which must be a regular file; SECRET: ours and mode 0600. */
static int read_regular(int fd, const char *name, size_t max_len, bool secret, uint8_t **out, size_t *out_len,
                        rp_error *err)
{
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening %s", name);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rp_error_set_errno(err, errno, "examining %s", name);
	if (!S_ISREG(st.st_mode))
		return rp_error_set(err, RP_E_INVALID, "%s is not a regular file", name);
	if (secret && ((st.st_mode & 077) || st.st_uid != geteuid()))
		return rp_error_set(err, RP_E_PERMISSION,
		                    "%s must belong to this service's user (uid %u) with mode 0600, not uid %u mode %04o "
		                    "(chown, chmod 600)",
		                    name, (unsigned)geteuid(), (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	if (rp_read_fd_all(fd, max_len, out, out_len, err) < 0)
		return rp_error_prefix(err, "reading %s", name);
	return 0;
}

int rp_read_file(const char *path, size_t max_len, uint8_t **out, size_t *out_len, rp_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	return read_regular(fd, path, max_len, false, out, out_len, err);
}

int rp_read_file_at(int dirfd, const char *name, size_t max_len, bool secret, uint8_t **out, size_t *out_len,
                    rp_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	return read_regular(fd, name, max_len, secret, out, out_len, err);
}

int rp_fsync_dir(const char *dir, rp_error *err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return rp_error_set_errno(err, errno, "syncing directory %s", dir);
	return 0;
}

int rp_mkdir_p(const char *path, mode_t mode, rp_error *err)
{
	_cleanup_free_ char *copy = xstrdup(path);
	size_t len = strlen(copy);
	for (size_t i = 1; i <= len; i++) {
		if (copy[i] != '/' && copy[i] != '\0')
			continue;
		char saved = copy[i];
		copy[i] = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return rp_error_set_errno(err, errno, "creating directory %s", copy);
		copy[i] = saved;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return rp_error_set_errno(err, errno, "creating directory %s", path);
	if (!S_ISDIR(st.st_mode))
		return rp_error_set(err, RP_E_EXISTS, "%s exists and is not a directory", path);
	return 0;
}

static int remove_entry(const char *fpath, const struct stat *sb, int typeflag, struct FTW *ftwbuf)
{
	(void)sb;
	(void)ftwbuf;
	int r = (typeflag == FTW_DP) ? rmdir(fpath) : unlink(fpath);
	return (r < 0 && errno != ENOENT) ? -1 : 0;
}

int rp_remove_tree(const char *path, rp_error *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : rp_error_set_errno(err, errno, "examining %s", path);
	if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) < 0)
		return rp_error_set_errno(err, errno, "removing %s", path);
	return 0;
}
