/* One event from a CLI process to the daemon, or to the spool when it is down. */
#include "cli/publish.h"

#include "cli/client.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/io.h"
#include "common/spool.h"
#include "common/timefmt.h"
#include "common/ulid.h"
#include "common/xalloc.h"
#include "event/envelope.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool said_lost;
/* Set by cli_publish_hold_lost(): the message waits in held_lost. */
static bool holding_lost;
static char held_lost[PATH_MAX + 512];

/* Says on stderr, once per process and even for quiet callers, that events
 * are being lost: no daemon runs and the spool in dir cannot take them (err).
 * Losing events silently is worse than a line on stderr; the git and shell
 * hooks' scripts send their stderr to /dev/null anyway. */
static void say_lost(const char *dir, int err)
{
	char msg[sizeof held_lost];
	if (said_lost)
		return;
	said_lost = true;
	if (err == CAIRN_E_TOOBIG)
		snprintf(msg, sizeof msg,
			 "cairn: no daemon is running and the spool %s is full: events are lost; "
			 "start the daemon with 'cairn daemon' to drain it\n",
			 dir);
	else
		snprintf(msg, sizeof msg,
			 "cairn: no daemon is running and the spool %s cannot be written (%s): "
			 "events are lost; start the daemon with 'cairn daemon', or make the data "
			 "directory writable (or set [daemon] data_dir)\n",
			 dir, err_str(err));
	if (holding_lost)
		memcpy(held_lost, msg, sizeof msg);
	else
		fputs(msg, stderr);
}

void cli_publish_hold_lost(void)
{
	holding_lost = true;
}

bool cli_publish_release_lost(bool at_line_start)
{
	bool had = held_lost[0] != '\0';
	holding_lost = false;
	if (had)
		fprintf(stderr, "%s%s", at_line_start ? "" : "\n", held_lost);
	held_lost[0] = '\0';
	return had;
}

/* The calling thread's last cli_publish(): see cli_publish_timing(). */
static __thread struct {
	uint64_t start_ns, connect_ns, total_ns;
} last;

void cli_publish_timing(uint64_t *connect_ns, uint64_t *total_ns)
{
	*connect_ns = last.connect_ns;
	*total_ns = last.total_ns;
}

static int publish(const struct config *cfg, json_t *event, enum publish_ack ack, bool quiet,
		   int timeout_ms, int64_t *seq, json_t **reply);

int cli_publish(const struct config *cfg, json_t *event, enum publish_ack ack, bool quiet,
		int timeout_ms, int64_t *seq, json_t **reply)
{
	last.start_ns = clock_mono_ns();
	last.connect_ns = 0;
	int r = publish(cfg, event, ack, quiet, timeout_ms, seq, reply);
	last.total_ns = clock_mono_ns() - last.start_ns;
	return r;
}

static int publish(const struct config *cfg, json_t *event, enum publish_ack ack, bool quiet,
		   int timeout_ms, int64_t *seq, json_t **reply)
{
	int r;
	if (seq)
		*seq = 0;
	if (reply)
		*reply = NULL;
	if (!json_object_get(event, "source"))
		json_object_set_new(event, "source", json_string("cli"));
	if (!json_object_get(event, "id")) {
		char id[ULID_LEN + 1];
		ulid_new(id);
		json_object_set_new(event, "id", json_string(id));
	}
	if (!json_object_get(event, "time")) {
		char t[TIMEFMT_RFC3339_LEN + 1];
		timefmt_rfc3339(t, clock_wall_ms());
		json_object_set_new(event, "time", json_string(t));
	}
	/* Validate here too, so that a bad event fails now, not at spool import. */
	struct event *ev = NULL;
	struct cairn_err ve;
	if (event_from_json(event, EVENT_PUBLISH, &ev, &ve)) {
		if (!quiet)
			fprintf(stderr, "cairn: invalid event: %s\n", ve.msg);
		json_decref(event);
		return CAIRN_E_INVALID;
	}

	struct client cl;
	uint64_t c0 = clock_mono_ns();
	r = client_connect_quiet(&cl, cfg);
	last.connect_ns = clock_mono_ns() - c0;
	/* An impostor on the socket gets nothing; the spool keeps the event for
	 * the real daemon. */
	if (r == CAIRN_E_DOWN || r == CAIRN_E_PEER) {
		if (r == CAIRN_E_PEER && !quiet)
			fprintf(stderr,
				"cairn: refusing the socket %s: %s ('cairn status' says why); the "
				"event goes to the spool instead\n",
				cfg->socket_path, err_str(r));
		size_t len;
		char *json = event_encode(ev, &len);
		char *dir = xasprintf("%s/spool", cfg->data_dir);
		/* The data dir may not exist yet if no daemon ever ran. */
		io_mkdirs(cfg->data_dir, 0700);
		r = spool_write(dir, json, len);
		if (r)
			say_lost(dir, r);
		free(dir);
		free(json);
		event_free(ev);
		json_decref(event);
		return r ? r : PUBLISH_SPOOLED;
	}
	event_free(ev);
	if (r) {
		if (!quiet)
			fprintf(stderr, "cairn: cannot reach the daemon: %s\n", err_str(r));
		json_decref(event);
		return r;
	}
	static const char *acks[] = {"none", "accepted", "durable"};
	/* The rid first, so that the daemon can answer even a line too long
	 * to parse with it. */
	json_t *req = json_pack("{s:i,s:s,s:s,s:o}", "rid", 1, "op", "pub", "ack", acks[ack],
				"event", event);
	r = client_send(&cl, req);
	if (r || ack == PUBLISH_NONE)
		goto out_close;
	for (;;) {
		json_t *m;
		r = client_read(&cl, &m, timeout_ms);
		if (r == -EINTR)
			continue;
		if (r == -ETIMEDOUT) {
			/* Sent, and the daemon will log it; we just did not wait. */
			r = 0;
			break;
		}
		if (r)
			break;
		/* An error without a rid is about our line (see client_request()). */
		const json_t *rid = json_object_get(m, "rid");
		if (rid ? json_integer_value(rid) != 1 : !json_is_false(json_object_get(m, "ok"))) {
			json_decref(m);
			continue;
		}
		if (!json_is_true(json_object_get(m, "ok"))) {
			if (!quiet)
				client_print_error(m);
			r = CAIRN_E_INVALID;
		} else if (seq) {
			*seq = json_integer_value(json_object_get(m, "seq"));
		}
		if (reply)
			*reply = m;
		else
			json_decref(m);
		break;
	}
out_close:
	if (r && r != CAIRN_E_INVALID && !quiet)
		fprintf(stderr, "cairn: lost the connection to the daemon: %s\n", err_str(r));
	client_close(&cl);
	return r;
}
