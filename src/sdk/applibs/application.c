/* applibs application: app-to-app connections through the broker (routed by the app manager
 * when both apps list each other), and device-auth readiness (the certificate file exists and is
 * readable). */
#include <applibs/application.h>
#include <tlsutils/deviceauth.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "broker_client.h"
#include "common/guid.h"
#include "device/broker/broker_wire.h"

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

int Application_Listen(void)
{
	struct broker_msg req = {.type = BROKER_APP_LISTEN};
	return broker_client_open(&req);
}

int Application_Accept(int listenFd, char *peerComponentId)
{
	uint8_t buf[BROKER_MSG_MAX];
	struct broker_msg m;
	rp_error err = RP_ERROR_INIT;
	int fd = -1;
	ssize_t n = broker_wire_recv(listenFd, buf, sizeof(buf), &fd);

	if (n < 0)
		return -1;
	if (n == 0) {
		errno = ECONNRESET;
		return -1;
	}
	if (broker_msg_decode(buf, (size_t)n, &m, &err) < 0 || m.type != BROKER_APP_INCOMING || fd < 0) {
		if (fd >= 0)
			close(fd);
		errno = EPROTO;
		return -1;
	}
	if (peerComponentId)
		memcpy(peerComponentId, m.component_id, BROKER_COMPONENT_ID_LEN + 1);
	return fd;
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
