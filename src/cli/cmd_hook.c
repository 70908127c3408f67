/* cairn hook: the entry point of installed git and shell hooks. */
#include "cli/cli.h"
#include "cli/client.h"

#include <stdio.h>
#include <string.h>

int cmd_hook(int argc, char **argv, const struct config *cfg)
{
	if (argc >= 2 && strcmp(argv[1], "git") == 0)
		return hook_git(argc - 1, argv + 1, cfg);
	if (argc >= 2 && strcmp(argv[1], "shell") == 0)
		return hook_shell(argc - 1, argv + 1, cfg);
	fprintf(stderr, "cairn hook: expected 'git' or 'shell'; these are called by installed "
			"hooks (see 'cairn hooks install' and 'cairn shell-init')\n");
	return EXIT_USAGE;
}
