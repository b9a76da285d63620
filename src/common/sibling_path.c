/* Programs installed next to the running one (see sibling_path.h). */
#include "common/sibling_path.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

char *rp_sibling_path(const char *binary, rp_error *err)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return rp_error_set_errno(err, errno, "finding the running executable"), NULL;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	char *path = xasprintf("%s/%s", slash ? self : ".", binary);
	if (access(path, X_OK) < 0) {
		rp_error_set_errno(err, errno, "%s", path);
		free(path);
		return NULL;
	}
	return path;
}
