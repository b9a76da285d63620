/* update_deferral: registers for update notifications, logs every system event, and defers a
 * pending update: `app [--defer MINUTES] [--times N] [--silent] [--tag TEXT]`. MINUTES 0 (the
 * default) lets every update proceed at once (SysEvent_ResumeEvent); otherwise the first N pending
 * updates (default: every one) are deferred by MINUTES, and later ones resumed. --silent never
 * answers (the device then waits its few seconds and goes on). TAG is printed at start, so a log
 * shows which build is running. The Azure Sphere DeferredUpdate sample, ported. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <applibs/eventloop.h>
#include <applibs/log.h>
#include <applibs/sysevent.h>

static volatile sig_atomic_t stop_requested;
static unsigned long defer_minutes, defer_times, deferred;
static bool silent;

static void on_sigterm(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static const char *event_name(SysEvent_Events e)
{
	switch (e) {
	case SysEvent_Events_UpdateReadyForInstall:
		return "UpdateReadyForInstall";
	case SysEvent_Events_UpdateStarted:
		return "UpdateStarted";
	case SysEvent_Events_NoUpdateAvailable:
		return "NoUpdateAvailable";
	default:
		return "unknown";
	}
}

static const char *status_name(SysEvent_Status s)
{
	switch (s) {
	case SysEvent_Status_Pending:
		return "Pending";
	case SysEvent_Status_Final:
		return "Final";
	case SysEvent_Status_Deferred:
		return "Deferred";
	case SysEvent_Status_Complete:
		return "Complete";
	default:
		return "Invalid";
	}
}

static void on_event(SysEvent_Events event, SysEvent_Status status, const SysEvent_Info *info, void *context)
{
	SysEvent_Info_UpdateData data;
	(void)context;
	if (event != SysEvent_Events_UpdateReadyForInstall) {
		Log_Debug("event %s status %s\n", event_name(event), status_name(status));
		return;
	}
	if (SysEvent_Info_GetUpdateData(info, &data) < 0) {
		Log_Debug("ERROR: SysEvent_Info_GetUpdateData: %s (%d)\n", strerror(errno), errno);
		return;
	}
	Log_Debug("event %s status %s: %s update, max deferral %u minutes\n", event_name(event), status_name(status),
	          data.update_type == SysEvent_UpdateType_App ? "App" : "System", data.max_deferral_time_in_minutes);
	if (status != SysEvent_Status_Pending || silent)
		return;
	if (defer_minutes && (defer_times == 0 || deferred < defer_times)) {
		if (SysEvent_DeferEvent(SysEvent_Events_UpdateReadyForInstall, (uint32_t)defer_minutes) < 0) {
			Log_Debug("ERROR: SysEvent_DeferEvent: %s (%d)\n", strerror(errno), errno);
			return;
		}
		deferred++;
		Log_Debug("deferred the update by %lu minutes\n", defer_minutes);
		return;
	}
	if (SysEvent_ResumeEvent(SysEvent_Events_UpdateReadyForInstall) < 0) {
		Log_Debug("ERROR: SysEvent_ResumeEvent: %s (%d)\n", strerror(errno), errno);
		return;
	}
	Log_Debug("let the update proceed\n");
}

static unsigned long number(const char *s, unsigned long max)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > max || s[0] == '-') {
		Log_Debug("usage: update_deferral [--defer MINUTES (0..1440)] [--times N] [--silent] [--tag TEXT]\n");
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"defer", required_argument, NULL, 'd'},
	                                     {"times", required_argument, NULL, 'n'},
	                                     {"silent", no_argument, NULL, 's'},
	                                     {"tag", required_argument, NULL, 't'},
	                                     {NULL, 0, NULL, 0}};
	const char *tag = "";
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			defer_minutes = number(optarg, 1440);
		else if (c == 'n')
			defer_times = number(optarg, 1000000);
		else if (c == 's')
			silent = true;
		else if (c == 't')
			tag = optarg;
		else
			number("", 0);
	}
	/* The app is init of its PID namespace: SIGTERM reaches it only because it handles it (and
	 * only unblocked: a signal mask survives execve). */
	struct sigaction sa = {.sa_handler = on_sigterm};
	sigset_t term;
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &term, NULL);

	Log_Debug("UpdateDeferral starting%s%s: defer %lu minutes, %lu times (0: always)\n", tag[0] ? " tag " : "", tag,
	          defer_minutes, defer_times);
	EventLoop *el = EventLoop_Create();
	if (!el) {
		Log_Debug("ERROR: EventLoop_Create: %s (%d)\n", strerror(errno), errno);
		return 1;
	}
	EventRegistration *reg = SysEvent_RegisterForEventNotifications(
		el, SysEvent_Events_UpdateReadyForInstall | SysEvent_Events_UpdateStarted | SysEvent_Events_NoUpdateAvailable,
		on_event, NULL);
	if (!reg)
		Log_Debug("ERROR: SysEvent_RegisterForEventNotifications: %s (%d)\n", strerror(errno), errno);
	else
		Log_Debug("registered for update events\n");
	/* Without a registration the app keeps running (and hears nothing), like any other app. */
	while (!stop_requested) {
		EventLoop_Run_Result r = EventLoop_Run(el, reg ? -1 : 1000, true);
		if (r == EventLoop_Run_Failed && errno != EINTR) {
			Log_Debug("ERROR: EventLoop_Run: %s (%d)\n", strerror(errno), errno);
			break;
		}
	}
	if (reg)
		SysEvent_UnregisterForEventNotifications(reg);
	EventLoop_Close(el);
	Log_Debug("UpdateDeferral stopping\n");
	return 0;
}
