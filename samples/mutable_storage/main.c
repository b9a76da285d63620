/* mutable_storage: counts its own starts in the app's mutable storage file, so the count survives
 * restarts and updates. `app --delete` removes the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <applibs/log.h>
#include <applibs/storage.h>

int main(int argc, char **argv)
{
	char buf[32];
	unsigned long count = 0;
	ssize_t n;
	int fd, len;

	if (argc > 1 && strcmp(argv[1], "--delete") == 0) {
		if (Storage_DeleteMutableFile() < 0) {
			Log_Debug("ERROR: delete failed: %s (%d)\n", strerror(errno), errno);
			return 1;
		}
		Log_Debug("mutable storage deleted\n");
		return 0;
	}
	fd = Storage_OpenMutableFile();
	if (fd < 0) {
		Log_Debug("ERROR: could not open mutable storage: %s (%d)\n", strerror(errno), errno);
		return 1;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0) {
		Log_Debug("ERROR: read failed: %s\n", strerror(errno));
		return 1;
	}
	buf[n] = '\0';
	if (n > 0) {
		char *end = NULL;
		count = strtoul(buf, &end, 10);
		if (end == buf || (*end && *end != '\n')) {
			Log_Debug("stored counter is corrupt; starting again from 0\n");
			count = 0;
		}
	}
	count++;
	len = snprintf(buf, sizeof(buf), "%lu\n", count);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len || fsync(fd) < 0) {
		Log_Debug("ERROR: write failed: %s (%d)\n", strerror(errno), errno);
		return 1;
	}
	close(fd);
	Log_Debug("start count: %lu\n", count);
	return 0;
}
