/* hello: logs a greeting once a second, forever (or COUNT times when given a count argument). */
#include <stdlib.h>
#include <time.h>

#include <applibs/log.h>

int main(int argc, char **argv)
{
	unsigned long count = 0;
	if (argc > 1) {
		char *end = NULL;
		count = strtoul(argv[1], &end, 10);
		if (!*argv[1] || *end) {
			Log_Debug("usage: hello [COUNT]\n");
			return 2;
		}
	}
	for (unsigned long i = 1; count == 0 || i <= count; i++) {
		Log_Debug("Hello from Rampart, tick %lu\n", i);
		if (count == 0 || i < count)
			nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
	}
	return 0;
}
