/* Internal to applibs: one request/response exchange with the peripheral broker. */
#pragma once

#include <stdint.h>

#include "device/broker/broker_proto.h"

/* The control socket: env RAMPART_BROKER_FD (tests) or fd 3 (BROKER_APP_FD). -1 with errno
 * ENOTCONN when there is no broker socket. */
int broker_client_control_fd(void);

/* Send REQ on FD and wait for its response into RESP (whose data points into BUF, of
 * BROKER_MSG_MAX bytes). OUT_FD (may be NULL) receives an attached fd. Returns 0; or -1 with errno
 * set to the broker's status, or EPROTO when the broker's answer is malformed. */
int broker_client_call(int fd, const struct broker_msg *req, struct broker_msg *resp, uint8_t *buf, int *out_fd);

/* Shorthand for control-channel requests that return an fd. */
int broker_client_open(const struct broker_msg *req);
