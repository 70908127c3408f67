/* cairn hook: the entry point of installed git, shell and Claude Code hooks. */
#include "cli/cli.h"
#include "cli/client.h"

#include <stdio.h>
#include <string.h>

/* The help of each subcommand, and its options, are in hook_git.c,
 * hook_shell.c and hook_claude.c. */
const struct cli_cmd cli_hook = {
	"hook", "git|shell|claude ARGS...",
	"Used by the installed hooks; not meant to be typed.\n"
	"  git HOOK ARGS...   run by the git hooks of 'cairn hooks install'\n"
	"  shell ...          run by the shell hook of 'cairn shell-init'\n"
	"  claude EVENT       run by the Claude Code hooks of 'cairn hooks install --agent\n"
	"                     claude'\n"
	"'cairn hook git --help', 'cairn hook shell --help' and 'cairn hook claude --help'\n"
	"tell more.\n",
	cmd_hook, true};

int cmd_hook(int argc, char **argv, const struct config *cfg)
{
	const struct cli_cmd *sub = NULL;
	if (argc >= 2 && strcmp(argv[1], "git") == 0)
		sub = &cli_hook_git;
	else if (argc >= 2 && strcmp(argv[1], "shell") == 0)
		sub = &cli_hook_shell;
	else if (argc >= 2 && strcmp(argv[1], "claude") == 0)
		sub = &cli_hook_claude;
	if (!sub) {
		fprintf(stderr,
			"cairn hook: expected 'git', 'shell' or 'claude'; these are called by "
			"installed hooks (see 'cairn hooks install' and 'cairn shell-init')\n");
		return EXIT_USAGE;
	}
	/* Before anything reads cfg: main passes NULL when only help is asked for. */
	if (cli_wants_help(argc - 1, argv + 1)) {
		cli_help(stdout, sub);
		return EXIT_OK;
	}
	return sub->run(argc - 1, argv + 1, cfg);
}
