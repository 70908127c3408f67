/* cairn's command line: looks up the subcommand in the table and runs it. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/log.h"

#include <stdio.h>
#include <string.h>

static const struct cli_cmd commands[] = {
	{"daemon", "[--print-config]",
	 "Runs the daemon in the foreground: listens on $XDG_RUNTIME_DIR/cairn/cairn.sock and\n"
	 "keeps the event log in $XDG_DATA_HOME/cairn/cairn.db. Stops cleanly on SIGINT or\n"
	 "SIGTERM. Under systemd it reports READY, WATCHDOG and STOPPING (contrib/cairn.service).\n"
	 "  --print-config   print the settings in force and exit\n",
	 cmd_daemon, false},
	{"status", "[--json]",
	 "Shows whether the daemon runs, its log position, connections and store size.\n"
	 "  --json   print the daemon's status reply as JSON\n",
	 cmd_status, false},
	{"emit", "TYPE [--subject S] [--data JSON|@FILE|-] [--severity LEVEL] [--durable]",
	 "Publishes one event of type TYPE (e.g. build.failed) and prints its seq.\n"
	 "  --subject S        what the event is about (a file, a target)\n"
	 "  --data JSON        the event's data: inline JSON, @FILE to read a file, - for stdin\n"
	 "  --severity LEVEL   debug, info, notice, warning, error or critical\n"
	 "  --durable          wait until the event is committed to disk\n"
	 "  --source S         the emitter (default: cli)\n"
	 "  --project DIR      the project root the event belongs to\n"
	 "  --id ID            the event id (default: a new ULID); re-using one dedups\n"
	 "  --correlation ID   the id of the event this one answers\n"
	 "  --json             print the daemon's reply as JSON\n",
	 cmd_emit, false},
	{"tail", "[PATTERN] [--since SEQ|TIME|DURATION] [--json]",
	 "Follows events matching PATTERN (default '>' = all) as they happen, one per line.\n"
	 "A slow terminal loses nothing: on a gap notice tail replays the missed range.\n"
	 "  --since X   start from seq X, an RFC 3339 time, or a duration ago (10m, 2h, 1d)\n"
	 "  --json      print each event's envelope as one JSON line\n",
	 cmd_tail, false},
	{"log", "[PATTERN] [--since X] [--until X] [--project DIR] [--limit N] [--json]",
	 "Prints logged events matching PATTERN (default '>'), oldest first. Without --since\n"
	 "it prints the last N events.\n"
	 "  --since X       from seq X (inclusive), an RFC 3339 time, or a duration ago\n"
	 "  --until X       up to seq X (inclusive) or before a time or a duration ago\n"
	 "  --project DIR   only events of that project\n"
	 "  --limit N       at most N events (default 20)\n"
	 "  --json          print each envelope as one JSON line\n",
	 cmd_log, false},
	{"watch", "add|rm|list [PATH] [--json]",
	 "Asks the daemon to watch a project's files (default: the git top level of the\n"
	 "current directory) and log file.created|changed|deleted|renamed events. Ignores\n"
	 "what git ignores and cairn's own directories. A big tree is added in the\n"
	 "background ('watch list' says 'adding' until it is done). The list survives\n"
	 "daemon restarts.\n",
	 cmd_watch, false},
	{"run", "[--target NAME] -- CMD [ARGS...]",
	 "Runs a build or test command exactly as you would (same terminal, same output, same\n"
	 "exit status) and logs build.started and build.passed|failed (test.* for test\n"
	 "runners) with duration, git state and the diagnostics found in its output.\n"
	 "  --target NAME   name the target (default: derived from the command)\n",
	 cmd_run, false},
	{"why", "[EVENT] [--all] [--wait SECONDS] [--json]",
	 "Shows the triage report of the latest failure in this project (or of EVENT, a\n"
	 "failure's or a report's id or seq): the lines that explain it, how the same error\n"
	 "was fixed before, and what changed since the target last passed.\n"
	 "  --all       the latest failure of any project\n"
	 "  --wait S    wait up to S seconds for a report still being made (default 10)\n"
	 "  --json      print the triage.report event as JSON\n",
	 cmd_why, false},
	{"triage", "FILE|- [--target NAME] [--command CMD] [--lines N] [--no-kb] [--json]",
	 "Analyses any log (a CI log, a saved build output; - reads standard input) as the\n"
	 "daemon does a failed run: excerpt, error signature, known fixes from the knowledge\n"
	 "base, and a summary. Runs here; no daemon needed.\n"
	 "  --target NAME   also list files changed since NAME last passed in this project\n"
	 "  --command CMD   the command that produced the log (helps recognise the tool)\n"
	 "  --lines N       excerpt budget (default 50)\n"
	 "  --no-kb         do not read the knowledge base\n"
	 "  --json          print the report as JSON\n",
	 cmd_triage, false},
	{"doctor", "[--recover]",
	 "Checks cairn's directories (private, yours), the database (a full integrity check,\n"
	 "the log's seq range and high-water mark, the knowledge base) and the spool. Safe\n"
	 "while the daemon runs. Exit status 1 when something is wrong, with the fix.\n"
	 "  --recover   with the daemon stopped: salvage every readable row of a damaged\n"
	 "              database into a new file, put it in place, keep the damaged one as\n"
	 "              cairn.db.damaged-TIME, and say which seqs were lost. Seq numbers\n"
	 "              continue after the highest one the damaged file still knew.\n",
	 cmd_doctor, false},
	{"hooks", "install|uninstall [--repo DIR]",
	 "Installs (or removes) git hooks that log git.commit, git.checkout, git.merge and\n"
	 "git.rewrite events. A hook you already have is kept as NAME.cairn-chained and runs\n"
	 "first, with the same arguments and input; uninstall puts it back exactly.\n"
	 "  --repo DIR   the repository (default: the one around the current directory)\n",
	 cmd_hooks, false},
	{"shell-init", "bash|zsh",
	 "Prints the shell hook that logs shell.command events; add to your shell's rc file:\n"
	 "  eval \"$(cairn shell-init bash)\"\n",
	 cmd_shell_init, false},
	{"kb", "add|show|edit|search|list|supersede|forget|confirm|reject|export|import ...",
	 "The knowledge base: decisions, mistakes, patterns, fixes and notes, found again by\n"
	 "full-text search (docs/kb.md). Works without a daemon; each change is published as a\n"
	 "kb.* event. ID is the number shown (12 or #12) or the entry's uid.\n"
	 "  add KIND TITLE [--body TEXT | --body-file FILE|-] [--tag T]... [--file PATH]...\n"
	 "        [--project DIR | --global]   KIND: decision, mistake, pattern, fix or note.\n"
	 "        Default scope: the git top level of the current directory, else global\n"
	 "  show ID                           the whole entry\n"
	 "  edit ID [--title T] [--body T | --body-file F|-] [--kind K] [--tag T]...\n"
	 "        [--no-tags] [--file P]... [--no-files] [--project DIR | --global]\n"
	 "        Without field options it opens $VISUAL or $EDITOR on the entry\n"
	 "  search QUERY... [--kind K] [--tag T] [--project DIR | --global | --all]\n"
	 "        [--since T] [--until T] [--limit N] [--forgotten] [--rejected]\n"
	 "        Every word is a prefix. Default scope: this project's entries and global ones\n"
	 "  list [the options of search]     newest first\n"
	 "  supersede OLD NEW | --undo OLD    NEW replaces OLD: OLD never ranks above it\n"
	 "  forget ID | --undo ID             hide an entry; undo within [kb] forget_days\n"
	 "  confirm ID                        vouch for an entry: confidence up, state active\n"
	 "  reject ID                         never suggest it as a fix again\n"
	 "  export [FILE|-] [--kind K] [--tag T] [--project DIR | --global | --all]\n"
	 "        [--since T] [--until T]     JSON Lines; every entry unless filtered\n"
	 "  import FILE|-                     idempotent; bad lines are reported and skipped\n"
	 "  --json                            print JSON, one object per line\n"
	 "T is an RFC 3339 time or a duration ago (2h, 7d). Exit status: 0 ok, 1 refused or\n"
	 "failed (the message says why), 2 usage, 4 a file could not be read or written.\n"
	 "'cairn kb VERB --help' tells more about VERB.\n",
	 cmd_kb, true},
	{"hook", "git|shell ARGS...",
	 "Used by the installed hooks; not meant to be typed.\n", cmd_hook, false},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

void cli_usage(FILE *out, const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0) {
			fprintf(out, "usage: cairn %s %s\n\n%s", name, commands[i].usage,
				commands[i].help);
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
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].usage);
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
		if (strcmp(commands[i].name, argv[1]))
			continue;
		if (cli_wants_help(argc - 1, argv + 1)) {
			if (commands[i].own_help && argc > 2 && argv[2][0] != '-')
				return commands[i].run(argc - 1, argv + 1, NULL);
			cli_usage(stdout, argv[1]);
			return EXIT_OK;
		}
		struct config cfg;
		char err[1024];
		int rc;
		if (config_load(&cfg, err, sizeof err)) {
			fprintf(stderr, "cairn: %s\n", err);
			rc = EXIT_USAGE;
		} else {
			rc = commands[i].run(argc - 1, argv + 1, &cfg);
		}
		config_release(&cfg);
		return rc;
	}
	fprintf(stderr, "cairn: unknown command '%s'; 'cairn --help' lists the commands\n",
		argv[1]);
	return EXIT_USAGE;
}
