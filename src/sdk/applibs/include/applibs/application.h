/* applibs application: app-to-app connections and device-authentication readiness. */
#pragma once

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A socket to the app with COMPONENT_ID; both apps must list each other in
 * AllowedApplicationConnections (EPERM otherwise). */
int Application_Connect(const char *componentId);
/* Rampart extension, the receiving side of Application_Connect: returns a descriptor that becomes
 * readable when a peer app connects (use it with EventLoop_RegisterIo or poll); needs a non-empty
 * AllowedApplicationConnections. Until an app calls it, connections to it are refused
 * (ECONNREFUSED). At most one per app (EBUSY). */
int Application_Listen(void);
/* Take one incoming connection from LISTENFD: returns the socket (a stream) and, when
 * PEERCOMPONENTID is not NULL, the peer's component ID (37 bytes with the NUL). Blocks until one
 * arrives unless LISTENFD was made non-blocking (then EAGAIN). */
int Application_Accept(int listenFd, char *peerComponentId);
/* True once the device certificate for DeviceAuthentication is available. */
int Application_IsDeviceAuthReady(bool *outIsReady);

#ifdef __cplusplus
}
#endif
