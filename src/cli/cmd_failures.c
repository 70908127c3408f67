/* `cairn failures`: the history of build and test failures, newest first,
 * one line each, from the failures table the triage service keeps
 * (src/services/triage.c), read-only: it works with the daemon down. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/clock.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIMIT_DEFAULT 20
#define LIMIT_MAX 1000

const struct cli_cmd cli_failures = {
	"failures", "[--since WHEN] [--project DIR | --all] [--limit N] [--json]",
	"The failures of builds and tests, newest first, one line each: when, the target,\n"
	"the first error, whether it is still open or was resolved by a later pass, and the\n"
	"fix learned from it. Interrupted runs, commands not found and killed runs are not\n"
	"failures of the code and are not listed (docs/triage.md). Reads the database; works\n"
	"with the daemon down.\n"
	"  --since WHEN    only failures since WHEN: an RFC 3339 time, a duration ago (2h,\n"
	"                  7d), today or yesterday\n"
	"  --project DIR   the project (default: the git top level of the current directory)\n"
	"  --all           every project's, and runs outside any project\n"
	"  --limit N       at most N failures (default 20, at most 1000)\n"
	"  --json          {\"failures\": [{\"id\", \"seq\", \"time\", \"project\", \"target\",\n"
	"                  \"message\", \"state\": \"open\"|\"resolved\", \"resolved_seq\"?,\n"
	"                  \"fix\"?: {\"id\", \"title\"}}]}\n",
	cmd_failures, false};

static const struct option opts[] = {
	{"since", required_argument, NULL, 's'}, {"project", required_argument, NULL, 'p'},
	{"all", no_argument, NULL, 'a'},         {"limit", required_argument, NULL, 'n'},
	{"json", no_argument, NULL, 'j'},        {NULL, 0, NULL, 0},
};

static void local_time(char *buf, size_t n, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M", &tm);
}

int cmd_failures(int argc, char **argv, const struct config *cfg)
{
	const char *project_opt = NULL;
	bool all = false, json = false;
	int64_t since_ms = 0;
	long limit = LIMIT_DEFAULT;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (timefmt_parse_when(optarg, clock_wall_ms(), &since_ms)) {
				fprintf(stderr,
					"cairn failures: --since '%s' is not an RFC 3339 time, a "
					"duration ago (2h, 7d), today or yesterday\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'p': project_opt = optarg; break;
		case 'a': all = true; break;
		case 'n': {
			char *end;
			limit = strtol(optarg, &end, 10);
			if (*end || limit < 1 || limit > LIMIT_MAX) {
				fprintf(stderr, "cairn failures: --limit wants 1 to %d\n",
					LIMIT_MAX);
				return EXIT_USAGE;
			}
			break;
		}
		case 'j': json = true; break;
		default: cli_usage(stderr, "failures"); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cairn failures: unexpected '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (all && project_opt) {
		fprintf(stderr, "cairn failures: give --project DIR or --all, not both\n");
		return EXIT_USAGE;
	}
	char *project = NULL;
	if (!all && cli_project(project_opt, "cairn failures", &project))
		return EXIT_USAGE;
	if (!all && !project) {
		fprintf(stderr, "cairn failures: not inside a git work tree; give --project DIR or "
				"--all\n");
		return EXIT_USAGE;
	}
	json_t *arr = json_array();
	int rc = EXIT_OK;
	if (access(cfg->db_path, R_OK) == 0) {
		sqlite3 *db = NULL;
		struct cairn_err err;
		if (store_db_open(cfg->db_path, true, &db, &err)) {
			cli_print_err("cairn failures", &err);
			json_decref(arr);
			free(project);
			return EXIT_IO;
		}
		sqlite3_stmt *st = NULL;
		int prc = sqlite3_prepare_v2(
			db,
			"SELECT f.event_id, f.seq, f.project, f.target, f.message, f.time_ms,"
			" f.resolved_seq, f.fixed_by, k.title FROM failures f"
			" LEFT JOIN knowledge k ON k.id = f.fixed_by"
			" WHERE (?1 IS NULL OR f.project = ?1) AND f.time_ms >= ?2"
			" ORDER BY f.seq DESC LIMIT ?3",
			-1, &st, NULL);
		if (prc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, since_ms);
			sqlite3_bind_int64(st, 3, limit);
			while ((prc = sqlite3_step(st)) == SQLITE_ROW) {
				char ts[TIMEFMT_RFC3339_LEN + 1];
				timefmt_rfc3339(ts, sqlite3_column_int64(st, 5));
				int64_t resolved = sqlite3_column_int64(st, 6);
				json_t *o = json_pack(
					"{s:s,s:I,s:s,s:s?,s:s,s:s,s:s}", "id",
					(const char *)sqlite3_column_text(st, 0), "seq",
					(json_int_t)sqlite3_column_int64(st, 1), "time", ts,
					"project", (const char *)sqlite3_column_text(st, 2),
					"target", (const char *)sqlite3_column_text(st, 3),
					"message",
					sqlite3_column_text(st, 4)
						? (const char *)sqlite3_column_text(st, 4)
						: "",
					"state", resolved ? "resolved" : "open");
				if (resolved)
					json_object_set_new(o, "resolved_seq",
							    json_integer(resolved));
				if (sqlite3_column_int64(st, 7) && sqlite3_column_text(st, 8))
					json_object_set_new(
						o, "fix",
						json_pack(
							"{s:I,s:s}", "id",
							(json_int_t)sqlite3_column_int64(st, 7),
							"title",
							(const char *)sqlite3_column_text(st, 8)));
				json_object_set_new(o, "time_ms",
						    json_integer(sqlite3_column_int64(st, 5)));
				json_array_append_new(arr, o);
			}
		}
		if (prc != SQLITE_DONE) {
			fprintf(stderr, "cairn failures: cannot read the failures: %s\n",
				sqlite3_errmsg(db));
			rc = EXIT_IO;
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	if (json) {
		size_t i;
		json_t *o;
		json_array_foreach(arr, i, o)
			json_object_del(o, "time_ms");
		json_t *out = json_pack("{s:O}", "failures", arr);
		char *s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(out);
	} else if (!json_array_size(arr) && rc == EXIT_OK) {
		printf("no failure logged%s%s%s\n", project ? " in " : "", project ? project : "",
		       since_ms ? " in that time" : "");
	} else {
		size_t i;
		const json_t *o;
		json_array_foreach(arr, i, o) {
			char when[32];
			local_time(when, sizeof when,
				   json_integer_value(json_object_get(o, "time_ms")));
			const char *msg = json_string_value(json_object_get(o, "message"));
			const json_t *fix = json_object_get(o, "fix");
			printf("%s  %-8s  %-20.20s  %.100s", when,
			       json_string_value(json_object_get(o, "state")),
			       json_string_value(json_object_get(o, "target")),
			       *msg ? msg : "(no error recognised in the output)");
			if (fix)
				printf("  -- fixed: #%lld %s",
				       (long long)json_integer_value(json_object_get(fix, "id")),
				       json_string_value(json_object_get(fix, "title")));
			if (all && json_string_value(json_object_get(o, "project")))
				printf("  [%s]", json_string_value(json_object_get(o, "project")));
			putchar('\n');
		}
	}
	json_decref(arr);
	free(project);
	return rc;
}
