/* `cairn brief`: where you were, what happened since, what is likely next
 * (src/brief/brief.h), read from the database read-only. */
#include "brief/brief.h"
#include "cli/cli.h"
#include "cli/client.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "store/store.h"

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cli_cmd cli_brief = {
	"brief", "[--project DIR] [--since WHEN] [--budget TOKENS] [--format text|markdown|json]",
	"What a session needs to start warm, in three parts: where you were (the last\n"
	"session's focus, failures still open, uncommitted files), what happened since\n"
	"(commits, CI results, failures and fixes, knowledge added or superseded) and what\n"
	"is likely next (predicted files, and the knowledge base's entries about the files\n"
	"in focus). Filled by priority within the budget; a line is never cut.\n"
	"  --project DIR      the project (default: the git top level of the current directory)\n"
	"  --since WHEN       what happened since WHEN: an RFC 3339 time, a duration ago\n"
	"                     (2h, 3d), today or yesterday; default: since the last session\n"
	"  --budget TOKENS    at most this many tokens (default 1500; 3 bytes a token)\n"
	"  --format F         text (default), markdown (for an AI agent's context) or json\n",
	cmd_brief, false};

static int brief_run(struct brief_opts *o, const char *project_opt, const struct config *cfg);

static const struct option brief_opts[] = {
	{"project", required_argument, NULL, 'p'},
	{"since", required_argument, NULL, 's'},
	{"budget", required_argument, NULL, 'b'},
	{"format", required_argument, NULL, 'f'},
	{NULL, 0, NULL, 0},
};

int cmd_brief(int argc, char **argv, const struct config *cfg)
{
	struct brief_opts o = {.budget = BRIEF_BUDGET_DEFAULT, .format = BRIEF_TEXT};
	const char *project_opt = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", brief_opts, NULL)) != -1) {
		switch (c) {
		case 'p': project_opt = optarg; break;
		case 's': {
			int64_t ms;
			if (timefmt_parse_when(optarg, clock_wall_ms(), &ms) == 0) {
				o.since_ms = ms;
			} else {
				fprintf(stderr,
					"cairn brief: --since '%s' is not an RFC 3339 time "
					"(2026-11-27T21:08:43Z), a duration ago (90m, 2h, 3d), "
					"today or "
					"yesterday\n",
					optarg);
				return EXIT_USAGE;
			}
			if (o.since_ms <= 0)
				o.since_ms = 1;
			break;
		}
		case 'b': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 50 || v > 100000) {
				fprintf(stderr,
					"cairn brief: --budget wants 50 to 100000 tokens\n");
				return EXIT_USAGE;
			}
			o.budget = (size_t)v;
			break;
		}
		case 'f':
			if (strcmp(optarg, "text") == 0)
				o.format = BRIEF_TEXT;
			else if (strcmp(optarg, "markdown") == 0)
				o.format = BRIEF_MARKDOWN;
			else if (strcmp(optarg, "json") == 0)
				o.format = BRIEF_JSON;
			else {
				fprintf(stderr,
					"cairn brief: --format wants text, markdown or json\n");
				return EXIT_USAGE;
			}
			break;
		default: cli_usage(stderr, "brief"); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cairn brief: unexpected '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	/* libgit2 is started once, by the thread that reads the uncommitted
	 * files (src/brief/brief.c), so that its start (it parses the system's
	 * certificates) runs beside the database reads; the project is found
	 * without it (cli_project()). */
	return brief_run(&o, project_opt, cfg);
}

static int brief_run(struct brief_opts *po, const char *project_opt, const struct config *cfg)
{
	struct brief_opts o = *po;
	char *project = NULL;
	if (cli_project(project_opt, "cairn brief", &project))
		return EXIT_USAGE;
	if (!project) {
		fprintf(stderr, "cairn brief: not inside a git work tree; give --project DIR\n");
		return EXIT_USAGE;
	}
	o.project = project;
	o.now_ms = clock_wall_ms();
	o.gap_ms = cfg->session_gap_ms;
	o.read_git = true;
	struct client cl;
	if (client_connect_quiet(&cl, cfg) == 0)
		client_close(&cl);
	else
		o.daemon_down = true;
	sqlite3 *db = NULL;
	struct cairn_err err;
	int rc = EXIT_OK;
	if (access(cfg->db_path, R_OK) != 0) {
		/* No log at all: a brand-new user's brief, from an empty one. */
		if (store_db_open(":memory:", false, &db, &err)) {
			cli_print_err("cairn brief", &err);
			free(project);
			return EXIT_IO;
		}
	} else if (store_db_open(cfg->db_path, true, &db, &err)) {
		cli_print_err("cairn brief", &err);
		free(project);
		return EXIT_IO;
	}
	if (brief_write(db, &o, stdout, &err)) {
		/* What could be read was printed; say what could not. */
		cli_print_err("cairn brief", &err);
		rc = EXIT_IO;
	}
	sqlite3_close(db);
	free(project);
	return rc;
}
