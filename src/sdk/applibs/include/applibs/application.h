/* applibs application: app-to-app connections and device-authentication readiness. */
#pragma once

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A socket to the app with COMPONENT_ID; both apps must list each other in
 * AllowedApplicationConnections (EPERM otherwise). */
int Application_Connect(const char *componentId);
/* True once the device certificate for DeviceAuthentication is available. */
int Application_IsDeviceAuthReady(bool *outIsReady);

#ifdef __cplusplus
}
#endif
