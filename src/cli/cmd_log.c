/* cairn log: print logged events. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/err.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int cmd_log(int argc, char **argv, const struct config *cfg)
{
	json_t *since = NULL, *until = NULL;
	const char *project = NULL;
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
		case 'p': project = optarg; break;
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
	/* Without --since, show the newest events: read backwards, print forwards. */
	int newest = since == NULL;
	if (newest && limit > 10000) {
		fprintf(stderr, "cairn log: without --since, --limit is at most 10000\n");
		goto out_free;
	}

	struct client cl;
	int r = client_connect(&cl, cfg);
	if (r) {
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
	return rc;
}
