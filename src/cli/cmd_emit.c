/* cairn emit: publish one event. */
#include "cli/cli.h"
#include "cli/client.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads all of f up to max bytes into a malloc'd buffer. f must not have
 * been read from through stdio yet: its file descriptor is read. */
static char *slurp(FILE *f, size_t max, size_t *len, const char *what)
{
	/* One byte past max tells "too much" from "exactly max". */
	struct buf b;
	buf_init(&b, max + 1);
	int r = buf_read_fd(&b, fileno(f));
	if (r == CAIRN_E_TOOBIG)
		fprintf(stderr, "cairn emit: %s is over the event limit of %zu bytes\n", what, max);
	else if (r < 0)
		fprintf(stderr, "cairn emit: cannot read %s: %s\n", what, strerror(-r));
	if (r < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, len);
}

static json_t *load_data(const char *arg, size_t max)
{
	char *buf = NULL;
	size_t len = 0;
	const char *what = "--data";
	if (strcmp(arg, "-") == 0) {
		what = "standard input";
		if (!(buf = slurp(stdin, max, &len, what)))
			return NULL;
	} else if (arg[0] == '@') {
		FILE *f = fopen(arg + 1, "rb");
		if (!f) {
			fprintf(stderr, "cairn emit: cannot open '%s': %s\n", arg + 1,
				strerror(errno));
			return NULL;
		}
		what = arg + 1;
		buf = slurp(f, max, &len, what);
		fclose(f);
		if (!buf)
			return NULL;
	} else {
		buf = xstrdup(arg);
		len = strlen(arg);
	}
	json_error_t je;
	json_t *v = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	if (!v)
		fprintf(stderr,
			"cairn emit: %s is not valid JSON (line %d, column %d: %s); quote text "
			"as a JSON string, e.g. '\"hello\"'\n",
			what, je.line, je.column, je.text);
	free(buf);
	return v;
}

const struct cli_cmd cli_emit = {
	"emit", "TYPE [--subject S] [--data JSON|@FILE|-] [--severity LEVEL] [--durable] [...]",
	"Publishes one event of type TYPE (e.g. build.failed) and prints its seq.\n"
	"  --subject S        what the event is about (a file, a target)\n"
	"  --data JSON        the event's data: inline JSON, @FILE to read a file, - for stdin\n"
	"  --severity LEVEL   debug, info, notice, warning, error or critical (default: none)\n"
	"  --durable          wait until the event is committed to disk\n"
	"  --source S         the emitter (default: cli)\n"
	"  --project DIR      the project root the event belongs to\n"
	"  --id ID            the event id (default: a new ULID); re-using one dedups\n"
	"  --correlation ID   the id of the event this one answers\n"
	"  --json             print the daemon's reply as JSON\n",
	cmd_emit, false};

static const struct option emit_opts[] = {
	{"subject", required_argument, NULL, 's'},  {"data", required_argument, NULL, 'd'},
	{"severity", required_argument, NULL, 'S'}, {"durable", no_argument, NULL, 'D'},
	{"source", required_argument, NULL, 'o'},   {"project", required_argument, NULL, 'p'},
	{"id", required_argument, NULL, 'i'},       {"correlation", required_argument, NULL, 'c'},
	{"json", no_argument, NULL, 'j'},           {NULL, 0, NULL, 0},
};

int cmd_emit(int argc, char **argv, const struct config *cfg)
{
	json_t *ev = json_object();
	int durable = 0, json = 0, c, rc = EXIT_USAGE;
	const char *source = "cli";
	json_t *reply = NULL;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", emit_opts, NULL)) != -1) {
		switch (c) {
		case 's': json_object_set_new(ev, "subject", json_string(optarg)); break;
		case 'S': json_object_set_new(ev, "severity", json_string(optarg)); break;
		case 'p': {
			/* "." and relative paths: the directory's real path. */
			char *rp = NULL;
			if (cli_project(optarg, "cairn emit", &rp)) {
				json_decref(ev);
				return EXIT_USAGE;
			}
			json_object_set_new(ev, "project", json_string(rp));
			free(rp);
			break;
		}
		case 'i': json_object_set_new(ev, "id", json_string(optarg)); break;
		case 'c': json_object_set_new(ev, "correlationid", json_string(optarg)); break;
		case 'o': source = optarg; break;
		case 'D': durable = 1; break;
		case 'j': json = 1; break;
		case 'd': {
			json_t *data = load_data(optarg, cfg->event_bytes);
			if (!data) {
				rc = EXIT_IO;
				goto out_free;
			}
			json_object_set_new(ev, "data", data);
			break;
		}
		default:
			fprintf(stderr, "cairn emit: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			cli_usage(stderr, "emit");
			goto out_free;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "cairn emit: expected exactly one TYPE, such as build.failed\n");
		cli_usage(stderr, "emit");
		goto out_free;
	}
	json_object_set_new(ev, "source", json_string(source));
	json_object_set_new(ev, "type", json_string(argv[optind]));

	struct client cl;
	int r = client_connect(&cl, cfg);
	if (r) {
		rc = r == CAIRN_E_DOWN ? EXIT_DOWN : EXIT_IO;
		goto out_free;
	}
	/* Learn the daemon's limits, so that an event over them fails here
	 * with a clear message rather than as a line the daemon cannot read. */
	rc = EXIT_IO;
	if (client_hello(&cl))
		goto out_close;
	if (cl.event_bytes) {
		char *s = json_dumps(ev, JSON_COMPACT);
		size_t n = s ? strlen(s) : 0;
		free(s);
		if (n > cl.event_bytes) {
			fprintf(stderr,
				"cairn emit: the event is %zu bytes as JSON, over the daemon's "
				"limit "
				"of %zu bytes ([limits] event_bytes); nothing was sent; make "
				"--data "
				"smaller\n",
				n, cl.event_bytes);
			rc = EXIT_REFUSED;
			goto out_close;
		}
	}
	json_t *req = json_pack("{s:s,s:s,s:O}", "op", "pub", "ack",
				durable ? "durable" : "accepted", "event", ev);
	r = client_request(&cl, req, &reply);
	if (r == CAIRN_E_TOOBIG)
		rc = EXIT_REFUSED; /* over the line limit: said, nothing sent */
	if (r == 0) {
		if (!json_is_true(json_object_get(reply, "ok"))) {
			client_print_error(reply);
			rc = EXIT_REFUSED;
		} else {
			rc = EXIT_OK;
			if (json) {
				json_object_del(reply, "rid");
				char *s = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
				puts(s);
				free(s);
			} else {
				printf("seq %lld%s\n",
				       (long long)json_integer_value(json_object_get(reply, "seq")),
				       json_is_true(json_object_get(reply, "duplicate"))
					       ? " (duplicate: already logged)"
					       : "");
			}
		}
	}
out_close:
	client_close(&cl);
out_free:
	json_decref(reply);
	json_decref(ev);
	return rc;
}
