/* `cairn session start|end|list|show`: marks a session's start or end (a
 * session.start or session.end request the session service acts on), and
 * reads the sessions it kept (src/services/session.h) from the database,
 * read-only. */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/publish.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "services/session.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const struct cli_cmd cli_session = {
	"session",
	"start|end [--note TEXT] | list [--all] [--limit N] | show [ID]  "
	"[--project DIR] [--json]",
	"Sessions: spans of work in a project. One starts with the first activity after a\n"
	"quiet gap ([session] gap, 30m) and ends after the gap; an AI agent's session starts\n"
	"and ends with its hooks ('cairn hooks install --agent claude').\n"
	"  start [--note TEXT]  end the project's open session and start a new one now\n"
	"  end [--note TEXT]    end the project's open session now\n"
	"  list                 the project's sessions, newest first (--all: every project's)\n"
	"  show [ID]            one session's record (default: the project's latest): its\n"
	"                       span, files changed most, branches, targets and their last\n"
	"                       state, commits, knowledge recorded, commands run\n"
	"  --project DIR        the project (default: the git top level of the current\n"
	"                       directory)\n"
	"  --limit N            at most N sessions, or N items per part for show (default 20)\n"
	"  --json               print JSON: list {\"sessions\": [...]}, show the record\n",
	cmd_session, false};

static const struct option session_opts[] = {
	{"note", required_argument, NULL, 'n'},  {"project", required_argument, NULL, 'p'},
	{"limit", required_argument, NULL, 'l'}, {"json", no_argument, NULL, 'j'},
	{"all", no_argument, NULL, 'a'},         {NULL, 0, NULL, 0},
};

#define NOTE_MAX 2000

static void when(char *buf, size_t n, int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&secs, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M", &tm);
}

static void span(char *buf, size_t n, int64_t ms)
{
	int64_t m = ms / 60000;
	if (m < 60)
		snprintf(buf, n, "%lldm", (long long)m);
	else
		snprintf(buf, n, "%lldh%02lldm", (long long)(m / 60), (long long)(m % 60));
}

static void print_line(const struct session_rec *r, int64_t gap_ms, int64_t now, bool all)
{
	char a[32], b[32], d[32];
	when(a, sizeof a, r->start_ms);
	int64_t end = r->end_ms ? r->end_ms : r->last_ms;
	when(b, sizeof b, end);
	span(d, sizeof d, end - r->start_ms);
	const char *state = r->ended_by                       ? r->ended_by
			    : session_is_over(r, gap_ms, now) ? "quiet"
							      : "open";
	printf("%5lld  %s  %s  %-6s %6lld events  %s", (long long)r->id, a, d, state,
	       (long long)r->events, state[0] == 'o' ? "(now)" : strchr(b, ' ') + 1);
	if (r->agent)
		printf("  [%s %.12s]", r->agent, r->agent_session ? r->agent_session : "");
	if (all)
		printf("  %s", r->project);
	if (r->note)
		printf("  %s", r->note);
	putchar('\n');
}

static void print_record(const json_t *o)
{
	const char *k;
	printf("session %lld in %s", (long long)json_integer_value(json_object_get(o, "id")),
	       json_string_value(json_object_get(o, "project")));
	if ((k = json_string_value(json_object_get(o, "agent"))))
		printf(" (%s session %s)", k,
		       json_string_value(json_object_get(o, "agent_session")));
	printf("\n  %s", json_string_value(json_object_get(o, "start")));
	if ((k = json_string_value(json_object_get(o, "end"))))
		printf(" to %s, ended by %s", k, json_string_value(json_object_get(o, "ended_by")));
	else
		printf(", last activity %s",
		       json_string_value(json_object_get(o, "last_activity")));
	printf("; %lld events\n", (long long)json_integer_value(json_object_get(o, "events")));
	if ((k = json_string_value(json_object_get(o, "note"))))
		printf("  note: %s\n", k);
	if ((k = json_string_value(json_object_get(o, "end_note"))))
		printf("  at the end: %s\n", k);
	size_t i;
	const json_t *e;
	const json_t *l = json_object_get(o, "files");
	if (json_array_size(l)) {
		printf("files changed:\n");
		json_array_foreach(l, i, e)
			printf("  %s (%lld)\n", json_string_value(json_object_get(e, "path")),
			       (long long)json_integer_value(json_object_get(e, "n")));
	}
	l = json_object_get(o, "branches");
	if (json_array_size(l)) {
		printf("branches:");
		json_array_foreach(l, i, e)
			printf(" %s", json_string_value(e));
		putchar('\n');
	}
	l = json_object_get(o, "targets");
	if (json_array_size(l)) {
		printf("targets:\n");
		json_array_foreach(l, i, e) {
			printf("  %s: %s", json_string_value(json_object_get(e, "target")),
			       json_string_value(json_object_get(e, "state")));
			if ((k = json_string_value(json_object_get(e, "gist"))))
				printf(" (%s)", k);
			putchar('\n');
		}
	}
	l = json_object_get(o, "commits");
	if (json_array_size(l)) {
		printf("commits:\n");
		json_array_foreach(l, i, e)
			printf("  %.10s %s\n", json_string_value(json_object_get(e, "hash")),
			       json_string_value(json_object_get(e, "subject")));
	}
	l = json_object_get(o, "knowledge");
	if (json_array_size(l)) {
		printf("knowledge:\n");
		json_array_foreach(l, i, e)
			printf("  %s: %s\n", json_string_value(json_object_get(e, "what")),
			       json_string_value(json_object_get(e, "title")));
	}
	l = json_object_get(o, "commands");
	if (json_array_size(l)) {
		printf("commands:\n");
		json_array_foreach(l, i, e)
			printf("  %s (%lld)\n", json_string_value(json_object_get(e, "command")),
			       (long long)json_integer_value(json_object_get(e, "n")));
	}
}

static int open_db(const struct config *cfg, sqlite3 **db)
{
	struct cairn_err err;
	if (access(cfg->db_path, R_OK) != 0) {
		fprintf(stderr,
			"cairn session: no event log at %s yet; start the daemon ('cairn daemon') "
			"and work: sessions are made from what it sees\n",
			cfg->db_path);
		return EXIT_REFUSED;
	}
	if (store_db_open(cfg->db_path, true, db, &err)) {
		cli_print_err("cairn session", &err);
		return EXIT_IO;
	}
	return 0;
}

static int mark(const struct config *cfg, const char *verb, const char *project, const char *note)
{
	if (!project) {
		fprintf(stderr,
			"cairn session %s: not inside a git work tree; give --project DIR\n", verb);
		return EXIT_USAGE;
	}
	char type[32];
	snprintf(type, sizeof type, "session.%s", verb);
	json_t *data = json_object();
	if (note)
		json_object_set_new(data, "note", json_string(note));
	json_t *ev = json_pack("{s:s,s:s,s:s,s:o}", "type", type, "source", "cairn/cli", "project",
			       project, "data", data);
	int64_t seq = 0;
	int r = cli_publish(cfg, ev, PUBLISH_DURABLE, false, 2000, &seq, NULL);
	if (r < 0)
		return EXIT_REFUSED;
	if (r == PUBLISH_SPOOLED)
		printf("the daemon is not running: the %s of the session is kept and takes effect "
		       "when it starts ('cairn daemon')\n",
		       verb);
	else
		printf("session %s logged for %s (seq %lld)\n",
		       strcmp(verb, "start") == 0 ? "start" : "end", project, (long long)seq);
	return EXIT_OK;
}

int cmd_session(int argc, char **argv, const struct config *cfg)
{
	if (argc < 2) {
		cli_usage(stderr, "session");
		return EXIT_USAGE;
	}
	const char *verb = argv[1];
	bool json = false, all = false;
	const char *project_opt = NULL, *note = NULL;
	long limit = 20;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", session_opts, NULL)) != -1) {
		switch (c) {
		case 'n': note = optarg; break;
		case 'p': project_opt = optarg; break;
		case 'j': json = true; break;
		case 'a': all = true; break;
		case 'l': {
			char *end;
			limit = strtol(optarg, &end, 10);
			if (*end || limit < 1 || limit > 10000) {
				fprintf(stderr, "cairn session: --limit wants 1 to 10000\n");
				return EXIT_USAGE;
			}
			break;
		}
		default: cli_usage(stderr, "session"); return EXIT_USAGE;
		}
	}
	bool is_mark = strcmp(verb, "start") == 0 || strcmp(verb, "end") == 0;
	if (!is_mark && strcmp(verb, "list") != 0 && strcmp(verb, "show") != 0) {
		fprintf(stderr, "cairn session: unknown '%s': use start, end, list or show\n",
			verb);
		return EXIT_USAGE;
	}
	if (note && (!is_mark || strlen(note) > NOTE_MAX)) {
		fprintf(stderr,
			is_mark ? "cairn session: --note is longer than %d bytes\n"
				: "cairn session: --note goes with start or end\n",
			NOTE_MAX);
		return EXIT_USAGE;
	}
	int64_t id = 0;
	if (optind < argc) {
		char *end;
		id = strtoll(argv[optind], &end, 10);
		if (strcmp(verb, "show") != 0 || *end || id < 1 || optind + 1 < argc) {
			fprintf(stderr, "cairn session %s: unexpected '%s'\n", verb, argv[optind]);
			return EXIT_USAGE;
		}
	}
	char *project = NULL;
	if (cli_project(project_opt, "cairn session", &project))
		return EXIT_USAGE;
	int rc = EXIT_OK;
	if (is_mark) {
		rc = mark(cfg, verb, project, note);
		free(project);
		return rc;
	}
	sqlite3 *db;
	if ((rc = open_db(cfg, &db))) {
		free(project);
		return rc;
	}
	struct cairn_err err;
	int64_t now = clock_wall_ms();
	if (strcmp(verb, "list") == 0) {
		struct session_rec *v;
		size_t n;
		if (session_list(db, all ? NULL : project, 0, (size_t)limit, &v, &n, &err)) {
			cli_print_err("cairn session", &err);
			rc = EXIT_IO;
		} else if (json) {
			json_t *l = json_array();
			for (size_t i = 0; i < n; i++) {
				json_t *o = session_fields(&v[i]);
				json_object_set_new(o, "over",
						    json_boolean(session_is_over(
							    &v[i], cfg->session_gap_ms, now)));
				json_array_append_new(l, o);
			}
			json_t *o = json_pack("{s:o}", "sessions", l);
			char *s = json_dumps(o, JSON_COMPACT);
			puts(s);
			free(s);
			json_decref(o);
		} else if (n == 0) {
			printf("no session %s yet: sessions are made from the activity the daemon "
			       "sees (builds, commits, file changes, shell commands)\n",
			       all || !project ? "anywhere" : "in this project");
		} else {
			for (size_t i = 0; i < n; i++)
				print_line(&v[i], cfg->session_gap_ms, now, all || !project);
		}
		if (!rc)
			session_recs_free(v, n);
		sqlite3_close(db);
		free(project);
		return rc;
	}
	struct session_rec r = {0};
	int found;
	if (id) {
		found = session_get(db, id, &r, &err);
	} else {
		struct session_rec *v;
		size_t n;
		found = session_list(db, project, 0, 1, &v, &n, &err);
		if (found == 0 && n == 1) {
			r = v[0];
			memset(&v[0], 0, sizeof v[0]);
			found = 1;
		}
		if (found >= 0)
			session_recs_free(v, n);
	}
	if (found < 0) {
		cli_print_err("cairn session", &err);
		rc = EXIT_IO;
	} else if (found == 0) {
		if (id)
			fprintf(stderr,
				"cairn session show: no session %lld; 'cairn session list' "
				"shows them\n",
				(long long)id);
		else
			fprintf(stderr, "cairn session show: no session %s yet\n",
				project ? "in this project" : "anywhere");
		rc = EXIT_REFUSED;
	} else {
		json_t *o = session_record(db, &r, (size_t)limit, &err);
		if (!o) {
			cli_print_err("cairn session", &err);
			rc = EXIT_IO;
		} else {
			json_object_set_new(
				o, "over",
				json_boolean(session_is_over(&r, cfg->session_gap_ms, now)));
			if (json) {
				char *s = json_dumps(o, JSON_COMPACT);
				puts(s);
				free(s);
			} else {
				print_record(o);
			}
			json_decref(o);
		}
	}
	session_rec_release(&r);
	sqlite3_close(db);
	free(project);
	return rc;
}
