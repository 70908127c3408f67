/* The bus: sequencing, fan-out, the ring, replay and per-subscription
 * back-pressure (the contract is in bus.h).
 *
 * Ownership. The loop thread owns everything here except the store, whose
 * writer thread hands results back through store_take_output() and an
 * async handle. Subscriptions are reference-counted, because events in a
 * sink's hands and log reads in the thread pool may outlive them. */
#include "bus/bus.h"

#include "common/err.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "event/pattern.h"
#include "event/subindex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_CHUNK 256
/* Bytes one log read may hold: big events make smaller pages, never
 * unbounded memory. */
#define REPLAY_CHUNK_BYTES (4u * 1024 * 1024)

struct ring_entry {
	int64_t seq;
	char *type;
	struct bus_blob *json;
};

enum sub_state { SUB_REPLAY, SUB_LIVE, SUB_PAUSED };

struct bus_sub {
	struct bus *bus;
	unsigned refs;
	bool dead; /* unsubscribed */
	char *name;
	char **patterns;
	size_t n_patterns;
	const struct bus_sink *sink;
	void *ctx;
	size_t queue_events, queue_bytes;
	enum sub_state state;
	bool read_pending; /* a log read (or a seek) is in the thread pool */
	bool delivering;   /* inside its sink's event(): a bus_sub_done() from
			    * there must not step the replay (the caller goes on) */
	int64_t next_seq;  /* replay cursor */
	int64_t min_seq;   /* deliver nothing below this */
	int64_t last_seq;  /* the last seq delivered (patterns may overlap) */
	int64_t gap_from, gap_to;
	size_t q_events, q_bytes;  /* delivered, not yet done */
	struct replay_read *rr;    /* its log read, while one is queued or running */
	struct bus_sub *wait_next; /* in bus->replay_wait */
	bool waiting;              /* in bus->replay_wait */
};

struct bus {
	uv_loop_t *loop;
	struct store *st;
	struct bus_config cfg;
	struct bus_hooks hooks;
	struct subindex *idx;
	size_t n_subs;
	struct ring_entry *ring;
	size_t ring_cap, ring_start, ring_len;
	size_t ring_bytes;         /* encoded bytes held by the ring */
	int64_t last_seq;          /* last seq assigned */
	int64_t committed_seq;     /* last seq known committed */
	size_t inflight;           /* events handed to the writer, not yet back */
	size_t inflight_bytes;     /* their encoded size */
	struct strmap pending_ids; /* "source\x1fid" -> seq, sequenced but not committed */
	struct bus_pub *durable_head, *durable_tail;
	int store_err; /* the writer's health: 0, CAIRN_E_FULL, ... */
	char store_msg[300];
	uv_async_t store_async;
	uv_timer_t store_timer; /* answers durable waiters while the store cannot write */
	bool store_timer_on;
	struct bus_sub *replay_wait, *replay_wait_tail; /* subs waiting for a log read */
	size_t n_replay_reads;     /* log reads queued or running in the pool */
	struct replay_read *reads; /* those reads */
	bool stopping, finished;
	uint64_t n_batches, n_commits, n_published, n_delivered, n_gaps;
};

void bus_blob_unref(struct bus_blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}

static struct bus_blob *blob_new(const char *json, size_t len)
{
	struct bus_blob *b = xmalloc(sizeof *b + len);
	b->refs = 1;
	b->len = len;
	memcpy(b->data, json, len);
	return b;
}

static void replay_step(struct bus_sub *s);
static void replay_cancel(struct bus_sub *s);

/* ---- subscriptions ---- */

void bus_sub_ref(struct bus_sub *s)
{
	s->refs++;
}

void bus_sub_unref(struct bus_sub *s)
{
	if (--s->refs > 0)
		return;
	if (s->sink->ctx_free)
		s->sink->ctx_free(s->ctx);
	for (size_t i = 0; i < s->n_patterns; i++)
		free(s->patterns[i]);
	free(s->patterns);
	free(s->name);
	free(s);
}

void *bus_sub_ctx(const struct bus_sub *s)
{
	return s->ctx;
}

const char *bus_sub_name(const struct bus_sub *s)
{
	return s->name;
}

bool bus_sub_replaying(const struct bus_sub *s)
{
	return !s->dead && s->state == SUB_REPLAY;
}

bool bus_sub_live(const struct bus_sub *s)
{
	return !s->dead && s->state == SUB_LIVE;
}

bool bus_sub_dead(const struct bus_sub *s)
{
	return s->dead;
}

size_t bus_sub_queued(const struct bus_sub *s)
{
	return s->q_events;
}

static bool sub_matches(const struct bus_sub *s, const char *type)
{
	for (size_t i = 0; i < s->n_patterns; i++)
		if (pattern_match(s->patterns[i], type))
			return true;
	return false;
}

static bool sub_has_room(const struct bus_sub *s, size_t len)
{
	if (s->q_events == 0)
		return true; /* always let one event through, however large */
	return s->q_events < s->queue_events && s->q_bytes + len <= s->queue_bytes;
}

static void deliver(struct bus_sub *s, struct bus_blob *b, int64_t seq)
{
	s->q_events++;
	s->q_bytes += b->len;
	s->last_seq = seq;
	s->bus->n_delivered++;
	/* A sink may finish with the event inside event() (the socket server
	 * writes it at once when the socket has room); the replay that
	 * delivered it then goes on in its own loop, not by recursion. */
	bool outer = s->delivering;
	s->delivering = true;
	s->sink->event(s, b, seq);
	s->delivering = outer;
}

static void send_gap_if_drained(struct bus_sub *s)
{
	if (s->dead || s->state != SUB_PAUSED)
		return;
	if (s->q_events > s->queue_events / 2 || s->q_bytes > s->queue_bytes / 2)
		return;
	log_debug("sub %s: gap %lld..%lld", s->name, (long long)s->gap_from, (long long)s->gap_to);
	s->bus->n_gaps++;
	if (!s->sink->gap) {
		bus_sub_rewind(s, s->gap_from);
		return;
	}
	s->state = SUB_LIVE;
	s->sink->gap(s, s->gap_from, s->gap_to);
}

void bus_sub_done(struct bus_sub *s, const struct bus_blob *b)
{
	s->q_events--;
	s->q_bytes -= b->len;
	if (s->dead)
		return;
	if (s->state == SUB_PAUSED)
		send_gap_if_drained(s);
	else if (s->state == SUB_REPLAY && !s->read_pending && !s->delivering)
		replay_step(s);
}

void bus_unsubscribe(struct bus_sub *s)
{
	if (s->dead)
		return;
	struct bus *b = s->bus;
	s->dead = true;
	replay_cancel(s);
	for (size_t i = 0; i < s->n_patterns; i++)
		subindex_remove(b->idx, s->patterns[i], s);
	b->n_subs--;
	bus_sub_unref(s);
}

/* ---- the ring ---- */

static const struct ring_entry *ring_at(const struct bus *b, size_t i)
{
	return &b->ring[(b->ring_start + i) % b->ring_cap];
}

static int64_t ring_first_seq(const struct bus *b)
{
	return b->ring_len ? ring_at(b, 0)->seq : b->last_seq + 1;
}

static void ring_drop_oldest(struct bus *b)
{
	struct ring_entry *old = &b->ring[b->ring_start];
	b->ring_bytes -= old->json->len;
	free(old->type);
	bus_blob_unref(old->json);
	b->ring_start = (b->ring_start + 1) % b->ring_cap;
	b->ring_len--;
}

static void ring_push(struct bus *b, int64_t seq, const char *type, struct bus_blob *json)
{
	/* Capped by count and by bytes; only committed events may go (a
	 * replay finds them in the log). */
	while (b->ring_len && ring_at(b, 0)->seq <= b->committed_seq &&
	       (b->ring_len == b->ring_cap || b->ring_bytes + json->len > b->cfg.ring_bytes))
		ring_drop_oldest(b);
	if (b->ring_len == b->ring_cap) {
		/* Replays read older seqs from the log, which only has committed
		 * ones: the ring must keep every uncommitted event, so it grows
		 * while the writer is behind (bounded by writer_queue_max). */
		struct ring_entry *nr = xcalloc(b->ring_cap * 2, sizeof *nr);
		for (size_t i = 0; i < b->ring_len; i++)
			nr[i] = *ring_at(b, i);
		free(b->ring);
		b->ring = nr;
		b->ring_start = 0;
		b->ring_cap *= 2;
	}
	struct ring_entry *e = &b->ring[(b->ring_start + b->ring_len) % b->ring_cap];
	e->seq = seq;
	e->type = xstrdup(type);
	e->json = bus_blob_ref(json);
	b->ring_len++;
	b->ring_bytes += json->len;
}

/* ---- replay ---- */

static void go_live(struct bus_sub *s)
{
	s->state = SUB_LIVE;
	if (s->sink->live)
		s->sink->live(s, s->bus->last_seq);
}

/* A log read for a replaying subscription, run in the thread pool. */
struct replay_read {
	uv_work_t work;
	struct bus *bus;
	struct bus_sub *sub;
	struct replay_read *next; /* in bus->reads */
	char **patterns;          /* a copy: the read may outlive the subscription's use */
	size_t n_patterns;
	int64_t from, to;
	bool cancel; /* set by the loop (atomically): stop at the next row */
	bool more;
	int err;
	size_t n, bytes;
	int64_t seqs[REPLAY_CHUNK];
	struct bus_blob *rows[REPLAY_CHUNK];
};

static int replay_row(void *ctx, int64_t seq, const char *type, const char *json, size_t len)
{
	struct replay_read *rr = ctx;
	if (__atomic_load_n(&rr->cancel, __ATOMIC_RELAXED))
		return 1;
	if (rr->n_patterns > 1) {
		/* Read with ">" and narrowed here. */
		bool m = false;
		for (size_t i = 0; i < rr->n_patterns && !m; i++)
			m = pattern_match(rr->patterns[i], type);
		if (!m) {
			rr->from = seq + 1;
			return 0;
		}
	}
	if (rr->n > 0 && rr->bytes + len > REPLAY_CHUNK_BYTES) {
		rr->more = true; /* the rest comes with the next read */
		return 1;
	}
	rr->bytes += len;
	rr->seqs[rr->n] = seq;
	rr->rows[rr->n++] = blob_new(json, len);
	return 0;
}

static void replay_work(uv_work_t *w)
{
	struct replay_read *rr = (struct replay_read *)w;
	struct store_query q;
	store_query_init(&q);
	q.pattern = rr->n_patterns == 1 ? rr->patterns[0] : NULL;
	q.since_seq = rr->from;
	q.until_seq = rr->to;
	/* Several patterns: rows of other types count against the limit too,
	 * so a page may hold fewer events; "more" then asks for the next. */
	q.limit = REPLAY_CHUNK;
	rr->err = store_query(rr->bus->st, &q, replay_row, rr, &rr->more);
}

static void replay_start_waiting(struct bus *b);

static void replay_read_free(struct replay_read *rr)
{
	for (size_t i = 0; i < rr->n_patterns; i++)
		free(rr->patterns[i]);
	free(rr->patterns);
	free(rr);
}

static void replay_done(uv_work_t *w, int status)
{
	struct replay_read *rr = (struct replay_read *)w;
	struct bus *b = rr->bus;
	struct bus_sub *s = rr->sub;
	s->read_pending = false;
	if (s->rr == rr)
		s->rr = NULL;
	b->n_replay_reads--;
	for (struct replay_read **pp = &b->reads; *pp; pp = &(*pp)->next)
		if (*pp == rr) {
			*pp = rr->next;
			break;
		}
	bool cancelled = status == UV_ECANCELED || __atomic_load_n(&rr->cancel, __ATOMIC_RELAXED);
	bool ok = status == 0 && rr->err == 0 && !cancelled;
	/* The queue's bound holds for a page too: what does not fit is read
	 * again once the sink has made room (bus_sub_done()). */
	/* Delivery stops at the queue's bound (the rest is read again once the
	 * sink has made room: bus_sub_done()), and when the sink moved s
	 * meanwhile (a bus_sub_done() from inside deliver() may have stepped
	 * the replay on, rewound it or started a read). */
	bool stopped = false;
	for (size_t i = 0; i < rr->n; i++) {
		if (ok && !stopped && !s->dead && s->state == SUB_REPLAY && !s->read_pending &&
		    rr->seqs[i] >= s->min_seq && rr->seqs[i] >= s->next_seq) {
			if (sub_has_room(s, rr->rows[i]->len)) {
				s->next_seq = rr->seqs[i] + 1; /* before: deliver() may step on */
				deliver(s, rr->rows[i], rr->seqs[i]);
			} else {
				stopped = true;
			}
		} else if (ok && (s->dead || s->state != SUB_REPLAY || s->read_pending)) {
			stopped = true;
		}
		bus_blob_unref(rr->rows[i]);
	}
	if (ok && !stopped && !rr->more && s->state == SUB_REPLAY && s->next_seq <= rr->to)
		s->next_seq = rr->to + 1;
	else if (ok && !stopped && rr->n == 0 && rr->more && s->next_seq < rr->from)
		s->next_seq = rr->from; /* a page of other types only */
	if (!ok && !s->dead && !cancelled) {
		char msg[200];
		snprintf(msg, sizeof msg,
			 "cannot read the log for subscription '%s'; subscribe again", s->name);
		log_warn("%s", msg);
		bus_sub_ref(s);
		if (s->sink->failed)
			s->sink->failed(s, msg);
		bus_unsubscribe(s);
		bus_sub_unref(s);
	} else if (!s->dead && !b->stopping && !stopped) {
		replay_step(s); /* (when stopped, bus_sub_done() or the sink goes on) */
	}
	bus_sub_unref(s);
	replay_read_free(rr);
	replay_start_waiting(b);
}

/* Starts a log read for s from its cursor up to `to`. */
static void replay_read_start(struct bus_sub *s, int64_t to)
{
	struct bus *b = s->bus;
	struct replay_read *rr = xcalloc(1, sizeof *rr);
	rr->bus = b;
	rr->sub = s;
	bus_sub_ref(s);
	rr->n_patterns = s->n_patterns;
	rr->patterns = xcalloc(s->n_patterns, sizeof *rr->patterns);
	for (size_t i = 0; i < s->n_patterns; i++)
		rr->patterns[i] = xstrdup(s->patterns[i]);
	rr->from = s->next_seq;
	rr->to = to;
	s->read_pending = true;
	s->rr = rr;
	b->n_replay_reads++;
	rr->next = b->reads;
	b->reads = rr;
	int r = uv_queue_work(b->loop, &rr->work, replay_work, replay_done);
	if (r < 0) {
		log_error("cannot queue a log read: %s", uv_strerror(r));
		replay_done(&rr->work, r);
	}
}

/* Log reads run a few at a time ([subscriber] replays), so that replays
 * cannot take every thread of the pool from queries and status; the others
 * wait here in order. */
static void replay_start_waiting(struct bus *b)
{
	while (b->replay_wait && b->n_replay_reads < b->cfg.replays && !b->stopping) {
		struct bus_sub *s = b->replay_wait;
		b->replay_wait = s->wait_next;
		if (!b->replay_wait)
			b->replay_wait_tail = NULL;
		s->wait_next = NULL;
		s->waiting = false;
		s->read_pending = false;
		if (!s->dead)
			replay_step(s);
		bus_sub_unref(s);
	}
}

/* Stops s's log read: a queued one never runs, a running one stops at its
 * next row, a waiting one leaves the queue. */
static void replay_cancel(struct bus_sub *s)
{
	struct bus *b = s->bus;
	if (s->rr) {
		__atomic_store_n(&s->rr->cancel, true, __ATOMIC_RELAXED);
		(void)uv_cancel(
			(uv_req_t *)&s->rr->work); /* fails once running: the flag stops it */
	}
	if (s->waiting) {
		struct bus_sub *prev = NULL;
		for (struct bus_sub *w = b->replay_wait; w; prev = w, w = w->wait_next) {
			if (w != s)
				continue;
			if (prev)
				prev->wait_next = s->wait_next;
			else
				b->replay_wait = s->wait_next;
			if (b->replay_wait_tail == s)
				b->replay_wait_tail = prev;
			break;
		}
		s->wait_next = NULL;
		s->waiting = false;
		s->read_pending = false;
		bus_sub_unref(s);
	}
}

static void replay_step(struct bus_sub *s)
{
	struct bus *b = s->bus;
	if (b->stopping)
		return; /* a shutdown does not wait for replays */
	while (s->state == SUB_REPLAY && !s->read_pending && !s->dead) {
		if (s->next_seq > b->last_seq) {
			go_live(s);
			return;
		}
		int64_t first = ring_first_seq(b);
		if (s->next_seq >= first) {
			size_t i = (size_t)(s->next_seq - first);
			for (; i < b->ring_len && !s->dead; i++) {
				const struct ring_entry *e = ring_at(b, i);
				if (e->seq >= s->min_seq && sub_matches(s, e->type)) {
					if (!sub_has_room(s, e->json->len))
						return; /* resumed from bus_sub_done() */
					s->next_seq = e->seq + 1;
					deliver(s, e->json, e->seq);
					/* The sink may have rewound or dropped s, or
					 * stepped it on (a bus_sub_done() from inside):
					 * the index is taken again from next_seq. */
					if (s->state != SUB_REPLAY || s->read_pending)
						return;
					break;
				}
				s->next_seq = e->seq + 1;
			}
			continue;
		}
		if (!sub_has_room(s, 0))
			return;
		if (b->n_replay_reads >= b->cfg.replays) {
			s->read_pending = true;
			s->waiting = true;
			bus_sub_ref(s);
			if (b->replay_wait_tail)
				b->replay_wait_tail->wait_next = s;
			else
				b->replay_wait = s;
			b->replay_wait_tail = s;
			return;
		}
		replay_read_start(s, first - 1);
		return;
	}
}

void bus_sub_rewind(struct bus_sub *s, int64_t from)
{
	if (s->dead)
		return;
	if (from < 1)
		from = 1;
	if (s->state == SUB_REPLAY && from >= s->next_seq)
		return; /* already on its way there */
	replay_cancel(s);
	s->state = SUB_REPLAY;
	s->next_seq = from;
	if (!s->read_pending)
		replay_step(s);
}

/* A subscription starting from a time: find its seq in the thread pool. */
struct seek_req {
	uv_work_t work;
	struct bus_sub *sub;
	int64_t ms, seq;
	int err;
};

static void seek_work(uv_work_t *w)
{
	struct seek_req *sr = (struct seek_req *)w;
	sr->err = store_seq_at_time(sr->sub->bus->st, sr->ms, &sr->seq);
}

static void seek_done(uv_work_t *w, int status)
{
	struct seek_req *sr = (struct seek_req *)w;
	struct bus_sub *s = sr->sub;
	s->read_pending = false;
	if (!s->dead) {
		s->next_seq = status || sr->err ? 1 : sr->seq;
		s->min_seq = s->next_seq;
		replay_step(s);
	}
	bus_sub_unref(s);
	free(sr);
}

struct bus_sub *bus_subscribe(struct bus *b, const struct bus_sub_opts *o,
			      const struct bus_sink *sink, void *ctx)
{
	struct bus_sub *s = xcalloc(1, sizeof *s);
	s->bus = b;
	s->refs = 1;
	s->name = xstrdup(o->name);
	s->n_patterns = o->n_patterns;
	s->patterns = xcalloc(o->n_patterns, sizeof *s->patterns);
	for (size_t i = 0; i < o->n_patterns; i++)
		s->patterns[i] = xstrdup(o->patterns[i]);
	s->sink = sink;
	s->ctx = ctx;
	s->queue_events = o->queue_events ? o->queue_events : b->cfg.queue_events;
	s->queue_bytes = o->queue_bytes ? o->queue_bytes : b->cfg.queue_bytes;
	for (size_t i = 0; i < s->n_patterns; i++)
		subindex_add(b->idx, s->patterns[i], s);
	b->n_subs++;
	switch (o->from) {
	case BUS_FROM_NOW:
		s->state = SUB_LIVE;
		s->min_seq = b->last_seq + 1;
		break;
	case BUS_FROM_SEQ:
		s->state = SUB_REPLAY;
		s->next_seq = s->min_seq = o->from_seq > 0 ? o->from_seq : 1;
		replay_step(s);
		break;
	case BUS_FROM_TIME: {
		s->state = SUB_REPLAY;
		s->read_pending = true;
		struct seek_req *sr = xcalloc(1, sizeof *sr);
		sr->sub = s;
		bus_sub_ref(s);
		sr->ms = o->from_ms;
		int r = uv_queue_work(b->loop, &sr->work, seek_work, seek_done);
		if (r < 0) {
			log_warn("cannot queue a seek by time: %s; replaying from seq 1",
				 uv_strerror(r));
			seek_done(&sr->work, r);
		}
		break;
	}
	}
	return s;
}

static void fanout_one(void *value, void *ctx)
{
	struct bus_sub *s = value;
	const struct ring_entry *e = ctx;
	/* A subscription with overlapping patterns is in the index more than
	 * once: last_seq keeps it to one delivery. */
	if (s->dead || e->seq < s->min_seq || e->seq <= s->last_seq)
		return;
	switch (s->state) {
	case SUB_REPLAY: return; /* its cursor will reach this event */
	case SUB_LIVE:
		if (sub_has_room(s, e->json->len)) {
			deliver(s, e->json, e->seq);
			return;
		}
		s->state = SUB_PAUSED;
		s->gap_from = s->gap_to = e->seq;
		s->last_seq = e->seq;
		log_debug("sub %s: queue full at seq %lld; pausing", s->name, (long long)e->seq);
		return;
	case SUB_PAUSED: s->gap_to = s->last_seq = e->seq; return;
	}
}

/* ---- publishing: the loop side of the writer ---- */

static void add_durable_waiter(struct bus *b, struct bus_pub *p)
{
	p->next = NULL;
	if (b->durable_tail)
		b->durable_tail->next = p;
	else
		b->durable_head = p;
	b->durable_tail = p;
}

/* The dedup key of an event: source and id, which cannot hold a 0x1f. It
 * is made in buf when it fits (the usual case: no allocation per event),
 * else allocated; dedup_key_done() frees what was allocated. */
#define DEDUP_KEY_BUF 256
static char *dedup_key(const struct event *ev, char *buf)
{
	int n = snprintf(buf, DEDUP_KEY_BUF, "%s\x1f%s", ev->source, ev->id);
	if (n >= 0 && n < DEDUP_KEY_BUF)
		return buf;
	return xasprintf("%s\x1f%s", ev->source, ev->id);
}

static void dedup_key_done(char *key, const char *buf)
{
	if (key != buf)
		free(key);
}

void bus_publish(struct bus *b, struct event *ev, bool fresh_id, struct bus_pub *p)
{
	snprintf(p->id, sizeof p->id, "%s", ev->id);
	p->seq = 0;
	p->duplicate = false;
	char kbuf[DEDUP_KEY_BUF];
	char *key = dedup_key(ev, kbuf);
	int64_t seq = (int64_t)(intptr_t)strmap_get(&b->pending_ids, key);
	int found = seq > 0;
	/* An id the daemon just made (a new ULID) cannot be in the log. */
	if (!found && !fresh_id) {
		found = store_lookup(b->st, ev->source, ev->id, &seq);
		if (found < 0) {
			dedup_key_done(key, kbuf);
			event_free(ev);
			p->done(p, CAIRN_E_STORE);
			return;
		}
	}
	if (found) {
		/* A duplicate: stored once, answered with the first seq. */
		dedup_key_done(key, kbuf);
		event_free(ev);
		p->seq = seq;
		p->duplicate = true;
		if (p->durable && seq > b->committed_seq) {
			add_durable_waiter(b, p);
			store_flush(b->st); /* the first copy may be gathering */
		} else
			p->done(p, 0);
		return;
	}
	ev->seq = b->last_seq + 1;
	size_t len;
	char *json = event_encode(ev, &len);
	if (len > b->cfg.event_bytes) {
		dedup_key_done(key, kbuf);
		free(json);
		event_free(ev);
		p->done(p, CAIRN_E_TOOBIG);
		return;
	}
	b->last_seq = ev->seq;
	b->n_published++;
	strmap_put(&b->pending_ids, key, (void *)(intptr_t)ev->seq);
	dedup_key_done(key, kbuf);

	struct bus_blob *blob = blob_new(json, len);
	ring_push(b, ev->seq, ev->type, blob);
	struct ring_entry e = {.seq = ev->seq, .type = ev->type, .json = blob};
	subindex_match(b->idx, ev->type, fanout_one, &e);
	bus_blob_unref(blob);

	p->seq = ev->seq;
	bool durable = p->durable; /* done() may free p */
	if (durable)
		add_durable_waiter(b, p);
	else
		p->done(p, 0);
	struct store_pub *sp = xcalloc(1, sizeof *sp);
	sp->ev = ev;
	sp->json = json;
	sp->json_len = len;
	sp->seq = ev->seq;
	sp->durable = durable;
	b->inflight++;
	b->inflight_bytes += len;
	store_submit(b->st, sp);
}

void bus_flush(struct bus *b)
{
	if (b->committed_seq < b->last_seq)
		store_flush(b->st);
}

bool bus_writer_busy(const struct bus *b)
{
	return b->inflight > b->cfg.writer_queue_max ||
	       b->inflight_bytes > b->cfg.writer_queue_bytes;
}

bool bus_writer_relaxed(const struct bus *b)
{
	return b->inflight <= b->cfg.writer_queue_max / 2 &&
	       b->inflight_bytes <= b->cfg.writer_queue_bytes / 2;
}

/* While the store cannot write, durable publishers are answered within a
 * second instead of waiting without a word. Their events stay queued and
 * are written if space comes back (the answer says so). */
static void on_store_timer(uv_timer_t *t)
{
	struct bus *b = t->data;
	if (!b->store_err)
		return;
	while (b->durable_head) {
		struct bus_pub *p = b->durable_head;
		b->durable_head = p->next;
		p->done(p, b->store_err);
	}
	b->durable_tail = NULL;
	if (b->hooks.drained)
		b->hooks.drained(b->hooks.ctx);
}

static void health_check(struct bus *b)
{
	int err = store_health(b->st, b->store_msg, sizeof b->store_msg);
	if (err == b->store_err)
		return;
	b->store_err = err;
	if (err) {
		log_warn("publishing is refused until the store can write: %s", b->store_msg);
		if (!b->store_timer_on && !b->finished) {
			int r = uv_timer_start(&b->store_timer, on_store_timer, 1000, 1000);
			if (r < 0)
				log_error(
					"cannot start the disk-full timer: %s; durable publishers "
					"wait until space is freed",
					uv_strerror(r));
			b->store_timer_on = r == 0;
		}
	} else {
		log_info("the store writes again; publishing resumes");
		if (b->store_timer_on) {
			(void)uv_timer_stop(&b->store_timer); /* returns 0 */
			b->store_timer_on = false;
		}
	}
	if (b->hooks.health)
		b->hooks.health(b->hooks.ctx, err);
}

static void drain(struct bus *b)
{
	struct store_out *o = store_take_output(b->st);
	while (o) {
		struct store_out *next = o->next;
		b->n_batches++;
		b->n_commits += o->err == 0;
		for (struct store_pub *p = o->pubs, *pn; p; p = pn) {
			pn = p->next;
			char kbuf[DEDUP_KEY_BUF];
			char *key = dedup_key(p->ev, kbuf);
			strmap_del(&b->pending_ids, key);
			dedup_key_done(key, kbuf);
			b->inflight--;
			b->inflight_bytes -= p->json_len;
			event_free(p->ev);
			free(p->json);
			free(p);
		}
		/* Only a batch that is on disk moves the committed mark: events
		 * of a failed one are not in the log (the ring keeps them,
		 * queries and services do not count them). */
		if (o->err == 0 && o->seq > b->committed_seq)
			b->committed_seq = o->seq;
		/* Release the durable waiters whose event is now on disk (or
		 * lost: then the answer says so). */
		struct bus_pub **pp = &b->durable_head;
		b->durable_tail = NULL;
		while (*pp) {
			struct bus_pub *p = *pp;
			if (p->seq <= o->seq) {
				*pp = p->next;
				p->done(p, o->err);
			} else {
				b->durable_tail = p;
				pp = &p->next;
			}
		}
		free(o);
		o = next;
	}
	health_check(b);
	if (b->hooks.drained)
		b->hooks.drained(b->hooks.ctx);
}

static void on_store_async(uv_async_t *h)
{
	drain(h->data);
}

/* The writer thread has results. */
static void store_notify(void *arg)
{
	int r = uv_async_send(arg);
	if (r < 0) /* only once the handle is closing, after store_stop() */
		log_error("cannot wake the loop for the writer's results: %s", uv_strerror(r));
}

/* ---- life ---- */

int bus_new(uv_loop_t *loop, struct store *st, const struct bus_config *cfg,
	    const struct bus_hooks *hooks, struct bus **out)
{
	struct bus *b = xcalloc(1, sizeof *b);
	b->loop = loop;
	b->st = st;
	b->cfg = *cfg;
	if (hooks)
		b->hooks = *hooks;
	b->last_seq = b->committed_seq = store_last_seq(st);
	strmap_init(&b->pending_ids);
	b->idx = subindex_new();
	b->ring_cap = cfg->ring_events + cfg->batch_max + 1;
	b->ring = xcalloc(b->ring_cap, sizeof *b->ring);
	int r;
	if ((r = uv_async_init(loop, &b->store_async, on_store_async)) < 0) {
		log_error("cannot create the writer's wake-up handle: %s", uv_strerror(r));
		bus_free(b);
		return r;
	}
	b->store_async.data = b;
	(void)uv_timer_init(loop, &b->store_timer); /* returns 0: it only links the handle */
	b->store_timer.data = b;
	if ((r = store_start(st, store_notify, &b->store_async))) {
		log_error("cannot start the writer thread: %s", err_str(r));
		b->finished = true;
		uv_close((uv_handle_t *)&b->store_async, NULL);
		uv_close((uv_handle_t *)&b->store_timer, NULL);
		*out = b; /* freed by the caller after the loop ran */
		return r;
	}
	*out = b;
	return 0;
}

void bus_stop(struct bus *b)
{
	b->stopping = true;
	/* Log reads stop: a shutdown does not wait for replays. */
	while (b->replay_wait)
		replay_cancel(b->replay_wait);
	for (struct replay_read *rr = b->reads; rr; rr = rr->next) {
		__atomic_store_n(&rr->cancel, true, __ATOMIC_RELAXED);
		(void)uv_cancel((uv_req_t *)&rr->work); /* fails once running: the flag stops it */
	}
	store_request_stop(b->st);
}

bool bus_idle(const struct bus *b)
{
	return b->inflight == 0 && !b->durable_head;
}

void bus_finish(struct bus *b)
{
	if (b->finished)
		return;
	b->finished = true;
	/* Let the writer commit what it holds; after this it notifies no
	 * more, so the async handle can close. */
	store_stop(b->st);
	drain(b);
	/* The writer has answered everything it was given; a waiter left is a
	 * bug, but it still gets an answer. */
	while (b->durable_head) {
		struct bus_pub *p = b->durable_head;
		b->durable_head = p->next;
		p->done(p, CAIRN_E_STORE);
	}
	b->durable_tail = NULL;
	uv_close((uv_handle_t *)&b->store_async, NULL);
	if (b->store_timer_on)
		(void)uv_timer_stop(&b->store_timer); /* returns 0 */
	uv_close((uv_handle_t *)&b->store_timer, NULL);
}

void bus_free(struct bus *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->ring_len; i++) {
		struct ring_entry *e = &b->ring[(b->ring_start + i) % b->ring_cap];
		free(e->type);
		bus_blob_unref(e->json);
	}
	free(b->ring);
	strmap_release(&b->pending_ids, NULL);
	subindex_free(b->idx);
	free(b);
}

/* ---- accessors ---- */

int bus_health(const struct bus *b, const char **msg)
{
	if (msg)
		*msg = b->store_msg;
	return b->store_err;
}

int64_t bus_last_seq(const struct bus *b)
{
	return b->last_seq;
}

int64_t bus_committed_seq(const struct bus *b)
{
	return b->committed_seq;
}

struct store *bus_store(const struct bus *b)
{
	return b->st;
}

json_t *bus_status(const struct bus *b)
{
	size_t waiting = 0;
	for (struct bus_sub *w = b->replay_wait; w; w = w->wait_next)
		waiting++;
	return json_pack("{s:{s:I,s:I},s:{s:I,s:I},s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I}}", "ring",
			 "events", (json_int_t)b->ring_len, "bytes", (json_int_t)b->ring_bytes,
			 "replay", "reading", (json_int_t)b->n_replay_reads, "waiting",
			 (json_int_t)waiting, "writer", "queued", (json_int_t)b->inflight,
			 "queued_bytes", (json_int_t)b->inflight_bytes, "batches",
			 (json_int_t)b->n_batches, "commits", (json_int_t)b->n_commits, "delivery",
			 "published", (json_int_t)b->n_published, "delivered",
			 (json_int_t)b->n_delivered, "gaps", (json_int_t)b->n_gaps);
}
