/* The agent's device-local API: a Unix socket (STATE/agent.sock, mode 0660) taking one request
 * line per connection ("attest-now", "update-now" or "status") and answering one JSON line. Every connection's
 * peer is checked with SO_PEERCRED: root, the agent's own user and users given with --allow-uid. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

#define AGENT_LOCAL_MAX_UIDS 8
#define AGENT_LOCAL_LINE_MAX 64
/* Time a peer has to send its whole request line, from the connection's acceptance. */
#define AGENT_LOCAL_REQUEST_MS 2000

enum agent_local_cmd { AGENT_LOCAL_BAD, AGENT_LOCAL_ATTEST_NOW, AGENT_LOCAL_STATUS, AGENT_LOCAL_UPDATE_NOW };

/* Parse a request line (without or with its newline). */
enum agent_local_cmd agent_local_parse(const char *line, size_t len);

/* Create and listen on PATH (an old socket there is replaced). Returns the fd. */
int agent_local_listen(const char *path, rp_error *err) RP_MUST_CHECK;

/* Accept one connection, check the peer and read its request (bounded in size and time).
 * Returns the connected fd with *CMD set, or -1 (the connection was refused and closed, and
 * ERR says why). */
int agent_local_accept(int listen_fd, const uid_t *allowed, size_t n_allowed, enum agent_local_cmd *cmd,
                       rp_error *err) RP_MUST_CHECK;

/* Send one JSON line and close. */
void agent_local_reply(int fd, const char *json_text);
