/* tlsutils deviceauth: the fixed path where the sandbox exposes the device's client certificate. */
#include <tlsutils/deviceauth.h>

#include <stdlib.h>

#define DEVICEAUTH_CERT_PATH "/run/rampart/deviceauth/client.pem"

const char *DeviceAuth_GetCertificatePath(void)
{
	const char *env = getenv("RAMPART_DEVICEAUTH_CERT");
	return env && *env ? env : DEVICEAUTH_CERT_PATH;
}
