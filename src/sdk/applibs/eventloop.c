/* applibs eventloop: an epoll-based EventLoop with Azure Sphere's semantics (run for a duration
 * or until stopped, one registration per fd, Error always reported). Stop from another thread
 * goes through an eventfd so a blocked epoll_wait wakes up. */
#include <applibs/eventloop.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define EVENTLOOP_BATCH 16

struct EventRegistration {
	EventLoop *el;
	int fd;
	EventLoopIoCallback *callback;
	void *context;
	struct EventRegistration *next;
	bool dead; /* unregistered while a batch containing it is being dispatched */
};

struct EventLoop {
	int epfd;
	int stopfd;
	bool running;
	volatile bool stop;
	EventRegistration *regs;
	EventRegistration *graveyard; /* freed when the current run returns */
};

static bool valid_mask(EventLoop_IoEvents m)
{
	return (m & ~(uint32_t)(EventLoop_Input | EventLoop_Output | EventLoop_Error)) == 0;
}

static uint32_t to_epoll(EventLoop_IoEvents m)
{
	return (m & EventLoop_Input ? EPOLLIN : 0) | (m & EventLoop_Output ? EPOLLOUT : 0);
}

EventLoop *EventLoop_Create(void)
{
	EventLoop *el = calloc(1, sizeof(*el));
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};

	if (!el)
		return NULL;
	el->epfd = epoll_create1(EPOLL_CLOEXEC);
	el->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (el->epfd < 0 || el->stopfd < 0 || epoll_ctl(el->epfd, EPOLL_CTL_ADD, el->stopfd, &e) < 0) {
		int saved = errno;
		if (el->epfd >= 0)
			close(el->epfd);
		if (el->stopfd >= 0)
			close(el->stopfd);
		free(el);
		errno = saved;
		return NULL;
	}
	return el;
}

static void free_list(EventRegistration *r)
{
	while (r) {
		EventRegistration *next = r->next;
		free(r);
		r = next;
	}
}

void EventLoop_Close(EventLoop *el)
{
	if (!el)
		return;
	free_list(el->regs);
	free_list(el->graveyard);
	close(el->epfd);
	close(el->stopfd);
	free(el);
}

int EventLoop_GetWaitDescriptor(EventLoop *el)
{
	if (!el) {
		errno = EFAULT;
		return -1;
	}
	return el->epfd;
}

int EventLoop_Stop(EventLoop *el)
{
	uint64_t one = 1;
	if (!el) {
		errno = EFAULT;
		return -1;
	}
	el->stop = true;
	if (write(el->stopfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -1;
	return 0;
}

EventRegistration *EventLoop_RegisterIo(EventLoop *el, int fd, EventLoop_IoEvents eventBitmask,
                                        EventLoopIoCallback *callback, void *context)
{
	struct epoll_event e;
	EventRegistration *r;

	if (!el || !callback) {
		errno = EFAULT;
		return NULL;
	}
	if (!valid_mask(eventBitmask)) {
		errno = EINVAL;
		return NULL;
	}
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->el = el;
	r->fd = fd;
	r->callback = callback;
	r->context = context;
	e.events = to_epoll(eventBitmask);
	e.data.ptr = r;
	if (epoll_ctl(el->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		int saved = errno;
		free(r);
		errno = saved; /* EEXIST for a second registration of one fd, EBADF, EPERM */
		return NULL;
	}
	r->next = el->regs;
	el->regs = r;
	return r;
}

int EventLoop_ModifyIoEvents(EventLoop *el, EventRegistration *reg, EventLoop_IoEvents eventBitmask)
{
	struct epoll_event e;
	if (!el || !reg) {
		errno = EFAULT;
		return -1;
	}
	if (!valid_mask(eventBitmask)) {
		errno = EINVAL;
		return -1;
	}
	e.events = to_epoll(eventBitmask);
	e.data.ptr = reg;
	return epoll_ctl(el->epfd, EPOLL_CTL_MOD, reg->fd, &e);
}

int EventLoop_UnregisterIo(EventLoop *el, EventRegistration *reg)
{
	if (!reg)
		return 0;
	if (!el) {
		errno = EFAULT;
		return -1;
	}
	for (EventRegistration **pp = &el->regs; *pp; pp = &(*pp)->next) {
		if (*pp != reg)
			continue;
		*pp = reg->next;
		/* The fd may already be closed; the registration goes away either way. */
		epoll_ctl(el->epfd, EPOLL_CTL_DEL, reg->fd, NULL);
		reg->dead = true;
		if (el->running) {
			reg->next = el->graveyard;
			el->graveyard = reg;
		} else {
			free(reg);
		}
		return 0;
	}
	errno = EINVAL;
	return -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

EventLoop_Run_Result EventLoop_Run(EventLoop *el, int duration_in_milliseconds, bool process_one_event)
{
	int64_t deadline = duration_in_milliseconds > 0 ? now_ms() + duration_in_milliseconds : 0;
	bool processed = false;
	EventLoop_Run_Result result = EventLoop_Run_FinishedEmpty;

	if (!el) {
		errno = EFAULT;
		return EventLoop_Run_Failed;
	}
	if (el->running) {
		errno = EBUSY;
		return EventLoop_Run_Failed;
	}
	el->running = true;
	el->stop = false;
	for (;;) {
		struct epoll_event evs[EVENTLOOP_BATCH];
		int timeout = -1, n;
		int max = duration_in_milliseconds == 0 || process_one_event ? 1 : EVENTLOOP_BATCH;

		if (duration_in_milliseconds == 0) {
			timeout = 0;
		} else if (duration_in_milliseconds > 0) {
			int64_t left = deadline - now_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		n = epoll_wait(el->epfd, evs, max, timeout);
		if (n < 0) {
			if (errno == EINTR) {
				result = EventLoop_Run_Failed;
				break;
			}
			result = EventLoop_Run_Failed;
			break;
		}
		for (int i = 0; i < n; i++) {
			EventRegistration *r = evs[i].data.ptr;
			if (!r) { /* the stop eventfd */
				uint64_t v;
				(void)!read(el->stopfd, &v, sizeof(v));
				continue;
			}
			if (r->dead)
				continue;
			EventLoop_IoEvents got = (evs[i].events & EPOLLIN ? EventLoop_Input : 0) |
			                         (evs[i].events & EPOLLOUT ? EventLoop_Output : 0) |
			                         (evs[i].events & (EPOLLERR | EPOLLHUP) ? EventLoop_Error : 0);
			r->callback(el, r->fd, got, r->context);
			processed = true;
			if (el->stop)
				break;
		}
		if (el->stop || duration_in_milliseconds == 0 || (process_one_event && processed))
			break;
		if (duration_in_milliseconds > 0 && now_ms() >= deadline)
			break;
	}
	el->running = false;
	el->stop = false;
	free_list(el->graveyard);
	el->graveyard = NULL;
	if (result != EventLoop_Run_Failed)
		result = processed ? EventLoop_Run_Finished : EventLoop_Run_FinishedEmpty;
	return result;
}
