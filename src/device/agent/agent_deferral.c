/* The agent's record of update deferrals (see agent_deferral.h). A damaged or missing file reads
 * as empty: that can only make a deferral shorter (the apps are asked again), never longer, and
 * the 24 h cap lives in the update status, not here. */
#include "device/agent/agent_deferral.h"

#include <string.h>

#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/xalloc.h"

static char *deferral_path(const char *state_dir)
{
	return xasprintf("%s/agent/deferral.json", state_dir);
}

static json_t *deferral_load(const char *state_dir)
{
	_cleanup_free_ char *path = deferral_path(state_dir);
	json_t *j = rp_json_load_file(path, AGENT_DEFERRAL_MAX_LEN, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	return j;
}

void agent_deferral_set(const char *state_dir, const char *name, uint64_t version, int64_t until, int64_t now)
{
	_cleanup_json_ json_t *j = deferral_load(state_dir);
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(j, tmp, k, v) {
		if (json_integer_value(json_object_get(v, "until")) <= now)
			json_object_del(j, k);
	}
	if (until > 0 && (json_object_get(j, name) || json_object_size(j) < AGENT_DEFERRAL_MAX_ENTRIES))
		json_object_set_new(j, name,
		                    json_pack("{s:I, s:I}", "version", (json_int_t)version, "until", (json_int_t)until));
	else
		json_object_del(j, name);
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *path = deferral_path(state_dir);
	_cleanup_free_ char *text = rp_json_dump(j);
	if (rp_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
		rp_log_event(RP_LOG_WARNING, "agent.defer.save_failed", "recording the deferral: %s", err.message);
}

int64_t agent_deferral_until(const char *state_dir, const char *name, uint64_t version)
{
	_cleanup_json_ json_t *j = deferral_load(state_dir);
	json_t *e = json_object_get(j, name);
	if (!e || json_integer_value(json_object_get(e, "version")) != (json_int_t)version)
		return 0;
	return json_integer_value(json_object_get(e, "until"));
}

int64_t agent_deferral_next(const char *state_dir, int64_t now)
{
	_cleanup_json_ json_t *j = deferral_load(state_dir);
	int64_t first = 0;
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v) {
		int64_t until = json_integer_value(json_object_get(v, "until"));
		if (until > now && (first == 0 || until < first))
			first = until;
	}
	return first;
}
