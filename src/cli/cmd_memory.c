/* `cairn export` and `cairn import`: a project's memory (knowledge,
 * sessions, prediction models) as one file (src/services/memory.h). */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/err.h"
#include "common/io.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "kb/kb.h"
#include "services/memory.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_MS (24LL * 3600 * 1000)

const struct cli_cmd cli_export = {
	"export", "[FILE|-] [--project DIR | --all]",
	"Writes a project's memory to FILE (default: standard output) as JSON Lines: its\n"
	"knowledge (and the global entries), its sessions and what happened in them, and\n"
	"the prediction models learned from it. 'cairn import' reads it back, here or on\n"
	"another machine. Knowledge alone: 'cairn kb export'.\n"
	"  --project DIR   the project (default: the git top level of the current directory)\n"
	"  --all           every project's memory\n",
	cmd_export, false};

const struct cli_cmd cli_import = {
	"import", "FILE|- [--project DIR]",
	"Reads a file written by 'cairn export' into the database. Importing the same file\n"
	"twice changes nothing: knowledge merges by uid (as 'cairn kb import'), a session\n"
	"already there is skipped, a model's counts keep the larger value.\n"
	"  --project DIR   import the project's memory under DIR (a clone elsewhere, another\n"
	"                  machine); the file must hold one project\n",
	cmd_import, false};

static const struct option mem_opts[] = {
	{"project", required_argument, NULL, 'p'},
	{"all", no_argument, NULL, 'a'},
	{NULL, 0, NULL, 0},
};

/* The database and the kb over it, read-write (import) or read-only. */
static int open_both(const struct config *cfg, const char *prog, bool write, sqlite3 **db,
		     struct kb **kb)
{
	struct cairn_err err;
	log_set_level(LOG_WARN);
	if (!write && access(cfg->db_path, R_OK) != 0) {
		fprintf(stderr, "%s: no database at %s yet: nothing to export\n", prog,
			cfg->db_path);
		return EXIT_REFUSED;
	}
	if (write) {
		io_mkdirs(cfg->data_dir, 0700);
	}
	if (store_db_open(cfg->db_path, !write, db, &err)) {
		cli_print_err(prog, &err);
		return EXIT_IO;
	}
	if (kb_open_db(*db, (int64_t)cfg->kb_forget_days * DAY_MS, kb, &err)) {
		cli_print_err(prog, &err);
		sqlite3_close(*db);
		return EXIT_IO;
	}
	return 0;
}

int cmd_export(int argc, char **argv, const struct config *cfg)
{
	const char *project_opt = NULL;
	bool all = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", mem_opts, NULL)) != -1) {
		switch (c) {
		case 'p': project_opt = optarg; break;
		case 'a': all = true; break;
		default: cli_usage(stderr, "export"); return EXIT_USAGE;
		}
	}
	if (argc - optind > 1 || (all && project_opt)) {
		fprintf(stderr, "cairn export: %s\n",
			all && project_opt ? "give --project or --all, not both"
					   : "one FILE at most");
		return EXIT_USAGE;
	}
	const char *path = optind < argc ? argv[optind] : "-";
	char *project = NULL;
	if (!all) {
		if (cli_project(project_opt, "cairn export", &project))
			return EXIT_USAGE;
		if (!project) {
			fprintf(stderr, "cairn export: not inside a git work tree; give --project "
					"DIR or --all\n");
			return EXIT_USAGE;
		}
	}
	sqlite3 *db;
	struct kb *kb;
	int rc = open_both(cfg, "cairn export", false, &db, &kb);
	if (rc) {
		free(project);
		return rc;
	}
	bool to_stdout = strcmp(path, "-") == 0;
	char *tmp = NULL;
	FILE *out = stdout;
	if (!to_stdout) {
		/* Written beside, renamed into place when complete. */
		if (asprintf(&tmp, "%s.tmp", path) < 0 || !(out = fopen(tmp, "w"))) {
			fprintf(stderr, "cairn export: cannot write '%s': %s\n", tmp ? tmp : path,
				strerror(errno));
			free(tmp);
			kb_close(kb);
			sqlite3_close(db);
			free(project);
			return EXIT_IO;
		}
	}
	struct memory_stats st;
	struct cairn_err err;
	int r = memory_export(db, kb, project, out, &st, &err);
	if (!to_stdout) {
		if (fclose(out) != 0 && !r)
			r = cairn_err_set(&err, -errno, "", "cannot write '%s': %s", tmp,
					  strerror(errno));
		if (!r && rename(tmp, path) != 0)
			r = cairn_err_set(&err, -errno, "", "cannot rename '%s' to '%s': %s", tmp,
					  path, strerror(errno));
		if (r)
			unlink(tmp);
	}
	if (r) {
		cli_print_err("cairn export", &err);
		rc = EXIT_IO;
	} else {
		fprintf(stderr,
			"cairn export: %zu knowledge entries, %zu sessions (%zu items), %zu model "
			"rows%s%s\n",
			st.knowledge, st.sessions, st.items, st.rows, to_stdout ? "" : " to ",
			to_stdout ? "" : path);
	}
	free(tmp);
	kb_close(kb);
	sqlite3_close(db);
	free(project);
	return rc;
}

static void on_report(void *ctx, size_t line, const char *msg)
{
	fprintf(stderr, "cairn import: %s:%zu: %s; skipped\n", (const char *)ctx, line, msg);
}

int cmd_import(int argc, char **argv, const struct config *cfg)
{
	const char *project_opt = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", mem_opts, NULL)) != -1) {
		switch (c) {
		case 'p': project_opt = optarg; break;
		default: cli_usage(stderr, "import"); return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "cairn import: give one FILE (or - for standard input)\n");
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	char *project = NULL;
	if (project_opt && cli_project(project_opt, "cairn import", &project))
		return EXIT_USAGE;
	bool from_stdin = strcmp(path, "-") == 0;
	FILE *in = from_stdin ? stdin : fopen(path, "r");
	if (!in) {
		fprintf(stderr, "cairn import: cannot read '%s': %s\n", path, strerror(errno));
		free(project);
		return EXIT_IO;
	}
	sqlite3 *db;
	struct kb *kb;
	int rc = open_both(cfg, "cairn import", true, &db, &kb);
	if (rc) {
		if (!from_stdin)
			fclose(in);
		free(project);
		return rc;
	}
	struct memory_stats st;
	struct cairn_err err;
	int r = memory_import(db, kb, in, project, &st, on_report,
			      (void *)(from_stdin ? "<stdin>" : path), &err);
	if (!from_stdin)
		fclose(in);
	if (r && r != CAIRN_E_PARSE) {
		cli_print_err("cairn import", &err);
		rc = r == CAIRN_E_INVALID ? EXIT_USAGE : EXIT_IO;
	} else {
		printf("imported %zu knowledge entries, %zu sessions (%zu items), %zu model rows; "
		       "%zu already there",
		       st.knowledge, st.sessions, st.items, st.rows, st.skipped);
		if (st.bad)
			printf("; %zu line%s refused", st.bad, st.bad == 1 ? "" : "s");
		putchar('\n');
		rc = r ? EXIT_REFUSED : EXIT_OK;
	}
	kb_close(kb);
	sqlite3_close(db);
	free(project);
	return rc;
}
