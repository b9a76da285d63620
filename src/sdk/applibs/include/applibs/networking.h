/* applibs networking: network readiness and interface status. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t Networking_InterfaceConnectionStatus;
enum {
	Networking_InterfaceConnectionStatus_InterfaceUp = 1 << 0,
	Networking_InterfaceConnectionStatus_ConnectedToNetwork = 1 << 1,
	Networking_InterfaceConnectionStatus_IpAvailable = 1 << 2,
	Networking_InterfaceConnectionStatus_ConnectedToInternet = 1 << 3,
};

typedef uint8_t Networking_IpConfiguration_Type;
enum { Networking_IpConfiguration_Type_Dhcp = 0, Networking_IpConfiguration_Type_Static = 1 };

typedef uint8_t Networking_InterfaceMedium_Type;
enum {
	Networking_InterfaceMedium_Unspecified = 0,
	Networking_InterfaceMedium_Wifi = 1,
	Networking_InterfaceMedium_Ethernet = 2,
};

typedef struct Networking_NetworkInterface {
	uint32_t z__magicAndVersion;
	bool isEnabled;
	char interfaceName[IF_NAMESIZE];
	uint8_t interfaceNameLength;
	Networking_IpConfiguration_Type ipConfigurationType;
	Networking_InterfaceMedium_Type interfaceMediumType;
} Networking_NetworkInterface;

/* True when the device can reach the network through the network broker. */
int Networking_IsNetworkingReady(bool *outIsNetworkingReady);
/* Rampart presents one virtual interface, "eth0", whose status mirrors readiness. */
ssize_t Networking_GetInterfaceCount(void);
ssize_t Networking_GetInterfaces(Networking_NetworkInterface *outNetworkInterfacesArray,
                                 size_t networkInterfacesArrayCount);
int Networking_GetInterfaceConnectionStatus(const char *networkInterfaceName,
                                            Networking_InterfaceConnectionStatus *outStatus);

/* Rampart extension. An app's network namespace holds only loopback, so sockets to the outside
 * come from the network broker: it checks HOST against AllowedConnections (names as listed,
 * "*.domain" wildcards, IP literals), resolves it outside the sandbox, connects and hands back
 * the connected socket. TYPE is Networking_Socket_Tcp (outbound UDP is not offered). Returns a
 * blocking, close-on-exec socket fd, or -1 with errno: EPERM (host not allowed, or it resolved
 * only to addresses apps may not reach), EHOSTUNREACH (name did not resolve), ECONNREFUSED,
 * ETIMEDOUT, EPROTONOSUPPORT (UDP), EINVAL (bad arguments), ENOTCONN (no broker). */
typedef enum { Networking_Socket_Tcp = 1, Networking_Socket_Udp = 2 } Networking_SocketType;
int Networking_Connect(const char *host, uint16_t port, Networking_SocketType type);
/* Rampart extension: a TCP listening socket (accept() on it) or a bound UDP socket on PORT,
 * which must be listed in AllowedTcpServerPorts / AllowedUdpServerPorts (else EPERM). */
int Networking_Listen(uint16_t port, Networking_SocketType type);

/* Time sync (the device's NTP client), on at start. SetEnabled needs the TimeSyncConfig or
 * SystemTime capability (else EACCES); GetEnabled needs none (EFAULT for NULL). Both may fail with
 * ENOTCONN when the app has no broker. */
int Networking_TimeSync_SetEnabled(bool enabled);
int Networking_TimeSync_GetEnabled(bool *outIsEnabled);

#ifdef __cplusplus
}
#endif
