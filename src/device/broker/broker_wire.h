/* Sending and receiving one broker datagram with at most one attached fd (SCM_RIGHTS), shared by
 * the broker and applibs. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "common/macros.h"

/* Send LEN bytes as one datagram; FD >= 0 is attached. Returns 0, or -1 with errno. */
int broker_wire_send(int sock, const void *buf, size_t len, int fd) RP_MUST_CHECK;
/* Receive one datagram of at most CAP bytes. *FD gets the attached fd (O_CLOEXEC) or -1; extra
 * fds and oversized or truncated datagrams are refused (EMSGSIZE, fds closed) so a peer cannot
 * smuggle descriptors or make us parse half a message. Returns the length, 0 at end of stream,
 * or -1 with errno. */
ssize_t broker_wire_recv(int sock, void *buf, size_t cap, int *fd) RP_MUST_CHECK;
