/* Where the appDevelopment capability lives, apart from the rest of development mode so the
 * agent's update worker can ask whether a device is in development mode without linking the
 * application manager. */
#include "device/appmgr/devmode.h"

#include <sys/stat.h>

#include "common/macros.h"
#include "common/xalloc.h"

char *devmode_capability_path(const char *state_dir)
{
	return xasprintf("%s/devmode/capability", state_dir);
}

bool devmode_capability_present(const char *state_dir)
{
	_cleanup_free_ char *p = devmode_capability_path(state_dir);
	struct stat st;
	return lstat(p, &st) == 0;
}
