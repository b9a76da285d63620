/* applibs storage: the mutable storage file lives in the directory the app manager mounts at
 * /mnt/storage (src/device/appmgr/sandbox.h); package files are opened read-only beneath the
 * package root so a crafted relative path or symlink cannot leave it. */
#include <applibs/storage.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STORAGE_DIR_DEFAULT "/mnt/storage"
#define STORAGE_FILE "mutable"

static const char *storage_dir(void)
{
	const char *env = getenv("RAMPART_MUTABLE_STORAGE");
	return env && *env ? env : STORAGE_DIR_DEFAULT;
}

static const char *package_root(void)
{
	const char *env = getenv("RAMPART_PACKAGE_ROOT");
	return env && *env ? env : "/";
}

/* The directory exists only when the manifest declares MutableStorage. */
static int open_storage_dir(void)
{
	int fd = open(storage_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		errno = EPERM;
	return fd;
}

int Storage_OpenMutableFile(void)
{
	int dir = open_storage_dir(), fd;
	if (dir < 0)
		return -1;
	fd = openat(dir, STORAGE_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	int saved = errno;
	close(dir);
	errno = saved;
	return fd;
}

int Storage_DeleteMutableFile(void)
{
	int dir = open_storage_dir(), r;
	if (dir < 0)
		return -1;
	r = unlinkat(dir, STORAGE_FILE, 0);
	int saved = errno;
	close(dir);
	errno = saved;
	return r;
}

static bool relative_ok(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const char *s = p; *s;) {
		const char *e = strchrnul(s, '/');
		if (e - s == 2 && s[0] == '.' && s[1] == '.')
			return false;
		s = *e ? e + 1 : e;
	}
	return true;
}

int Storage_OpenFileInImagePackage(const char *relativePath)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
	                       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS};
	int root, fd;
	long r;

	if (!relativePath) {
		errno = EFAULT;
		return -1;
	}
	if (!relative_ok(relativePath)) {
		errno = EINVAL;
		return -1;
	}
	root = open(package_root(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	r = syscall(SYS_openat2, root, relativePath, &how, sizeof(how));
	if (r < 0 && errno == ENOSYS)
		r = openat(root, relativePath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	fd = (int)r;
	int saved = errno;
	close(root);
	errno = saved;
	return fd;
}

char *Storage_GetAbsolutePathInImagePackage(const char *relativePath)
{
	const char *root = package_root();
	size_t rl, pl;
	char *out;

	if (!relativePath) {
		errno = EFAULT;
		return NULL;
	}
	if (!relative_ok(relativePath)) {
		errno = EINVAL;
		return NULL;
	}
	rl = strlen(root);
	pl = strlen(relativePath);
	out = malloc(rl + pl + 2);
	if (!out)
		return NULL;
	memcpy(out, root, rl);
	if (rl == 0 || root[rl - 1] != '/')
		out[rl++] = '/';
	memcpy(out + rl, relativePath, pl + 1);
	return out;
}
