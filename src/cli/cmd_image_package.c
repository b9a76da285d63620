/* `rampart image-package`: create signing keys, pack applications and other images into signed
 * packages (format v1, docs/protocol.md), show them, and verify them against trusted keys. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/guid.h"
#include "common/json.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "pkg/manifest.h"
#include "pkg/package_reader.h"
#include "pkg/package_writer.h"
#include "pkg/payload_builder.h"
#include "pkg/payload_reader.h"

#define GROUP "image-package"

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: rampart image-package <command> [options]\n\n"
	        "Commands:\n"
	        "  keygen --private-key FILE --public-key FILE [--force]\n"
	        "        Create a P-256 signing key pair (private key written 0600). Existing files are\n"
	        "        refused unless --force is given.\n"
	        "  pack-application (--package-directory DIR | --manifest FILE --executable FILE\n"
	        "                    [--resource SRC[=DEST]]...) --key FILE... --output FILE\n"
	        "                   [--version N] [--version-string S] [--development]\n"
	        "                   [--target-api-set S] [--abi-depends S]... [--abi-provides S]...\n"
	        "        Pack an application: app_manifest.json, its EntryPoint executable and resources.\n"
	        "  pack --type os-bundle|trust-update|board-config|application --payload-directory DIR\n"
	        "       --component-id GUID --name NAME --key FILE... --output FILE [--version N] ...\n"
	        "        Pack any image type from a directory of regular files.\n"
	        "  show FILE [--output table|json] [--trusted-key FILE...]\n"
	        "        Print metadata, payload contents and signatures (verifies only with --trusted-key).\n"
	        "  verify FILE --trusted-key FILE... [--threshold N] [--max-files N] [--max-bytes SIZE]\n"
	        "        Check structure, signatures (at least N by distinct trusted keys) and payload safety.\n"
	        "  extract FILE --trusted-key FILE... --output DIR\n"
	        "        Verify, then unpack the payload into the new directory DIR (nothing is followed).\n\n"
	        "Each package gets a fresh random image ID. Exit status: 0 verified, 2 malformed package,\n"
	        "3 verification failed (bad or untrusted signature), 8 over a limit, 64 usage error.\n");
}

/* Options shared by the pack commands. */
struct pack_opts {
	const char *keys[PACKAGE_SIGNATURES_MAX];
	size_t nkeys;
	const char *output;
	uint64_t version;
	const char *version_string;
	bool development;
	struct package_metadata md;
};

static int load_keys(const struct pack_opts *o, EVP_PKEY **keys, rp_error *err)
{
	for (size_t i = 0; i < o->nkeys; i++) {
		keys[i] = rp_key_load_private_pem(o->keys[i], err);
		if (!keys[i])
			return rp_error_prefix(err, "loading signing key %s", o->keys[i]);
	}
	return 0;
}

static void free_keys(EVP_PKEY **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(keys[i]);
}

/* Fill the build-specific metadata, build the payload into a memfd, sign and write. */
static int finish_pack(struct pack_opts *o, struct payload_builder *b, rp_error *err)
{
	struct package_metadata *md = &o->md;
	md->version = o->version;
	if (o->version_string) {
		if (strlen(o->version_string) > PACKAGE_VERSION_STRING_MAX)
			return rp_error_set(err, RP_E_INVALID, "--version-string is longer than %d bytes",
			                    PACKAGE_VERSION_STRING_MAX);
		snprintf(md->version_string, sizeof(md->version_string), "%s", o->version_string);
	} else {
		snprintf(md->version_string, sizeof(md->version_string), "%" PRIu64, o->version);
	}
	md->development = o->development;
	if (rp_guid_generate(md->image_id, err) < 0)
		return -1;
	/* SOURCE_DATE_EPOCH makes the build time reproducible. */
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	uint64_t t = (uint64_t)time(NULL);
	if (sde && rp_parse_u64(sde, 0, UINT64_MAX, &t, err) < 0)
		return rp_error_prefix(err, "SOURCE_DATE_EPOCH");
	md->build_time = t;
	if (package_metadata_validate(md, err) < 0)
		return rp_error_prefix(err, "package metadata");
	EVP_PKEY *keys[PACKAGE_SIGNATURES_MAX] = {0};
	int ret = -1;
	_cleanup_close_ int pfd = memfd_create("rampart-payload", MFD_CLOEXEC);
	if (pfd < 0) {
		rp_error_set_errno(err, errno, "creating payload buffer");
		goto out;
	}
	if (load_keys(o, keys, err) < 0 || payload_builder_write(b, pfd, err) < 0 ||
	    package_writer_write(o->output, md, pfd, keys, o->nkeys, err) < 0)
		goto out;
	ret = 0;
out:
	free_keys(keys, o->nkeys);
	return ret;
}

enum {
	OPT_PRIVATE = 256, OPT_PUBLIC, OPT_PKGDIR, OPT_MANIFEST, OPT_EXECUTABLE, OPT_RESOURCE, OPT_KEY, OPT_VERSION,
	OPT_VERSION_STRING, OPT_DEVELOPMENT, OPT_OUTPUT, OPT_TARGET_API, OPT_ABI_DEP, OPT_ABI_PROV, OPT_TYPE,
	OPT_PAYLOAD_DIR, OPT_PAYLOAD, OPT_COMPONENT, OPT_NAME, OPT_TRUSTED, OPT_THRESHOLD, OPT_MAX_FILES,
	OPT_MAX_BYTES, OPT_FORCE, OPT_HELP,
};

static const struct option long_opts[] = {
	{"private-key", required_argument, NULL, OPT_PRIVATE},
	{"public-key", required_argument, NULL, OPT_PUBLIC},
	{"package-directory", required_argument, NULL, OPT_PKGDIR},
	{"manifest", required_argument, NULL, OPT_MANIFEST},
	{"executable", required_argument, NULL, OPT_EXECUTABLE},
	{"resource", required_argument, NULL, OPT_RESOURCE},
	{"key", required_argument, NULL, OPT_KEY},
	{"version", required_argument, NULL, OPT_VERSION},
	{"version-string", required_argument, NULL, OPT_VERSION_STRING},
	{"development", no_argument, NULL, OPT_DEVELOPMENT},
	{"output", required_argument, NULL, OPT_OUTPUT},
	{"target-api-set", required_argument, NULL, OPT_TARGET_API},
	{"abi-depends", required_argument, NULL, OPT_ABI_DEP},
	{"abi-provides", required_argument, NULL, OPT_ABI_PROV},
	{"type", required_argument, NULL, OPT_TYPE},
	{"payload-directory", required_argument, NULL, OPT_PAYLOAD_DIR},
	{"payload", required_argument, NULL, OPT_PAYLOAD},
	{"component-id", required_argument, NULL, OPT_COMPONENT},
	{"name", required_argument, NULL, OPT_NAME},
	{"trusted-key", required_argument, NULL, OPT_TRUSTED},
	{"threshold", required_argument, NULL, OPT_THRESHOLD},
	{"max-files", required_argument, NULL, OPT_MAX_FILES},
	{"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
	{"force", no_argument, NULL, OPT_FORCE},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

/* All commands share one option table; each command checks that only its options were used. */
struct opts {
	const char *private_key, *public_key, *pkgdir, *manifest, *executable, *type, *payload_dir, *payload;
	const char *component_id, *name, *output;
	const char *resources[256];
	size_t nresources;
	const char *trusted[PACKAGE_SIGNATURES_MAX];
	size_t ntrusted;
	unsigned threshold;
	struct package_limits limits;
	bool limits_given;
	struct pack_opts pack;
	bool force;
	bool help;
	const char *positional;
};

static int add_abi(char list[][PACKAGE_ABI_ENTRY_MAX + 1], size_t *n, const char *v)
{
	if (*n >= PACKAGE_ABI_LIST_MAX || strlen(v) == 0 || strlen(v) > PACKAGE_ABI_ENTRY_MAX)
		return cli_usage_error(GROUP, "ABI entries: at most %d, each 1 to %d bytes", PACKAGE_ABI_LIST_MAX,
		                       PACKAGE_ABI_ENTRY_MAX);
	snprintf(list[(*n)++], PACKAGE_ABI_ENTRY_MAX + 1, "%s", v);
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pack.version = 1;
	package_limits_default(&o->limits);
	rp_error err = RP_ERROR_INIT;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "o:h", long_opts, NULL)) != -1) {
		struct package_metadata *md = &o->pack.md;
		uint64_t u;
		switch (c) {
		case OPT_PRIVATE: o->private_key = optarg; break;
		case OPT_PUBLIC: o->public_key = optarg; break;
		case OPT_PKGDIR: o->pkgdir = optarg; break;
		case OPT_MANIFEST: o->manifest = optarg; break;
		case OPT_EXECUTABLE: o->executable = optarg; break;
		case OPT_RESOURCE:
			if (o->nresources >= RP_ARRAY_SIZE(o->resources))
				return cli_usage_error(GROUP, "too many --resource options");
			o->resources[o->nresources++] = optarg;
			break;
		case OPT_KEY:
			if (o->pack.nkeys >= PACKAGE_SIGNATURES_MAX)
				return cli_usage_error(GROUP, "at most %d --key options", PACKAGE_SIGNATURES_MAX);
			o->pack.keys[o->pack.nkeys++] = optarg;
			break;
		case OPT_VERSION:
			if (rp_parse_u64(optarg, 0, UINT64_MAX, &o->pack.version, &err) < 0)
				return cli_usage_error(GROUP, "--version: %s", err.message);
			break;
		case OPT_VERSION_STRING: o->pack.version_string = optarg; break;
		case OPT_DEVELOPMENT: o->pack.development = true; break;
		case 'o':
		case OPT_OUTPUT: o->output = optarg; break;
		case OPT_TARGET_API: {
			_cleanup_free_ char *v = xasprintf("ApplicationRuntime:%s", optarg);
			if (add_abi(md->abi_depends, &md->n_abi_depends, v))
				return CLI_EXIT_USAGE;
			break;
		}
		case OPT_ABI_DEP:
			if (add_abi(md->abi_depends, &md->n_abi_depends, optarg))
				return CLI_EXIT_USAGE;
			break;
		case OPT_ABI_PROV:
			if (add_abi(md->abi_provides, &md->n_abi_provides, optarg))
				return CLI_EXIT_USAGE;
			break;
		case OPT_TYPE: o->type = optarg; break;
		case OPT_PAYLOAD_DIR: o->payload_dir = optarg; break;
		case OPT_PAYLOAD: o->payload = optarg; break;
		case OPT_COMPONENT: o->component_id = optarg; break;
		case OPT_NAME: o->name = optarg; break;
		case OPT_TRUSTED:
			if (o->ntrusted >= RP_ARRAY_SIZE(o->trusted))
				return cli_usage_error(GROUP, "at most %zu --trusted-key options", RP_ARRAY_SIZE(o->trusted));
			o->trusted[o->ntrusted++] = optarg;
			break;
		case OPT_THRESHOLD:
			if (rp_parse_u64(optarg, 1, PACKAGE_SIGNATURES_MAX, &u, &err) < 0)
				return cli_usage_error(GROUP, "--threshold: %s", err.message);
			o->threshold = (unsigned)u;
			break;
		case OPT_MAX_FILES:
			if (rp_parse_u64(optarg, 1, UINT32_MAX, &u, &err) < 0)
				return cli_usage_error(GROUP, "--max-files: %s", err.message);
			o->limits.max_files = (uint32_t)u;
			break;
		case OPT_MAX_BYTES:
			if (rp_parse_size(optarg, UINT64_MAX, &o->limits.max_total_bytes, &err) < 0)
				return cli_usage_error(GROUP, "--max-bytes: %s", err.message);
			break;
		case 'h':
		case OPT_FORCE: o->force = true; break;
		case OPT_HELP: o->help = true; break;
		default:
			return cli_usage_error(GROUP, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		o->positional = argv[optind++];
	if (optind < argc)
		return cli_usage_error(GROUP, "unexpected argument '%s'", argv[optind]);
	return 0;
}

static int cmd_keygen(struct opts *o)
{
	if (!o->private_key || !o->public_key)
		return cli_usage_error(GROUP, "keygen needs --private-key FILE and --public-key FILE");
	rp_error err = RP_ERROR_INIT;
	/* A private key that already exists may sign packages devices trust: replacing it loses it for
	 * good, so it takes --force. Both files are checked first so a refusal leaves neither written;
	 * the private key's final step refuses to replace all the same (a file that appears meanwhile). */
	const char *paths[] = {o->private_key, o->public_key};
	for (size_t i = 0; i < RP_ARRAY_SIZE(paths) && !o->force; i++) {
		struct stat st;
		if (lstat(paths[i], &st) == 0) {
			rp_error_set(&err, RP_E_EXISTS, "keygen: %s already exists; it was left unchanged (pass --force to "
			             "replace it, losing the key it holds)", paths[i]);
			return cli_fail(&err);
		}
	}
	_cleanup_pkey_ EVP_PKEY *key = rp_key_generate_p256(&err);
	_cleanup_free_ char *id = NULL;
	int r = !key ? -1
	    : o->force ? rp_key_save_private_pem(key, o->private_key, &err)
	               : rp_key_save_private_pem_new(key, o->private_key, &err);
	if (r < 0 && err.code == RP_E_EXISTS)
		rp_error_prefix(&err, "keygen (pass --force to replace it)");
	if (r < 0 || rp_key_save_public_pem(key, o->public_key, &err) < 0 || !(id = rp_key_id_hex(key, &err)))
		return cli_fail(&err);
	printf("created key pair: private %s, public %s, key ID %s\n", o->private_key, o->public_key, id);
	return 0;
}

static int check_pack_opts(const struct opts *o, const char *cmd)
{
	if (!o->output)
		return cli_usage_error(GROUP, "%s needs --output FILE", cmd);
	if (o->pack.nkeys == 0)
		return cli_usage_error(GROUP, "%s needs at least one --key FILE (create one with 'keygen')", cmd);
	return 0;
}

static int cmd_pack_application(struct opts *o)
{
	int r = check_pack_opts(o, "pack-application");
	if (r)
		return r;
	if (!o->pkgdir == !o->manifest)
		return cli_usage_error(GROUP, "pack-application needs either --package-directory DIR or --manifest FILE "
		                              "--executable FILE");
	if (o->manifest && !o->executable)
		return cli_usage_error(GROUP, "--manifest needs --executable FILE");
	if (o->pkgdir && (o->executable || o->nresources))
		return cli_usage_error(GROUP, "--package-directory cannot be combined with --executable or --resource");
	rp_error err = RP_ERROR_INIT;
	_cleanup_free_ char *manifest_path =
		o->manifest ? xstrdup(o->manifest) : xasprintf("%s/app_manifest.json", o->pkgdir);
	_cleanup_free_ uint8_t *json = NULL;
	size_t json_len = 0;
	if (rp_read_file(manifest_path, MANIFEST_MAX_BYTES, &json, &json_len, &err) < 0)
		return rp_error_prefix(&err, "reading manifest"), cli_fail(&err);
	_cleanup_manifest_ struct manifest *m = manifest_parse((const char *)json, json_len, &err);
	if (!m)
		return rp_error_prefix(&err, "manifest %s", manifest_path), cli_fail(&err);
	struct payload_builder *b = payload_builder_new();
	int ret = 0;
	if (o->pkgdir) {
		ret = payload_builder_add_tree(b, o->pkgdir, &err);
	} else {
		const char *entry = m->entry_point;
		while (*entry == '/')
			entry++;
		ret = payload_builder_add_file(b, "app_manifest.json", o->manifest, false, &err);
		if (ret == 0)
			ret = payload_builder_add_file(b, entry, o->executable, true, &err);
		for (size_t i = 0; ret == 0 && i < o->nresources; i++) {
			_cleanup_free_ char *src = xstrdup(o->resources[i]);
			char *eq = strchr(src, '=');
			const char *dest;
			if (eq) {
				*eq = '\0';
				dest = eq + 1;
			} else {
				dest = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
			}
			ret = payload_builder_add_file(b, dest, src, false, &err);
		}
	}
	/* The EntryPoint must be in the package, and is always executable. */
	if (ret == 0 && !payload_builder_set_executable(b, m->entry_point))
		ret = rp_error_set(&err, RP_E_INVALID, "the manifest's EntryPoint '%s' is not a file in the package",
		                   m->entry_point);
	if (ret == 0) {
		snprintf(o->pack.md.component_id, sizeof(o->pack.md.component_id), "%s", m->component_id);
		snprintf(o->pack.md.name, sizeof(o->pack.md.name), "%s", m->name);
		o->pack.md.type = PACKAGE_TYPE_APPLICATION;
		o->pack.output = o->output;
		ret = finish_pack(&o->pack, b, &err);
	}
	payload_builder_free(b);
	if (ret < 0)
		return rp_error_prefix(&err, "packing application"), cli_fail(&err);
	printf("packed %s: %s (component %s), image %s, version %s\n", o->output, o->pack.md.name,
	       o->pack.md.component_id, o->pack.md.image_id, o->pack.md.version_string);
	return 0;
}

/* Generic pack, and the test-only pack-raw that wraps an existing squashfs image unchecked so the
 * reader's refusals can be exercised with hostile payloads. */
static int cmd_pack(struct opts *o, bool raw)
{
	const char *cmd = raw ? "pack-raw" : "pack";
	int r = check_pack_opts(o, cmd);
	if (r)
		return r;
	if (!o->type || !o->component_id || !o->name)
		return cli_usage_error(GROUP, "%s needs --type, --component-id and --name", cmd);
	if (raw ? !o->payload : !o->payload_dir)
		return cli_usage_error(GROUP, "%s needs %s", cmd, raw ? "--payload FILE" : "--payload-directory DIR");
	struct package_metadata *md = &o->pack.md;
	if (package_image_type_parse(o->type, &md->type) < 0)
		return cli_usage_error(GROUP, "--type must be application, os-bundle, trust-update or board-config");
	rp_error err = RP_ERROR_INIT;
	if (rp_guid_normalize(o->component_id, md->component_id, &err) < 0)
		return rp_error_prefix(&err, "--component-id"), cli_fail(&err);
	if (strlen(o->name) > PACKAGE_NAME_MAX)
		return cli_usage_error(GROUP, "--name is longer than %d bytes", PACKAGE_NAME_MAX);
	snprintf(md->name, sizeof(md->name), "%s", o->name);
	o->pack.output = o->output;
	int ret;
	if (raw) {
		ret = -1;
		EVP_PKEY *keys[PACKAGE_SIGNATURES_MAX] = {0};
		_cleanup_close_ int pfd = open(o->payload, O_RDONLY | O_CLOEXEC);
		md->version = o->pack.version;
		snprintf(md->version_string, sizeof(md->version_string), "%s",
		         o->pack.version_string ? o->pack.version_string : "1");
		md->development = o->pack.development;
		md->build_time = 0;
		if (pfd < 0)
			rp_error_set_errno(&err, errno, "%s", o->payload);
		else if (rp_guid_generate(md->image_id, &err) == 0 && load_keys(&o->pack, keys, &err) == 0)
			ret = package_writer_write(o->output, md, pfd, keys, o->pack.nkeys, &err);
		free_keys(keys, o->pack.nkeys);
	} else {
		struct payload_builder *b = payload_builder_new();
		ret = payload_builder_add_tree(b, o->payload_dir, &err);
		if (ret == 0)
			ret = finish_pack(&o->pack, b, &err);
		payload_builder_free(b);
	}
	if (ret < 0)
		return rp_error_prefix(&err, "packing %s", o->output), cli_fail(&err);
	printf("packed %s: %s %s (component %s), image %s, version %s\n", o->output, o->type, md->name,
	       md->component_id, md->image_id, md->version_string);
	return 0;
}

static int list_entry(void *ud, const struct payload_entry *e, rp_error *err)
{
	(void)err;
	json_t *arr = ud;
	json_t *o = json_pack("{s:s, s:s, s:s}", "path", e->path, "type",
	                      e->type == PAYLOAD_ENTRY_DIR ? "directory" : e->type == PAYLOAD_ENTRY_FILE ? "file" : "symlink",
	                      "mode", "");
	char mode[8];
	snprintf(mode, sizeof(mode), "%04o", (unsigned)e->mode);
	json_object_set_new(o, "mode", json_string(mode));
	if (e->type == PAYLOAD_ENTRY_FILE)
		json_object_set_new(o, "size", json_integer((json_int_t)e->size));
	if (e->type == PAYLOAD_ENTRY_SYMLINK)
		json_object_set_new(o, "target", json_string(e->link_target));
	json_array_append_new(arr, o);
	return 0;
}

static json_t *string_list(char list[][PACKAGE_ABI_ENTRY_MAX + 1], size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

static json_t *package_to_json(struct package *pkg, rp_error *err)
{
	const struct package_metadata *md = &pkg->md;
	char when[64] = "";
	time_t t = (time_t)md->build_time;
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *meta = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:b}", "name", md->name, "component_id",
	                         md->component_id, "image_id", md->image_id, "image_type",
	                         package_image_type_name(md->type), "version", (json_int_t)md->version,
	                         "version_string", md->version_string, "build_time", when, "development",
	                         md->development);
	json_object_set_new(meta, "abi_depends", string_list((char(*)[PACKAGE_ABI_ENTRY_MAX + 1])md->abi_depends,
	                                                     md->n_abi_depends));
	json_object_set_new(meta, "abi_provides", string_list((char(*)[PACKAGE_ABI_ENTRY_MAX + 1])md->abi_provides,
	                                                      md->n_abi_provides));
	json_t *entries = json_array();
	if (payload_reader_list(pkg, list_entry, entries, err) < 0) {
		json_decref(meta);
		json_decref(entries);
		return NULL;
	}
	json_t *payload = json_pack("{s:I, s:i, s:i, s:i, s:I, s:o}", "bytes", (json_int_t)pkg->payload_len, "files",
	                            (int)pkg->payload.files, "directories", (int)pkg->payload.directories, "symlinks",
	                            (int)pkg->payload.symlinks, "total_file_bytes", (json_int_t)pkg->payload.total_bytes,
	                            "entries", entries);
	json_t *sigs = json_array();
	for (size_t i = 0; i < pkg->nsigs; i++) {
		_cleanup_free_ char *id = rp_hex_encode(pkg->sigs[i].key_id, RP_KEY_ID_LEN);
		json_array_append_new(sigs, json_pack("{s:s, s:s}", "key_id", id, "status",
		                                      pkg->sigs[i].status == PACKAGE_SIG_VALID ? "valid"
		                                      : pkg->sigs[i].status == PACKAGE_SIG_UNKNOWN_KEY ? "unknown key"
		                                                                                       : "not checked"));
	}
	_cleanup_free_ char *digest = rp_hex_encode(pkg->digest, RP_SHA256_LEN);
	return json_pack("{s:i, s:I, s:s, s:b, s:o, s:o, s:o}", "format_version", PACKAGE_FORMAT_VERSION, "size",
	                 (json_int_t)pkg->len, "signed_sha256", digest, "verified", pkg->verified, "metadata", meta,
	                 "payload", payload, "signatures", sigs);
}

static int cmd_show(struct opts *o, enum cli_output out)
{
	if (!o->positional)
		return cli_usage_error(GROUP, "show needs a package FILE");
	rp_error err = RP_ERROR_INIT;
	/* With --trusted-key, show also verifies and marks each signature valid or unknown. */
	EVP_PKEY *keys[PACKAGE_SIGNATURES_MAX] = {0};
	for (size_t k = 0; k < o->ntrusted; k++)
		if (!(keys[k] = rp_key_load_public_pem(o->trusted[k], &err))) {
			free_keys(keys, k);
			return rp_error_prefix(&err, "loading trusted key %s", o->trusted[k]), cli_fail(&err);
		}
	struct package_trust trust = {.keys = keys, .nkeys = o->ntrusted, .threshold = o->threshold};
	_cleanup_package_ struct package *pkg =
		package_reader_open_path(o->positional, &o->limits, o->ntrusted ? &trust : NULL, &err);
	free_keys(keys, o->ntrusted);
	_cleanup_json_ json_t *j = pkg ? package_to_json(pkg, &err) : NULL;
	if (!j)
		return rp_error_prefix(&err, "reading %s", o->positional), cli_fail(&err);
	if (out == CLI_OUTPUT_JSON) {
		cli_print_json(j, stdout);
		return 0;
	}
	printf("Image package %s (format %d, %zu bytes). %s\n\n", o->positional, PACKAGE_FORMAT_VERSION, pkg->len,
	       pkg->verified ? "Verified against the given trusted keys."
	                     : "Signatures are not checked (give --trusted-key, or use 'verify').");
	cli_print_object_table(json_object_get(j, "metadata"), stdout);
	printf("\nPayload: %u files, %u directories, %u symlinks, %" PRIu64 " bytes of file data\n",
	       pkg->payload.files, pkg->payload.directories, pkg->payload.symlinks, pkg->payload.total_bytes);
	static const char *const fh[] = {"PATH", "TYPE", "MODE", "SIZE"};
	cli_table *t = cli_table_new(4, fh);
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(json_object_get(j, "payload"), "entries"), i, e)
	{
		char size[32] = "";
		if (json_object_get(e, "size"))
			snprintf(size, sizeof(size), "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(e, "size")));
		const char *cells[] = {json_string_value(json_object_get(e, "path")),
		                       json_string_value(json_object_get(e, "type")),
		                       json_string_value(json_object_get(e, "mode")), size};
		cli_table_add_row(t, cells);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	printf("\nSignatures:\n");
	static const char *const sh[] = {"KEY ID", "STATUS"};
	t = cli_table_new(2, sh);
	json_array_foreach(json_object_get(j, "signatures"), i, e)
	{
		const char *cells[] = {json_string_value(json_object_get(e, "key_id")),
		                       json_string_value(json_object_get(e, "status"))};
		cli_table_add_row(t, cells);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return 0;
}

static int cmd_verify(struct opts *o)
{
	if (!o->positional)
		return cli_usage_error(GROUP, "verify needs a package FILE");
	if (o->ntrusted == 0)
		return cli_usage_error(GROUP, "verify needs at least one --trusted-key FILE");
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *keys[PACKAGE_SIGNATURES_MAX] = {0};
	int ret = 0;
	for (size_t i = 0; i < o->ntrusted; i++)
		if (!(keys[i] = rp_key_load_public_pem(o->trusted[i], &err))) {
			rp_error_prefix(&err, "loading trusted key %s", o->trusted[i]);
			ret = cli_fail(&err);
			goto out;
		}
	struct package_trust trust = {.keys = keys, .nkeys = o->ntrusted, .threshold = o->threshold};
	struct package *pkg = package_reader_open_path(o->positional, &o->limits, &trust, &err);
	if (!pkg) {
		rp_error_prefix(&err, "verifying %s", o->positional);
		ret = cli_fail(&err);
		goto out;
	}
	printf("verified: %s: %s %s (component %s), image %s, version %s%s; %u of %zu signature(s) by trusted keys\n",
	       o->positional, package_image_type_name(pkg->md.type), pkg->md.name, pkg->md.component_id,
	       pkg->md.image_id, pkg->md.version_string, pkg->md.development ? ", development" : "", pkg->valid_sigs,
	       pkg->nsigs);
	package_free(pkg);
out:
	free_keys(keys, o->ntrusted);
	return ret;
}

/* Verify, then extract the payload into a new directory (created 0755; must not exist). */
static int cmd_extract(struct opts *o)
{
	if (!o->positional || !o->output || o->ntrusted == 0)
		return cli_usage_error(GROUP, "extract needs FILE, --trusted-key FILE and --output DIR");
	rp_error err = RP_ERROR_INIT;
	EVP_PKEY *keys[PACKAGE_SIGNATURES_MAX] = {0};
	for (size_t k = 0; k < o->ntrusted; k++)
		if (!(keys[k] = rp_key_load_public_pem(o->trusted[k], &err))) {
			free_keys(keys, k);
			return rp_error_prefix(&err, "loading trusted key %s", o->trusted[k]), cli_fail(&err);
		}
	struct package_trust trust = {.keys = keys, .nkeys = o->ntrusted, .threshold = o->threshold};
	_cleanup_package_ struct package *pkg = package_reader_open_path(o->positional, &o->limits, &trust, &err);
	free_keys(keys, o->ntrusted);
	if (!pkg)
		return rp_error_prefix(&err, "verifying %s", o->positional), cli_fail(&err);
	if (mkdir(o->output, 0755) < 0)
		return rp_error_set_errno(&err, errno, "creating %s", o->output), cli_fail(&err);
	_cleanup_close_ int dfd = open(o->output, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return rp_error_set_errno(&err, errno, "opening %s", o->output), cli_fail(&err);
	if (payload_reader_extract(pkg, dfd, NULL, &err) < 0)
		return rp_error_prefix(&err, "%s", o->positional), cli_fail(&err);
	printf("extracted %s into %s: %u files, %" PRIu64 " bytes\n", o->positional, o->output, pkg->payload.files,
	       pkg->payload.total_bytes);
	return 0;
}

int cmd_image_package(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : 0;
	}
	const char *cmd = argv[1];
	struct opts o;
	/* "show --output json" reuses --output; everything else treats it as the output file. */
	int r = parse_opts(argc - 1, argv + 1, &o);
	if (r)
		return r;
	if (o.help) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "keygen") == 0)
		return cmd_keygen(&o);
	if (strcmp(cmd, "pack-application") == 0)
		return cmd_pack_application(&o);
	if (strcmp(cmd, "pack") == 0)
		return cmd_pack(&o, false);
	if (strcmp(cmd, "pack-raw") == 0)
		return cmd_pack(&o, true);
	if (strcmp(cmd, "show") == 0) {
		enum cli_output out = CLI_OUTPUT_TABLE;
		if (o.output && cli_parse_output(o.output, &out) < 0)
			return CLI_EXIT_USAGE;
		return cmd_show(&o, out);
	}
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(&o);
	if (strcmp(cmd, "extract") == 0)
		return cmd_extract(&o);
	return cli_usage_error(GROUP, "unknown command '%s'", cmd);
}
