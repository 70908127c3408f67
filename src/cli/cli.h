/* The command table of the cairn CLI and helpers shared by its commands. */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include "common/err.h"
#include "daemon/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* A command: what `cairn NAME --help` prints and the function that runs it.
 * Each one is defined in its cmd_NAME.c (hook_git.c, hook_shell.c,
 * hook_claude.c for the subcommands of hook), next to the options it parses, so that the help and
 * the options are changed together; main.c lists them. docs/cli.md documents
 * every option, and tests/integration/test_cli_docs.py checks that it does. */
struct cli_cmd {
	const char *name;  /* as typed after "cairn": "emit", "hook shell" */
	const char *usage; /* one line: arguments */
	const char *help;  /* the rest of --help */
	int (*run)(int argc, char **argv, const struct config *cfg);
	/* run answers `cairn NAME SUB --help` itself (SUB: any argv[2] that is not an
	 * option), with cfg NULL; `cairn NAME --help` still prints help above. */
	bool own_help;
};

extern const struct cli_cmd cli_daemon, cli_status, cli_emit, cli_tail, cli_log, cli_watch, cli_run,
	cli_why, cli_triage, cli_doctor, cli_hooks, cli_shell_init, cli_kb, cli_hook, cli_predict,
	cli_session, cli_brief, cli_export, cli_import, cli_mcp, cli_ask, cli_failures;
/* `cairn hook git|shell|claude ...`: run with argv[0] "git", "shell" or "claude". */
extern const struct cli_cmd cli_hook_git, cli_hook_shell, cli_hook_claude;

int cmd_daemon(int argc, char **argv, const struct config *cfg);
int cmd_status(int argc, char **argv, const struct config *cfg);
int cmd_emit(int argc, char **argv, const struct config *cfg);
int cmd_tail(int argc, char **argv, const struct config *cfg);
int cmd_log(int argc, char **argv, const struct config *cfg);
int cmd_run(int argc, char **argv, const struct config *cfg);
int cmd_watch(int argc, char **argv, const struct config *cfg);
int cmd_hooks(int argc, char **argv, const struct config *cfg);
int cmd_shell_init(int argc, char **argv, const struct config *cfg);
int cmd_hook(int argc, char **argv, const struct config *cfg);
int cmd_kb(int argc, char **argv, const struct config *cfg);
int cmd_why(int argc, char **argv, const struct config *cfg);
int cmd_predict(int argc, char **argv, const struct config *cfg);
int cmd_session(int argc, char **argv, const struct config *cfg);
int cmd_brief(int argc, char **argv, const struct config *cfg);
int cmd_export(int argc, char **argv, const struct config *cfg);
int cmd_import(int argc, char **argv, const struct config *cfg);
int cmd_failures(int argc, char **argv, const struct config *cfg);
int cmd_ask(int argc, char **argv, const struct config *cfg);
int cmd_mcp(int argc, char **argv, const struct config *cfg);
int cmd_triage(int argc, char **argv, const struct config *cfg);
int cmd_doctor(int argc, char **argv, const struct config *cfg);
int hook_git(int argc, char **argv, const struct config *cfg);
int hook_shell(int argc, char **argv, const struct config *cfg);
int hook_claude(int argc, char **argv, const struct config *cfg);

struct tool_ctx;
/* Fills c for a command that calls tools (src/tools/tools.h): the project
 * (project_opt, else the work tree of the current directory; *project_out
 * holds it, free it after tool_ctx_release()), now, whether the daemon
 * answers, and publishing through it. Returns 0, or -1 after printing why
 * (prefixed with prog). */
int cli_tool_ctx_init(struct tool_ctx *c, const struct config *cfg, const char *project_opt,
		      const char *prog, char **project_out);

/* Prints "usage: cairn NAME USAGE", a blank line and the help of cmd. */
void cli_help(FILE *out, const struct cli_cmd *cmd);

/* Prints the help of command name (one of main.c's table), as cli_help(). */
void cli_usage(FILE *out, const char *name);

/* True if argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

/* Prints an error on stderr, the one way the CLI shows a struct cairn_err
 * (its own, the store's, the kb's, the config's, or a daemon's reply turned
 * back into one by client.c): "PROG: MESSAGE", then the field when there is
 * one the message does not already name, then on a second line what to do
 * when the code has a standard remedy the message does not already give. */
void cli_print_err(const char *prog, const struct cairn_err *e);

/* The project a command means: opt (--project DIR, resolved; an absolute
 * path that no longer exists is taken as is), else the git top level of the
 * current directory, else NULL. Returns 0 with *out (free it), or -1 after
 * printing why on stderr, prefixed with prog. */
int cli_project(const char *opt, const char *prog, char **out);

/* s quoted for /bin/sh ('it'\''s'), for the commands the hooks install.
 * Caller frees. */
char *cli_sh_quote(const char *s);

/* Prints one event readably: local time, seq, type, subject, data summary. */
void cli_print_event(FILE *out, const json_t *ev);

/* Parses a --since/--until value into a JSON position for the protocol: an
 * integer seq, an RFC 3339 time, or a duration ago ("10m"). Returns a new
 * reference or NULL after printing why. */
json_t *cli_parse_position(const char *opt, const char *s);

#endif
