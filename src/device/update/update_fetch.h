/* HTTP transport of the update client (mbedTLS + http-parser): bounded GETs into memory for metadata, resumable
 * bounded downloads into a file for blobs, and a JSON POST for status reports. Every request is
 * bounded in size (endless-data attack) and in speed (slow-retrieval attack); https URLs are
 * checked against the pinned service CA only, never the system store; for an IP-literal host the
 * certificate must name that address (iPAddress SAN). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/crypto.h"
#include "common/error.h"

#define UPDATE_FETCH_DEFAULT_LOW_SPEED_LIMIT 256 /* bytes/s */
#define UPDATE_FETCH_DEFAULT_LOW_SPEED_TIME 30   /* s */
#define UPDATE_FETCH_DEFAULT_CONNECT_TIMEOUT 20  /* s */

struct update_fetch_config {
	const char *ca_file;     /* pinned CA for https (NULL: https refused) */
	const char *client_cert; /* optional mutual TLS (the device API certificate) */
	const char *client_key;
	const char *bearer_token; /* optional "Authorization: Bearer" credential for rampartd ... */
	const char *bearer_origin; /* ... sent only to this URL's scheme, host and port (NULL: nowhere) */
	long low_speed_limit; /* abort when slower than this many bytes/s ... */
	long low_speed_time;  /* ... for this many seconds */
	long connect_timeout;
	uint64_t bytes_received; /* running total over every request (bandwidth accounting) */
	uint64_t requests;
	void *conn; /* the kept-alive connection, reused until update_fetch_close (internal) */
};

void update_fetch_config_default(struct update_fetch_config *cfg);
/* Drop the reused connection (after a check). */
void update_fetch_close(struct update_fetch_config *cfg);
/* Process-wide set-up of the transport, once per process (nothing to do today). */
int update_fetch_global_init(rp_error *err) RP_MUST_CHECK;

/* GET URL into a malloc'd buffer of at most MAX_LEN bytes (NUL-terminated, not counted).
 * RP_E_NOT_FOUND on 404, RP_E_LIMIT when the body is longer than MAX_LEN, RP_E_UNAVAILABLE when the
 * peer is unreachable, too slow or answers with another error status. */
int update_fetch_buffer(struct update_fetch_config *cfg, const char *url, size_t max_len, uint8_t **data,
                        size_t *len, rp_error *err) RP_MUST_CHECK;

/* Download URL into PARTIAL, resuming from the bytes already there (HTTP Range), until it holds
 * exactly EXPECTED_LEN bytes; never writes past EXPECTED_LEN (RP_E_LIMIT when the server sends
 * more). The caller verifies the hash before using the file: a resumed file may mix responses. */
int update_fetch_file(struct update_fetch_config *cfg, const char *url, const char *partial, uint64_t expected_len,
                      rp_error *err) RP_MUST_CHECK;
/* The same, and *SHA256 receives the SHA-256 of the complete file, computed as the bytes arrive (a
 * resumed download hashes the prefix already on disk once, first): no second pass over the file to
 * check it against signed metadata. Valid only when this returns 0. */
int update_fetch_file_hashed(struct update_fetch_config *cfg, const char *url, const char *partial,
                             uint64_t expected_len, uint8_t sha256[RP_SHA256_LEN], rp_error *err) RP_MUST_CHECK;

/* POST BODY (JSON) to URL; a 2xx status is success. */
int update_fetch_post_json(struct update_fetch_config *cfg, const char *url, const char *body,
                           rp_error *err) RP_MUST_CHECK;
