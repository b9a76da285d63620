/* tlsutils deviceauth: where the device's 24 h client certificate (for "DeviceAuthentication")
 * appears inside the app's sandbox. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/* Path of a PEM file holding the client certificate chain followed by its private key. Rampart:
 * /run/rampart/deviceauth/client.pem (env RAMPART_DEVICEAUTH_CERT overrides, for tests). */
const char *DeviceAuth_GetCertificatePath(void);

#ifdef __cplusplus
}
#endif
