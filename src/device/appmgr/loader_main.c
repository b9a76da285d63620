/* rampart-app-loader: verifies an app package and hands the application manager what it needs,
 * in a short-lived process of its own. Package bytes are untrusted and their parsers
 * (signatures, squashfs) large; keeping them out of the long-lived manager keeps the daemon
 * small (no OpenSSL or libsquashfs mapped) and a parser bug confined to one load.
 *
 *   rampart-app-loader --trust-key PEM... check PKG          verify; print app_manifest.json
 *   rampart-app-loader --trust-key PEM... store PKG DEST     verify; write the verified bytes to DEST
 *   rampart-app-loader --trust-key PEM... extract PKG DIR    verify; extract into the empty DIR
 * Each prints the verified package's app_manifest.json on stdout. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/fileio.h"
#include "common/log.h"
#include "pkg/manifest.h"
#include "pkg/package_reader.h"
#include "pkg/payload_reader.h"

#define MAX_KEYS 8

static int load(const char *cmd, const char *path, const char *dest, const struct package_trust *trust, rp_error *err)
{
	_cleanup_package_ struct package *pkg = package_reader_open_path(path, NULL, trust, err);
	if (!pkg)
		return -1;
	_cleanup_free_ uint8_t *manifest = NULL;
	size_t mlen = 0;
	if (payload_reader_read_file(pkg, "app_manifest.json", MANIFEST_MAX_BYTES, &manifest, &mlen, err) < 0)
		return -1;
	if (strcmp(cmd, "check") == 0 && !dest) {
		/* verification above is the whole job */
	} else if (strcmp(cmd, "store") == 0 && dest) {
		/* The sealed copy, not the file: the file may have changed since it was read. */
		if (rp_write_file_atomic(dest, pkg->data, pkg->len, 0600, err) < 0)
			return -1;
	} else if (strcmp(cmd, "extract") == 0 && dest) {
		_cleanup_close_ int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			return rp_error_set_errno(err, errno, "opening %s", dest);
		if (payload_reader_extract(pkg, dfd, NULL, err) < 0)
			return -1;
	} else {
		return rp_error_set(err, RP_E_INVALID,
		                    "unknown loader command \"%s\" (check PKG, store PKG DEST, extract PKG DIR)", cmd);
	}
	if (rp_write_full(STDOUT_FILENO, manifest, mlen) < 0)
		return rp_error_set_errno(err, errno, "writing the manifest");
	return 0;
}

int main(int argc, char **argv)
{
	rp_log_init("app-loader", RP_LOG_FORMAT_HUMAN, RP_LOG_WARNING, NULL);
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *keys[MAX_KEYS];
	size_t nkeys = 0;
	int rc = -1;
	static const struct option longopts[] = {{"trust-key", required_argument, NULL, 'k'}, {NULL, 0, NULL, 0}};
	int c;
	while (rc == -1 && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'k' || nkeys == MAX_KEYS) {
			rc = rp_error_set(&err, RP_E_INVALID, "usage: rampart-app-loader --trust-key PEM... (at most %d) "
			                  "check|store|extract PKG [DEST]", MAX_KEYS);
			break;
		}
		keys[nkeys] = rp_key_load_public_pem(optarg, &err);
		if (!keys[nkeys]) {
			rc = rp_error_prefix(&err, "--trust-key");
			break;
		}
		nkeys++;
	}
	if (!rp_error_is_set(&err)) {
		if (optind + 2 > argc || nkeys == 0) {
			rp_error_set(&err, RP_E_INVALID, "usage: rampart-app-loader --trust-key PEM... check|store|extract PKG [DEST]");
		} else {
			struct package_trust trust = {keys, nkeys, 1};
			(void)load(argv[optind], argv[optind + 1], optind + 2 < argc ? argv[optind + 2] : NULL, &trust, &err);
		}
	}
	for (size_t i = 0; i < nkeys; i++)
		EVP_PKEY_free(keys[i]);
	if (rp_error_is_set(&err)) {
		rp_error_report(&err, "rampart-app-loader");
		return rp_error_exit_status(&err);
	}
	return 0;
}
