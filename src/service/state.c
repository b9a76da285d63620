/* rampartd's state directory and first-start bootstrap (see state.h). */
#include "service/state.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "common/fileio.h"
#include "common/xalloc.h"
#include "service/store_sqlite.h"

struct store *state_open(const char *state_dir, char token[API_TOKEN_LEN + 1], rp_error *err)
{
	token[0] = '\0';
	static const char *const subdirs[] = {"ca", "blobs/sha256", "tls"};
	/* Owner only: the directory holds CA keys and the token database. */
	if (rp_mkdir_p(state_dir, 0700, err) < 0)
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
