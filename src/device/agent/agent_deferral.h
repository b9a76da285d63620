/* The agent's record of update deferrals (STATE/agent/deferral.json, docs/protocol.md "System
 * events and update deferral"): {NAME: {"version": V, "until": T}} for targets an app deferred, so
 * a check before T keeps the deferral without asking the apps again and the scheduler knows when
 * to look next. Needs only jansson and the file helpers, so the idle agent can read it. */
#pragma once

#include <stdint.h>

#define AGENT_DEFERRAL_MAX_LEN (64 * 1024)
#define AGENT_DEFERRAL_MAX_ENTRIES 64

/* Record (UNTIL > 0) or forget NAME's deferral. Bounded: entries past their end are dropped first,
 * and beyond AGENT_DEFERRAL_MAX_ENTRIES nothing new is kept (the target is then asked about again
 * at the next check, which only shortens its deferral). A failed write is logged. */
void agent_deferral_set(const char *state_dir, const char *name, uint64_t version, int64_t until, int64_t now);
/* When the deferral of NAME at VERSION ends, or 0 when there is none. */
int64_t agent_deferral_until(const char *state_dir, const char *name, uint64_t version);
/* The earliest deferral end after NOW, or 0 when nothing is deferred. */
int64_t agent_deferral_next(const char *state_dir, int64_t now);
