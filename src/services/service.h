/* The service interface: what a part of the daemon that reacts to events
 * (triage, and next sessions, prediction, the reasoning layer, the
 * notification gates) implements to be hosted by src/services/host.c.
 *
 * Adding a service is one file and one row in services[] (registry.c):
 *
 *	static const char *const my_patterns[] = {"build.failed", NULL};
 *	const struct service_def my_service = {
 *		.name = "mine", .patterns = my_patterns,
 *		.start = my_start, .handle = my_handle, .free = my_free,
 *	};
 *
 * What the host guarantees:
 * - handle() sees every event matching .patterns (NATS grammar, matched by
 *   the bus's subscription index like any client's), in seq order, one at
 *   a time, on a thread of libuv's pool (never the loop), and only once the
 *   log is committed up to it (so a query from handle() sees the event and
 *   everything before it).
 * - Where it got to is kept in the store (service_checkpoints): at start,
 *   and whenever its queue ([services] queue_events) overflows, it reads on
 *   from there through the log instead of dropping work.
 * - The events handle() returns are published durably; the checkpoint
 *   passes an event only once they are in the log. Their ids are made from
 *   the service's name and the event's seq, so if the daemon dies between
 *   the two and handle() runs again for that event, the log deduplicates
 *   them: each event's outputs are logged exactly once. handle() must
 *   therefore be safe to run twice for the same event (its own writes
 *   idempotent: INSERT OR IGNORE, keyed by the event).
 * - A handle() that fails restarts the service (free, then start again)
 *   after 1 s, 2 s, 4 s ... up to 60 s, with a service.failed event; the
 *   first success after that publishes service.recovered. An event that
 *   failed three times in a row is skipped (counted, logged, named in
 *   service.failed) so that one bad event cannot stop the service for good.
 *   Other services and the bus go on meanwhile.
 */
#ifndef CAIRN_SERVICE_H
#define CAIRN_SERVICE_H

#include "common/err.h"
#include "daemon/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What start() gets. */
struct service_env {
	const struct config *cfg; /* the daemon's settings (db_path, ...) */
};

struct service_def {
	const char *name;            /* [a-z0-9_]: status key, checkpoint key, event source */
	const char *const *patterns; /* NULL-terminated; valid NATS patterns */
	/* Loop thread. Makes the service's state. Returns 0, 1 if the
	 * service is off by configuration (not an error), or a negative code
	 * with the reason in err (retried with backoff). */
	int (*start)(const struct service_env *env, void **state, struct cairn_err *err);
	/* Pool thread, one call at a time per service. json is the event's
	 * encoding (seq included), len its length. Events to publish are
	 * appended to out (a JSON array) as envelope objects; the host fills
	 * a missing "id" (deterministic, see above) and "source"
	 * ("cairn/NAME"). Returns 0, or a negative code with the reason in
	 * err: nothing of out is published and the service is restarted. */
	int (*handle)(void *state, int64_t seq, const char *json, size_t len, json_t *out,
		      struct cairn_err *err);
	/* Loop thread, optional: adds the service's own counters to o (its
	 * object in `cairn status --json` "services"). */
	void (*status)(void *state, json_t *o);
	/* Loop thread, optional: the daemon is stopping; a handle() may still
	 * be running. */
	void (*stop)(void *state);
	/* Loop thread: frees the state; no handle() is running. */
	void (*free)(void *state);
};

/* The id the host gives output k of the event at seq for service name
 * ("NAME-SEQ-K"), for a handle() that must know it before it is published
 * (to record it, say). Any thread. */
void service_output_id(char *buf, size_t n, const char *name, int64_t seq, unsigned k);

/* True when name is one of the comma-separated names of list ([services]
 * off). */
bool service_named_in(const char *name, const char *list);

/* Every service the daemon hosts, NULL-terminated (registry.c). */
extern const struct service_def *const services[];

#endif
