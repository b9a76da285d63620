/* rampart-tuf: create, sign and verify TUF repositories kept in a directory. A thin shell over
 * src/tuf for tests, interoperability checks and the offline (tenant-held key) signing flow. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "tuf/client.h"
#include "tuf/director.h"
#include "tuf/metadata.h"
#include "tuf/repo.h"
#include "tuf/tuf_dir.h"

#define PROG "rampart-tuf"
#define MAX_KEYS 16

static const char usage[] =
    "usage: " PROG " COMMAND [options]\n"
    "  init-repo DIR --root-key K... [--root-threshold N] --targets-key K... [--targets-threshold N]\n"
    "            --snapshot-key K --timestamp-key K [--no-consistent-snapshot]\n"
    "  add-target DIR FILE --targets-key K... [--name NAME] [--custom JSON]\n"
    "  sign DIR --snapshot-key K --timestamp-key K      (new snapshot and timestamp)\n"
    "  rotate-root DIR --old-root-key K... [--root-key K...] [--root-threshold N]\n"
    "            [--targets-key K...] [--snapshot-key K] [--timestamp-key K]\n"
    "  verify DIR --trusted-root FILE [--state DIR] [--target NAME [--output FILE]]\n"
    "            [--director DIR --director-root FILE]\n"
    "common options: --now YYYY-MM-DDTHH:MM:SSZ (default: the clock), --expires-days N\n"
    "Keys are PEM files (P-256); rotate-root also takes public keys for non-root roles.\n";

struct keys {
	EVP_PKEY *k[MAX_KEYS];
	size_t n;
};

struct opts {
	struct keys root, old_root, targets, snapshot, timestamp;
	int64_t root_threshold, targets_threshold, lifetime, now;
	bool no_consistent;
	const char *name, *custom, *trusted_root, *state, *target, *output, *director, *director_root;
};

static void keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		EVP_PKEY_free(k->k[i]);
	k->n = 0;
}

static void opts_free(struct opts *o)
{
	keys_free(&o->root);
	keys_free(&o->old_root);
	keys_free(&o->targets);
	keys_free(&o->snapshot);
	keys_free(&o->timestamp);
}

static int add_key(struct keys *k, const char *path, bool allow_public, rp_error *err)
{
	if (k->n == MAX_KEYS)
		return rp_error_set(err, RP_E_LIMIT, "at most %d keys per role", MAX_KEYS);
	EVP_PKEY *key = rp_key_load_private_pem(path, err);
	if (!key && allow_public) {
		rp_error_clear(err);
		key = rp_key_load_public_pem(path, err);
	}
	if (!key)
		return -1;
	k->k[k->n++] = key;
	return 0;
}

static tuf_key_list list_of(struct keys *k)
{
	return (tuf_key_list){.keys = k->k, .count = k->n};
}

static int parse_opts(int argc, char **argv, struct opts *o, bool public_ok, rp_error *err)
{
	enum { O_ROOT = 256, O_OLD_ROOT, O_TARGETS, O_SNAPSHOT, O_TIMESTAMP, O_RT, O_TT, O_EXP, O_NOW, O_NOCS, O_NAME,
	       O_CUSTOM, O_TRUSTED, O_STATE, O_TARGET, O_OUTPUT, O_DIRECTOR, O_DIRECTOR_ROOT };
	static const struct option longopts[] = {
	    {"root-key", required_argument, NULL, O_ROOT},
	    {"old-root-key", required_argument, NULL, O_OLD_ROOT},
	    {"targets-key", required_argument, NULL, O_TARGETS},
	    {"snapshot-key", required_argument, NULL, O_SNAPSHOT},
	    {"timestamp-key", required_argument, NULL, O_TIMESTAMP},
	    {"root-threshold", required_argument, NULL, O_RT},
	    {"targets-threshold", required_argument, NULL, O_TT},
	    {"expires-days", required_argument, NULL, O_EXP},
	    {"now", required_argument, NULL, O_NOW},
	    {"no-consistent-snapshot", no_argument, NULL, O_NOCS},
	    {"name", required_argument, NULL, O_NAME},
	    {"custom", required_argument, NULL, O_CUSTOM},
	    {"trusted-root", required_argument, NULL, O_TRUSTED},
	    {"state", required_argument, NULL, O_STATE},
	    {"target", required_argument, NULL, O_TARGET},
	    {"output", required_argument, NULL, O_OUTPUT},
	    {"director", required_argument, NULL, O_DIRECTOR},
	    {"director-root", required_argument, NULL, O_DIRECTOR_ROOT},
	    {NULL, 0, NULL, 0},
	};
	o->now = (int64_t)time(NULL);
	int c;
	uint64_t u;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int r = 0;
		switch (c) {
		case O_ROOT: r = add_key(&o->root, optarg, false, err); break;
		case O_OLD_ROOT: r = add_key(&o->old_root, optarg, false, err); break;
		case O_TARGETS: r = add_key(&o->targets, optarg, public_ok, err); break;
		case O_SNAPSHOT: r = add_key(&o->snapshot, optarg, public_ok, err); break;
		case O_TIMESTAMP: r = add_key(&o->timestamp, optarg, public_ok, err); break;
		case O_RT:
		case O_TT:
			r = rp_parse_u64(optarg, 1, 64, &u, err);
			*(c == O_RT ? &o->root_threshold : &o->targets_threshold) = (int64_t)u;
			break;
		case O_EXP:
			r = rp_parse_u64(optarg, 1, 36500, &u, err);
			o->lifetime = (int64_t)u * TUF_DAY_SECONDS;
			break;
		case O_NOW: r = tuf_time_parse(optarg, &o->now, err); break;
		case O_NOCS: o->no_consistent = true; break;
		case O_NAME: o->name = optarg; break;
		case O_CUSTOM: o->custom = optarg; break;
		case O_TRUSTED: o->trusted_root = optarg; break;
		case O_STATE: o->state = optarg; break;
		case O_TARGET: o->target = optarg; break;
		case O_OUTPUT: o->output = optarg; break;
		case O_DIRECTOR: o->director = optarg; break;
		case O_DIRECTOR_ROOT: o->director_root = optarg; break;
		default: return rp_error_set(err, RP_E_INVALID, "unknown option %s\n%s", argv[optind - 1], usage);
		}
		if (r < 0)
			return rp_error_prefix(err, "option --%s", longopts[c - O_ROOT].name);
	}
	return 0;
}

static int cmd_init(const char *dir, struct opts *o, rp_error *err)
{
	tuf_repo_init_opts io = {
	    .root = list_of(&o->root),
	    .targets = list_of(&o->targets),
	    .snapshot = list_of(&o->snapshot),
	    .timestamp = list_of(&o->timestamp),
	    .root_threshold = o->root_threshold,
	    .targets_threshold = o->targets_threshold,
	    .consistent_snapshot = !o->no_consistent,
	};
	for (int r = 0; r < TUF_ROLE_COUNT; r++)
		io.lifetime[r] = o->lifetime;
	if (tuf_repo_init(dir, &io, o->now, err) < 0)
		return rp_error_prefix(err, "creating repository %s", dir);
	printf("created TUF repository in %s (root, targets, snapshot and timestamp version 1)\n", dir);
	return 0;
}

static int cmd_add_target(const char *dir, const char *file, struct opts *o, rp_error *err)
{
	_cleanup_json_ json_t *custom = NULL;
	if (o->custom && !(custom = rp_json_parse(o->custom, strlen(o->custom), 65536, "--custom", err)))
		return -1;
	const char *name = o->name;
	if (!name) {
		const char *slash = strrchr(file, '/');
		name = slash ? slash + 1 : file;
	}
	tuf_key_list keys = list_of(&o->targets);
	if (tuf_repo_add_target(dir, file, name, custom, &keys, o->now, o->lifetime, err) < 0)
		return -1;
	printf("added target %s (run 'sign' to publish a new snapshot and timestamp)\n", name);
	return 0;
}

static int cmd_sign(const char *dir, struct opts *o, rp_error *err)
{
	if (o->snapshot.n != 1 || o->timestamp.n != 1)
		return rp_error_set(err, RP_E_INVALID, "sign needs one --snapshot-key and one --timestamp-key");
	if (tuf_repo_publish(dir, o->snapshot.k[0], o->timestamp.k[0], o->now, o->lifetime, o->lifetime, err) < 0)
		return -1;
	printf("published a new snapshot and timestamp in %s\n", dir);
	return 0;
}

static int cmd_rotate_root(const char *dir, struct opts *o, rp_error *err)
{
	if (o->old_root.n == 0)
		return rp_error_set(err, RP_E_INVALID, "rotate-root needs the current root keys (--old-root-key)");
	_cleanup_json_ json_t *root = tuf_repo_load_signed(dir, "root", err);
	if (!root)
		return -1;
	struct keys *given[TUF_ROLE_COUNT] = {&o->root, &o->targets, &o->snapshot, &o->timestamp};
	for (int r = 0; r < TUF_ROLE_COUNT; r++) {
		if (given[r]->n == 0)
			continue;
		tuf_root_clear_role(root, (enum tuf_role)r);
		for (size_t i = 0; i < given[r]->n; i++)
			if (tuf_root_add_key(root, (enum tuf_role)r, given[r]->k[i], err) < 0)
				return -1;
		/* A threshold above the new key count could never be met. */
		if (json_integer_value(json_object_get(json_object_get(json_object_get(root, "roles"), tuf_role_name(r)),
		                                       "threshold")) > (json_int_t)given[r]->n &&
		    tuf_root_set_threshold(root, (enum tuf_role)r, (int64_t)given[r]->n, err) < 0)
			return -1;
	}
	if (o->root_threshold && tuf_root_set_threshold(root, TUF_ROLE_ROOT, o->root_threshold, err) < 0)
		return -1;
	tuf_key_list old = list_of(&o->old_root), fresh = list_of(&o->root);
	if (tuf_repo_rotate_root(dir, root, &old, &fresh, o->now, o->lifetime, err) < 0)
		return -1;
	printf("published root version %" PRId64 "\n", (int64_t)json_integer_value(json_object_get(root, "version")));
	return 0;
}

static void remove_temporary(const char *dir)
{
	rp_error err = RP_ERROR_INIT;
	if (rp_remove_tree(dir, &err) < 0)
		fprintf(stderr, PROG ": warning: %s\n", err.message);
}

/* A state directory seeded with the trusted root, temporary unless --state names one. */
static char *prepare_state(const char *state, const char *trusted_root, bool *temporary, rp_error *err)
{
	char *dir;
	*temporary = false;
	if (state) {
		dir = xstrdup(state);
		if (rp_mkdir_p(dir, 0700, err) < 0) {
			free(dir);
			return NULL;
		}
	} else {
		dir = xstrdup("/tmp/rampart-tuf-XXXXXX");
		if (!mkdtemp(dir)) {
			rp_error_set_errno(err, errno, "creating a temporary state directory");
			free(dir);
			return NULL;
		}
		*temporary = true;
	}
	_cleanup_free_ char *root_path = xasprintf("%s/root.json", dir);
	if (access(root_path, F_OK) != 0) {
		_cleanup_free_ uint8_t *data = NULL;
		size_t len = 0;
		if (rp_read_file(trusted_root, 1024 * 1024, &data, &len, err) < 0 ||
		    rp_write_file_atomic(root_path, data, len, 0644, err) < 0) {
			if (*temporary)
				remove_temporary(dir);
			free(dir);
			return NULL;
		}
	}
	return dir;
}

static void print_target(const tuf_target *t)
{
	_cleanup_free_ char *hex = rp_hex_encode(t->sha256, RP_SHA256_LEN);
	_cleanup_free_ char *custom = t->custom ? rp_json_dump(t->custom) : xstrdup("{}");
	printf("target %s length %" PRIu64 " sha256 %s custom %s\n", t->name, t->length, hex, custom);
}

static int verify_one(tuf_client *c, const char *name, const char *repo, const char *state, struct opts *o,
                      rp_error *err)
{
	tuf_fetcher f;
	tuf_storage s;
	tuf_dir_fetcher(&f, repo);
	tuf_dir_storage(&s, state);
	if (tuf_client_init(c, name, &f, &s, NULL, err) < 0)
		return -1;
	if (tuf_client_refresh(c, o->now, err) < 0)
		return -1;
	const tuf_meta *t = tuf_client_targets(c);
	printf("%s: verified root %" PRId64 ", timestamp %" PRId64 ", snapshot %" PRId64 ", targets %" PRId64
	       " (%zu targets)\n",
	       name, c->root.version, c->timestamp.version, c->snapshot.version, t->version,
	       json_object_size(tuf_meta_targets(t)));
	return 0;
}

static int cmd_verify(const char *dir, struct opts *o, rp_error *err)
{
	if (!o->trusted_root)
		return rp_error_set(err, RP_E_INVALID, "verify needs --trusted-root FILE (the root.json provisioned on the device)");
	if (!!o->director != !!o->director_root)
		return rp_error_set(err, RP_E_INVALID, "--director and --director-root go together");
	bool temporary = false, dtemporary = false;
	_cleanup_free_ char *state = prepare_state(o->state, o->trusted_root, &temporary, err);
	if (!state)
		return -1;
	_cleanup_free_ char *dstate = NULL;
	_cleanup_free_ char *dstate_arg = o->state ? xasprintf("%s/director", o->state) : NULL;
	tuf_client img = {0}, dir_client = {0};
	tuf_resolved resolved = {0};
	int rc = -1;
	if (verify_one(&img, "image repository", dir, state, o, err) < 0)
		goto out;
	if (o->director) {
		if (!(dstate = prepare_state(dstate_arg, o->director_root, &dtemporary, err)) ||
		    verify_one(&dir_client, "director", o->director, dstate, o, err) < 0 ||
		    tuf_uptane_resolve(&img, &dir_client, &resolved, err) < 0)
			goto out;
		for (size_t i = 0; i < resolved.count; i++)
			print_target(&resolved.targets[i]);
	} else if (!o->target) {
		const char *name;
		json_t *e;
		json_object_foreach(tuf_meta_targets(tuf_client_targets(&img)), name, e) {
			tuf_target t;
			if (tuf_client_target(&img, name, &t, err) < 0)
				goto out;
			print_target(&t);
		}
	}
	if (o->target) {
		tuf_target t;
		_cleanup_free_ uint8_t *data = NULL;
		size_t len = 0;
		if (tuf_client_target(&img, o->target, &t, err) < 0 || tuf_client_fetch_target(&img, &t, &data, &len, err) < 0)
			goto out;
		print_target(&t);
		if (o->output && rp_write_file_atomic(o->output, data, len, 0644, err) < 0)
			goto out;
	}
	rc = 0;
out:
	tuf_resolved_free(&resolved);
	if (img.name)
		tuf_client_free(&img);
	if (dir_client.name)
		tuf_client_free(&dir_client);
	if (temporary)
		remove_temporary(state);
	if (dtemporary && dstate)
		remove_temporary(dstate);
	return rc;
}

int main(int argc, char **argv)
{
	rp_error err = RP_ERROR_INIT;
	struct opts o = {0};
	int rc = -1;
	if (argc < 3 || strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	const char *dir = argv[2];
	const char *file = NULL;
	int skip = 2;
	if (strcmp(cmd, "add-target") == 0) {
		if (argc < 4) {
			fputs(usage, stderr);
			return 2;
		}
		file = argv[3];
		skip = 3;
	}
	if (parse_opts(argc - skip, argv + skip, &o, strcmp(cmd, "rotate-root") == 0, &err) < 0)
		goto out;
	if (optind != argc - skip) {
		rp_error_set(&err, RP_E_INVALID, "unexpected argument \"%s\"\n%s", argv[skip + optind], usage);
		goto out;
	}
	if (strcmp(cmd, "init-repo") == 0)
		rc = cmd_init(dir, &o, &err);
	else if (strcmp(cmd, "add-target") == 0)
		rc = cmd_add_target(dir, file, &o, &err);
	else if (strcmp(cmd, "sign") == 0)
		rc = cmd_sign(dir, &o, &err);
	else if (strcmp(cmd, "rotate-root") == 0)
		rc = cmd_rotate_root(dir, &o, &err);
	else if (strcmp(cmd, "verify") == 0)
		rc = cmd_verify(dir, &o, &err);
	else
		rp_error_set(&err, RP_E_INVALID, "unknown command \"%s\"\n%s", cmd, usage);
out:
	opts_free(&o);
	if (rc < 0) {
		rp_error_report(&err, PROG);
		return rp_error_exit_status(&err);
	}
	return 0;
}
