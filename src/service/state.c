/* rampartd's state directory and first-start bootstrap (see state.h). */
#include "service/state.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "common/fileio.h"
#include "common/xalloc.h"
#include "service/store_sqlite.h"

/* Whoever else can write into the state directory could plant keys the service then adopts or
 * swap its database, so it must be a real directory (no symlink), ours, closed to group/others. */
static int state_check_dir(const char *state_dir, rp_error *err)
{
	_cleanup_close_ int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		return rp_error_set(err, RP_E_PERMISSION,
		                    "state directory %s is a symbolic link; give its real path with --state-dir", state_dir);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening state directory %s", state_dir);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rp_error_set_errno(err, errno, "examining state directory %s", state_dir);
	if (st.st_uid != geteuid())
		return rp_error_set(err, RP_E_PERMISSION,
		                    "state directory %s belongs to uid %u, not to this service's user (uid %u); "
		                    "chown it to the service's user",
		                    state_dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 022)
		return rp_error_set(err, RP_E_PERMISSION,
		                    "state directory %s is writable by group or others (mode %04o); chmod 700 %s",
		                    state_dir, (unsigned)(st.st_mode & 07777), state_dir);
	return 0;
}

struct store *state_open(const char *state_dir, char token[API_TOKEN_LEN + 1], rp_error *err)
{
	token[0] = '\0';
	static const char *const subdirs[] = {"ca", "blobs/sha256", "tls"};
	/* Owner only: the directory holds CA keys, TUF keys and the token database. */
	if (rp_mkdir_p(state_dir, 0700, err) < 0 || state_check_dir(state_dir, err) < 0)
		return NULL;
	for (size_t i = 0; i < RP_ARRAY_SIZE(subdirs); i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", state_dir, subdirs[i]);
		if (rp_mkdir_p(d, 0700, err) < 0)
			return NULL;
	}
	_cleanup_free_ char *db = xasprintf("%s/rampart.db", state_dir);
	_cleanup_store_ struct store *st = store_sqlite_open(db, 0, err);
	if (!st)
		return NULL;

	if (st->ops->begin(st, true, err) < 0)
		return NULL;
	bool exists = false;
	if (st->ops->user_exists(st, STATE_BOOTSTRAP_USER, &exists, err) < 0)
		goto fail;
	if (!exists) {
		uint8_t hash[32];
		int64_t now = (int64_t)time(NULL);
		struct store_audit_entry e = {
			.time = now,
			.actor = "-",
			.action = "service.init",
			.target = STATE_BOOTSTRAP_USER,
			.result = STORE_AUDIT_SUCCESS,
			.detail = "bootstrap service administrator created",
		};
		if (api_token_new(token, hash, err) < 0 ||
		    st->ops->user_create(st, STATE_BOOTSTRAP_USER, true, hash, now, err) < 0 ||
		    st->ops->audit_append(st, &e, err) < 0)
			goto fail;
	}
	if (st->ops->commit(st, err) < 0) {
		token[0] = '\0';
		return NULL;
	}
	return steal_ptr(st);
fail:
	token[0] = '\0';
	st->ops->rollback(st);
	return NULL;
}
