/* Directory-backed TUF fetcher and storage (see tuf_dir.h). */
#include "tuf/tuf_dir.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/xalloc.h"

static bool name_safe(const char *name)
{
	/* Names come from signed metadata or from the client itself, but never let one climb out
	 * of the repository directory. */
	return name[0] && name[0] != '/' && !strstr(name, "..") && !strchr(name, '\\');
}

static int dir_fetch(void *ctx, bool is_target, const char *name, size_t max_len, uint8_t **data, size_t *len,
                     rp_error *err)
{
	if (!name_safe(name))
		return rp_error_set(err, RP_E_INVALID, "refusing to fetch \"%.80s\"", name);
	_cleanup_free_ char *path = xasprintf("%s/%s/%s", (const char *)ctx, is_target ? "targets" : "metadata", name);
	/* rp_read_file fails with RP_E_LIMIT for a longer file rather than truncating it. */
	return rp_read_file(path, max_len, data, len, err);
}

static int dir_load(void *ctx, const char *role, size_t max_len, uint8_t **data, size_t *len, rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s.json", (const char *)ctx, role);
	return rp_read_file(path, max_len, data, len, err);
}

static int dir_store(void *ctx, const char *role, const uint8_t *data, size_t len, rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s.json", (const char *)ctx, role);
	return rp_write_file_atomic(path, data, len, 0644, err);
}

static int dir_remove(void *ctx, const char *role, rp_error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s.json", (const char *)ctx, role);
	if (unlink(path) < 0 && errno != ENOENT)
		return rp_error_set_errno(err, errno, "removing %s", path);
	return 0;
}

void tuf_dir_fetcher(tuf_fetcher *f, const char *repo_dir)
{
	f->fetch = dir_fetch;
	f->ctx = (void *)repo_dir;
}

void tuf_dir_storage(tuf_storage *s, const char *state_dir)
{
	s->load = dir_load;
	s->store = dir_store;
	s->remove = dir_remove;
	s->ctx = (void *)state_dir;
}
