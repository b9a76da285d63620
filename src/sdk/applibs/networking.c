/* applibs networking: readiness comes from the broker (which sees the host's interfaces); the
 * app's own network namespace has only loopback, so it cannot answer this itself, and outbound
 * and listening sockets are made by the broker (Networking_Connect, Networking_Listen). */
#include <applibs/networking.h>

#include <errno.h>
#include <string.h>

#include "broker_client.h"

#define NET_IFACE_NAME "eth0"

int Networking_IsNetworkingReady(bool *outIsNetworkingReady)
{
	struct broker_msg req = {.type = BROKER_NET_STATUS}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	int control;

	if (!outIsNetworkingReady) {
		errno = EFAULT;
		return -1;
	}
	control = broker_client_control_fd();
	if (control < 0 || broker_client_call(control, &req, &resp, buf, NULL) < 0)
		return -1;
	*outIsNetworkingReady = resp.value != 0;
	return 0;
}

ssize_t Networking_GetInterfaceCount(void)
{
	return 1;
}

ssize_t Networking_GetInterfaces(Networking_NetworkInterface *out, size_t count)
{
	bool ready = false;
	if (!out) {
		errno = EFAULT;
		return -1;
	}
	if (count == 0)
		return 0;
	if (Networking_IsNetworkingReady(&ready) < 0)
		return -1;
	memset(&out[0], 0, sizeof(out[0]));
	out[0].isEnabled = ready;
	memcpy(out[0].interfaceName, NET_IFACE_NAME, sizeof(NET_IFACE_NAME));
	out[0].interfaceNameLength = (uint8_t)strlen(NET_IFACE_NAME);
	out[0].ipConfigurationType = Networking_IpConfiguration_Type_Dhcp;
	out[0].interfaceMediumType = Networking_InterfaceMedium_Ethernet;
	return 1;
}

int Networking_GetInterfaceConnectionStatus(const char *name, Networking_InterfaceConnectionStatus *outStatus)
{
	bool ready = false;
	if (!name || !outStatus) {
		errno = EFAULT;
		return -1;
	}
	if (strcmp(name, NET_IFACE_NAME) != 0) {
		errno = ENODEV;
		return -1;
	}
	if (Networking_IsNetworkingReady(&ready) < 0)
		return -1;
	*outStatus = ready ? (Networking_InterfaceConnectionStatus_InterfaceUp |
	                      Networking_InterfaceConnectionStatus_ConnectedToNetwork |
	                      Networking_InterfaceConnectionStatus_IpAvailable |
	                      Networking_InterfaceConnectionStatus_ConnectedToInternet)
	                   : 0;
	return 0;
}

int Networking_Connect(const char *host, uint16_t port, Networking_SocketType type)
{
	struct broker_msg req = {.type = BROKER_NET_CONNECT, .dir = (uint8_t)type, .id = port};
	size_t n;

	if (!host) {
		errno = EFAULT;
		return -1;
	}
	n = strlen(host);
	if (n == 0 || n > BROKER_HOST_MAX || port == 0 || (type != Networking_Socket_Tcp && type != Networking_Socket_Udp)) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char c = host[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == ':')) {
			errno = EINVAL;
			return -1;
		}
	}
	memcpy(req.host, host, n + 1);
	return broker_client_open(&req);
}

int Networking_Listen(uint16_t port, Networking_SocketType type)
{
	struct broker_msg req = {.type = BROKER_NET_LISTEN, .dir = (uint8_t)type, .id = port};
	if (port == 0 || (type != Networking_Socket_Tcp && type != Networking_Socket_Udp)) {
		errno = EINVAL;
		return -1;
	}
	return broker_client_open(&req);
}

/* ---- time sync ---- */

static int time_sync_call(uint8_t op, uint8_t enabled, bool *out)
{
	struct broker_msg req = {.type = BROKER_TIME, .dir = op, .value = enabled}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	int control = broker_client_control_fd();
	if (control < 0 || broker_client_call(control, &req, &resp, buf, NULL) < 0)
		return -1;
	if (out)
		*out = resp.value != 0;
	return 0;
}

int Networking_TimeSync_SetEnabled(bool enabled)
{
	return time_sync_call(BROKER_TIME_SYNC_SET, enabled ? 1 : 0, NULL);
}

int Networking_TimeSync_GetEnabled(bool *outIsEnabled)
{
	if (!outIsEnabled) {
		errno = EFAULT;
		return -1;
	}
	return time_sync_call(BROKER_TIME_SYNC_GET, 0, outIsEnabled);
}
