/* rampart-app-loader: verifies an app package and hands the application manager what it needs,
 * in a short-lived process of its own. Package bytes are untrusted and their parsers
 * (signatures, squashfs) large; keeping them out of the long-lived manager keeps the daemon
 * small (no OpenSSL or libsquashfs mapped) and a parser bug confined to one load.
 *
 *   rampart-app-loader --trust-key PEM... check PKG          verify; print app_manifest.json
 *   rampart-app-loader --trust-key PEM... store PKG DEST     verify; write the verified bytes to DEST
 *   rampart-app-loader --trust-key PEM... extract PKG DIR    verify; extract into the empty DIR
 * Each prints the verified package's app_manifest.json on stdout.
 *
 * Development mode (docs/protocol.md, "Device capabilities"): a package with the development flag
 * is refused unless --capability FILE --capability-key PEM --device-id ID are given; then the
 * capability is verified first and the package must be signed by one of the development keys it
 * lists (the --trust-key keys do not apply), so a sideloaded app stops loading once the capability
 * is gone, expired or replaced. `capability FILE` (with the same options) verifies a capability
 * and prints its payload. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/capability.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "pkg/manifest.h"
#include "pkg/package_reader.h"
#include "pkg/payload_reader.h"

#define MAX_KEYS 8

static int load(const char *cmd, const char *path, const char *dest, const struct package_trust *trust, bool sideload,
                rp_error *err)
{
	_cleanup_package_ struct package *pkg = package_reader_open_path(path, NULL, trust, err);
	if (!pkg)
		return -1;
	/* Development images only run on a device in development mode, and sideloading takes
	 * development images only: neither kind can pass for the other. */
	if (pkg->md.development && !sideload)
		return rp_error_set(err, RP_E_PERMISSION,
		                    "%s is a development image: it runs only when sideloaded on a device in development "
		                    "mode ('rampart device enable-development', then 'rampart device sideload deploy')",
		                    path);
	if (!pkg->md.development && sideload)
		return rp_error_set(err, RP_E_PERMISSION,
		                    "%s is not a development image: sideloading takes packages built with "
		                    "'rampart image-package pack-application --development'", path);
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

/* Verify the capability file at PATH for DEVICE_ID with the key in KEY_PEM; on success *CAP holds
 * it. Every check fails closed with its own message (capability.h). */
static int load_capability(const char *path, const char *key_pem, const char *device_id, struct capability *cap,
                           rp_error *err)
{
	if (!key_pem || !device_id)
		return rp_error_set(err, RP_E_INVALID, "a capability needs --capability-key PEM and --device-id ID");
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = 0;
	if (rp_read_file(path, CAPABILITY_FILE_MAX, &buf, &len, err) < 0)
		return rp_error_prefix(err, "reading the capability");
	_cleanup_pkey_ EVP_PKEY *signer = rp_key_load_public_pem(key_pem, err);
	if (!signer)
		return rp_error_prefix(err, "loading the capability-signing key");
	if (capability_parse(buf, len, cap, err) < 0)
		return -1;
	if (capability_verify(cap, signer, device_id, CAPABILITY_TYPE_APP_DEVELOPMENT, (int64_t)time(NULL), err) < 0) {
		capability_free(cap);
		return -1;
	}
	return 0;
}

static int print_capability(const struct capability *cap, rp_error *err)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:i}", "type", cap->type, "device_id", cap->device_id,
	                      "tenant_id", cap->tenant_id, "serial", cap->serial, "issued_at", (json_int_t)cap->issued_at,
	                      "expires_at", (json_int_t)cap->expires_at, "development_keys", (int)cap->ndev_keys);
	_cleanup_free_ char *text = rp_json_dump(o);
	json_decref(o);
	if (rp_write_full(STDOUT_FILENO, text, strlen(text)) < 0)
		return rp_error_set_errno(err, errno, "writing the capability");
	return 0;
}

int main(int argc, char **argv)
{
	rp_log_init("app-loader", RP_LOG_FORMAT_HUMAN, RP_LOG_WARNING, NULL);
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *keys[MAX_KEYS];
	size_t nkeys = 0;
	const char *cap_path = NULL, *cap_key = NULL, *device_id = NULL;
	int rc = -1;
	static const struct option longopts[] = {{"trust-key", required_argument, NULL, 'k'},
	                                         {"capability", required_argument, NULL, 'c'},
	                                         {"capability-key", required_argument, NULL, 'K'},
	                                         {"device-id", required_argument, NULL, 'd'},
	                                         {NULL, 0, NULL, 0}};
	int c;
	while (rc == -1 && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'c' || c == 'K' || c == 'd') {
			*(c == 'c' ? &cap_path : c == 'K' ? &cap_key : &device_id) = optarg;
			continue;
		}
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
	struct capability cap;
	memset(&cap, 0, sizeof(cap));
	if (!rp_error_is_set(&err) && optind + 2 == argc && strcmp(argv[optind], "capability") == 0) {
		if (load_capability(argv[optind + 1], cap_key, device_id, &cap, &err) == 0)
			(void)print_capability(&cap, &err);
	} else if (!rp_error_is_set(&err) && cap_path) {
		/* Sideload: the capability's development keys are the only trusted keys. */
		if (optind + 2 > argc || nkeys != 0) {
			rp_error_set(&err, RP_E_INVALID, "usage: rampart-app-loader --capability FILE --capability-key PEM "
			             "--device-id ID check|store|extract PKG [DEST]");
		} else if (load_capability(cap_path, cap_key, device_id, &cap, &err) == 0) {
			for (size_t i = 0; i < cap.ndev_keys && !rp_error_is_set(&err); i++) {
				keys[nkeys] = rp_key_from_public_pem(cap.dev_keys[i], strlen(cap.dev_keys[i]), &err);
				if (keys[nkeys])
					nkeys++;
			}
			if (!rp_error_is_set(&err) && nkeys == 0)
				rp_error_set(&err, RP_E_PERMISSION,
				             "the development capability lists no development keys; download one with "
				             "'rampart device capability download --development-key PEM'");
			if (!rp_error_is_set(&err)) {
				struct package_trust trust = {keys, nkeys, 1};
				if (load(argv[optind], argv[optind + 1], optind + 2 < argc ? argv[optind + 2] : NULL, &trust, true,
				         &err) < 0)
					rp_error_prefix(&err, "sideloaded package (must be signed by a development key of the "
					                "capability)");
			}
		}
	} else if (!rp_error_is_set(&err)) {
		if (optind + 2 > argc || nkeys == 0) {
			rp_error_set(&err, RP_E_INVALID, "usage: rampart-app-loader --trust-key PEM... check|store|extract PKG [DEST]");
		} else {
			struct package_trust trust = {keys, nkeys, 1};
			(void)load(argv[optind], argv[optind + 1], optind + 2 < argc ? argv[optind + 2] : NULL, &trust, false,
			           &err);
		}
	}
	capability_free(&cap);
	for (size_t i = 0; i < nkeys; i++)
		EVP_PKEY_free(keys[i]);
	if (rp_error_is_set(&err)) {
		rp_error_report(&err, "rampart-app-loader");
		return rp_error_exit_status(&err);
	}
	return 0;
}
