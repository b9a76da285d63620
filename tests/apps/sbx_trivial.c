/* Trivial sandboxed test app: "marker" writes one line and exits (the start benchmark's first
 * instruction); "sleep" waits forever without a SIGTERM handler; "sleep-term" exits 0 on SIGTERM;
 * "exit N" exits with status N. Built static: the container holds only the package files. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_term(int sig)
{
	(void)sig;
	static const char msg[] = "got SIGTERM\n";
	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "marker";
	if (strcmp(mode, "marker") == 0) {
		static const char msg[] = "rampart-marker\n";
		return write(1, msg, sizeof(msg) - 1) == sizeof(msg) - 1 ? 0 : 1;
	}
	if (strcmp(mode, "exit") == 0)
		return argc > 2 ? (int)strtol(argv[2], NULL, 10) : 0;
	if (strcmp(mode, "sleep-term") == 0)
		signal(SIGTERM, on_term);
	printf("sleeping\n");
	fflush(stdout);
	for (int i = 0; i < 3600; i++)
		sleep(1);
	return 0;
}
