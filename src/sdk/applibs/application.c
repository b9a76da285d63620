/* applibs application: app-to-app connections through the broker, and device-auth readiness
 * (the certificate file exists and is readable). */
#include <applibs/application.h>
#include <tlsutils/deviceauth.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "broker_client.h"
#include "common/guid.h"

int Application_Connect(const char *componentId)
{
	struct broker_msg req = {.type = BROKER_APP_CONNECT};
	if (!componentId) {
		errno = EFAULT;
		return -1;
	}
	if (!rp_guid_is_valid(componentId)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(req.component_id, componentId, BROKER_COMPONENT_ID_LEN + 1);
	return broker_client_open(&req);
}

int Application_IsDeviceAuthReady(bool *outIsReady)
{
	if (!outIsReady) {
		errno = EFAULT;
		return -1;
	}
	*outIsReady = access(DeviceAuth_GetCertificatePath(), R_OK) == 0;
	return 0;
}
