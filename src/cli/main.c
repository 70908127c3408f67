/* cairn's command line: looks up the subcommand in the table and runs it. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/log.h"

#include <stdio.h>
#include <string.h>

/* In the order `cairn --help` lists them. Each command's usage and help are in
 * its cmd_NAME.c, next to its options. */
static const struct cli_cmd *const commands[] = {
	&cli_daemon, &cli_status,  &cli_emit,     &cli_tail,  &cli_log,        &cli_watch,
	&cli_run,    &cli_why,     &cli_failures, &cli_ask,   &cli_brief,      &cli_predict,
	&cli_triage, &cli_session, &cli_doctor,   &cli_hooks, &cli_shell_init, &cli_kb,
	&cli_export, &cli_import,  &cli_mcp,      &cli_hook,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

void cli_help(FILE *out, const struct cli_cmd *cmd)
{
	fprintf(out, "usage: cairn %s %s\n\n%s", cmd->name, cmd->usage, cmd->help);
}

void cli_usage(FILE *out, const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0) {
			cli_help(out, commands[i]);
			return;
		}
}

int cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

static void main_usage(FILE *out)
{
	fprintf(out, "usage: cairn COMMAND [ARGS]\n\n"
		     "cairn keeps a durable log of what happens while you work.\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->usage);
	fprintf(out, "\n'cairn COMMAND --help' tells more. Exit codes: 0 ok, 1 refused by the\n"
		     "daemon, 2 usage, 3 no daemon running, 4 I/O failure.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		main_usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("cairn %s\n", CAIRN_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct cli_cmd *cmd = commands[i];
		if (strcmp(cmd->name, argv[1]))
			continue;
		if (cli_wants_help(argc - 1, argv + 1)) {
			if (cmd->own_help && argc > 2 && argv[2][0] != '-')
				return cmd->run(argc - 1, argv + 1, NULL);
			cli_help(stdout, cmd);
			return EXIT_OK;
		}
		struct config cfg;
		struct cairn_err err;
		int rc;
		if (config_load(&cfg, &err)) {
			cli_print_err("cairn", &err);
			rc = EXIT_USAGE;
		} else {
			rc = cmd->run(argc - 1, argv + 1, &cfg);
		}
		config_release(&cfg);
		return rc;
	}
	fprintf(stderr, "cairn: unknown command '%s'; 'cairn --help' lists the commands\n",
		argv[1]);
	return EXIT_USAGE;
}
