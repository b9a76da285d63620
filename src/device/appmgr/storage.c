/* Per-app mutable storage on a loop-mounted ext2 image. Chosen over a tmpfs with size= (not
 * persistent) and RLIMIT_FSIZE (EFBIG per file, not a total quota); see docs/decisions.md. */
#include "device/appmgr/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/loop.h>

#include "common/fileio.h"
#include "common/xalloc.h"

extern char **environ;

uint64_t storage_image_kb(uint32_t size_kb)
{
	/* ext2 with 1 KiB blocks and 16 inodes keeps ~22 KiB for itself, so SizeKB + 20 leaves at
	 * most SizeKB for data; tiny quotas get the smallest image mke2fs accepts. */
	uint64_t kb = (uint64_t)size_kb + 20;
	return kb < STORAGE_MIN_IMAGE_KB ? STORAGE_MIN_IMAGE_KB : kb;
}

static int run_mkfs(const char *image, rp_error *err)
{
	static const char *const candidates[] = {"/usr/sbin/mke2fs", "/sbin/mke2fs"};
	const char *mkfs = NULL;
	for (size_t i = 0; i < RP_ARRAY_SIZE(candidates) && !mkfs; i++)
		if (access(candidates[i], X_OK) == 0)
			mkfs = candidates[i];
	if (!mkfs)
		return rp_error_set(err, RP_E_NOT_FOUND, "mke2fs not found; install e2fsprogs");
	char *const argv[] = {(char *)mkfs, "-q", "-F", "-t", "ext2", "-m", "0", "-b", "1024", "-N", "16",
	                      "-O", "^resize_inode,^dir_index,^ext_attr", (char *)image, NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, mkfs, NULL, NULL, argv, environ);
	if (rc != 0)
		return rp_error_set_errno(err, rc, "running %s", mkfs);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return rp_error_set_errno(err, errno, "waiting for mke2fs");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return rp_error_set(err, RP_E_IO, "mke2fs failed for %s", image);
	return 0;
}

static int create_image(const char *image, uint32_t size_kb, rp_error *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.new", image);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "creating %s", tmp);
	if (ftruncate(fd, (off_t)(storage_image_kb(size_kb) * 1024)) < 0)
		return rp_error_set_errno(err, errno, "sizing %s", tmp);
	if (run_mkfs(tmp, err) < 0)
		return -1;
	if (fsync(fd) < 0 || rename(tmp, image) < 0)
		return rp_error_set_errno(err, errno, "installing %s", image);
	return 0;
}

/* Returns the open loop device: with AUTOCLEAR, closing it before the mount would detach it. */
static int attach_loop(const char *image, char *dev, size_t devlen, rp_error *err)
{
	_cleanup_close_ int img = open(image, O_RDWR | O_CLOEXEC);
	if (img < 0)
		return rp_error_set_errno(err, errno, "opening %s", image);
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return rp_error_set_errno(err, errno, "opening /dev/loop-control");
	/* Another process may grab the same free device between GET_FREE and CONFIGURE: retry. */
	for (int attempt = 0; attempt < 16; attempt++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return rp_error_set_errno(err, errno, "LOOP_CTL_GET_FREE");
		snprintf(dev, devlen, "/dev/loop%d", n);
		int loop = open(dev, O_RDWR | O_CLOEXEC);
		if (loop < 0)
			return rp_error_set_errno(err, errno, "opening %s", dev);
		struct loop_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (unsigned)img;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(loop, LOOP_CONFIGURE, &cfg) == 0)
			return loop;
		int e = errno;
		close(loop);
		if (e != EBUSY)
			return rp_error_set_errno(err, e, "LOOP_CONFIGURE %s", dev);
	}
	return rp_error_set(err, RP_E_UNAVAILABLE, "no free loop device for %s", image);
}

int storage_mount(const char *image, uint32_t size_kb, const char *mountpoint, uid_t uid, gid_t gid, rp_error *err)
{
	if (access(image, F_OK) < 0 && create_image(image, size_kb, err) < 0)
		return rp_error_prefix(err, "creating mutable storage");
	if (rp_mkdir_p(mountpoint, 0700, err) < 0)
		return -1;
	char dev[64];
	int loop = attach_loop(image, dev, sizeof(dev), err);
	if (loop < 0)
		return rp_error_prefix(err, "mounting mutable storage");
	int mrc = mount(dev, mountpoint, "ext2", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME, "");
	int e = errno;
	close(loop); /* the mount now holds the device; AUTOCLEAR detaches it at unmount */
	if (mrc < 0)
		return rp_error_set_errno(err, e, "mounting %s on %s", image, mountpoint);
	if (chown(mountpoint, uid, gid) < 0 || chmod(mountpoint, 0700) < 0) {
		e = errno;
		storage_unmount(mountpoint);
		return rp_error_set_errno(err, e, "handing storage to uid %u", (unsigned)uid);
	}
	return 0;
}

void storage_unmount(const char *mountpoint)
{
	if (umount2(mountpoint, 0) < 0 && errno == EBUSY)
		umount2(mountpoint, MNT_DETACH);
}
