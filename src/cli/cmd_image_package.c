/* PLACEHOLDER until the package work lands: the image-package command group. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_image_package(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "rampart image-package: not built yet\n");
	return 1;
}
