/* Unit tests for the applibs EventLoop: dispatch, run durations, stop, registration rules and
 * unregistering from inside a callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <applibs/eventloop.h>

struct counter {
	int calls;
	EventLoop_IoEvents last;
	bool stop;
	bool drain;
	EventRegistration *unregister; /* unregister this from the callback */
};

static void on_io(EventLoop *el, int fd, EventLoop_IoEvents events, void *context)
{
	struct counter *c = context;
	char buf[16];
	c->calls++;
	c->last = events;
	if (c->drain)
		(void)!read(fd, buf, sizeof(buf));
	if (c->unregister) {
		assert_int_equal(EventLoop_UnregisterIo(el, c->unregister), 0);
		c->unregister = NULL;
	}
	if (c->stop)
		EventLoop_Stop(el);
}

static void test_dispatch(void **state)
{
	(void)state;
	EventLoop *el = EventLoop_Create();
	int p[2];
	struct counter c = {.drain = true};
	assert_non_null(el);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	EventRegistration *r = EventLoop_RegisterIo(el, p[0], EventLoop_Input, on_io, &c);
	assert_non_null(r);
	assert_int_equal(EventLoop_Run(el, 0, false), EventLoop_Run_FinishedEmpty);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(EventLoop_Run(el, 0, false), EventLoop_Run_Finished);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.last, EventLoop_Input);
	/* run(-1, true) returns after exactly one event */
	assert_int_equal(write(p[1], "y", 1), 1);
	assert_int_equal(EventLoop_Run(el, -1, true), EventLoop_Run_Finished);
	assert_int_equal(c.calls, 2);
	/* a bounded run with nothing to do returns empty */
	assert_int_equal(EventLoop_Run(el, 20, false), EventLoop_Run_FinishedEmpty);
	/* hang-up is reported as Error */
	close(p[1]);
	c.drain = false;
	assert_int_equal(EventLoop_Run(el, 0, false), EventLoop_Run_Finished);
	assert_true(c.last & EventLoop_Error);
	assert_int_equal(EventLoop_UnregisterIo(el, r), 0);
	close(p[0]);
	EventLoop_Close(el);
}

static void test_registration_rules(void **state)
{
	(void)state;
	EventLoop *el = EventLoop_Create();
	int p[2];
	struct counter c = {0};
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	EventRegistration *r = EventLoop_RegisterIo(el, p[0], EventLoop_Input, on_io, &c);
	assert_non_null(r);
	errno = 0;
	assert_null(EventLoop_RegisterIo(el, p[0], EventLoop_Input, on_io, &c));
	assert_int_equal(errno, EEXIST);
	assert_null(EventLoop_RegisterIo(el, p[1], 0x100, on_io, &c));
	assert_int_equal(errno, EINVAL);
	assert_null(EventLoop_RegisterIo(el, p[1], EventLoop_Output, NULL, &c));
	assert_int_equal(errno, EFAULT);
	assert_null(EventLoop_RegisterIo(NULL, p[1], EventLoop_Output, on_io, &c));
	assert_int_equal(errno, EFAULT);
	assert_null(EventLoop_RegisterIo(el, 999, EventLoop_Input, on_io, &c));
	assert_int_equal(errno, EBADF);
	assert_int_equal(EventLoop_Run(NULL, 0, false), EventLoop_Run_Failed);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(EventLoop_UnregisterIo(el, NULL), 0);
	/* switch the registration to output-only: the write end is always writable */
	EventRegistration *w = EventLoop_RegisterIo(el, p[1], EventLoop_None, on_io, &c);
	assert_non_null(w);
	assert_int_equal(EventLoop_Run(el, 0, false), EventLoop_Run_FinishedEmpty);
	assert_int_equal(EventLoop_ModifyIoEvents(el, w, EventLoop_Output), 0);
	assert_int_equal(EventLoop_Run(el, 0, false), EventLoop_Run_Finished);
	assert_int_equal(c.last, EventLoop_Output);
	assert_int_equal(EventLoop_ModifyIoEvents(el, w, 0x40), -1);
	assert_int_equal(errno, EINVAL);
	EventLoop_Close(el); /* frees remaining registrations */
	close(p[0]);
	close(p[1]);
}

static void test_stop_and_unregister_in_callback(void **state)
{
	(void)state;
	EventLoop *el = EventLoop_Create();
	int a[2], b[2];
	struct counter ca = {.stop = true}, cb = {0};
	assert_int_equal(pipe2(a, O_CLOEXEC), 0);
	assert_int_equal(pipe2(b, O_CLOEXEC), 0);
	EventRegistration *ra = EventLoop_RegisterIo(el, a[1], EventLoop_Output, on_io, &ca);
	EventRegistration *rb = EventLoop_RegisterIo(el, b[1], EventLoop_Output, on_io, &cb);
	assert_non_null(ra);
	assert_non_null(rb);
	/* both are ready; whichever runs first unregisters the other, which must then not run */
	ca.unregister = rb;
	cb.unregister = ra;
	ca.stop = cb.stop = false;
	assert_int_equal(EventLoop_Run(el, 0, false), EventLoop_Run_Finished);
	assert_int_equal(EventLoop_Run(el, 50, false), EventLoop_Run_Finished);
	assert_int_equal(ca.calls + cb.calls >= 1, 1);
	assert_true(ca.calls == 0 || cb.calls == 0);
	EventLoop_Close(el);

	/* Stop from a callback ends an unbounded run */
	el = EventLoop_Create();
	struct counter cs = {.stop = true};
	assert_non_null(EventLoop_RegisterIo(el, a[1], EventLoop_Output, on_io, &cs));
	assert_int_equal(EventLoop_Run(el, -1, false), EventLoop_Run_Finished);
	assert_int_equal(cs.calls, 1);
	EventLoop_Close(el);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

static void *stopper(void *arg)
{
	usleep(20000);
	EventLoop_Stop(arg);
	return NULL;
}

static void test_stop_from_thread_and_wait_descriptor(void **state)
{
	(void)state;
	EventLoop *el = EventLoop_Create();
	pthread_t t;
	int p[2];
	struct counter c = {.drain = true};
	assert_int_equal(pthread_create(&t, NULL, stopper, el), 0);
	assert_int_equal(EventLoop_Run(el, -1, false), EventLoop_Run_FinishedEmpty);
	pthread_join(t, NULL);

	int wd = EventLoop_GetWaitDescriptor(el);
	assert_true(wd >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_non_null(EventLoop_RegisterIo(el, p[0], EventLoop_Input, on_io, &c));
	struct pollfd pf = {.fd = wd, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 0), 0);
	assert_int_equal(write(p[1], "z", 1), 1);
	assert_int_equal(poll(&pf, 1, 1000), 1);
	assert_int_equal(EventLoop_Run(el, 0, false), EventLoop_Run_Finished);
	assert_int_equal(EventLoop_GetWaitDescriptor(NULL), -1);
	EventLoop_Close(el);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_registration_rules),
		cmocka_unit_test(test_stop_and_unregister_in_callback),
		cmocka_unit_test(test_stop_from_thread_and_wait_descriptor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
