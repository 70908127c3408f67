/* The daemon's triage and learning service: watches the events the
 * sequencer logs, and for each failure (build.failed, test.failed,
 * ci.run.failed) runs triage on a worker thread and publishes a
 * triage.report correlated to it; for each pass (build.passed, ...) runs
 * the learner and publishes kb.added / kb.updated when it learned a fix.
 *
 * Jobs run one at a time, in log order, on libuv's thread pool, each only
 * once the log is committed up to its event (so the suspects query sees
 * every file event before the failure). The queue is bounded; when it is
 * full new jobs are dropped with a warning (the failure stays in the log;
 * `cairn triage` can still analyse it).
 *
 * Loop thread only, except where said. */
#ifndef CAIRN_SERVICE_H
#define CAIRN_SERVICE_H

#include "event/envelope.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct triage_service;

struct triage_service_config {
	const char *db_path;   /* the daemon's database */
	size_t excerpt_lines;  /* report excerpt budget (0: 50) */
	size_t queue_max;      /* pending jobs (0: 256) */
	int64_t forget_ms;     /* the knowledge base's forget window (0: its default) */
};

/* publish(ctx, ev) is called on the loop with a new event object to log
 * (ownership passes). Opens the service's own database connection. Returns
 * 0, or a negative code with the reason in errbuf. */
int triage_service_new(uv_loop_t *loop, const struct triage_service_config *cfg,
		       void (*publish)(void *ctx, json_t *ev), void *ctx,
		       struct triage_service **out, char *errbuf, size_t errlen);

/* Offered every sequenced event (json: its encoding, seq included); keeps
 * a copy of failures and passes. */
void triage_service_offer(struct triage_service *ts, const struct event *ev, const char *json,
			  size_t len);

/* The log is committed up to seq: starts the next job if it is ready. */
void triage_service_committed(struct triage_service *ts, int64_t seq);

/* Stops taking and starting jobs; a job already running finishes on its
 * thread and its result is dropped. */
void triage_service_stop(struct triage_service *ts);

/* Frees everything. Call only after the loop has run to completion (no job
 * may be running). NULL is a no-op. */
void triage_service_free(struct triage_service *ts);

struct triage_service_stats {
	uint64_t reports, learned, dropped, failed;
	size_t queued;
	bool running;
	double last_ms; /* how long the last job took */
};
void triage_service_stats(const struct triage_service *ts, struct triage_service_stats *out);

#endif
