/* DeviceAuthentication for apps: the agent's bundle (root-owned, 0640) is copied per app into a
 * directory owned by that app's uid, which the sandbox bind-mounts read-only. Copies, not a
 * shared file or group: each app reads only its own copy, with its own uid, and no other uid
 * gains access to the agent's files. */
#include "device/appmgr/deviceauth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/guid.h"
#include "common/xalloc.h"

int deviceauth_check(const char *app_name, const char *app_tenant, const char *device_tenant,
                     const char *agent_dir, rp_error *err)
{
	if (!app_tenant || !app_tenant[0])
		return 0;
	if (!device_tenant || !device_tenant[0])
		return rp_error_set(err, RP_E_PERMISSION,
		                    "app %s declares DeviceAuthentication for tenant %s, but this device's tenant is not "
		                    "configured; start rampart-appmgr with --tenant-id GUID (the tenant the device "
		                    "is claimed into)", app_name, app_tenant);
	if (strcasecmp(app_tenant, device_tenant) != 0)
		return rp_error_set(err, RP_E_PERMISSION,
		                    "app %s declares DeviceAuthentication for tenant %s, but this device belongs to tenant "
		                    "%s; only apps built for the device's own tenant may use its certificate (set "
		                    "\"DeviceAuthentication\": \"%s\" in app_manifest.json)",
		                    app_name, app_tenant, device_tenant, device_tenant);
	if (!agent_dir || !agent_dir[0])
		return rp_error_set(err, RP_E_PERMISSION,
		                    "app %s declares DeviceAuthentication, but the manager was started without "
		                    "--deviceauth-dir DIR (the agent's STATE/agent/deviceauth directory)", app_name);
	return 0;
}

static bool same_content(const char *path, const uint8_t *data, size_t len)
{
	_cleanup_free_ uint8_t *old = NULL;
	size_t old_len = 0;
	rp_error e = RP_ERROR_INIT;
	if (rp_read_file(path, DEVICEAUTH_BUNDLE_MAX, &old, &old_len, &e) < 0)
		return false;
	return old_len == len && memcmp(old, data, len) == 0;
}

/* The copy directory: ours (root-created), a real directory, owned by UID, 0500. Defends
 * against a stale directory left by an app that had this uid before. */
static int prepare_dir(const char *copy_dir, uid_t uid, rp_error *err)
{
	if (mkdir(copy_dir, 0500) < 0 && errno != EEXIST)
		return rp_error_set_errno(err, errno, "creating %s", copy_dir);
	_cleanup_close_ int fd = open(copy_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening %s", copy_dir);
	if (fchown(fd, uid, uid) < 0 || fchmod(fd, 0500) < 0)
		return rp_error_set_errno(err, errno, "setting the owner of %s", copy_dir);
	return 0;
}

int deviceauth_refresh(const char *agent_dir, const char *copy_dir, uid_t uid, bool *changed, rp_error *err)
{
	bool dummy;
	if (!changed)
		changed = &dummy;
	*changed = false;
	_cleanup_free_ char *src = xasprintf("%s/%s", agent_dir, DEVICEAUTH_BUNDLE_NAME);
	_cleanup_free_ char *dst = xasprintf("%s/%s", copy_dir, DEVICEAUTH_BUNDLE_NAME);
	if (prepare_dir(copy_dir, uid, err) < 0)
		return rp_error_prefix(err, "device certificate for uid %u", (unsigned)uid);
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	_cleanup_close_ int sfd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0 && errno == ENOENT) {
		/* Not attested yet (or the agent withdrew it): the app must see "not ready". */
		if (unlink(dst) == 0)
			*changed = true;
		else if (errno != ENOENT)
			return rp_error_set_errno(err, errno, "removing %s", dst);
		return 0;
	}
	if (sfd < 0)
		return rp_error_set_errno(err, errno, "opening the agent's certificate bundle %s", src);
	if (rp_read_fd_all(sfd, DEVICEAUTH_BUNDLE_MAX, &data, &len, err) < 0)
		return rp_error_prefix(err, "reading the agent's certificate bundle %s", src);
	if (same_content(dst, data, len))
		return 0;
	/* Write a temporary file owned by UID, then rename: the app (which has the directory bind
	 * mounted) sees the old bundle or the new one, never a half-written file. */
	_cleanup_free_ char *tmp = xasprintf("%s/.%s.new", copy_dir, DEVICEAUTH_BUNDLE_NAME);
	(void)unlink(tmp);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "creating %s", tmp);
	if (fchown(fd, uid, uid) < 0 || fchmod(fd, 0400) < 0 || rp_write_full(fd, data, len) < 0 || fsync(fd) < 0) {
		int e = errno;
		unlink(tmp);
		return rp_error_set_errno(err, e, "writing %s", tmp);
	}
	if (rename(tmp, dst) < 0) {
		int e = errno;
		unlink(tmp);
		return rp_error_set_errno(err, e, "installing %s", dst);
	}
	*changed = true;
	return 0;
}
