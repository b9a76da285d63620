/* The security monitor's message protocol (version 1, docs/protocol.md "Security monitor IPC"):
 * one SOCK_SEQPACKET message per request and per response, a fixed header, a typed body.
 * Encoding and decoding are pure so they can be unit-tested and fuzzed; decoders reject short,
 * long, unknown and trailing data with a message naming the field. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/evidence.h"
#include "common/bytes.h"
#include "common/error.h"

#define MONITOR_MAGIC 0x52504d4eu /* "RPMN" */
#define MONITOR_PROTOCOL_VERSION 1
#define MONITOR_HEADER_LEN 12
#define MONITOR_MSG_MAX 65536 /* whole message, header included */
#define MONITOR_RESPONSE 0x8000
#define MONITOR_ERROR_TEXT_MAX 1024
#define MONITOR_RANDOM_MAX 256

enum monitor_msg_type {
	MONITOR_MSG_NONE = 0, /* responses to messages whose type could not be read use 0x8000 */
	MONITOR_MSG_GET_DEVICE_ID = 1,
	MONITOR_MSG_GET_IDENTITY = 2,
	MONITOR_MSG_EXTEND = 3,
	MONITOR_MSG_READ_MEASUREMENTS = 4,
	MONITOR_MSG_ATTEST = 5,
	MONITOR_MSG_READ_COUNTERS = 6,
	MONITOR_MSG_ADVANCE_COUNTER = 7,
	MONITOR_MSG_GET_RANDOM = 8,
	MONITOR_MSG_COUNT_ = 9,
};

/* Peer roles, granted per UID when the monitor starts (--allow ROLE=UID). */
enum monitor_role {
	MONITOR_ROLE_AGENT = 1u << 0,  /* device agent: attestation, counters */
	MONITOR_ROLE_BOOT = 1u << 1,   /* boot stage: measurements, counters */
	MONITOR_ROLE_APPMGR = 1u << 2, /* application manager: device ID only */
};

const char *monitor_msg_name(uint16_t type);
/* Roles allowed to send TYPE (0 for unknown types). */
uint32_t monitor_msg_allowed_roles(uint16_t type);
/* Counter 0 holds the OS version floor (BOOT_ROT_COUNTER_OS_FLOOR in device/boot/boot_floor.h). */
#define MONITOR_COUNTER_OS_FLOOR 0
/* Roles allowed to ADVANCE_COUNTER counter INDEX (on top of the message's own role check). */
uint32_t monitor_counter_allowed_roles(unsigned index);
/* "agent" -> MONITOR_ROLE_AGENT; 0 when unknown. */
uint32_t monitor_role_parse(const char *name);
/* "agent,boot" into BUF. */
const char *monitor_roles_string(uint32_t roles, char *buf, size_t len);

typedef struct monitor_header {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t length;
} monitor_header;

typedef struct monitor_image_claim {
	char id[EVIDENCE_GUID_LEN + 1];
	char version[EVIDENCE_VERSION_MAX + 1];
} monitor_image_claim;

typedef struct monitor_request {
	uint16_t type;
	union {
		struct {
			uint8_t pcr;
			char name[EVIDENCE_NAME_MAX + 1];
			char version[EVIDENCE_VERSION_MAX + 1];
			uint8_t digest[RP_SHA256_LEN];
		} extend;
		struct {
			uint8_t nonce[EVIDENCE_NONCE_LEN];
			size_t n_images;
			monitor_image_claim images[EVIDENCE_MAX_IMAGES];
		} attest;
		struct {
			uint8_t index;
			uint64_t value;
		} advance;
		struct {
			uint16_t len;
		} random;
	} u;
} monitor_request;

void monitor_header_encode(rp_buf *out, uint16_t type, uint32_t body_len);
/* Check the header of a whole message of LEN bytes; fills H even when it fails past the type. */
int monitor_header_decode(const uint8_t *msg, size_t len, monitor_header *h, rp_error *err) RP_MUST_CHECK;

int monitor_request_encode(const monitor_request *req, rp_buf *out, rp_error *err) RP_MUST_CHECK;
/* Decode a whole request message. out->type is set as soon as the header is readable. */
int monitor_request_decode(const uint8_t *msg, size_t len, monitor_request *out, rp_error *err) RP_MUST_CHECK;

/* A response: header (type | 0x8000), status u16 (rp_errc), u16-length error text, payload. */
void monitor_response_encode(rp_buf *out, uint16_t req_type, const rp_error *status, const void *payload,
                             size_t payload_len);
/* Decode a response to REQ_TYPE. On a refusal returns -1 with ERR holding the monitor's code and
 * text; otherwise points *payload into MSG. */
int monitor_response_decode(const uint8_t *msg, size_t len, uint16_t req_type, const uint8_t **payload,
                            size_t *payload_len, rp_error *err) RP_MUST_CHECK;
