/* rampart: the command-line tool for operators and app developers. This file only dispatches to
 * the command groups (cmd_<group>.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"

struct cli_group {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static const struct cli_group groups[] = {
	{"image-package", "create, inspect and verify signed image packages", cmd_image_package},
	{"login", "save the service URL, API token and trusted CA", cmd_login},
	{"logout", "remove the saved API token", cmd_logout},
	{"whoami", "show the token's user and roles", cmd_whoami},
	{"tenant", "create, list, show and select tenants", cmd_tenant},
	{"role", "give users roles in the tenant", cmd_role},
	{"product", "manage products (one per device model)", cmd_product},
	{"device-group", "manage device groups, their deployments and devices", cmd_device_group},
	{"device", "register, claim, list and move devices", cmd_device},
	{"image", "upload, show and download images; trusted signing keys", cmd_image},
	{"ca-certificate", "the tenant CA: list, download, chain, proof of possession", cmd_ca_certificate},
	{"audit", "read the audit log", cmd_audit},
	{"agent", "on the device: attest now, attestation status (rampart-agent)", cmd_agent},
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: rampart <group> <command> [options]\n\n"
	             "Rampart: secured, connected devices on embedded Linux.\n\nCommand groups:\n");
	for (size_t i = 0; i < RP_ARRAY_SIZE(groups); i++)
		fprintf(out, "  %-16s %s\n", groups[i].name, groups[i].summary);
	fprintf(out, "\nRun 'rampart <group> --help' for the commands of a group.\n"
	             "Exit status: 0 success, 1 failure, 2 invalid input, 3 verification failed, 4 not found,\n"
	             "5 permission denied, 6 conflict, 7 unavailable, 8 limit exceeded, 9 expired, 64 usage.\n");
}

int main(int argc, char **argv)
{
	rp_log_init("rampart", RP_LOG_FORMAT_HUMAN, RP_LOG_WARNING, NULL);
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("rampart %s\n", RAMPART_VERSION);
		return 0;
	}
	for (size_t i = 0; i < RP_ARRAY_SIZE(groups); i++)
		if (strcmp(argv[1], groups[i].name) == 0)
			return groups[i].run(argc - 1, argv + 1);
	fprintf(stderr, "rampart: unknown command group '%s'\n\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
