/* `cairn why [EVENT]`: the triage report of the latest failure (of this
 * project, when run inside one) or of the given event, waiting a moment
 * for it when the daemon is still writing it. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/err.h"
#include "common/spool.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "event/outcome.h"
#include "services/triage.h"
#include "sources/gitinfo.h"
#include "store/queries.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether the failure of report has since passed: "Resolved by build.passed
 * at TIME (seq N)" and the fix learned, from the failures table. */
static void print_resolution(sqlite3 *db, const json_t *report)
{
	const char *fid =
		json_string_value(json_object_get(json_object_get(report, "failure"), "id"));
	sqlite3_stmt *st = NULL;
	if (!fid || sqlite3_prepare_v2(db,
				       "SELECT f.resolved_seq, f.fixed_by, k.title FROM failures f"
				       " LEFT JOIN knowledge k ON k.id = f.fixed_by"
				       " WHERE f.event_id = ?1",
				       -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return;
	}
	sqlite3_bind_text(st, 1, fid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0)) {
		int64_t seq = sqlite3_column_int64(st, 0);
		struct store_q_event pass = {0};
		char when[TIMEFMT_RFC3339_LEN + 1] = "";
		if (store_q_event_by_seq(db, seq, &pass) > 0)
			timefmt_rfc3339(when, pass.time_ms);
		printf("\nResolved: %s at %s (seq %lld)", pass.type ? pass.type : "a pass",
		       *when ? when : "?", (long long)seq);
		if (sqlite3_column_int64(st, 1) && sqlite3_column_text(st, 2))
			printf("; fix learned: #%lld %s", (long long)sqlite3_column_int64(st, 1),
			       (const char *)sqlite3_column_text(st, 2));
		printf("\n");
		store_q_event_release(&pass);
	}
	sqlite3_finalize(st);
}

/* Failures waiting in the spool (logged while no daemon ran, so neither in
 * the log nor triaged) of project (any when NULL) after after_ms: how many,
 * and the newest one's time in *newest_ms. */
static size_t spooled_failures(const struct config *cfg, const char *project, int64_t after_ms,
			       int64_t *newest_ms)
{
	char *dir = xasprintf("%s/spool", cfg->data_dir);
	char **list;
	size_t n = 0;
	*newest_ms = 0;
	if (spool_list(dir, &list) == 0) {
		for (char **p = list; *p; p++) {
			char *buf;
			size_t len;
			if (spool_read(*p, 1 << 20, &buf, &len))
				continue;
			json_t *ev = json_loadb(buf, len, 0, NULL);
			free(buf);
			const char *type = json_string_value(json_object_get(ev, "type"));
			const char *proj = json_string_value(json_object_get(ev, "project"));
			const char *t = json_string_value(json_object_get(ev, "time"));
			int64_t ms = 0;
			if (type && outcome_is_failure(type) &&
			    (!project || (proj && strcmp(proj, project) == 0)) &&
			    (!t || (timefmt_parse_rfc3339(t, &ms) == 0 && ms > after_ms))) {
				n++;
				if (ms > *newest_ms)
					*newest_ms = ms;
			}
			json_decref(ev);
		}
		spool_list_free(list);
	}
	free(dir);
	return n;
}

/* The row's envelope as JSON (NULL if it does not parse); releases the row. */
static json_t *take_envelope(struct store_q_event *row)
{
	json_t *env = row->envelope ? json_loadb(row->envelope, row->envelope_len, 0, NULL) : NULL;
	store_q_event_release(row);
	return env;
}

/* Waits for the report correlated to failure id through the daemon: a
 * subscription from the failure's seq replays a report already logged and
 * then delivers the one still being made. */
static json_t *wait_report(const struct config *cfg, const char *id, long long seq, int secs)
{
	struct client cl;
	if (client_connect_quiet(&cl, cfg))
		return NULL;
	json_t *req = json_pack("{s:s,s:s,s:s,s:I}", "op", "sub", "sub", "why", "pattern",
				"triage.report", "from", (json_int_t)seq);
	json_t *found = NULL;
	if (client_send(&cl, req) == 0) {
		int left = secs * 1000;
		while (left > 0 && !found) {
			json_t *m;
			int r = client_read(&cl, &m, left > 500 ? 500 : left);
			left -= 500;
			if (r == -ETIMEDOUT || r == -EINTR)
				continue;
			if (r)
				break;
			const json_t *ev = json_object_get(m, "event");
			const char *corr = json_string_value(json_object_get(ev, "correlationid"));
			if (corr && strcmp(corr, id) == 0)
				found = json_incref((json_t *)ev);
			json_decref(m);
		}
	}
	client_close(&cl);
	return found;
}

const struct cli_cmd cli_why = {
	"why", "[EVENT] [--all] [--wait SECONDS] [--json]",
	"Shows the triage report of the latest failure in this project (or of EVENT, a\n"
	"failure's or a report's id or seq): the lines that explain it, how the same error\n"
	"was fixed before, and what changed since the target last passed.\n"
	"  --all       the latest failure of any project\n"
	"  --wait S    wait up to S seconds for a report still being made (default 10)\n"
	"  --json      print the triage.report event as JSON\n",
	cmd_why, false};

static const struct option why_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"all", no_argument, NULL, 'a'},
	{"wait", required_argument, NULL, 'w'},
	{NULL, 0, NULL, 0},
};

int cmd_why(int argc, char **argv, const struct config *cfg)
{
	bool json = false, all = false;
	int wait_s = 10;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", why_opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'a': all = true; break;
		case 'w': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 3600) {
				fprintf(stderr, "cairn why: --wait wants seconds, 0 to 3600\n");
				return EXIT_USAGE;
			}
			wait_s = (int)v;
			break;
		}
		default: cli_usage(stderr, "why"); return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "cairn why: expected at most one EVENT (an id or a seq)\n");
		return EXIT_USAGE;
	}
	const char *arg = optind < argc ? argv[optind] : NULL;
	if (access(cfg->db_path, R_OK) != 0) {
		fprintf(stderr,
			"cairn why: no event log at %s yet; nothing has failed under "
			"cairn (wrap builds in 'cairn run -- make')\n",
			cfg->db_path);
		return EXIT_REFUSED;
	}
	sqlite3 *db;
	struct cairn_err err;
	if (store_db_open(cfg->db_path, true, &db, &err)) {
		cli_print_err("cairn why", &err);
		return EXIT_IO;
	}
	struct store_q_event ev = {0};
	json_t *env = NULL;
	int r, rc = EXIT_OK;
	if (arg) {
		char *end;
		long long n = strtoll(arg, &end, 10);
		if (*arg && !*end && n > 0)
			r = store_q_event_by_seq(db, n, &ev);
		else
			r = store_q_outcome_by_id(db, arg, &ev);
		if (r == 0) {
			fprintf(stderr, "cairn why: no event %s in the log (see 'cairn log')\n",
				arg);
			rc = EXIT_REFUSED;
			goto out;
		}
	} else {
		char cwd[PATH_MAX];
		struct gitinfo gi = {0};
		const char *project = NULL;
		if (!all && getcwd(cwd, sizeof cwd) && gitinfo_read(cwd, 0, &gi) == 0)
			project = gi.workdir;
		r = store_q_last_failure(db, project, &ev);
		/* Newer failures the daemon has not seen (it was not running):
		 * the latest logged one is not the latest, and says so. */
		int64_t newest = 0;
		size_t spooled =
			r >= 0 ? spooled_failures(cfg, project, r > 0 ? ev.time_ms : 0, &newest)
			       : 0;
		if (spooled) {
			char when[TIMEFMT_RFC3339_LEN + 1] = "?";
			if (newest)
				timefmt_rfc3339(when, newest);
			fprintf(stderr,
				"cairn why: %zu newer failure%s (the latest at %s) %s no report "
				"yet: "
				"%s spooled while no daemon was running; start 'cairn daemon' and "
				"run 'cairn why' again%s\n",
				spooled, spooled == 1 ? "" : "s", when,
				spooled == 1 ? "has" : "have",
				spooled == 1 ? "it was" : "they were",
				r > 0 ? ". The report below is of an older failure" : "");
		}
		if (r == 0) {
			if (!spooled)
				fprintf(stderr, "cairn why: no failure logged%s%s%s\n",
					project ? " in " : "", project ? project : "",
					project ? " (--all for every project)" : "");
			gitinfo_release(&gi);
			rc = EXIT_REFUSED;
			goto out;
		}
		gitinfo_release(&gi);
	}
	if (r < 0) {
		fprintf(stderr, "cairn why: cannot read the log: %s\n", sqlite3_errmsg(db));
		rc = EXIT_IO;
		goto out;
	}
	long long seq = ev.seq;
	const char *id = ev.id, *type = ev.type;
	env = ev.envelope ? json_loadb(ev.envelope, ev.envelope_len, 0, NULL) : NULL;
	json_t *report = NULL;
	if (strcmp(type, "triage.report") == 0) {
		report = env;
		env = NULL;
	} else if (!outcome_is_failure(type)) {
		fprintf(stderr,
			"cairn why: event %lld is a %s; give a failure or a triage.report\n", seq,
			type);
		rc = EXIT_REFUSED;
		goto out;
	} else {
		struct store_q_event rep;
		r = store_q_report_for(db, id, &rep);
		report = take_envelope(&rep);
		if (r == 0 && wait_s > 0)
			report = wait_report(cfg, id, seq, wait_s);
		if (!report) {
			fprintf(stderr,
				"cairn why: %s %lld has no triage report%s; analyse its log with"
				" 'cairn triage FILE'\n",
				type, seq,
				r == 0 ? " (was the daemon running when it failed?)" : "");
			rc = EXIT_REFUSED;
			goto out;
		}
	}
	if (json) {
		char *s = json_dumps(report, JSON_COMPACT | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	} else {
		triage_print(stdout, json_object_get(report, "data"), isatty(STDOUT_FILENO));
		print_resolution(db, json_object_get(report, "data"));
	}
	json_decref(report);
out:
	json_decref(env);
	store_q_event_release(&ev);
	sqlite3_close(db);
	return rc;
}
