/* cairn log: print logged events. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/err.h"
#include "common/timefmt.h"
#include "event/pattern.h"
#include "store/store.h"

#include <getopt.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 1000

static void print_one(const json_t *ev, int json)
{
	if (json) {
		char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	} else {
		cli_print_event(stdout, ev);
	}
}

const struct cli_cmd cli_log = {
	"log", "[PATTERN] [--since X] [--until X] [--project DIR] [--limit N] [--json]",
	"Prints logged events matching PATTERN (default '>'), oldest first. Without --since\n"
	"it prints the last N events.\n"
	"  --since X       from seq X (inclusive), an RFC 3339 time, a duration ago, today\n"
	"                  or yesterday\n"
	"  --until X       up to seq X (inclusive) or before a time or a duration ago\n"
	"  --project DIR   only events of that project\n"
	"  --limit N       at most N events (default 20; up to 10000 without --since);\n"
	"                  -n N is the same\n"
	"  --json          print each envelope as one JSON line\n",
	cmd_log, false};

static const struct option log_opts[] = {
	{"since", required_argument, NULL, 's'},   {"until", required_argument, NULL, 'u'},
	{"project", required_argument, NULL, 'p'}, {"limit", required_argument, NULL, 'n'},
	{"json", no_argument, NULL, 'j'},          {NULL, 0, NULL, 0},
};

struct offline_rows {
	json_t *events;
};

static int offline_row(void *ctx, int64_t seq, const char *type, const char *json, size_t len)
{
	struct offline_rows *o = ctx;
	(void)seq, (void)type;
	json_t *ev = json_loadb(json, len, 0, NULL);
	if (ev)
		json_array_append_new(o->events, ev);
	return 0;
}

/* A --since/--until position (a seq, or an RFC 3339 time) into q. */
static void offline_pos(const json_t *pos, bool until, struct store_query *q)
{
	if (!pos)
		return;
	if (json_is_integer(pos)) {
		if (until)
			q->until_seq = json_integer_value(pos);
		else
			q->since_seq = json_integer_value(pos);
		if (until && json_integer_value(pos) == 0)
			q->until_ms = INT64_MIN;
		return;
	}
	int64_t ms;
	if (timefmt_parse_rfc3339(json_string_value(pos), &ms) == 0) {
		if (until)
			q->until_ms = ms;
		else
			q->since_ms = ms;
	}
}

/* `cairn log` with no daemon: the same query on a read-only connection. */
static int log_offline(const struct config *cfg, const char *pattern, const json_t *since,
		       const json_t *until, const char *project, long long limit, int newest,
		       int json)
{
	if (access(cfg->db_path, R_OK) != 0) {
		fprintf(stderr,
			"cairn log: no daemon is running and there is no event log at %s yet; "
			"start one with 'cairn daemon'\n",
			cfg->db_path);
		return EXIT_DOWN;
	}
	const char *why = NULL;
	if (!pattern_valid(pattern, &why)) {
		fprintf(stderr, "cairn log: invalid pattern '%s': %s\n", pattern,
			why ? why : "bad pattern");
		return EXIT_USAGE;
	}
	sqlite3 *db = NULL;
	struct cairn_err err;
	if (store_db_open(cfg->db_path, true, &db, &err)) {
		cli_print_err("cairn log", &err);
		return EXIT_IO;
	}
	fprintf(stderr, "cairn log: no daemon is running: this is the log as it was last "
			"written; events waiting in the spool appear once 'cairn daemon' runs\n");
	struct store_query q;
	store_query_init(&q);
	q.pattern = pattern;
	q.project = project;
	q.limit = (size_t)limit;
	q.desc = newest;
	offline_pos(since, false, &q);
	offline_pos(until, true, &q);
	struct offline_rows o = {json_array()};
	int r = store_query_db(db, &q, offline_row, &o, NULL);
	int rc = EXIT_OK;
	if (r) {
		fprintf(stderr, "cairn log: cannot read the log: %s\n", sqlite3_errmsg(db));
		rc = EXIT_IO;
	} else {
		size_t n = json_array_size(o.events);
		for (size_t i = 0; i < n; i++)
			print_one(json_array_get(o.events, newest ? n - 1 - i : i), json);
	}
	json_decref(o.events);
	sqlite3_close(db);
	return rc;
}

int cmd_log(int argc, char **argv, const struct config *cfg)
{
	json_t *since = NULL, *until = NULL;
	const char *project_opt = NULL;
	char *project = NULL;
	long long limit = 20;
	int json = 0, c, rc = EXIT_USAGE;
	char *end;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:", log_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			json_decref(since);
			if (!(since = cli_parse_position("--since", optarg)))
				goto out_free;
			break;
		case 'u':
			json_decref(until);
			if (!(until = cli_parse_position("--until", optarg)))
				goto out_free;
			break;
		case 'p': project_opt = optarg; break;
		case 'n':
			limit = strtoll(optarg, &end, 10);
			if (*end || limit < 1) {
				fprintf(stderr, "cairn log: --limit must be a positive number\n");
				goto out_free;
			}
			break;
		case 'j': json = 1; break;
		default:
			fprintf(stderr, "cairn log: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			cli_usage(stderr, "log");
			goto out_free;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "cairn log: expected at most one PATTERN\n");
		goto out_free;
	}
	const char *pattern = optind < argc ? argv[optind] : ">";
	/* --project . and relative paths: the directory's real path, as the
	 * log names projects. */
	if (project_opt && cli_project(project_opt, "cairn log", &project))
		goto out_free;
	/* Without --since, show the newest events: read backwards, print forwards. */
	int newest = since == NULL;
	if (newest && limit > 10000) {
		fprintf(stderr, "cairn log: without --since, --limit is at most 10000\n");
		goto out_free;
	}

	struct client cl;
	int r = client_connect_quiet(&cl, cfg);
	if (r == CAIRN_E_DOWN) {
		/* No daemon: the log is read directly, as why and kb do. */
		rc = log_offline(cfg, pattern, since, until, project, limit, newest, json);
		goto out_free;
	}
	if (r && (r = client_connect(&cl, cfg))) { /* says why */
		rc = r == CAIRN_E_DOWN ? EXIT_DOWN : EXIT_IO;
		goto out_free;
	}
	rc = EXIT_OK;
	long long left = limit;
	json_t *pos = since ? json_incref(since) : NULL;
	while (left > 0) {
		json_t *req =
			json_pack("{s:s,s:s,s:I,s:s}", "op", "query", "pattern", pattern, "limit",
				  (json_int_t)(newest ? left : (left < PAGE ? left : PAGE)),
				  "order", newest ? "desc" : "asc");
		if (pos)
			json_object_set(req, "since", pos);
		if (until)
			json_object_set(req, "until", until);
		if (project)
			json_object_set_new(req, "project", json_string(project));
		json_t *reply;
		if (client_request(&cl, req, &reply)) {
			rc = EXIT_IO;
			break;
		}
		if (!json_is_true(json_object_get(reply, "ok"))) {
			client_print_error(reply);
			json_decref(reply);
			rc = EXIT_REFUSED;
			break;
		}
		const json_t *evs = json_object_get(reply, "events");
		size_t n = json_array_size(evs);
		if (newest) {
			for (size_t i = n; i-- > 0;)
				print_one(json_array_get(evs, i), json);
		} else {
			for (size_t i = 0; i < n; i++)
				print_one(json_array_get(evs, i), json);
		}
		left -= (long long)n;
		int more = json_is_true(json_object_get(reply, "more"));
		long long lastseq =
			n ? json_integer_value(json_object_get(json_array_get(evs, n - 1), "seq"))
			  : 0;
		json_decref(reply);
		if (newest || !more || n == 0)
			break;
		json_decref(pos);
		pos = json_integer(lastseq + 1);
	}
	json_decref(pos);
	client_close(&cl);
out_free:
	json_decref(since);
	json_decref(until);
	free(project);
	return rc;
}
