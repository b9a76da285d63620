/* Named fault points (see boot_fault.h). A SIGKILL leaves no chance for cleanup handlers, which is
 * exactly what a power cut does; tests use it to prove every intermediate state is recoverable. */
#include "device/boot/boot_fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/parse.h"

static void (*fault_killer)(void);
static unsigned long fault_hits;

void boot_fault_set_killer(void (*killer)(void))
{
	fault_killer = killer;
}

void boot_fault_point(const char *name)
{
	const char *spec = getenv("RAMPART_FAULT_POINT");
	if (!spec || !*spec)
		return;
	size_t nlen = strlen(name);
	if (strncmp(spec, name, nlen) != 0 || (spec[nlen] != '\0' && spec[nlen] != ':'))
		return;
	uint64_t nth = 1;
	if (spec[nlen] == ':' && rp_parse_u64(spec + nlen + 1, 1, 1000000, &nth, NULL) < 0)
		return;
	if (++fault_hits < nth)
		return;
	if (fault_killer)
		fault_killer();
	kill(getpid(), SIGKILL);
	_exit(137); /* not reached */
}
