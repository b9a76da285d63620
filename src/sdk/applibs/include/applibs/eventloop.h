/* applibs eventloop: a single-threaded epoll-based event loop (Azure Sphere compatible). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct EventLoop EventLoop;
typedef struct EventRegistration EventRegistration;

typedef int EventLoop_Run_Result;
enum {
	EventLoop_Run_Failed = -1,     /* errno says why */
	EventLoop_Run_FinishedEmpty = 0, /* no event was processed */
	EventLoop_Run_Finished = 1,      /* one or more events were processed */
};

typedef uint32_t EventLoop_IoEvents;
typedef EventLoop_IoEvents EventLoop_Io_Events;
enum {
	EventLoop_None = 0x00,
	EventLoop_Input = 0x01,
	EventLoop_Output = 0x04,
	EventLoop_Error = 0x08, /* always reported */
};

typedef void EventLoopIoCallback(EventLoop *el, int fd, EventLoop_IoEvents events, void *context);
typedef EventLoopIoCallback EventLoop_IoCallback;

EventLoop *EventLoop_Create(void);
void EventLoop_Close(EventLoop *el);
/* duration < 0: until stopped; 0: process at most one ready event; > 0: for that long. */
EventLoop_Run_Result EventLoop_Run(EventLoop *el, int duration_in_milliseconds, bool process_one_event);
int EventLoop_GetWaitDescriptor(EventLoop *el);
int EventLoop_Stop(EventLoop *el);
EventRegistration *EventLoop_RegisterIo(EventLoop *el, int fd, EventLoop_IoEvents eventBitmask,
                                        EventLoopIoCallback *callback, void *context);
int EventLoop_ModifyIoEvents(EventLoop *el, EventRegistration *reg, EventLoop_IoEvents eventBitmask);
int EventLoop_UnregisterIo(EventLoop *el, EventRegistration *reg);

#ifdef __cplusplus
}
#endif
