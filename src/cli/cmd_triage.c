/* `cairn triage FILE|-`: the triage report for any log (a CI log, a saved
 * build output), made in this process with the knowledge base read from the
 * database when there is one. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/headtail.h"
#include "common/xalloc.h"
#include "kb/kb.h"
#include "services/triage.h"
#include "sources/gitinfo.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads all of stdin, keeping the first MiB and the last 3 MiB of it
 * (TRIAGE_LOG_MAX in all), joined without a marker. */
static char *read_stdin(size_t *len)
{
	struct headtail ht;
	headtail_init(&ht, 1 << 20, TRIAGE_LOG_MAX - (1 << 20));
	char buf[65536];
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		headtail_add(&ht, buf, (size_t)n);
	}
	return headtail_detach(&ht, 0, len);
}

const struct cli_cmd cli_triage = {
	"triage",
	"FILE|- [--target NAME] [--project DIR] [--command CMD] [--lines N] [--no-kb] [--json]",
	"Analyses any log (a CI log, a saved build output; - reads standard input) as the\n"
	"daemon does a failed run: excerpt, error signature, known fixes from the knowledge\n"
	"base, and a summary. Runs here; no daemon needed.\n"
	"  --target NAME   also list files changed since NAME last passed in this project\n"
	"  --project DIR   the project (default: the git top level of the current\n"
	"                  directory): scopes the known fixes and the changes since --target\n"
	"  --command CMD   the command that produced the log (helps recognise the tool)\n"
	"  --lines N       excerpt budget (default 50)\n"
	"  --no-kb         do not read the knowledge base\n"
	"  --json          print the report as JSON\n",
	cmd_triage, false};

static const struct option triage_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"lines", required_argument, NULL, 'n'},
	{"command", required_argument, NULL, 'c'},
	{"target", required_argument, NULL, 't'},
	{"project", required_argument, NULL, 'p'},
	{"no-kb", no_argument, NULL, 'K'},
	{NULL, 0, NULL, 0},
};

int cmd_triage(int argc, char **argv, const struct config *cfg)
{
	bool json = false, no_kb = false;
	long lines = 0;
	const char *command = NULL, *target = NULL, *project_opt = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", triage_opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'n': {
			char *end;
			lines = strtol(optarg, &end, 10);
			if (*end || lines < 1 || lines > 10000) {
				fprintf(stderr,
					"cairn triage: --lines wants a number from 1 to 10000\n");
				return EXIT_USAGE;
			}
			break;
		}
		case 'c': command = optarg; break;
		case 't': target = optarg; break;
		case 'p': project_opt = optarg; break;
		case 'K': no_kb = true; break;
		default: cli_usage(stderr, "triage"); return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "cairn triage: expected one FILE (or - for standard input)\n");
		cli_usage(stderr, "triage");
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	size_t len = 0;
	char *log;
	if (strcmp(path, "-") == 0) {
		log = read_stdin(&len);
	} else {
		log = triage_read_log(path, &len);
		if (!log) {
			fprintf(stderr, "cairn triage: cannot read '%s': %s\n", path,
				strerror(errno));
			return EXIT_IO;
		}
	}

	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		snprintf(cwd, sizeof cwd, ".");
	struct gitinfo gi = {0};
	char *project = NULL;
	if (project_opt) {
		char *rp = realpath(project_opt, NULL);
		project = rp ? rp : xstrdup(project_opt);
	} else if (gitinfo_read(cwd, 0, &gi) == 0 && gi.workdir) {
		project = xstrdup(gi.workdir);
	}
	gitinfo_release(&gi);

	struct triage_ctx cx = {0};
	sqlite3 *db = NULL;
	struct cairn_err err;
	if (!no_kb && access(cfg->db_path, R_OK) == 0) {
		/* Read-write only so that an older database gets the knowledge
		 * base's tables; nothing is written. */
		if (store_db_open(cfg->db_path, false, &db, &err) == 0 &&
		    kb_open_db(db, (int64_t)cfg->kb_forget_days * 86400000, &cx.kb, &err) == 0) {
			cx.db = db;
		} else {
			fprintf(stderr,
				"cairn triage: the knowledge base is not available (%s); "
				"reporting without known fixes\n",
				err.msg);
		}
	}
	struct triage_failure f = {
		.time_ms = clock_wall_ms(),
		.project = project,
		.cwd = cwd,
		.target = target,
		.command = command,
		.log = log,
		.log_len = len,
	};
	struct triage_opts o = {.max_lines = (size_t)lines, .no_suspects = target == NULL};
	json_t *rep = NULL;
	int r = triage_analyze(&cx, &f, &o, f.time_ms, &rep);
	if (r < 0)
		fprintf(stderr,
			"cairn triage: the database failed (%s); the report may lack "
			"known fixes or suspects\n",
			err_str(r));
	if (json) {
		char *s = json_dumps(rep, JSON_COMPACT | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	} else {
		triage_print(stdout, rep, isatty(STDOUT_FILENO));
	}
	json_decref(rep);
	kb_close(cx.kb);
	sqlite3_close(db);
	free(project);
	free(log);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_IO;
}
