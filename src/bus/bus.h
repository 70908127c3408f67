/* The bus: sequencing, the subscription index, the ring of recent events,
 * replay from the log that joins live delivery, and per-subscription queues
 * with back-pressure and gap notices. Everything that receives events is a
 * *sink* behind struct bus_sink: the socket server (src/daemon/server.c) is
 * one kind, the service host (src/services/host.c) another.
 *
 * Seq and delivery. The store's writer thread commits; the bus assigns seqs
 * on the loop, keeps the most recent events in a ring, and fans each one
 * out to live subscriptions through the subscription index. A replaying
 * subscription reads the log (committed rows) in the thread pool and then
 * the ring (which holds at least every uncommitted event), and turns live
 * when its cursor passes the last seq the bus knows. The loop is
 * single-threaded, so that switch cannot race with fan-out: no gap and no
 * duplicate at the seam.
 *
 * Back-pressure. An event handed to a sink counts in its subscription's
 * queue until the sink calls bus_sub_done(). A live subscription whose
 * queue is full is paused: what matches meanwhile is counted as a gap, and
 * once the queue has drained to half the sink is told (bus_sink.gap). The
 * sink may then have the gap replayed from the log (bus_sub_rewind()), as
 * services do, or pass the notice on, as the socket server does.
 *
 * Loop thread only. */
#ifndef CAIRN_BUS_H
#define CAIRN_BUS_H

#include "event/envelope.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct bus;
struct bus_sub;

/* Reference-counted bytes of one encoded event (seq included), shared by
 * every sink it goes to. */
struct bus_blob {
	unsigned refs;
	size_t len;
	char data[];
};

static inline struct bus_blob *bus_blob_ref(struct bus_blob *b)
{
	b->refs++;
	return b;
}
void bus_blob_unref(struct bus_blob *b);

struct bus_sink {
	/* One event for s (in seq order, each once). The sink takes a
	 * reference if it keeps b, and calls bus_sub_done(s, b) once it has
	 * written or handled it; until then it counts in s's queue. */
	void (*event)(struct bus_sub *s, struct bus_blob *b, int64_t seq);
	/* Events from..to matched s while its queue was full and were not
	 * delivered. Called once the queue has drained to half. NULL: the
	 * gap is replayed from the log (bus_sub_rewind()). */
	void (*gap)(struct bus_sub *s, int64_t from, int64_t to);
	/* s finished replaying and is live; seq is the last seq the bus knew. */
	void (*live)(struct bus_sub *s, int64_t seq);
	/* The log could not be read for s; s is unsubscribed after this. */
	void (*failed)(struct bus_sub *s, const char *msg);
	/* Frees the sink's per-subscription context when s is freed. */
	void (*ctx_free)(void *ctx);
};

enum bus_from { BUS_FROM_NOW, BUS_FROM_SEQ, BUS_FROM_TIME };

struct bus_sub_opts {
	const char *name;            /* for logs; copied */
	const char *const *patterns; /* NATS grammar, valid (pattern_valid()); copied */
	size_t n_patterns;           /* at least 1 */
	enum bus_from from;
	int64_t from_seq;                 /* BUS_FROM_SEQ: first seq wanted (<= 0: 1) */
	int64_t from_ms;                  /* BUS_FROM_TIME: first event at or after */
	size_t queue_events, queue_bytes; /* 0: [subscriber] queue_events/bytes */
};

struct bus_config {
	size_t ring_events, ring_bytes; /* [subscriber] */
	size_t queue_events, queue_bytes;
	size_t replays;     /* log reads at once */
	size_t batch_max;   /* the writer's batch: the ring keeps one more */
	size_t event_bytes; /* an encoded event's limit */
	size_t writer_queue_max, writer_queue_bytes;
};

/* What the bus tells its owner. All optional. */
struct bus_hooks {
	void *ctx;
	/* After each round of results from the writer: acks were answered,
	 * bus_committed_seq() may have moved. */
	void (*drained)(void *ctx);
	/* The store's health changed (0: writes again; CAIRN_E_FULL,
	 * CAIRN_E_CORRUPT, ...); bus_health() has the message. */
	void (*health)(void *ctx, int err);
};

/* Creates the bus over an open store whose last seq is the starting point.
 * Starts the store's writer thread. Returns 0 or a negative code. */
int bus_new(uv_loop_t *loop, struct store *st, const struct bus_config *cfg,
	    const struct bus_hooks *hooks, struct bus **out);

/* Stops log reads and answers durable publishers that still wait once the
 * writer has finished (bus_idle()); the loop must then run the store's
 * last results through bus_finish(). */
void bus_stop(struct bus *b);

/* True when nothing is in the writer's hands and no durable publisher
 * waits: after bus_stop(), the moment to call bus_finish(). */
bool bus_idle(const struct bus *b);

/* Lets the writer commit what it holds (store_stop()), answers the last
 * publishers and closes the bus's handles. Idempotent. */
void bus_finish(struct bus *b);

/* Frees the bus after the loop has run to completion. NULL is a no-op. */
void bus_free(struct bus *b);

/* ---- publishing ---- */

/* One publish, embedded in the publisher's own context. done is called
 * exactly once: when the event is sequenced (durable false), or when it is
 * committed or failed (durable true). err is 0 or a negative code
 * (CAIRN_E_TOOBIG, CAIRN_E_FULL, CAIRN_E_CORRUPT, CAIRN_E_STORE). seq,
 * duplicate and id are filled before done runs. */
struct bus_pub {
	struct bus_pub *next; /* the bus's */
	bool durable;
	void (*done)(struct bus_pub *p, int err);
	int64_t seq;
	bool duplicate;
	char id[132];
};

/* Sequences ev (takes it): assigns the next seq unless its (source, id) is
 * already logged or on its way (then p->duplicate, with the first seq),
 * delivers it to live subscriptions and hands it to the writer. fresh_id:
 * the id was just made (a new ULID), so the log need not be asked. */
void bus_publish(struct bus *b, struct event *ev, bool fresh_id, struct bus_pub *p);

/* Someone waits to read what is sequenced: the writer commits it now
 * rather than at the end of its commit delay ([store] commit_delay_ms). */
void bus_flush(struct bus *b);

/* True while the writer holds more than its queue limits: publishers
 * should stop reading. bus_writer_relaxed(): it is back under half. */
bool bus_writer_busy(const struct bus *b);
bool bus_writer_relaxed(const struct bus *b);

/* The store's health (0 or the error) and its message. */
int bus_health(const struct bus *b, const char **msg);

int64_t bus_last_seq(const struct bus *b);
int64_t bus_committed_seq(const struct bus *b);
struct store *bus_store(const struct bus *b);

/* ---- subscribing ---- */

/* Subscribes a sink; ctx is the sink's own (freed by sink->ctx_free when
 * the subscription is freed). The first events may be delivered before
 * this returns only for BUS_FROM_SEQ (from the ring). */
struct bus_sub *bus_subscribe(struct bus *b, const struct bus_sub_opts *o,
			      const struct bus_sink *sink, void *ctx);

/* Removes s: nothing more is delivered, a log read of its own is
 * cancelled. Drops the subscriber's reference (the one bus_subscribe()
 * returned); s is freed once writes in flight let go of theirs. */
void bus_unsubscribe(struct bus_sub *s);

void bus_sub_ref(struct bus_sub *s);
void bus_sub_unref(struct bus_sub *s);

/* The sink finished with event b of s. */
void bus_sub_done(struct bus_sub *s, const struct bus_blob *b);

/* Has s deliver again from seq from (through the log), as if it had
 * subscribed from there; the events still in its queue stay there. */
void bus_sub_rewind(struct bus_sub *s, int64_t from);

void *bus_sub_ctx(const struct bus_sub *s);
const char *bus_sub_name(const struct bus_sub *s);
bool bus_sub_replaying(const struct bus_sub *s);
/* Live: not replaying and not paused for a full queue. */
bool bus_sub_live(const struct bus_sub *s);
bool bus_sub_dead(const struct bus_sub *s);
size_t bus_sub_queued(const struct bus_sub *s);

/* Counters and sizes for `cairn status`: an object with "ring", "replay",
 * "writer" and "delivery" members. */
json_t *bus_status(const struct bus *b);

#endif
