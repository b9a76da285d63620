/* Replays a libFuzzer corpus without libFuzzer: each file (or each file in each directory) given
 * on the command line is fed once to LLVMFuzzerTestOneInput. Used in non-fuzzing builds so the
 * seed corpus is exercised under ASan/UBSan by `make test`. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/macros.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	rp_error err = RP_ERROR_INIT;
	if (rp_read_file(path, 64u * 1024 * 1024, &data, &len, &err) < 0) {
		fprintf(stderr, "replay: %s\n", err.message);
		return -1;
	}
	LLVMFuzzerTestOneInput(data, len);
	return 0;
}

int main(int argc, char **argv)
{
	int count = 0, failures = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: cannot open %s\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			failures += replay_file(argv[i]) < 0;
			count++;
			continue;
		}
		DIR *dir = opendir(argv[i]);
		struct dirent *de;
		while (dir && (de = readdir(dir))) {
			if (de->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			failures += replay_file(path) < 0;
			count++;
		}
		if (dir)
			closedir(dir);
	}
	printf("replayed %d inputs\n", count);
	return failures ? 1 : 0;
}
