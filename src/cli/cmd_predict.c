/* `cairn predict files`: the files likely to change with the given ones,
 * from the co-change rules the prediction service learned
 * (src/services/predict.h); `cairn predict command`: the commands likely
 * next, from the command model (src/services/cmdpredict.h). Both read the
 * database read-only. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/err.h"
#include "common/xalloc.h"
#include "services/cmdpredict.h"
#include "services/predict.h"
#include "services/session.h"
#include "services/triage_int.h"
#include "sources/gitinfo.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cli_cmd cli_predict = {
	"predict", "files|command [OPTIONS]",
	"  cairn predict files [--given PATH]... [--project DIR] [--limit N] "
	"[--json]\n"
	"  cairn predict command [--after COMMAND]... [--limit N] [--json] [--batch]\n"
	"\n"
	"files: lists the files most likely to change together with the given ones, best first,\n"
	"from the commits the daemon has seen (git.commit events of `cairn hooks install`)\n"
	"and the files edited together (file.changed events of `cairn watch add`), each\n"
	"with why (\"changed together with X in 14 of 17 commits\"); the score is the\n"
	"model's probability that the file is the next one (docs/services.md).\n"
	"  --given PATH   a file in focus (repeatable), relative to the project or the\n"
	"                 current directory, or absolute\n"
	"  --project DIR  the project (default: the git top level of the current directory)\n"
	"  --limit N      at most N files (default 10, at most 1000)\n"
	"  --json         print {\"predictions\": [{\"path\", \"score\", \"reason\"}]}\n"
	"Without --given: from the focus of the project's latest session (its files\n"
	"changed most).\n"
	"\n"
	"command: lists the commands most likely to be typed next, best first, from the\n"
	"shell.command events the daemon has learned (`cairn shell-init`), each with why\n"
	"(\"followed 'make' 14 of 20 times\"). A command is its usual whole line when it has\n"
	"one, else its first word.\n"
	"  --after COMMAND  predict after this command line (repeat it for the one before,\n"
	"                   oldest first; the last two count); default: after the last\n"
	"                   commands learned\n"
	"  --limit N        at most N commands (default 10, at most 1000)\n"
	"  --json           print {\"predictions\": [{\"command\", \"score\", \"reason\"}]}\n"
	"  --batch          answer one query per line of standard input (the command to\n"
	"                   predict after; a blank line: after the last commands learned),\n"
	"                   each as soon as it is read: for programs that ask often\n",
	cmd_predict, false};

#define FOCUS_FILES 3 /* files of the session's focus predicted from */

static const struct option predict_opts[] = {
	{"given", required_argument, NULL, 'g'},
	{"project", required_argument, NULL, 'p'},
	{"limit", required_argument, NULL, 'l'},
	{"json", no_argument, NULL, 'j'},
	{NULL, 0, NULL, 0},
};

static const struct option command_opts[] = {
	{"after", required_argument, NULL, 'a'},
	{"limit", required_argument, NULL, 'l'},
	{"json", no_argument, NULL, 'j'},
	{"batch", no_argument, NULL, 'b'},
	{NULL, 0, NULL, 0},
};

/* Prints one answer of `cairn predict command`: a JSON line, or a line per
 * command. */
static void print_commands(const struct cmdpredict_item *v, size_t n, bool json)
{
	if (!json) {
		for (size_t i = 0; i < n; i++)
			printf("%5.2f  %s  (%s)\n", v[i].score, v[i].command, v[i].reason);
		if (n == 0)
			printf("no prediction: the daemon has learned no command yet (the shell "
			       "hook logs them: 'cairn shell-init')\n");
		return;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s,s:f,s:s}", "command", v[i].command,
						      "score", v[i].score, "reason", v[i].reason));
	json_t *o = json_pack("{s:o}", "predictions", list);
	char *s = json_dumps(o, JSON_COMPACT);
	puts(s);
	free(s);
	json_decref(o);
}

/* --batch: one query per line of standard input, answered on one line (a
 * blank line separates the answers of text output) as soon as it is read,
 * each on the model as it is then. Only a line's first word counts, so a
 * line longer than the buffer is cut. */
static int command_batch(sqlite3 *db, size_t limit, bool json)
{
	char line[8192];
	while (fgets(line, sizeof line, stdin)) {
		size_t len = strlen(line);
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		else
			for (int ch; (ch = getchar()) != EOF && ch != '\n';)
				; /* the rest of a cut line */
		const char *after[1] = {line};
		struct cmdpredict_item *v;
		size_t n;
		struct cairn_err err;
		if (cmdpredict_query(db, after, len ? 1 : 0, limit, &v, &n, &err)) {
			cli_print_err("cairn predict", &err);
			return EXIT_IO;
		}
		print_commands(v, n, json);
		if (!json)
			putchar('\n');
		fflush(stdout);
		cmdpredict_items_free(v, n);
	}
	return EXIT_OK;
}

/* `cairn predict command`. */
static int predict_command(int argc, char **argv, const struct config *cfg)
{
	bool json = false, batch = false;
	long limit = 10;
	const char *after[CMDPREDICT_AFTER_MAX];
	size_t n_after = 0;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", command_opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			/* Only the last CMDPREDICT_AFTER_MAX count: keep those. */
			if (n_after == CMDPREDICT_AFTER_MAX) {
				memmove(after, after + 1, (n_after - 1) * sizeof *after);
				n_after--;
			}
			after[n_after++] = optarg;
			break;
		case 'j': json = true; break;
		case 'b': batch = true; break;
		case 'l': {
			char *end;
			limit = strtol(optarg, &end, 10);
			if (*end || limit < 1 || limit > 1000) {
				fprintf(stderr, "cairn predict: --limit wants 1 to 1000\n");
				return EXIT_USAGE;
			}
			break;
		}
		default: cli_usage(stderr, "predict"); return EXIT_USAGE;
		}
	}
	if (optind < argc || (batch && n_after)) {
		if (optind < argc)
			fprintf(stderr,
				"cairn predict command: unexpected '%s'; give the command with "
				"--after COMMAND\n",
				argv[optind]);
		else
			fprintf(stderr, "cairn predict command: --batch reads the commands from "
					"standard input; leave out --after\n");
		return EXIT_USAGE;
	}
	if (access(cfg->db_path, R_OK) != 0) {
		fprintf(stderr,
			"cairn predict command: no event log at %s yet; load the shell hook "
			"('eval \"$(cairn shell-init bash)\"') and run commands\n",
			cfg->db_path);
		return EXIT_REFUSED;
	}
	sqlite3 *db;
	struct cairn_err err;
	if (store_db_open(cfg->db_path, true, &db, &err)) {
		cli_print_err("cairn predict", &err);
		return EXIT_IO;
	}
	int rc = EXIT_OK;
	if (batch) {
		rc = command_batch(db, (size_t)limit, json);
		goto out_close;
	}
	struct cmdpredict_item *v;
	size_t n;
	if (cmdpredict_query(db, after, n_after, (size_t)limit, &v, &n, &err)) {
		cli_print_err("cairn predict", &err);
		rc = EXIT_IO;
		goto out_close;
	}
	print_commands(v, n, json);
	cmdpredict_items_free(v, n);
out_close:
	sqlite3_close(db);
	return rc;
}

int cmd_predict(int argc, char **argv, const struct config *cfg)
{
	if (argc >= 2 && strcmp(argv[1], "command") == 0)
		return predict_command(argc, argv, cfg);
	if (argc < 2 || strcmp(argv[1], "files") != 0) {
		cli_usage(stderr, "predict");
		return EXIT_USAGE;
	}
	bool json = false;
	const char *project = NULL;
	long limit = 10;
	const char **given = xcalloc((size_t)argc, sizeof *given);
	size_t n_given = 0;
	int c, rc = EXIT_OK;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", predict_opts, NULL)) != -1) {
		switch (c) {
		case 'g': given[n_given++] = optarg; break;
		case 'p': project = optarg; break;
		case 'j': json = true; break;
		case 'l': {
			char *end;
			limit = strtol(optarg, &end, 10);
			if (*end || limit < 1 || limit > 1000) {
				fprintf(stderr, "cairn predict: --limit wants 1 to 1000\n");
				free(given);
				return EXIT_USAGE;
			}
			break;
		}
		default:
			cli_usage(stderr, "predict");
			free(given);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cairn predict files: unexpected '%s'\n", argv[optind]);
		free(given);
		return EXIT_USAGE;
	}
	char cwd[PATH_MAX];
	struct gitinfo gi = {0};
	char *root = NULL;
	if (!getcwd(cwd, sizeof cwd))
		snprintf(cwd, sizeof cwd, "/");
	if (project)
		root = realpath(project, NULL);
	else if (gitinfo_read(cwd, 0, &gi) == 0 && gi.workdir)
		root = xstrdup(gi.workdir);
	gitinfo_release(&gi);
	if (!root) {
		fprintf(stderr, "cairn predict files: %s; give --project DIR\n",
			project ? "that project directory does not exist"
				: "not inside a git work tree");
		free(given);
		return EXIT_USAGE;
	}
	size_t rl = strlen(root);
	if (rl > 1 && root[rl - 1] == '/')
		root[rl - 1] = '\0';
	/* Paths as the commits name them: relative to the project. */
	char **rel = xcalloc(n_given, sizeof *rel);
	/* A relative path is taken from the current directory inside the
	 * project, from the project's top otherwise. */
	size_t rlen = strlen(root);
	bool inside = strncmp(cwd, root, rlen) == 0 && (cwd[rlen] == '/' || cwd[rlen] == '\0');
	for (size_t i = 0; i < n_given; i++) {
		rel[i] = triage__rel_path(root, inside ? cwd : root, given[i]);
		if (!rel[i] || rel[i][0] == '/') {
			fprintf(stderr, "cairn predict files: '%s' is not inside %s\n", given[i],
				root);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (access(cfg->db_path, R_OK) != 0) {
		fprintf(stderr,
			"cairn predict files: no event log at %s yet; install the git hooks "
			"('cairn hooks install') and commit\n",
			cfg->db_path);
		rc = EXIT_REFUSED;
		goto out;
	}
	sqlite3 *db;
	struct cairn_err err;
	if (store_db_open(cfg->db_path, true, &db, &err)) {
		cli_print_err("cairn predict", &err);
		rc = EXIT_IO;
		goto out;
	}
	if (n_given == 0) {
		/* The focus of the project's latest session: its files changed
		 * most. */
		free(rel);
		rel = NULL;
		int64_t sid = 0;
		if (session_focus(db, root, FOCUS_FILES, &rel, &n_given, &sid, &err) < 0) {
			cli_print_err("cairn predict", &err);
			sqlite3_close(db);
			rc = EXIT_IO;
			goto out;
		}
		if (n_given == 0) {
			fprintf(stderr,
				"cairn predict files: no session in %s has changed a file yet; "
				"give --given PATH\n",
				root);
			sqlite3_close(db);
			rc = EXIT_USAGE;
			goto out;
		}
		if (!json) {
			printf("from the focus of session %lld:", (long long)sid);
			for (size_t i = 0; i < n_given; i++)
				printf(" %s", rel[i]);
			putchar('\n');
		}
	}
	struct predict_item *v;
	size_t n;
	if (predict_files(db, root, (const char *const *)rel, n_given, (size_t)limit, &v, &n,
			  &err)) {
		cli_print_err("cairn predict", &err);
		sqlite3_close(db);
		rc = EXIT_IO;
		goto out;
	}
	sqlite3_close(db);
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++) {
		char reason[PATH_MAX + 160];
		predict_item_reason(&v[i], reason, sizeof reason);
		if (json)
			json_array_append_new(list,
					      json_pack("{s:s,s:f,s:s}", "path", v[i].path, "score",
							v[i].score, "reason", reason));
		else
			printf("%5.2f  %s  (%s)\n", v[i].score, v[i].path, reason);
	}
	if (json) {
		json_t *o = json_pack("{s:o}", "predictions", list);
		char *s = json_dumps(o, JSON_COMPACT);
		puts(s);
		free(s);
		json_decref(o);
	} else {
		json_decref(list);
		if (n == 0)
			printf("no prediction: no file of this project has changed with the given "
			       "ones, nor in its last commits, in what the daemon has learned\n");
	}
	predict_items_free(v, n);
out:
	for (size_t i = 0; i < n_given; i++)
		free(rel[i]);
	free(rel);
	free(root);
	free(given);
	return rc;
}
