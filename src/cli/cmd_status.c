/* cairn status: is the daemon running, and how is it doing. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *human_bytes(long long b, char *buf, size_t n)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

const struct cli_cmd cli_status = {
	"status", "[--json]",
	"Shows whether the daemon runs, its log position, connections and store size.\n"
	"  --json   print the daemon's status reply as JSON\n",
	cmd_status, false};

int cmd_status(int argc, char **argv, const struct config *cfg)
{
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			continue;
		}
		fprintf(stderr, "cairn status: unknown argument '%s'\n", argv[i]);
		cli_usage(stderr, "status");
		return EXIT_USAGE;
	}
	struct client cl;
	int r = client_connect(&cl, cfg);
	if (r)
		return r == CAIRN_E_DOWN ? EXIT_DOWN : EXIT_IO;
	json_t *reply = NULL;
	int rc = EXIT_IO;
	if (client_request(&cl, json_pack("{s:s}", "op", "status"), &reply))
		goto out_close;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		client_print_error(reply);
		rc = EXIT_REFUSED;
		goto out_close;
	}
	rc = EXIT_OK;
	if (json) {
		json_object_del(reply, "rid");
		char *s = json_dumps(reply, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		goto out_close;
	}
	long long up = json_integer_value(json_object_get(reply, "uptime_ms")) / 1000;
	const json_t *seq = json_object_get(reply, "seq");
	const json_t *store = json_object_get(reply, "store");
	char sz[32];
	printf("cairn %s is running (pid %lld, up %lldh%02lldm%02llds)\n",
	       json_string_value(json_object_get(reply, "version")),
	       (long long)json_integer_value(json_object_get(reply, "pid")), up / 3600,
	       up / 60 % 60, up % 60);
	printf("socket   %s\n", cfg->socket_path);
	printf("log      %s (%s, %lld events, seq %lld..%lld, committed %lld)\n",
	       json_string_value(json_object_get(store, "path")),
	       human_bytes(json_integer_value(json_object_get(store, "bytes")), sz, sizeof sz),
	       (long long)json_integer_value(json_object_get(reply, "events")),
	       (long long)json_integer_value(json_object_get(seq, "first")),
	       (long long)json_integer_value(json_object_get(seq, "last")),
	       (long long)json_integer_value(json_object_get(seq, "committed")));
	printf("clients  %lld connections, %lld subscriptions\n",
	       (long long)json_integer_value(json_object_get(reply, "connections")),
	       (long long)json_integer_value(json_object_get(reply, "subscriptions")));
	const char *name;
	const json_t *sv;
	json_object_foreach((json_t *)json_object_get(reply, "services"), name, sv) {
		const char *state = json_string_value(json_object_get(sv, "state"));
		if (state && strcmp(state, "off") == 0)
			continue;
		printf("service  %-10s %s, checkpoint %lld, behind %lld events (%.1f s), queued "
		       "%lld, "
		       "done %lld, failed %lld",
		       name, state ? state : "?",
		       (long long)json_integer_value(json_object_get(sv, "checkpoint")),
		       (long long)json_integer_value(json_object_get(sv, "lag_events")),
		       json_real_value(json_object_get(sv, "lag_s")),
		       (long long)json_integer_value(json_object_get(sv, "queued")),
		       (long long)json_integer_value(json_object_get(sv, "done")),
		       (long long)json_integer_value(json_object_get(sv, "failed")));
		long long restarts = json_integer_value(json_object_get(sv, "restarts"));
		if (restarts)
			printf(", restarted %lld times", restarts);
		const json_t *retry = json_object_get(sv, "retry_in_ms");
		if (retry)
			printf(", next try in %.1f s", (double)json_integer_value(retry) / 1000);
		/* The service's own counters (triage: reports, learned). */
		static const char *const common[] = {
			"state",   "checkpoint", "lag_events", "lag_s",   "queued",
			"running", "done",       "failed",     "skipped", "restarts",
			"last_ms", "last_error", "retry_in_ms"};
		const char *k;
		const json_t *v;
		json_object_foreach((json_t *)sv, k, v) {
			bool known = false;
			for (size_t i = 0; i < sizeof common / sizeof common[0] && !known; i++)
				known = strcmp(k, common[i]) == 0;
			if (!known && json_is_integer(v))
				printf(", %s %lld", k, (long long)json_integer_value(v));
		}
		printf("\n");
		const char *last = json_string_value(json_object_get(sv, "last_error"));
		if (last)
			printf("         last error: %s\n", last);
	}
	/* Each dependency's breaker: its state, last error and when it is
	 * tried next (docs/breaker.md). */
	size_t bi;
	const json_t *br;
	json_array_foreach(json_object_get(reply, "breakers"), bi, br) {
		const char *bs = json_string_value(json_object_get(br, "state"));
		printf("breaker  %-10s %s", json_string_value(json_object_get(br, "name")),
		       bs ? bs : "?");
		const char *url = json_string_value(json_object_get(br, "url"));
		if (url)
			printf(" (%s)", url);
		long long cf = json_integer_value(json_object_get(br, "consecutive_failures"));
		if (cf)
			printf(", %lld failures in a row", cf);
		const json_t *nt = json_object_get(br, "next_try_in_ms");
		if (json_is_integer(nt))
			printf(", next try in %.1f s", (double)json_integer_value(nt) / 1000);
		printf("\n");
		const char *le = json_string_value(json_object_get(br, "last_error"));
		if (le)
			printf("         last error: %s\n", le);
	}
	const json_t *health = json_object_get(reply, "store_health");
	if (health)
		printf("store    CANNOT WRITE (%s): %s\n",
		       json_string_value(json_object_get(health, "error")),
		       json_string_value(json_object_get(health, "message")));
out_close:
	json_decref(reply);
	client_close(&cl);
	return rc;
}
