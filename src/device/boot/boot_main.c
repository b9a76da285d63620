/* rampart-boot: the device's boot stage (run), and the slot tools for the update client and
 * people: install a bundle into the inactive slot, show the slot status. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/json.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/boot/boot_run.h"
#include "device/boot/boot_slot.h"
#include "device/boot/boot_state.h"
#include "attest/evidence.h"
#include "device/rot/rot.h"

#define BOOT_EXIT_USAGE 64

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: rampart-boot [run] --state DIR --rot soft|tpm2 [options]\n"
	        "       rampart-boot install --state DIR BUNDLE [--attempts N] [--rot soft|tpm2] [--monitor-socket PATH]\n"
	        "       rampart-boot status --state DIR [--rot soft|tpm2] [--output table|json]\n\n"
	        "run: verify the active A/B slot (signature, os-bundle, version floor), measure it, start its\n"
	        "components, commit a pending update after its health check or fall back, then supervise.\n"
	        "  --state DIR            device state directory (slots in DIR/boot, trusted keys in DIR/trust/*.pub)\n"
	        "  --rot BACKEND          tpm2, or soft (INSECURE: development only)\n"
	        "  --tpm2-tcti CONF       TCTI for tpm2\n"
	        "  --health-timeout S     seconds a new slot has to pass its health check (default 30)\n"
	        "  --pcr N                PCR (8..15) the bundle is measured into (default %d)\n"
	        "  --until-healthy        return after the health check instead of supervising\n"
	        "  --reboot exit|system   how a reboot or power-down happens: exit (default) hands it to the\n"
	        "                         device harness (exit status %d = power-cycle me, 0 = off); system\n"
	        "                         calls reboot(2) (a real device where rampart-boot is the boot stage)\n"
	        "  --log-level LEVEL      debug|info|notice|warning|error\n"
	        "  --log-format FMT       human|json\n"
	        "install: verify BUNDLE and write it into the inactive slot, pending its health check at next boot\n"
	        "  --attempts N           boots the new slot may try before falling back (default %d, max %d)\n"
	        "Exit status: 0 ok, 2 malformed input, 3 verification failed (signature, type, downgrade),\n"
	        "6 conflict (an update is pending), 64 usage error; run: %d reboot requested (the next boot\n"
	        "decision needs a fresh power-on, or a component asked for a reboot).\n",
	        BOOT_DEFAULT_PCR, BOOT_EXIT_REBOOT, BOOT_DEFAULT_ATTEMPTS, BOOT_ATTEMPTS_MAX, BOOT_EXIT_REBOOT);
}

static int fail(rp_error *err)
{
	rp_error_report(err, "rampart-boot");
	return rp_error_exit_status(err);
}

struct main_opts {
	const char *state, *rot, *tcti, *output, *monitor_socket;
	uint32_t health_s, pcr, attempts;
	bool until_healthy;
	enum boot_reboot_mode reboot;
	enum rp_log_level level;
	enum rp_log_format format;
};

static json_t *slot_json(const char *state, unsigned slot, const struct boot_trust *trust)
{
	json_t *j = json_object();
	rp_error e = RP_ERROR_INIT;
	_cleanup_package_ struct package *pkg = boot_slot_open(state, slot, trust, &e);
	if (!pkg) {
		json_object_set_new(j, "verified", json_false());
		json_object_set_new(j, "error", json_string(e.code == RP_E_NOT_FOUND ? "empty" : e.message));
		return j;
	}
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(pkg->data, pkg->len, digest);
	_cleanup_free_ char *hex = rp_hex_encode(digest, sizeof(digest));
	json_object_set_new(j, "verified", json_true());
	json_object_set_new(j, "version", json_integer((json_int_t)pkg->md.version));
	json_object_set_new(j, "version_string", json_string(pkg->md.version_string));
	json_object_set_new(j, "name", json_string(pkg->md.name));
	json_object_set_new(j, "component_id", json_string(pkg->md.component_id));
	json_object_set_new(j, "image_id", json_string(pkg->md.image_id));
	json_object_set_new(j, "sha256", json_string(hex));
	return j;
}

static int cmd_status(const struct main_opts *o)
{
	rp_error err = RP_ERROR_INIT;
	struct boot_trust trust;
	if (boot_trust_load(o->state, &trust, &err) < 0)
		return fail(&err);
	uint64_t floor = 0;
	bool have_floor = false;
	rp_error ferr = RP_ERROR_INIT;
	if (o->rot || o->monitor_socket)
		have_floor = boot_floor_read(o->state, o->rot, o->tcti, o->monitor_socket, &floor, &ferr) == 0;
	struct boot_state st;
	bool fresh = false;
	_cleanup_free_ char *path = boot_state_path(o->state);
	rp_error serr = RP_ERROR_INIT;
	int loaded = boot_state_load(path, &st, &serr);
	if (loaded < 0) {
		fresh = serr.code == RP_E_NOT_FOUND;
		boot_state_init(&st);
	}
	_cleanup_json_ json_t *j = json_object();
	json_object_set_new(j, "state", json_string(loaded == 0 ? "ok" : fresh ? "none" : serr.message));
	json_object_set_new(j, "active", json_string(boot_state_slot_name(st.active)));
	json_object_set_new(j, "previous", json_string(boot_state_slot_name(st.previous)));
	json_object_set_new(j, "pending", json_boolean(st.pending));
	json_object_set_new(j, "attempts_left", json_integer(st.attempts_left));
	json_object_set_new(j, "committed_version", json_integer((json_int_t)st.committed_version));
	json_object_set_new(j, "generation", json_integer((json_int_t)st.generation));
	json_object_set_new(j, "last_result", json_string(st.last_result));
	json_object_set_new(j, "floor", have_floor ? json_integer((json_int_t)floor) : json_null());
	if (!have_floor && (o->rot || o->monitor_socket))
		json_object_set_new(j, "floor_error", json_string(ferr.message));
	json_t *bad = json_array();
	for (unsigned s = 0; s < BOOT_SLOTS; s++)
		if (st.bad_mask & (1u << s))
			json_array_append_new(bad, json_string(boot_state_slot_name(s)));
	json_object_set_new(j, "bad_slots", bad);
	json_t *slots = json_object();
	for (unsigned s = 0; s < BOOT_SLOTS; s++)
		json_object_set_new(slots, boot_state_slot_name(s), slot_json(o->state, s, &trust));
	json_object_set_new(j, "slots", slots);
	boot_trust_free(&trust);
	if (o->output && strcmp(o->output, "json") == 0) {
		_cleanup_free_ char *s = rp_json_dump(j);
		printf("%s\n", s);
		return 0;
	}
	printf("active slot:       %s%s\n", boot_state_slot_name(st.active),
	       st.pending ? " (pending its health check)" : "");
	if (st.pending)
		printf("attempts left:     %u\n", st.attempts_left);
	printf("previous slot:     %s\n", boot_state_slot_name(st.previous));
	printf("committed version: %llu\n", (unsigned long long)st.committed_version);
	if (have_floor)
		printf("version floor:     %llu\n", (unsigned long long)floor);
	else
		printf("version floor:     unknown%s%s\n", ferr.message[0] ? " (" : "", ferr.message[0] ? ferr.message : "");
	printf("last result:       %s\n", st.last_result[0] ? st.last_result : "-");
	for (unsigned s = 0; s < BOOT_SLOTS; s++) {
		json_t *sj = json_object_get(slots, boot_state_slot_name(s));
		if (json_is_true(json_object_get(sj, "verified")))
			printf("slot %s:            version %lld (%s), verified%s\n", boot_state_slot_name(s),
			       (long long)json_integer_value(json_object_get(sj, "version")),
			       json_string_value(json_object_get(sj, "version_string")),
			       (st.bad_mask & (1u << s)) ? ", marked bad (failed at boot)" : "");
		else
			printf("slot %s:            %s\n", boot_state_slot_name(s),
			       json_string_value(json_object_get(sj, "error")));
	}
	return 0;
}

static int cmd_install(const struct main_opts *o, const char *bundle)
{
	rp_error err = RP_ERROR_INIT;
	struct boot_install_request req = {.state_dir = o->state, .path = bundle, .fd = -1, .attempts = o->attempts,
	                                   .rot_backend = o->rot, .tcti = o->tcti, .monitor_socket = o->monitor_socket};
	struct boot_install_result res;
	if (boot_slot_install(&req, &res, &err) < 0) {
		rp_error_prefix(&err, "installing %s", bundle);
		return fail(&err);
	}
	printf("installed version %llu into slot %s (was %llu; floor %llu); it becomes active at the next boot and "
	       "commits after its health check\n",
	       (unsigned long long)res.version, boot_state_slot_name(res.slot), (unsigned long long)res.previous_version,
	       (unsigned long long)res.floor);
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_STATE = 256, OPT_ROT, OPT_TCTI, OPT_HEALTH, OPT_ATTEMPTS, OPT_PCR, OPT_UNTIL, OPT_OUTPUT, OPT_SOCK,
	       OPT_LEVEL, OPT_FORMAT, OPT_REBOOT };
	static const struct option opts[] = {
		{"state", required_argument, NULL, OPT_STATE},
		{"rot", required_argument, NULL, OPT_ROT},
		{"tpm2-tcti", required_argument, NULL, OPT_TCTI},
		{"health-timeout", required_argument, NULL, OPT_HEALTH},
		{"attempts", required_argument, NULL, OPT_ATTEMPTS},
		{"pcr", required_argument, NULL, OPT_PCR},
		{"until-healthy", no_argument, NULL, OPT_UNTIL},
		{"output", required_argument, NULL, OPT_OUTPUT},
		{"monitor-socket", required_argument, NULL, OPT_SOCK},
		{"log-level", required_argument, NULL, OPT_LEVEL},
		{"log-format", required_argument, NULL, OPT_FORMAT},
		{"reboot", required_argument, NULL, OPT_REBOOT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct main_opts o = {.health_s = BOOT_DEFAULT_HEALTH_TIMEOUT_MS / 1000, .pcr = BOOT_DEFAULT_PCR,
	                      .level = RP_LOG_INFO, .format = RP_LOG_FORMAT_HUMAN};
	rp_error err = RP_ERROR_INIT;
	const char *cmd = "run";
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argc--;
		argv++;
	}
	rp_log_init("rampart-boot", o.format, o.level, NULL);
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STATE: o.state = optarg; break;
		case OPT_ROT: o.rot = optarg; break;
		case OPT_TCTI: o.tcti = optarg; break;
		case OPT_OUTPUT: o.output = optarg; break;
		case OPT_SOCK: o.monitor_socket = optarg; break;
		case OPT_UNTIL: o.until_healthy = true; break;
		case OPT_REBOOT:
			if (strcmp(optarg, "exit") != 0 && strcmp(optarg, "system") != 0) {
				fprintf(stderr, "rampart-boot: --reboot must be exit or system\n");
				return BOOT_EXIT_USAGE;
			}
			o.reboot = strcmp(optarg, "system") == 0 ? BOOT_REBOOT_SYSTEM : BOOT_REBOOT_EXIT;
			break;
		case OPT_HEALTH:
			if (rp_parse_u32(optarg, 1, 3600, &o.health_s, &err) < 0)
				return rp_error_prefix(&err, "--health-timeout"), fail(&err);
			break;
		case OPT_ATTEMPTS:
			if (rp_parse_u32(optarg, 1, BOOT_ATTEMPTS_MAX, &o.attempts, &err) < 0)
				return rp_error_prefix(&err, "--attempts"), fail(&err);
			break;
		case OPT_PCR:
			if (rp_parse_u32(optarg, EVIDENCE_PCR_FIRST, EVIDENCE_PCR_LAST, &o.pcr, &err) < 0)
				return rp_error_prefix(&err, "--pcr"), fail(&err);
			break;
		case OPT_LEVEL:
			if (rp_log_level_parse(optarg, &o.level) < 0) {
				fprintf(stderr, "rampart-boot: unknown log level '%s'\n", optarg);
				return BOOT_EXIT_USAGE;
			}
			break;
		case OPT_FORMAT:
			if (rp_log_format_parse(optarg, &o.format) < 0) {
				fprintf(stderr, "rampart-boot: unknown log format '%s'\n", optarg);
				return BOOT_EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return BOOT_EXIT_USAGE;
		}
	}
	rp_log_init("rampart-boot", o.format, o.level, NULL);
	if (!o.state) {
		usage(stderr);
		return BOOT_EXIT_USAGE;
	}
	/* Components run with the bundle root as working directory: every path handed on is absolute. */
	_cleanup_free_ char *state_abs = realpath(o.state, NULL);
	if (!state_abs) {
		rp_error_set_errno(&err, errno, "--state %s", o.state);
		return fail(&err);
	}
	o.state = state_abs;
	if (o.rot && strcmp(o.rot, "soft") != 0 && strcmp(o.rot, "tpm2") != 0) {
		fprintf(stderr, "rampart-boot: --rot must be soft or tpm2\n");
		return BOOT_EXIT_USAGE;
	}
	if (strcmp(cmd, "status") == 0 && optind == argc)
		return cmd_status(&o);
	if (strcmp(cmd, "install") == 0 && optind == argc - 1)
		return cmd_install(&o, argv[optind]);
	if (strcmp(cmd, "run") != 0 || optind != argc || !o.rot) {
		usage(stderr);
		return BOOT_EXIT_USAGE;
	}
	if (strcmp(o.rot, "soft") == 0)
		rp_log_init("rampart-boot[INSECURE soft root of trust]", o.format, o.level, NULL);
	struct boot_options bo = {.state_dir = o.state, .rot_backend = o.rot, .tcti = o.tcti,
	                          .health_timeout_ms = o.health_s * 1000, .pcr = o.pcr,
	                          .until_healthy = o.until_healthy, .reboot = o.reboot};
	int r = boot_run(&bo, &err);
	if (r < 0)
		return fail(&err);
	if (r == BOOT_RUN_STOPPED || o.reboot == BOOT_REBOOT_EXIT)
		return r == BOOT_RUN_REBOOT ? BOOT_EXIT_REBOOT : 0;
	/* Every component is stopped and every state change is on disk (atomic writes fsync). */
	sync();
	if (reboot(r == BOOT_RUN_REBOOT ? RB_AUTOBOOT : RB_POWER_OFF) < 0) {
		rp_error_set_errno(&err, errno, "%s", r == BOOT_RUN_REBOOT ? "rebooting" : "powering off");
		return fail(&err);
	}
	return 0;
}
