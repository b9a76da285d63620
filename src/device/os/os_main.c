/* rampart-os: device-side commands. `provision` creates the device identity in the root of trust
 * (run once, at manufacture, before the monitor starts); the others talk to the running security
 * monitor (`device-id`, `measure`, `measurements`, `attest`, `counters`, `advance-counter`) or
 * inspect evidence offline (`evidence-show`, `evidence-verify`). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "attest/evidence.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "common/json.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/monitor/monitor_client.h"
#include "device/rot/rot.h"

#define OS_EXIT_USAGE 64
#define INSECURE_BANNER                                                                                                \
	"WARNING: INSECURE root of trust 'soft': the identity key is a file on disk that anyone with access to the\n"  \
	"         state directory can copy. Use it for development and CI only; production devices use --rot tpm2.\n"

struct os_opts {
	const char *state, *rot, *tcti, *tpm2_owner, *socket, *output, *nonce, *out, *name, *version, *sha256, *file;
	const char *public_key;
	uint32_t pcr, index, bytes;
	uint64_t value;
	bool have_pcr, have_index, have_value;
	monitor_image_claim images[EVIDENCE_MAX_IMAGES];
	size_t n_images;
};

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: rampart-os <command> [options]\n\n"
	        "Commands:\n"
	        "  provision --state DIR --rot soft|tpm2 [--tpm2-tcti CONF] [--tpm2-owner lock|keep] [--output json]\n"
	        "      create the device identity (idempotent: a provisioned device prints its identity);\n"
	        "      tpm2: the TPM's owner authorization is set to a random value kept nowhere (lock, the\n"
	        "      default) or left empty for other software (keep: the counters can then be rolled back)\n"
	        "  device-id --socket PATH [--output json]\n"
	        "  identity --socket PATH [--output json]     device ID and public key\n"
	        "  measure --socket PATH --pcr 8..15 --name NAME [--version V] (--sha256 HEX | --file PATH)\n"
	        "  measurements --socket PATH\n"
	        "  attest --socket PATH --nonce HEX64 [--image GUID=VERSION]... --out FILE\n"
	        "  counters --socket PATH\n"
	        "  advance-counter --socket PATH --index N --value V\n"
	        "  random --socket PATH --bytes N\n"
	        "  evidence-show FILE\n"
	        "  evidence-verify FILE --public-key PEM --nonce HEX64\n");
}

static int fail(rp_error *err)
{
	rp_error_report(err, "rampart-os");
	return rp_error_exit_status(err);
}

static void print_json(json_t *j)
{
	_cleanup_free_ char *s = rp_json_dump(j);
	printf("%s\n", s);
	json_decref(j);
}

static int cmd_provision(struct os_opts *o)
{
	rp_error err = RP_ERROR_INIT;
	if (!o->state || !o->rot) {
		fprintf(stderr, "rampart-os provision: --state and --rot are required\n");
		return OS_EXIT_USAGE;
	}
	bool json = o->output && strcmp(o->output, "json") == 0;
	const char *owner = o->tpm2_owner ? o->tpm2_owner : "lock";
	if (strcmp(owner, "lock") != 0 && strcmp(owner, "keep") != 0) {
		fprintf(stderr, "rampart-os provision: --tpm2-owner is \"lock\" or \"keep\", not \"%s\"\n", owner);
		return OS_EXIT_USAGE;
	}
	rot_config cfg = {.tcti = o->tcti, .create = true, .keep_owner_auth = strcmp(owner, "keep") == 0};
	bool created = false;
	_cleanup_rot_ rot *r = rot_open(o->rot, o->state, &cfg, &created, &err);
	if (!r)
		return rp_error_prefix(&err, "provisioning"), fail(&err);
	_cleanup_pkey_ EVP_PKEY *pub = rot_identity_public_key(r, &err);
	_cleanup_free_ char *id = pub ? rp_key_id_hex(pub, &err) : NULL;
	_cleanup_free_ char *pem = id ? rp_key_public_pem(pub, &err) : NULL;
	if (!pem)
		return fail(&err);
	if (rot_insecure(r))
		fputs(INSECURE_BANNER, stderr);
	if (json) {
		print_json(json_pack("{s:s,s:s,s:b,s:s,s:b}", "device_id", id, "backend", rot_backend_name(r), "insecure",
		                     rot_insecure(r), "public_key_pem", pem, "created", created));
		return 0;
	}
	printf("device-id: %s\n", id);
	printf("backend: %s%s\n", rot_backend_name(r), rot_insecure(r) ? " (INSECURE: development only)" : "");
	printf("status: %s\n", created ? "identity created" : "already provisioned (identity unchanged)");
	printf("public-key:\n%s", pem);
	return 0;
}

static monitor_client *connect_or_fail(struct os_opts *o, rp_error *err)
{
	if (!o->socket) {
		rp_error_set(err, RP_E_INVALID, "--socket is required");
		return NULL;
	}
	monitor_client *c = monitor_client_connect(o->socket, err);
	monitor_identity id;
	/* Every role may ask for the device ID: use it to label a soft root of trust on every command. */
	if (c && monitor_client_get_device_id(c, &id, err) < 0) {
		monitor_client_close(c);
		return NULL;
	}
	if (c && id.insecure)
		fprintf(stderr, "WARNING: this device's security monitor uses the INSECURE '%s' root of trust "
		                "(development only)\n", id.backend);
	return c;
}

static int cmd_device_id(struct os_opts *o)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_monitor_client_ monitor_client *c = connect_or_fail(o, &err);
	monitor_identity id;
	if (!c || monitor_client_get_device_id(c, &id, &err) < 0)
		return fail(&err);
	_cleanup_free_ char *hex = rp_hex_encode(id.device_id, RP_KEY_ID_LEN);
	if (o->output && strcmp(o->output, "json") == 0)
		print_json(json_pack("{s:s,s:s,s:b}", "device_id", hex, "backend", id.backend, "insecure", id.insecure));
	else
		printf("%s%s\n", hex, id.insecure ? "  (INSECURE soft root of trust)" : "");
	return 0;
}

static int cmd_identity(struct os_opts *o)
{
	rp_error err = RP_ERROR_INIT;
	_cleanup_monitor_client_ monitor_client *c = connect_or_fail(o, &err);
	monitor_identity id;
	if (!c || monitor_client_get_identity(c, &id, &err) < 0)
		return fail(&err);
	_cleanup_pkey_ EVP_PKEY *key = id.public_key;
	_cleanup_free_ char *hex = rp_hex_encode(id.device_id, RP_KEY_ID_LEN);
	_cleanup_free_ char *pem = rp_key_public_pem(key, &err);
	if (!pem)
		return fail(&err);
	if (o->output && strcmp(o->output, "json") == 0)
		print_json(json_pack("{s:s,s:s,s:b,s:s}", "device_id", hex, "backend", id.backend, "insecure", id.insecure,
		                     "public_key_pem", pem));
	else
		printf("device-id: %s\nbackend: %s%s\npublic-key:\n%s", hex, id.backend,
		       id.insecure ? " (INSECURE: development only)" : "", pem);
	return 0;
}

static int cmd_measure(struct os_opts *o)
{
	rp_error err = RP_ERROR_INIT;
	uint8_t digest[RP_SHA256_LEN], value[RP_SHA256_LEN];
	if (!o->have_pcr || !o->name || (!o->sha256 == !o->file)) {
		fprintf(stderr, "rampart-os measure: --pcr, --name and one of --sha256/--file are required\n");
		return OS_EXIT_USAGE;
	}
	if (o->sha256 && rp_hex_decode(o->sha256, digest, sizeof(digest), &err) < 0)
		return rp_error_prefix(&err, "--sha256"), fail(&err);
	if (o->file && rp_sha256_file(o->file, digest, NULL, &err) < 0)
		return fail(&err);
	_cleanup_monitor_client_ monitor_client *c = connect_or_fail(o, &err);
	if (!c || monitor_client_extend(c, o->pcr, o->name, o->version ? o->version : "", digest, value, &err) < 0)
		return fail(&err);
	_cleanup_free_ char *hex = rp_hex_encode(value, RP_SHA256_LEN);
	printf("pcr%u: %s\n", o->pcr, hex);
	return 0;
}

static int cmd_measurements(struct os_opts *o)
{
	rp_error err = RP_ERROR_INIT;
	uint8_t values[8][RP_SHA256_LEN];
	evidence log;
	evidence_init(&log);
	_cleanup_monitor_client_ monitor_client *c = connect_or_fail(o, &err);
	if (!c || monitor_client_read_measurements(c, values, &log, &err) < 0) {
		evidence_free(&log);
		return fail(&err);
	}
	json_t *pcrs = json_object(), *entries = json_array();
	for (int i = 0; i < 8; i++) {
		_cleanup_free_ char *hex = rp_hex_encode(values[i], RP_SHA256_LEN);
		char key[8];
		snprintf(key, sizeof(key), "%d", i + EVIDENCE_PCR_FIRST);
		json_object_set_new(pcrs, key, json_string(hex));
	}
	for (size_t i = 0; i < log.n_log; i++) {
		_cleanup_free_ char *hex = rp_hex_encode(log.log[i].digest, RP_SHA256_LEN);
		json_array_append_new(entries, json_pack("{s:i,s:s,s:s,s:s}", "pcr", log.log[i].pcr, "name", log.log[i].name,
		                                         "version", log.log[i].version, "sha256", hex));
	}
	evidence_free(&log);
	print_json(json_pack("{s:o,s:o}", "pcrs", pcrs, "log", entries));
	return 0;
}

static int cmd_attest(struct os_opts *o)
{
	rp_error err = RP_ERROR_INIT;
	uint8_t nonce[EVIDENCE_NONCE_LEN];
	if (!o->nonce || !o->out) {
		fprintf(stderr, "rampart-os attest: --nonce and --out are required\n");
		return OS_EXIT_USAGE;
	}
	if (rp_hex_decode(o->nonce, nonce, sizeof(nonce), &err) < 0)
		return rp_error_prefix(&err, "--nonce (64 hex digits)"), fail(&err);
	_cleanup_monitor_client_ monitor_client *c = connect_or_fail(o, &err);
	rp_buf ev;
	rp_buf_init(&ev);
	if (!c || monitor_client_attest(c, nonce, o->images, o->n_images, &ev, &err) < 0 ||
	    rp_write_file_atomic(o->out, ev.data, ev.len, 0644, &err) < 0) {
		rp_buf_free(&ev);
		return fail(&err);
	}
	printf("evidence: %zu bytes written to %s\n", ev.len, o->out);
	rp_buf_free(&ev);
	return 0;
}

static int cmd_counters(struct os_opts *o)
{
	rp_error err = RP_ERROR_INIT;
	evidence_counter counters[EVIDENCE_MAX_COUNTERS];
	size_t n = 0;
	_cleanup_monitor_client_ monitor_client *c = connect_or_fail(o, &err);
	if (!c || monitor_client_read_counters(c, counters, &n, &err) < 0)
		return fail(&err);
	for (size_t i = 0; i < n; i++)
		printf("counter%u: %llu\n", counters[i].index, (unsigned long long)counters[i].value);
	return 0;
}

static int cmd_advance(struct os_opts *o)
{
	rp_error err = RP_ERROR_INIT;
	if (!o->have_index || !o->have_value) {
		fprintf(stderr, "rampart-os advance-counter: --index and --value are required\n");
		return OS_EXIT_USAGE;
	}
	uint64_t now = 0;
	_cleanup_monitor_client_ monitor_client *c = connect_or_fail(o, &err);
	if (!c || monitor_client_advance_counter(c, o->index, o->value, &now, &err) < 0)
		return fail(&err);
	printf("counter%u: %llu\n", o->index, (unsigned long long)now);
	return 0;
}

static int cmd_random(struct os_opts *o)
{
	rp_error err = RP_ERROR_INIT;
	uint8_t buf[MONITOR_RANDOM_MAX];
	_cleanup_monitor_client_ monitor_client *c = connect_or_fail(o, &err);
	if (!c || monitor_client_random(c, buf, o->bytes ? o->bytes : 32, &err) < 0)
		return fail(&err);
	_cleanup_free_ char *hex = rp_hex_encode(buf, o->bytes ? o->bytes : 32);
	printf("%s\n", hex);
	return 0;
}

static int load_evidence(const char *path, evidence *ev, rp_error *err)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len = 0;
	if (rp_read_file(path, EVIDENCE_MAX_LEN, &data, &len, err) < 0)
		return -1;
	if (evidence_decode(data, len, ev, err) < 0)
		return rp_error_prefix(err, "%s", path);
	return 0;
}

static int cmd_evidence(struct os_opts *o, const char *path, bool verify)
{
	rp_error err = RP_ERROR_INIT;
	evidence ev;
	if (load_evidence(path, &ev, &err) < 0) {
		evidence_free(&ev);
		return fail(&err);
	}
	if (verify) {
		uint8_t nonce[EVIDENCE_NONCE_LEN];
		_cleanup_pkey_ EVP_PKEY *key = NULL;
		if (!o->public_key || !o->nonce) {
			evidence_free(&ev);
			fprintf(stderr, "rampart-os evidence-verify: --public-key and --nonce are required\n");
			return OS_EXIT_USAGE;
		}
		if (rp_hex_decode(o->nonce, nonce, sizeof(nonce), &err) < 0 ||
		    !(key = rp_key_load_public_pem(o->public_key, &err)) || evidence_verify(&ev, key, nonce, &err) < 0) {
			evidence_free(&ev);
			return rp_error_prefix(&err, "evidence %s", path), fail(&err);
		}
		printf("evidence verified: signature, nonce, quote and replayed measurements match%s\n",
		       ev.insecure ? " (INSECURE soft root of trust)" : "");
	} else {
		print_json(evidence_to_json(&ev));
	}
	evidence_free(&ev);
	return 0;
}

static int parse_image(struct os_opts *o, const char *spec, rp_error *err)
{
	const char *eq = strchr(spec, '=');
	if (!eq || (size_t)(eq - spec) != EVIDENCE_GUID_LEN || strlen(eq + 1) > EVIDENCE_VERSION_MAX)
		return rp_error_set(err, RP_E_INVALID, "--image '%s': expected GUID=VERSION", spec);
	if (o->n_images >= EVIDENCE_MAX_IMAGES)
		return rp_error_set(err, RP_E_LIMIT, "at most %d --image", EVIDENCE_MAX_IMAGES);
	monitor_image_claim *im = &o->images[o->n_images++];
	memcpy(im->id, spec, EVIDENCE_GUID_LEN);
	im->id[EVIDENCE_GUID_LEN] = '\0';
	snprintf(im->version, sizeof(im->version), "%s", eq + 1);
	return 0;
}

int main(int argc, char **argv)
{
	rp_log_init("rampart-os", RP_LOG_FORMAT_HUMAN, RP_LOG_WARNING, NULL);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? OS_EXIT_USAGE : 0;
	}
	const char *cmd = argv[1];
	static const struct option opts[] = {
		{"state", required_argument, NULL, 's'},      {"rot", required_argument, NULL, 'r'},
		{"tpm2-tcti", required_argument, NULL, 't'},  {"socket", required_argument, NULL, 'S'},
		{"output", required_argument, NULL, 'o'},     {"nonce", required_argument, NULL, 'n'},
		{"out", required_argument, NULL, 'O'},        {"pcr", required_argument, NULL, 'p'},
		{"name", required_argument, NULL, 'N'},       {"version", required_argument, NULL, 'v'},
		{"sha256", required_argument, NULL, 'd'},     {"file", required_argument, NULL, 'F'},
		{"index", required_argument, NULL, 'i'},      {"value", required_argument, NULL, 'V'},
		{"bytes", required_argument, NULL, 'b'},      {"image", required_argument, NULL, 'I'},
		{"public-key", required_argument, NULL, 'k'}, {"tpm2-owner", required_argument, NULL, 'w'},
		{NULL, 0, NULL, 0},
	};
	struct os_opts o = {0};
	rp_error err = RP_ERROR_INIT;
	int c, rc = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1 && rc == 0) {
		switch (c) {
		case 's': o.state = optarg; break;
		case 'r': o.rot = optarg; break;
		case 't': o.tcti = optarg; break;
		case 'S': o.socket = optarg; break;
		case 'o': o.output = optarg; break;
		case 'n': o.nonce = optarg; break;
		case 'O': o.out = optarg; break;
		case 'N': o.name = optarg; break;
		case 'v': o.version = optarg; break;
		case 'd': o.sha256 = optarg; break;
		case 'F': o.file = optarg; break;
		case 'k': o.public_key = optarg; break;
		case 'w': o.tpm2_owner = optarg; break;
		case 'p': rc = rp_parse_u32(optarg, 0, 255, &o.pcr, &err); o.have_pcr = true; break;
		case 'i': rc = rp_parse_u32(optarg, 0, 255, &o.index, &err); o.have_index = true; break;
		case 'V': rc = rp_parse_u64(optarg, 0, UINT64_MAX, &o.value, &err); o.have_value = true; break;
		case 'b': rc = rp_parse_u32(optarg, 1, MONITOR_RANDOM_MAX, &o.bytes, &err); break;
		case 'I': rc = parse_image(&o, optarg, &err); break;
		default: usage(stderr); return OS_EXIT_USAGE;
		}
	}
	if (rc < 0)
		return fail(&err);
	const char *arg = optind < argc ? argv[optind] : NULL;
	if (strcmp(cmd, "provision") == 0)
		return cmd_provision(&o);
	if (strcmp(cmd, "device-id") == 0)
		return cmd_device_id(&o);
	if (strcmp(cmd, "identity") == 0)
		return cmd_identity(&o);
	if (strcmp(cmd, "measure") == 0)
		return cmd_measure(&o);
	if (strcmp(cmd, "measurements") == 0)
		return cmd_measurements(&o);
	if (strcmp(cmd, "attest") == 0)
		return cmd_attest(&o);
	if (strcmp(cmd, "counters") == 0)
		return cmd_counters(&o);
	if (strcmp(cmd, "advance-counter") == 0)
		return cmd_advance(&o);
	if (strcmp(cmd, "random") == 0)
		return cmd_random(&o);
	if ((strcmp(cmd, "evidence-show") == 0 || strcmp(cmd, "evidence-verify") == 0) && arg)
		return cmd_evidence(&o, arg, strcmp(cmd, "evidence-verify") == 0);
	fprintf(stderr, "rampart-os: unknown command or missing argument: %s\n\n", cmd);
	usage(stderr);
	return OS_EXIT_USAGE;
}
