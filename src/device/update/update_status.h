/* Per-image update status on the device (STATE/update/status.json, replaced atomically): which
 * targets are downloading, installed, committed, rolled back or failed (with the reason), so a check
 * skips what is already installed and the service learns what happened (docs/protocol.md). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "common/crypto.h"
#include "common/error.h"

#define UPDATE_STATUS_MAX_LEN (1024 * 1024)
#define UPDATE_STATUS_MAX_IMAGES 256

enum update_image_state {
	UPDATE_STATE_DOWNLOADING,
	UPDATE_STATE_INSTALLED,
	UPDATE_STATE_COMMITTED,
	UPDATE_STATE_ROLLED_BACK,
	UPDATE_STATE_FAILED,
	UPDATE_STATE_DEFERRED,
	UPDATE_STATE_SUPERSEDED, /* a newer version of the same component replaced it */
};
const char *update_image_state_name(enum update_image_state s);

struct update_status {
	json_t *doc; /* {"version":1,"images":{NAME:{...}},"last_check":T,"last_error":S} */
};

/* Load (a missing or damaged file gives an empty status; damage is logged). */
void update_status_load(struct update_status *st, const char *state_dir);
void update_status_free(struct update_status *st);
int update_status_save(const struct update_status *st, const char *state_dir, rp_error *err) RP_MUST_CHECK;

/* Record NAME's state (REASON may be NULL); fields describe the image. */
void update_status_set(struct update_status *st, const char *name, const char *image_id, const char *type,
                       uint64_t version, const uint8_t sha256[RP_SHA256_LEN], enum update_image_state state,
                       const char *reason, bool permanent, int64_t now);
/* NAME (just installed or committed) is a version of COMPONENT_ID: record its component and mark
 * every other installed or committed entry of the same component superseded, so the device and the
 * service list only what is on the device. An app is replaced at install; an OS bundle only at
 * commit (until then the old one still runs and is the fallback: call again once it committed).
 * Entries recorded before component IDs were kept match by type "os-bundle" (one OS per device). */
void update_status_supersede(struct update_status *st, const char *name, const char *component_id, int64_t now);
/* True when NAME with this hash is installed/committed, or failed permanently (not retried). */
bool update_status_done(const struct update_status *st, const char *name, const uint8_t sha256[RP_SHA256_LEN]);
/* When NAME (with this hash) was first deferred, or 0. */
int64_t update_status_deferred_since(const struct update_status *st, const char *name,
                                     const uint8_t sha256[RP_SHA256_LEN]);
/* The entry of NAME (borrowed) or NULL. */
json_t *update_status_get(const struct update_status *st, const char *name);
void update_status_set_check(struct update_status *st, int64_t now, const char *error);

/* The report body POSTed to the service: {"device_id":..,"images":[..],"last_check":..}. */
char *update_status_report_json(const struct update_status *st, const char *device_id);
