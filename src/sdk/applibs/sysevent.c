/* applibs sysevent: registration asks the broker for an event channel (refused with EPERM without
 * SystemEventNotifications) and watches it in the app's event loop; the broker forwards the update
 * agent's events there (docs/protocol.md, "System events and update deferral"). DeferEvent and
 * ResumeEvent answer the pending UpdateReadyForInstall through the broker (EPERM without
 * SoftwareUpdateDeferral, EINVAL when nothing is pending). */
#include <applibs/sysevent.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "broker_client.h"
#include "device/broker/broker_wire.h"

struct SysEvent_Info {
	SysEvent_Events event;
	SysEvent_Info_UpdateData update;
};

/* One registration at a time, as on Azure Sphere. */
static struct {
	EventLoop *el;
	EventRegistration *reg;
	int fd;
	SysEvent_EventsCallback *callback;
	void *context;
} active = {.fd = -1};

int SysEvent_Info_GetUpdateData(const SysEvent_Info *info, SysEvent_Info_UpdateData *update_info)
{
	if (!info || !update_info) {
		errno = EFAULT;
		return -1;
	}
	if (info->event != SysEvent_Events_UpdateReadyForInstall) {
		errno = EINVAL;
		return -1;
	}
	*update_info = info->update;
	return 0;
}

static void on_event(EventLoop *el, int fd, EventLoop_IoEvents events, void *context)
{
	uint8_t buf[BROKER_MSG_MAX];
	struct broker_msg m;
	rp_error err = RP_ERROR_INIT;
	int extra = -1;
	ssize_t n;

	(void)el, (void)events, (void)context;
	n = broker_wire_recv(fd, buf, sizeof(buf), &extra);
	if (extra >= 0)
		close(extra);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		/* The broker is gone (the app is being stopped): stop watching a channel that would
		 * otherwise wake the loop forever. The registration stays until the app unregisters. */
		EventLoop_UnregisterIo(active.el, active.reg);
		close(active.fd);
		active.fd = -1;
		return;
	}
	if (n < 0 || broker_msg_decode(buf, (size_t)n, &m, &err) < 0 || m.type != BROKER_SYSEVENT_NOTIFY)
		return;
	SysEvent_Info info = {.event = m.sysevent.event,
	                      .update = {.max_deferral_time_in_minutes = m.sysevent.max_defer_minutes,
	                                 .update_type = m.sysevent.update_type}};
	if (active.callback)
		active.callback(m.sysevent.event, m.sysevent.status, &info, active.context);
}

EventRegistration *SysEvent_RegisterForEventNotifications(EventLoop *el, SysEvent_Events eventBitmask,
                                                          SysEvent_EventsCallback *callback, void *context)
{
	struct broker_msg req = {.type = BROKER_SYSEVENT_REGISTER, .id = eventBitmask};
	int fd;

	if (!el || !callback) {
		errno = EFAULT;
		return NULL;
	}
	if (eventBitmask == 0 || (eventBitmask & ~(uint32_t)SysEvent_Events_Mask)) {
		errno = EINVAL;
		return NULL;
	}
	if (active.reg) {
		errno = EEXIST;
		return NULL;
	}
	fd = broker_client_open(&req);
	if (fd < 0)
		return NULL;
	active.reg = EventLoop_RegisterIo(el, fd, EventLoop_Input, on_event, NULL);
	if (!active.reg) {
		int saved = errno;
		close(fd);
		errno = saved;
		return NULL;
	}
	active.el = el;
	active.fd = fd;
	active.callback = callback;
	active.context = context;
	return active.reg;
}

int SysEvent_UnregisterForEventNotifications(EventRegistration *reg)
{
	if (!reg) {
		errno = EFAULT;
		return -1;
	}
	if (reg != active.reg) {
		errno = EINVAL;
		return -1;
	}
	if (active.fd >= 0) {
		EventLoop_UnregisterIo(active.el, reg);
		close(active.fd);
	}
	active.reg = NULL;
	active.el = NULL;
	active.fd = -1;
	active.callback = NULL;
	return 0;
}

static int defer_or_resume(uint16_t type, SysEvent_Events event, uint32_t minutes)
{
	struct broker_msg req = {.type = type, .id = event, .arg = minutes}, resp;
	uint8_t buf[BROKER_MSG_MAX];
	int control = broker_client_control_fd();
	if (control < 0)
		return -1;
	return broker_client_call(control, &req, &resp, buf, NULL);
}

int SysEvent_DeferEvent(SysEvent_Events event, uint32_t requested_defer_time_in_minutes)
{
	return defer_or_resume(BROKER_SYSEVENT_DEFER, event, requested_defer_time_in_minutes);
}

int SysEvent_ResumeEvent(SysEvent_Events event)
{
	return defer_or_resume(BROKER_SYSEVENT_RESUME, event, 0);
}
