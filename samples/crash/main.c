/* crash: logs for SECONDS (default 3), then dereferences a null pointer on purpose, so the app
 * manager's crash capture and restart policy have something to catch (SIGSEGV). */
#include <stdlib.h>
#include <time.h>

#include <applibs/log.h>

int main(int argc, char **argv)
{
	unsigned long seconds = 3;
	if (argc > 1) {
		char *end = NULL;
		seconds = strtoul(argv[1], &end, 10);
		if (!*argv[1] || *end || seconds > 3600)
			seconds = 3;
	}
	for (unsigned long i = seconds; i > 0; i--) {
		Log_Debug("crashing in %lu s\n", i);
		nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
	}
	Log_Debug("crashing now\n");
	volatile int *volatile p = NULL;
	*p = 42;
	return 0;
}
