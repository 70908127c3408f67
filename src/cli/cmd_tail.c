/* cairn tail: follow events live; replays any range the daemon reports as
 * a gap, so a slow reader loses nothing. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/err.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int subscribe(struct client *cl, const char *pattern, json_t *from, int n)
{
	char name[32];
	snprintf(name, sizeof name, "tail%d", n);
	json_t *req = json_pack("{s:s,s:s,s:s,s:o}", "op", "sub", "sub", name, "pattern", pattern,
				"from", from);
	return client_send(cl, req);
}

const struct cli_cmd cli_tail = {
	"tail", "[PATTERN] [--since SEQ|TIME|DURATION] [--json]",
	"Follows events matching PATTERN (default '>' = all) as they happen, one per line.\n"
	"A slow terminal loses nothing: on a gap notice tail replays the missed range.\n"
	"  --since X   start from seq X, an RFC 3339 time, or a duration ago (10m, 2h, 1d)\n"
	"              (default: only events from now on)\n"
	"  --json      print each event's envelope as one JSON line\n",
	cmd_tail, false};

static const struct option tail_opts[] = {
	{"since", required_argument, NULL, 's'},
	{"json", no_argument, NULL, 'j'},
	{NULL, 0, NULL, 0},
};

int cmd_tail(int argc, char **argv, const struct config *cfg)
{
	int json = 0, c;
	json_t *from = NULL;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", tail_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			json_decref(from);
			if (!(from = cli_parse_position("--since", optarg)))
				return EXIT_USAGE;
			break;
		case 'j': json = 1; break;
		default:
			fprintf(stderr, "cairn tail: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			cli_usage(stderr, "tail");
			json_decref(from);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "cairn tail: expected at most one PATTERN\n");
		json_decref(from);
		return EXIT_USAGE;
	}
	const char *pattern = optind < argc ? argv[optind] : ">";
	if (!from)
		from = json_string("now");

	struct sigaction sa = {.sa_handler = on_sigint};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: reads return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct client cl;
	int r = client_connect(&cl, cfg);
	if (r) {
		json_decref(from);
		return r == CAIRN_E_DOWN ? EXIT_DOWN : EXIT_IO;
	}
	struct stat sb;
	if (fstat(STDOUT_FILENO, &sb) == 0 && (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode)))
		cl.watch_fd = STDOUT_FILENO; /* `cairn tail | head` ends when head does */
	int gen = 1, rc = EXIT_OK;
	char cur[32];
	snprintf(cur, sizeof cur, "tail%d", gen);
	long long last_printed = 0;
	if ((r = subscribe(&cl, pattern, from, gen))) {
		fprintf(stderr, "cairn tail: cannot subscribe: %s\n", err_str(r));
		rc = EXIT_IO;
		goto out_close;
	}
	while (!interrupted) {
		json_t *m;
		r = client_read(&cl, &m, -1);
		if (r == -EINTR)
			continue;
		if (r == -EPIPE)
			break; /* our reader went away: done, like a closed pipe */
		if (r) {
			fprintf(stderr,
				"cairn tail: lost the connection to the daemon (%s); "
				"is it still running? try 'cairn status'\n",
				err_str(r));
			rc = EXIT_IO;
			break;
		}
		const char *sub = json_string_value(json_object_get(m, "sub"));
		const json_t *ev = json_object_get(m, "event");
		const json_t *gap = json_object_get(m, "gap");
		if (json_is_false(json_object_get(m, "ok"))) {
			client_print_error(m);
			rc = EXIT_REFUSED;
			json_decref(m);
			break;
		}
		if (!sub || strcmp(sub, cur)) {
			json_decref(m); /* a reply, or a message of a superseded subscription */
			continue;
		}
		if (ev) {
			long long seq = json_integer_value(json_object_get(ev, "seq"));
			if (seq > last_printed) {
				if (json) {
					char *s =
						json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
					fputs(s, stdout);
					fputc('\n', stdout);
					free(s);
				} else {
					cli_print_event(stdout, ev);
				}
				last_printed = seq;
				if (fflush(stdout) == EOF) {
					json_decref(m);
					break; /* the reader went away (EPIPE): done */
				}
			}
		} else if (gap) {
			/* We were too slow: replay the missed range, then go live again. */
			long long gfrom = json_integer_value(json_object_get(gap, "from"));
			json_t *unsub = json_pack("{s:s,s:s}", "op", "unsub", "sub", cur);
			gen++;
			snprintf(cur, sizeof cur, "tail%d", gen);
			if (client_send(&cl, unsub) ||
			    subscribe(&cl, pattern, json_integer(gfrom), gen)) {
				fprintf(stderr, "cairn tail: cannot resubscribe after a gap\n");
				rc = EXIT_IO;
				json_decref(m);
				break;
			}
		}
		json_decref(m);
	}
out_close:
	client_close(&cl);
	return rc;
}
