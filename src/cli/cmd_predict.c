/* `cairn predict files`: the files likely to change with the given ones,
 * from the co-change rules the prediction service learned
 * (src/services/predict.h). Reads the database read-only. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/err.h"
#include "common/xalloc.h"
#include "services/predict.h"
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
	"predict", "files --given PATH [--given PATH]... [--project DIR] [--limit N] [--json]",
	"Lists the files most likely to change together with the given ones, best first,\n"
	"from the commits the daemon has seen (git.commit events of `cairn hooks install`)\n"
	"and the files edited together (file.changed events of `cairn watch add`), each\n"
	"with why (\"changed together with X in 14 of 17 commits\"); the score is the\n"
	"model's probability that the file is the next one (docs/services.md).\n"
	"  --given PATH   a file in focus (repeatable), relative to the project or the\n"
	"                 current directory, or absolute\n"
	"  --project DIR  the project (default: the git top level of the current directory)\n"
	"  --limit N      at most N files (default 10, at most 1000)\n"
	"  --json         print {\"predictions\": [{\"path\", \"score\", \"reason\"}]}\n"
	"Not yet: predicting without --given (from the current session's focus) and\n"
	"`cairn predict command`.\n",
	cmd_predict, false};

static const struct option predict_opts[] = {
	{"given", required_argument, NULL, 'g'},
	{"project", required_argument, NULL, 'p'},
	{"limit", required_argument, NULL, 'l'},
	{"json", no_argument, NULL, 'j'},
	{NULL, 0, NULL, 0},
};

int cmd_predict(int argc, char **argv, const struct config *cfg)
{
	if (argc < 2 || strcmp(argv[1], "files") != 0) {
		if (argc >= 2 && strcmp(argv[1], "command") == 0)
			fprintf(stderr, "cairn predict command: not yet (the command model is "
					"still to be built)\n");
		else
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
	if (optind < argc || n_given == 0) {
		fprintf(stderr,
			optind < argc ? "cairn predict files: unexpected '%s'\n"
				      : "cairn predict files: give --given PATH (predicting "
					"from the current session's focus is not yet "
					"there)\n",
			optind < argc ? argv[optind] : "");
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
