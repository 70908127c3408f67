/* Placeholder until this command lands in this session; replaced wholesale. */
#include "cli/cli.h"
#include "cli/client.h"

#include <stdio.h>

int cmd_shell_init(int argc, char **argv, const struct config *cfg)
{
	fprintf(stderr, "cairn: this command is not available in this build yet\n");
	return EXIT_USAGE;
}
