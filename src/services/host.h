/* The service host: runs every service of services[] (service.h) as a sink
 * of the bus, with a bounded job queue each, checkpoints in the store,
 * restart with backoff, and their figures for `cairn status`.
 *
 * A service's job queue is its bus subscription's queue ([services]
 * queue_events): the bus delivers an event, the host runs handle() for it
 * on the thread pool once the log is committed up to it, and the slot is
 * free once handle() returned. When the queue is full the bus pauses the
 * subscription and, once it has drained to half, replays what it missed
 * from the log: nothing is dropped.
 *
 * Loop thread only. */
#ifndef CAIRN_HOST_H
#define CAIRN_HOST_H

#include "bus/bus.h"
#include "daemon/config.h"
#include "services/service.h"

#include <jansson.h>
#include <uv.h>

struct host;

/* Starts every service of defs (NULL-terminated), each from its checkpoint
 * (or, the first time, from the end of the log). A service that cannot
 * start is retried with backoff; the host itself does not fail. */
struct host *host_new(uv_loop_t *loop, struct bus *bus, const struct config *cfg,
		      const struct service_def *const *defs);

/* The bus took results from the writer (bus_committed_seq() may have
 * moved): jobs waiting for their commit may run. */
void host_committed(struct host *h);

/* Adds "services": {NAME: {state, checkpoint, lag_events, lag_s, queued,
 * running, done, failed, skipped, restarts, last_error, ...}} to a status
 * reply. */
void host_status(struct host *h, json_t *reply);

/* The daemon is stopping: no new jobs; running ones finish and their
 * results are dropped (they run again at the next start). */
void host_stop(struct host *h);

/* Saves the checkpoints and frees everything. Call after the loop has run
 * to completion. NULL is a no-op. */
void host_free(struct host *h);

#endif
