/* The daemon's loop: socket server, request dispatch, fan-out with
 * per-subscription back-pressure, replay from the log, shutdown.
 *
 * Ownership and threads. The loop thread owns everything in struct daemon
 * except the store, whose writer thread hands results back through
 * store_take_output() and an async handle. Connections and subscriptions are
 * reference-counted, because writes in flight, reads in the thread pool and
 * publishes in the writer's queue may outlive the peer.
 *
 * Seq and delivery. The writer assigns seqs; the loop learns them in order
 * (SEQUENCED batches), keeps the most recent events in a ring, and fans each
 * one out to live subscriptions through the subscription index. A replaying
 * subscription reads the log (committed rows) and then the ring (which holds
 * at least every uncommitted event), and turns live when its cursor passes
 * the last seq the loop knows. Because the loop is single-threaded, that
 * switch cannot race with fan-out: no gap and no duplicate at the seam.
 */
#include "daemon/daemon.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/spool.h"
#include "common/strmap.h"
#include "common/ulid.h"
#include "common/xalloc.h"
#include "daemon/proto.h"
#include "event/pattern.h"
#include "event/subindex.h"
#include "services/service.h"
#include "sources/fswatch.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <uv.h>

#define READ_CHUNK (64 * 1024)
#define REPLAY_CHUNK 256
/* Bytes one replay read or one query reply may hold: big events make smaller
 * pages, never unbounded memory. */
#define REPLAY_CHUNK_BYTES (4u * 1024 * 1024)
#define QUERY_REPLY_BYTES (32u * 1024 * 1024)
/* Acks gathered for one connection before they are written even mid-drain
 * (one ack is under 400 bytes). */
#define ACK_BUF_MAX ((size_t)1024 * 1024)
/* The longest row a query can meet: SQLite's default SQLITE_MAX_LENGTH. */
#define QUERY_ROW_MAX ((size_t)1000 * 1000 * 1000)

/* Reference-counted bytes shared by every subscriber an event goes to. */
struct blob {
	unsigned refs;
	size_t len;
	char data[];
};

static struct blob *blob_take(char *json, size_t len)
{
	struct blob *b = xmalloc(sizeof *b + len);
	b->refs = 1;
	b->len = len;
	memcpy(b->data, json, len);
	free(json);
	return b;
}

static void blob_unref(struct blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}

struct ring_entry {
	int64_t seq;
	char *type;
	struct blob *json;
};

enum sub_state { SUB_REPLAY, SUB_LIVE, SUB_PAUSED };

struct conn;

struct sub {
	struct sub *next; /* in conn->subs */
	struct conn *conn;
	unsigned refs;
	bool dead; /* unsubscribed or its connection closed */
	char *name;
	char *pattern;
	char *prefix; /* {"sub":"NAME","event": */
	size_t prefix_len;
	enum sub_state state;
	bool announce_live; /* send the live marker when replay catches up */
	bool read_pending;  /* a log read is in the thread pool */
	int64_t next_seq;   /* replay cursor */
	int64_t min_seq;    /* deliver nothing below this */
	int64_t gap_from, gap_to;
	size_t q_events, q_bytes; /* written, not yet taken by the kernel */
	struct replay_read *rr;   /* its log read, while one is queued or running */
	struct sub *wait_next;    /* in daemon->replay_wait */
	bool waiting;             /* in daemon->replay_wait */
};

/* Why a connection's requests are not being read (any set: not reading). */
enum conn_pause {
	PAUSE_WRITER = 1u << 0, /* the writer is behind */
	PAUSE_OUTPUT = 1u << 1, /* its replies are not being read */
	PAUSE_STORE = 1u << 2,  /* the store cannot write (disk full) */
	PAUSE_OPS = 1u << 3,    /* too many of its requests are in progress */
};

struct conn {
	uv_pipe_t pipe; /* first: the handle's data is not needed to find us */
	struct daemon *d;
	struct conn *prev, *next;
	unsigned refs;
	bool closing;
	bool reading;   /* uv_read_start is in effect */
	bool eof;       /* the peer will send no more: close once answered */
	bool refused;   /* another uid: told so, then drained until it closes */
	size_t drained; /* bytes of a refused peer read and dropped */
	uv_shutdown_t shut;
	unsigned pause; /* enum conn_pause */
	size_t out_bytes;   /* reply bytes written, not yet taken by the kernel */
	size_t n_writes;    /* writes in flight, replies and events */
	size_t pending_ops; /* requests taken and not yet answered */
	size_t n_replaying; /* its subscriptions still replaying */
	size_t pool_ops;    /* of pending_ops, those in the thread pool */
	bool in_update;     /* inside conn_update_reading() */
	bool doomed;        /* to be closed at the next loop turn (daemon->doomed) */
	struct conn *doomed_next;
	char *unread;       /* bytes read but not yet fed (reading paused midway) */
	size_t unread_len;
	uid_t uid;
	pid_t pid;
	struct linebuf lb;
	struct sub *subs;
	unsigned next_sub_id;
	uint64_t pubs_submitted, pubs_sequenced; /* for read-your-writes queries */
	struct buf acks; /* acks gathered during one drain_store(), ACK_BUF_MAX */
	bool ack_pending;
	struct conn *ack_next;
	char rbuf[READ_CHUNK];
};

struct daemon {
	const struct config *cfg;
	uv_loop_t loop;
	uv_pipe_t server;
	uv_async_t store_async;
	uv_signal_t sigint, sigterm;
	uv_timer_t watchdog, retention;
	bool watchdog_on, retention_on;
	int lock_fd;
	struct store *st;
	struct subindex *idx;
	struct conn *conns;
	size_t n_conns, n_subs;
	struct ring_entry *ring;
	size_t ring_cap, ring_start, ring_len;
	int64_t last_seq;      /* last seq the loop has seen sequenced */
	int64_t committed_seq; /* last seq known committed */
	struct triage_service *triage; /* NULL if it could not start */
	size_t inflight;       /* pubs submitted, not yet back from the writer */
	size_t inflight_bytes; /* their encoded size */
	size_t ring_bytes;     /* encoded bytes held by the ring */
	int store_err;         /* the writer's health: 0, CAIRN_E_FULL, ... */
	char store_msg[300];
	uv_timer_t store_timer; /* answers durable waiters while the store cannot write */
	bool store_timer_on;
	struct sub *replay_wait, *replay_wait_tail; /* subs waiting for a log read */
	size_t n_replay_reads;  /* log reads queued or running in the pool */
	uv_idle_t reaper;       /* closes doomed connections; runs only when there are some */
	struct conn *doomed;
	struct pubctx *durable_head, *durable_tail;
	struct query_req *parked; /* queries waiting to see their own writes */
	struct conn *ack_dirty;   /* connections with gathered acks */
	struct strmap pending_ids; /* "source\x1fid" -> seq, sequenced but not committed */
	uv_fs_event_t spool_watch;
	bool spool_watch_on;
	char *spool_dir;
	struct spool_file *spool_active;
	uint64_t n_spooled;
	struct fswatch *fw;
	char *watches_path;
	bool stopping, stopped;
	uint64_t start_ns;
	uint64_t n_batches, n_commits, n_published, n_delivered, n_gaps;
};

/* The submitter's context for one publish. */
/* A spooled file being imported: unlinked once its event is durable. */
struct spool_file {
	struct spool_file *next; /* in daemon->spool_active */
	struct daemon *d;
	char *path;
};

struct pubctx {
	struct pubctx *next; /* in the durable waiters list */
	struct conn *conn;   /* ref held; NULL for a spooled event */
	struct spool_file *spool; /* set for a spooled event */
	json_t *rid;
	enum proto_ack ack;
	int64_t seq;
	bool duplicate;
	char id[132];
};

/* ---- connections and writes ---- */

struct wreq {
	uv_write_t req;
	struct conn *conn;
	struct sub *sub; /* counted in its queue, or NULL */
	struct blob *blob;
	char *own;
	size_t bytes;
};

static void conn_unref(struct conn *c);
static void conn_close(struct conn *c);
static void conn_update_reading(struct conn *c);
static void conn_maybe_finish(struct conn *c);
static void sub_unref(struct sub *s);
static void replay_step(struct daemon *d, struct sub *s);
static void send_line(struct conn *c, char *line, size_t len);

/* Requests of one connection in the thread pool at once (queries, status);
 * past this its further requests wait unread. */
#define CONN_POOL_OPS 8
/* Subscriptions of one connection replaying the log at once. */
#define CONN_REPLAYS 16

static bool sub_has_room(const struct daemon *d, const struct sub *s, size_t len)
{
	if (s->q_events == 0)
		return true; /* always let one event through, however large */
	return s->q_events < d->cfg->queue_events && s->q_bytes + len <= d->cfg->queue_bytes;
}

static void send_gap_if_drained(struct daemon *d, struct sub *s)
{
	if (s->dead || s->state != SUB_PAUSED)
		return;
	if (s->q_events > d->cfg->queue_events / 2 || s->q_bytes > d->cfg->queue_bytes / 2)
		return;
	json_t *o = json_pack("{s:s,s:{s:I,s:I}}", "sub", s->name, "gap", "from",
			      (json_int_t)s->gap_from, "to", (json_int_t)s->gap_to);
	size_t n;
	char *line = proto_json_line(o, &n);
	log_debug("sub %s: gap %lld..%lld", s->name, (long long)s->gap_from,
		  (long long)s->gap_to);
	d->n_gaps++;
	s->state = SUB_LIVE;
	send_line(s->conn, line, n);
}

static void schedule_close(struct conn *c);

/* A write finished. may_close is false when it failed inside uv_write()
 * itself: the caller may be fanning out or replaying with subscriptions of
 * this connection in hand, so the close waits for the next loop turn. */
static void write_done(uv_write_t *req, int status, bool may_close)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->conn;
	struct sub *s = w->sub;
	c->n_writes--;
	if (!s) {
		c->out_bytes -= w->bytes;
		if ((c->pause & PAUSE_OUTPUT) && c->out_bytes <= c->d->cfg->conn_output_bytes / 2) {
			c->pause &= ~PAUSE_OUTPUT;
			conn_update_reading(c);
		}
	}
	if (s) {
		s->q_events--;
		s->q_bytes -= w->bytes;
		if (!s->dead && !c->closing) {
			if (s->state == SUB_PAUSED)
				send_gap_if_drained(c->d, s);
			else if (s->state == SUB_REPLAY && !s->read_pending)
				replay_step(c->d, s);
		}
		sub_unref(s);
	}
	if (status < 0 && status != UV_ECANCELED && !c->closing) {
		/* The peer is gone: nothing more can reach it. */
		log_debug("write to client failed: %s", uv_strerror(status));
		if (may_close)
			conn_close(c);
		else
			schedule_close(c);
	} else {
		conn_maybe_finish(c);
	}
	blob_unref(w->blob);
	free(w->own);
	free(w);
	conn_unref(c);
}

static void on_write(uv_write_t *req, int status)
{
	write_done(req, status, true);
}

static void conn_write(struct conn *c, struct sub *s, uv_buf_t *bufs, unsigned n,
		       struct blob *blob, char *own)
{
	if (c->closing) {
		blob_unref(blob);
		free(own);
		return;
	}
	size_t bytes = 0;
	for (unsigned i = 0; i < n; i++)
		bytes += bufs[i].len;
	if (!s && c->out_bytes > 0 && c->out_bytes + bytes > c->d->cfg->conn_output_max) {
		/* It sends requests and never reads the replies: the hard limit
		 * on what one connection may hold of the daemon's memory. */
		log_warn("closing the connection of pid %d: %zu bytes of replies unread, over "
			 "[limits] conn_output_max (%zu)",
			 (int)c->pid, c->out_bytes + bytes, c->d->cfg->conn_output_max);
		blob_unref(blob);
		free(own);
		conn_close(c);
		return;
	}
	struct wreq *w = xcalloc(1, sizeof *w);
	w->conn = c;
	c->refs++;
	w->blob = blob;
	w->own = own;
	w->bytes = bytes;
	c->n_writes++;
	if (!s) {
		c->out_bytes += bytes;
		if (c->out_bytes > c->d->cfg->conn_output_bytes && !(c->pause & PAUSE_OUTPUT)) {
			/* Back-pressure: read no more requests until it reads. */
			c->pause |= PAUSE_OUTPUT;
			conn_update_reading(c);
		}
	}
	if (s) {
		w->sub = s;
		s->refs++;
		s->q_events++;
		s->q_bytes += w->bytes;
	}
	int r = uv_write(&w->req, (uv_stream_t *)&c->pipe, bufs, n, on_write);
	if (r < 0) {
		/* The callback will not run: undo by hand. */
		write_done(&w->req, r, false);
	}
}

/* Sends a malloc'd line (ownership passes). */
static void send_line(struct conn *c, char *line, size_t len)
{
	uv_buf_t b = uv_buf_init(line, (unsigned)len);
	conn_write(c, NULL, &b, 1, NULL, line);
}

static void send_event(struct daemon *d, struct sub *s, struct blob *json)
{
	static char tail[] = "}\n";
	uv_buf_t b[3] = {uv_buf_init(s->prefix, (unsigned)s->prefix_len),
			 uv_buf_init(json->data, (unsigned)json->len), uv_buf_init(tail, 2)};
	json->refs++;
	d->n_delivered++;
	conn_write(s->conn, s, b, 3, json, NULL);
}

static void reply_error(struct conn *c, const json_t *rid, const struct proto_err *err)
{
	size_t n;
	char *line = proto_error_line(rid, err, &n);
	send_line(c, line, n);
}

static void reply_ok(struct conn *c, const json_t *rid, json_t *obj)
{
	size_t n;
	char *line = proto_ok_line(rid, obj, &n);
	send_line(c, line, n);
}

/* A request that is answered later: counted, so that a connection whose
 * peer has stopped sending is closed only once every answer is written,
 * and so that one connection cannot fill the thread pool (pool: it runs
 * there). */
static void conn_op_start(struct conn *c, bool pool)
{
	c->pending_ops++;
	if (pool && ++c->pool_ops >= CONN_POOL_OPS && !(c->pause & PAUSE_OPS)) {
		c->pause |= PAUSE_OPS;
		conn_update_reading(c);
	}
}

static void conn_op_done(struct conn *c, bool pool)
{
	c->pending_ops--;
	if (pool && --c->pool_ops < CONN_POOL_OPS / 2 && (c->pause & PAUSE_OPS)) {
		c->pause &= ~PAUSE_OPS;
		conn_update_reading(c);
	}
	conn_maybe_finish(c);
}

static void on_reap(uv_idle_t *h)
{
	struct daemon *d = h->data;
	uv_idle_stop(h);
	while (d->doomed) {
		struct conn *c = d->doomed;
		d->doomed = c->doomed_next;
		c->doomed = false;
		conn_close(c);
		conn_unref(c);
	}
}

static void schedule_close(struct conn *c)
{
	struct daemon *d = c->d;
	if (c->doomed || c->closing)
		return;
	c->doomed = true;
	c->refs++;
	c->doomed_next = d->doomed;
	d->doomed = c;
	uv_idle_start(&d->reaper, on_reap);
}

/* ---- subscriptions ---- */

static void sub_unref(struct sub *s)
{
	if (--s->refs > 0)
		return;
	struct conn *c = s->conn;
	free(s->name);
	free(s->pattern);
	free(s->prefix);
	free(s);
	conn_unref(c);
}

static void replay_cancel(struct daemon *d, struct sub *s);

/* Removes s from the index and its connection; it dies once nothing refers
 * to it any more. A log read of its own is cancelled. */
static void sub_kill(struct daemon *d, struct sub *s)
{
	if (s->dead)
		return;
	s->dead = true;
	if (s->state == SUB_REPLAY)
		s->conn->n_replaying--;
	replay_cancel(d, s);
	subindex_remove(d->idx, s->pattern, s);
	d->n_subs--;
	for (struct sub **pp = &s->conn->subs; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	sub_unref(s);
}

static const struct ring_entry *ring_at(const struct daemon *d, size_t i)
{
	return &d->ring[(d->ring_start + i) % d->ring_cap];
}

static int64_t ring_first_seq(const struct daemon *d)
{
	return d->ring_len ? ring_at(d, 0)->seq : d->last_seq + 1;
}

static void ring_drop_oldest(struct daemon *d)
{
	struct ring_entry *old = &d->ring[d->ring_start];
	d->ring_bytes -= old->json->len;
	free(old->type);
	blob_unref(old->json);
	d->ring_start = (d->ring_start + 1) % d->ring_cap;
	d->ring_len--;
}

static void ring_push(struct daemon *d, int64_t seq, const char *type, struct blob *json)
{
	/* Capped by count and by bytes; only committed events may go (a
	 * replay finds them in the log). */
	while (d->ring_len && ring_at(d, 0)->seq <= d->committed_seq &&
	       (d->ring_len == d->ring_cap || d->ring_bytes + json->len > d->cfg->ring_bytes))
		ring_drop_oldest(d);
	if (d->ring_len == d->ring_cap) {
		/* Replays read older seqs from the log, which only has committed
		 * ones: the ring must keep every uncommitted event, so it grows
		 * while the writer is behind (bounded by writer_queue_max). */
		struct ring_entry *nr = xcalloc(d->ring_cap * 2, sizeof *nr);
		for (size_t i = 0; i < d->ring_len; i++)
			nr[i] = *ring_at(d, i);
		free(d->ring);
		d->ring = nr;
		d->ring_start = 0;
		d->ring_cap *= 2;
	}
	struct ring_entry *e = &d->ring[(d->ring_start + d->ring_len) % d->ring_cap];
	e->seq = seq;
	e->type = xstrdup(type);
	e->json = json;
	json->refs++;
	d->ring_len++;
	d->ring_bytes += json->len;
}

static void go_live(struct daemon *d, struct sub *s)
{
	if (s->state == SUB_REPLAY)
		s->conn->n_replaying--;
	s->state = SUB_LIVE;
	if (!s->announce_live)
		return;
	json_t *o = json_pack("{s:s,s:b,s:I}", "sub", s->name, "live", 1, "seq",
			      (json_int_t)d->last_seq);
	size_t n;
	char *line = proto_json_line(o, &n);
	send_line(s->conn, line, n);
}

/* A log read for a replaying subscription, run in the thread pool. */
struct replay_read {
	uv_work_t work;
	struct daemon *d;
	struct sub *sub;
	char *pattern; /* a copy: the read may outlive the subscription's use */
	int64_t from, to;
	bool cancel;   /* set by the loop (atomically): stop at the next row */
	bool more;
	int err;
	size_t n, bytes;
	int64_t seqs[REPLAY_CHUNK];
	struct blob *rows[REPLAY_CHUNK];
};

static int replay_row(void *ctx, int64_t seq, const char *type, const char *json, size_t len)
{
	struct replay_read *rr = ctx;
	if (__atomic_load_n(&rr->cancel, __ATOMIC_RELAXED))
		return 1;
	if (rr->n > 0 && rr->bytes + len > REPLAY_CHUNK_BYTES) {
		rr->more = true; /* the rest comes with the next read */
		return 1;
	}
	rr->bytes += len;
	struct blob *b = xmalloc(sizeof *b + len);
	b->refs = 1;
	b->len = len;
	memcpy(b->data, json, len);
	rr->seqs[rr->n] = seq;
	rr->rows[rr->n++] = b;
	return 0;
}

static void replay_work(uv_work_t *w)
{
	struct replay_read *rr = (struct replay_read *)w;
	struct store_query q;
	store_query_init(&q);
	q.pattern = rr->pattern;
	q.since_seq = rr->from;
	q.until_seq = rr->to;
	q.limit = REPLAY_CHUNK;
	rr->err = store_query(rr->d->st, &q, replay_row, rr, &rr->more);
}

static void replay_start_waiting(struct daemon *d);

static void replay_done(uv_work_t *w, int status)
{
	struct replay_read *rr = (struct replay_read *)w;
	struct daemon *d = rr->d;
	struct sub *s = rr->sub;
	s->read_pending = false;
	if (s->rr == rr)
		s->rr = NULL;
	d->n_replay_reads--;
	bool cancelled = status == UV_ECANCELED || __atomic_load_n(&rr->cancel, __ATOMIC_RELAXED);
	bool ok = status == 0 && rr->err == 0 && !cancelled;
	for (size_t i = 0; i < rr->n; i++) {
		if (ok && !s->dead && rr->seqs[i] >= s->min_seq) {
			send_event(d, s, rr->rows[i]);
			s->next_seq = rr->seqs[i] + 1;
		}
		blob_unref(rr->rows[i]);
	}
	if (ok && !rr->more)
		s->next_seq = rr->to + 1;
	if (!ok && !s->dead && !cancelled) {
		struct proto_err e;
		proto_err_set(&e, "unavailable", "", "cannot read the log for subscription '%s'; "
			      "subscribe again", s->name);
		reply_error(s->conn, NULL, &e);
		sub_kill(d, s);
	} else if (!s->dead && !s->conn->closing && !d->stopping) {
		replay_step(d, s);
	}
	sub_unref(s);
	free(rr->pattern);
	free(rr);
	replay_start_waiting(d);
}

/* Starts a log read for s from its cursor up to `to`. */
static void replay_read_start(struct daemon *d, struct sub *s, int64_t to)
{
	struct replay_read *rr = xcalloc(1, sizeof *rr);
	rr->d = d;
	rr->sub = s;
	s->refs++;
	rr->pattern = xstrdup(s->pattern);
	rr->from = s->next_seq;
	rr->to = to;
	s->read_pending = true;
	s->rr = rr;
	d->n_replay_reads++;
	int r = uv_queue_work(&d->loop, &rr->work, replay_work, replay_done);
	if (r < 0) {
		log_error("cannot queue a log read: %s", uv_strerror(r));
		replay_done(&rr->work, r);
	}
}

/* Log reads run a few at a time ([subscriber] replays), so that replays
 * cannot take every thread of the pool from queries and status; the others
 * wait here in order. */
static void replay_start_waiting(struct daemon *d)
{
	while (d->replay_wait && d->n_replay_reads < d->cfg->replays && !d->stopping) {
		struct sub *s = d->replay_wait;
		d->replay_wait = s->wait_next;
		if (!d->replay_wait)
			d->replay_wait_tail = NULL;
		s->wait_next = NULL;
		s->waiting = false;
		s->read_pending = false;
		if (!s->dead && !s->conn->closing)
			replay_step(d, s);
		sub_unref(s);
	}
}

/* Stops s's log read: a queued one never runs, a running one stops at its
 * next row, a waiting one leaves the queue. */
static void replay_cancel(struct daemon *d, struct sub *s)
{
	if (s->rr) {
		__atomic_store_n(&s->rr->cancel, true, __ATOMIC_RELAXED);
		uv_cancel((uv_req_t *)&s->rr->work);
	}
	if (s->waiting) {
		struct sub *prev = NULL;
		for (struct sub *w = d->replay_wait; w; prev = w, w = w->wait_next) {
			if (w != s)
				continue;
			if (prev)
				prev->wait_next = s->wait_next;
			else
				d->replay_wait = s->wait_next;
			if (d->replay_wait_tail == s)
				d->replay_wait_tail = prev;
			break;
		}
		s->wait_next = NULL;
		s->waiting = false;
		s->read_pending = false;
		sub_unref(s);
	}
}

static void replay_step(struct daemon *d, struct sub *s)
{
	while (s->state == SUB_REPLAY && !s->read_pending && !s->dead && !s->conn->closing) {
		if (s->next_seq > d->last_seq) {
			go_live(d, s);
			return;
		}
		int64_t first = ring_first_seq(d);
		if (s->next_seq >= first) {
			size_t i = (size_t)(s->next_seq - first);
			for (; i < d->ring_len; i++) {
				const struct ring_entry *e = ring_at(d, i);
				if (pattern_match(s->pattern, e->type) && e->seq >= s->min_seq) {
					if (!sub_has_room(d, s, e->json->len))
						return; /* resumed from on_write */
					send_event(d, s, e->json);
				}
				s->next_seq = e->seq + 1;
			}
			continue;
		}
		if (!sub_has_room(d, s, 0))
			return;
		if (d->n_replay_reads >= d->cfg->replays) {
			s->read_pending = true;
			s->waiting = true;
			s->refs++;
			if (d->replay_wait_tail)
				d->replay_wait_tail->wait_next = s;
			else
				d->replay_wait = s;
			d->replay_wait_tail = s;
			return;
		}
		replay_read_start(d, s, first - 1);
		return;
	}
}

/* A subscription starting from a time: find its seq in the thread pool. */
struct seek_req {
	uv_work_t work;
	struct daemon *d;
	struct sub *sub;
	int64_t ms, seq;
	int err;
};

static void seek_work(uv_work_t *w)
{
	struct seek_req *sr = (struct seek_req *)w;
	sr->err = store_seq_at_time(sr->d->st, sr->ms, &sr->seq);
}

static void seek_done(uv_work_t *w, int status)
{
	struct seek_req *sr = (struct seek_req *)w;
	struct sub *s = sr->sub;
	s->read_pending = false;
	if (!s->dead) {
		if (status || sr->err) {
			s->next_seq = 1;
		} else {
			s->next_seq = sr->seq;
		}
		s->min_seq = s->next_seq;
		replay_step(sr->d, s);
	}
	sub_unref(s);
	free(sr);
}

static void fanout_one(void *value, void *ctx)
{
	struct sub *s = value;
	struct ring_entry *e = ctx;
	struct daemon *d = s->conn->d;
	if (s->dead || e->seq < s->min_seq)
		return;
	switch (s->state) {
	case SUB_REPLAY:
		return; /* its cursor will reach this event */
	case SUB_LIVE:
		if (sub_has_room(d, s, e->json->len)) {
			send_event(d, s, e->json);
			return;
		}
		s->state = SUB_PAUSED;
		s->gap_from = s->gap_to = e->seq;
		log_debug("sub %s: queue full at seq %lld; pausing", s->name, (long long)e->seq);
		return;
	case SUB_PAUSED:
		s->gap_to = e->seq;
		return;
	}
}

/* ---- publishing: loop side of the writer ---- */

static void spool_done(struct spool_file *sf, int err);

static void pubctx_free(struct pubctx *pc)
{
	json_decref(pc->rid);
	if (pc->conn) {
		pc->conn->pending_ops--;
		conn_maybe_finish(pc->conn);
		conn_unref(pc->conn);
	}
	free(pc);
}

/* The error a publisher gets when its event was not (or not yet) stored. */
static void store_error_set(const struct daemon *d, int err, int64_t seq, struct proto_err *e)
{
	if (err == CAIRN_E_TOOBIG)
		proto_err_set(e, "event_too_large", "",
			      "the encoded event is over the limit of %zu bytes "
			      "([limits] event_bytes)",
			      d->cfg->event_bytes);
	else if (err == CAIRN_E_FULL && seq > 0)
		proto_err_set(e, "disk_full", "",
			      "the disk holding '%s' is full: the event (seq %lld) is not durable "
			      "yet; it is kept and written once space is freed, and publishing it "
			      "again with the same id is safe. Free some disk space.",
			      d->cfg->data_dir, (long long)seq);
	else if (err == CAIRN_E_FULL)
		proto_err_set(e, "disk_full", "",
			      "the disk holding '%s' is full: the event was not taken. Free some "
			      "disk space and publish it again.",
			      d->cfg->data_dir);
	else if (err == CAIRN_E_CORRUPT)
		proto_err_set(e, "unavailable", "",
			      "the event was not stored: the database is damaged (%s). Stop the "
			      "daemon and run 'cairn doctor'.",
			      d->store_msg);
	else
		proto_err_set(e, "unavailable", "",
			      "the event was not stored: the database failed (%s); see the "
			      "daemon's log and retry",
			      *d->store_msg ? d->store_msg : err_str(err));
}

/* Writes the acks c has gathered, in one write; drops them if c is
 * closing. */
static void acks_send(struct conn *c)
{
	if (c->acks.len && !c->closing) {
		size_t len;
		char *line = buf_detach(&c->acks, &len);
		send_line(c, line, len);
	}
	buf_reset(&c->acks);
}

static void ack_pub(struct pubctx *pc, int err)
{
	struct conn *c = pc->conn;
	if (pc->spool) {
		spool_done(pc->spool, err);
		pc->spool = NULL;
		return;
	}
	if (!c) {
		if (err)
			log_warn("an event of the daemon's own was not stored: %s", err_str(err));
		return;
	}
	if (c->closing)
		return;
	if (err) {
		struct proto_err e;
		store_error_set(c->d, err, pc->seq, &e);
		reply_error(c, pc->rid, &e);
		return;
	}
	if (pc->ack == ACK_NONE)
		return;
	/* The hot path: built by hand and gathered per connection, so a batch
	 * of acks costs one write. Ids are printable ASCII (envelope rule);
	 * those with a quote or backslash take the general path. */
	char rid[160] = "";
	if (pc->rid) {
		char *r = json_dumps(pc->rid, JSON_ENCODE_ANY | JSON_COMPACT);
		snprintf(rid, sizeof rid, "\"rid\":%s,", r);
		free(r);
	}
	if (strpbrk(pc->id, "\"\\")) {
		reply_ok(c, pc->rid,
			 json_pack("{s:I,s:s,s:b}", "seq", (json_int_t)pc->seq, "id", pc->id,
				   "duplicate", pc->duplicate));
		return;
	}
	char line[400];
	int n = snprintf(line, sizeof line, "{%s\"ok\":true,\"seq\":%lld,\"id\":\"%s\",\"duplicate\":%s}\n",
			 rid, (long long)pc->seq, pc->id, pc->duplicate ? "true" : "false");
	struct daemon *d = c->d;
	if (buf_add(&c->acks, line, (size_t)n) < 0) {
		/* Full: write what is gathered, in order, and gather on. */
		acks_send(c);
		buf_add(&c->acks, line, (size_t)n);
	}
	if (!c->ack_pending) {
		c->ack_pending = true;
		c->refs++;
		c->ack_next = d->ack_dirty;
		d->ack_dirty = c;
	}
}

/* Writes every connection's gathered acks, one write each. */
static void flush_acks(struct daemon *d)
{
	while (d->ack_dirty) {
		struct conn *c = d->ack_dirty;
		d->ack_dirty = c->ack_next;
		c->ack_pending = false;
		acks_send(c);
		conn_maybe_finish(c);
		conn_unref(c);
	}
}

/* Clears one pause reason on every connection and reads again where no
 * other reason holds. */
static void resume_paused(struct daemon *d, unsigned why)
{
	for (struct conn *c = d->conns, *next; c; c = next) {
		next = c->next;
		if (c->pause & why) {
			c->pause &= ~why;
			conn_update_reading(c);
		}
	}
}

/* While the store cannot write, durable publishers are answered within a
 * second instead of waiting without a word. Their events stay queued and
 * are written if space comes back (the answer says so). */
static void on_store_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	if (!d->store_err)
		return;
	while (d->durable_head) {
		struct pubctx *pc = d->durable_head;
		d->durable_head = pc->next;
		ack_pub(pc, d->store_err);
		pubctx_free(pc);
	}
	d->durable_tail = NULL;
	flush_acks(d);
}

static void store_health_changed(struct daemon *d)
{
	int err = store_health(d->st, d->store_msg, sizeof d->store_msg);
	if (err == d->store_err)
		return;
	d->store_err = err;
	if (err == CAIRN_E_CORRUPT) /* for good: paused publishers get the error */
		resume_paused(d, PAUSE_STORE);
	if (err) {
		log_warn("publishing is refused until the store can write: %s", d->store_msg);
		if (!d->store_timer_on) {
			uv_timer_start(&d->store_timer, on_store_timer, 1000, 1000);
			d->store_timer_on = true;
		}
	} else {
		log_info("the store writes again; publishing resumes");
		if (d->store_timer_on) {
			uv_timer_stop(&d->store_timer);
			d->store_timer_on = false;
		}
		resume_paused(d, PAUSE_STORE);
	}
}

static void add_durable_waiter(struct daemon *d, struct pubctx *pc)
{
	pc->next = NULL;
	if (d->durable_tail)
		d->durable_tail->next = pc;
	else
		d->durable_head = pc;
	d->durable_tail = pc;
}

/* The dedup key of an event: source and id, which cannot hold a 0x1f. */
static char *dedup_key(const struct event *ev)
{
	return xasprintf("%s\x1f%s", ev->source, ev->id);
}

/* The sequencer. Assigns the next seq to ev (unless its (source, id) is
 * already logged or on its way), delivers it to live subscribers, acks an
 * `accepted` publish, and hands it to the writer. Takes ev and pc. fresh_id
 * says the daemon made ev's id itself. Runs on the loop, so seq order, ring
 * order and fan-out order are one order. */
static void sequence(struct daemon *d, struct event *ev, struct pubctx *pc, bool fresh_id)
{
	snprintf(pc->id, sizeof pc->id, "%s", ev->id);
	if (pc->conn)
		pc->conn->pubs_sequenced++;
	char *key = dedup_key(ev);
	int64_t seq = (int64_t)(intptr_t)strmap_get(&d->pending_ids, key);
	int found = seq > 0;
	/* An id the daemon just made (a new ULID) cannot be in the log. */
	if (!found && !fresh_id) {
		found = store_lookup(d->st, ev->source, ev->id, &seq);
		if (found < 0) {
			free(key);
			event_free(ev);
			ack_pub(pc, CAIRN_E_STORE);
			pubctx_free(pc);
			return;
		}
	}
	if (found) {
		/* A duplicate: stored once, answered with the first seq. */
		free(key);
		event_free(ev);
		pc->seq = seq;
		pc->duplicate = true;
		if (pc->ack == ACK_DURABLE && seq > d->committed_seq) {
			add_durable_waiter(d, pc);
		} else {
			ack_pub(pc, 0);
			pubctx_free(pc);
		}
		return;
	}
	ev->seq = d->last_seq + 1;
	size_t len;
	char *json = event_encode(ev, &len);
	if (len > d->cfg->event_bytes) {
		free(key);
		free(json);
		event_free(ev);
		ack_pub(pc, CAIRN_E_TOOBIG);
		pubctx_free(pc);
		return;
	}
	d->last_seq = ev->seq;
	d->n_published++;
	strmap_put(&d->pending_ids, key, (void *)(intptr_t)ev->seq);
	free(key);

	struct blob *b = blob_take(xstrndup(json, len), len);
	ring_push(d, ev->seq, ev->type, b);
	struct ring_entry e = {.seq = ev->seq, .type = ev->type, .json = b};
	subindex_match(d->idx, ev->type, fanout_one, &e);
	blob_unref(b);
	triage_service_offer(d->triage, ev, json, len);

	pc->seq = ev->seq;
	bool durable = pc->ack == ACK_DURABLE || pc->spool;
	if (durable) {
		add_durable_waiter(d, pc);
	} else {
		ack_pub(pc, 0);
		pubctx_free(pc);
	}
	struct store_pub *p = xcalloc(1, sizeof *p);
	p->ev = ev;
	p->json = json;
	p->json_len = len;
	p->seq = ev->seq;
	p->durable = durable;
	d->inflight++;
	d->inflight_bytes += len;
	store_submit(d->st, p);
}

static void finish_shutdown(struct daemon *d);
static void dispatch_parked(struct daemon *d);

static void drain_store(struct daemon *d)
{
	struct store_out *o = store_take_output(d->st);
	while (o) {
		struct store_out *next = o->next;
		d->n_batches++;
		d->n_commits += o->err == 0;
		for (struct store_pub *p = o->pubs, *pn; p; p = pn) {
			pn = p->next;
			char *key = dedup_key(p->ev);
			strmap_del(&d->pending_ids, key);
			free(key);
			d->inflight--;
			d->inflight_bytes -= p->json_len;
			event_free(p->ev);
			free(p->json);
			free(p);
		}
		/* Only a batch that is on disk moves the committed mark: events
		 * of a failed one are not in the log (the ring keeps them, queries
		 * and triage do not count them). */
		if (o->err == 0 && o->seq > d->committed_seq)
			d->committed_seq = o->seq;
		triage_service_committed(d->triage, d->committed_seq);
		/* Release the durable waiters whose event is now on disk (or lost:
		 * then the ack says so). */
		struct pubctx **pp = &d->durable_head;
		d->durable_tail = NULL;
		while (*pp) {
			struct pubctx *pc = *pp;
			if (pc->seq <= o->seq) {
				*pp = pc->next;
				ack_pub(pc, o->err);
				pubctx_free(pc);
			} else {
				d->durable_tail = pc;
				pp = &pc->next;
			}
		}
		free(o);
		o = next;
	}
	store_health_changed(d);
	flush_acks(d);
	dispatch_parked(d);
	if (d->inflight <= d->cfg->writer_queue_max / 2 &&
	    d->inflight_bytes <= d->cfg->writer_queue_bytes / 2)
		resume_paused(d, PAUSE_WRITER);
	if (d->stopping && d->inflight == 0 && !d->durable_head)
		finish_shutdown(d);
}

static void on_store_async(uv_async_t *h)
{
	drain_store(h->data);
}

static void store_notify(void *arg)
{
	uv_async_send(arg);
}

/* ---- the spool: events written while no daemon ran ---- */

static void spool_done(struct spool_file *sf, int err)
{
	struct daemon *d = sf->d;
	if (err == CAIRN_E_TOOBIG) {
		char *bad = xasprintf("%s.bad", sf->path);
		log_warn("spool: %s is over the event size limit; kept as %s", sf->path, bad);
		rename(sf->path, bad);
		free(bad);
	} else if (err) {
		log_warn("spool: %s was not stored (%s); it stays for the next start", sf->path,
			 err_str(err));
	} else if (unlink(sf->path) < 0 && errno != ENOENT) {
		log_warn("spool: cannot remove %s: %s", sf->path, strerror(errno));
	}
	for (struct spool_file **pp = &d->spool_active; *pp; pp = &(*pp)->next)
		if (*pp == sf) {
			*pp = sf->next;
			break;
		}
	free(sf->path);
	free(sf);
}

/* Publishes one spooled file durably; it is removed once committed. A file
 * that is not a valid event is renamed to *.bad and kept for inspection. */
static void spool_import(struct daemon *d, const char *path)
{
	for (struct spool_file *sf = d->spool_active; sf; sf = sf->next)
		if (strcmp(sf->path, path) == 0)
			return; /* already on its way */
	char *buf;
	size_t len;
	int r = spool_read(path, d->cfg->line_bytes, &buf, &len);
	if (r == -ENOENT)
		return;
	struct event *ev = NULL;
	struct verr ve;
	if (r == 0 && event_parse(buf, len, d->cfg->event_bytes, EVENT_PUBLISH, &ev, &ve) == 0) {
		event_fill_defaults(ev, clock_wall_ms());
		struct spool_file *sf = xcalloc(1, sizeof *sf);
		sf->d = d;
		sf->path = xstrdup(path);
		sf->next = d->spool_active;
		d->spool_active = sf;
		struct pubctx *pc = xcalloc(1, sizeof *pc);
		pc->spool = sf; /* the file goes once the event is on disk */
		pc->ack = ACK_DURABLE;
		d->n_spooled++;
		sequence(d, ev, pc, false);
	} else {
		char why[400] = "";
		if (r)
			snprintf(why, sizeof why, "%s", err_str(r));
		else
			verr_format(&ve, why, sizeof why);
		char *bad = xasprintf("%s.bad", path);
		log_warn("spool: %s is not a valid event (%s); kept as %s", path, why, bad);
		rename(path, bad);
		free(bad);
	}
	free(buf);
}

static void spool_scan(struct daemon *d)
{
	char **list;
	if (spool_list(d->spool_dir, &list)) {
		log_warn("spool: cannot read %s: %s", d->spool_dir, strerror(errno));
		return;
	}
	size_t n = 0;
	for (char **p = list; *p; p++, n++)
		spool_import(d, *p);
	if (n)
		log_info("spool: importing %zu events written while no daemon ran", n);
	spool_list_free(list);
}

static void on_spool_change(uv_fs_event_t *h, const char *name, int events, int status)
{
	struct daemon *d = h->data;
	if (status < 0 || d->stopping)
		return;
	/* A writer renames a whole file into place: import just that one. */
	if (name && strlen(name) == ULID_LEN + 5 && strcmp(name + ULID_LEN, ".json") == 0) {
		char *path = xasprintf("%s/%s", d->spool_dir, name);
		spool_import(d, path);
		free(path);
	}
}

/* ---- events of the daemon's own sources ---- */

/* Publishes an event built inside the daemon (the file watcher's); takes
 * ownership of obj. Invalid ones are a bug: logged and dropped. */
static void publish_local(void *ctx, json_t *obj)
{
	struct daemon *d = ctx;
	struct event *ev = NULL;
	struct verr ve;
	if (event_from_json(obj, EVENT_PUBLISH, &ev, &ve)) {
		char buf[400];
		log_error("dropped an internal event: %s", verr_format(&ve, buf, sizeof buf));
		json_decref(obj);
		return;
	}
	json_decref(obj);
	bool fresh_id = ev->id == NULL;
	event_fill_defaults(ev, clock_wall_ms());
	struct pubctx *pc = xcalloc(1, sizeof *pc);
	pc->ack = ACK_NONE;
	sequence(d, ev, pc, fresh_id);
}

/* The watched projects are kept in <data_dir>/watches, one path a line. */
static void watches_save(struct daemon *d)
{
	json_t *list = fswatch_list(d->fw);
	char *tmp = xasprintf("%s.tmp", d->watches_path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		log_error("cannot save the watch list to %s: %s", tmp, strerror(errno));
		goto out;
	}
	size_t i;
	json_t *w;
	json_array_foreach(list, i, w) fprintf(f, "%s\n", json_string_value(json_object_get(w, "path")));
	if (fclose(f) != 0 || rename(tmp, d->watches_path) != 0)
		log_error("cannot save the watch list to %s: %s", d->watches_path, strerror(errno));
out:
	free(tmp);
	json_decref(list);
}

static void watches_load(struct daemon *d)
{
	FILE *f = fopen(d->watches_path, "r");
	if (!f)
		return;
	char line[4200];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		char err[300] = "";
		char *root = NULL;
		int r = fswatch_add(d->fw, line, &root, err, sizeof err);
		if (r && r != -EEXIST)
			log_warn("not watching %s: %s", line, *err ? err : err_str(r));
		else if (*err)
			log_info("watching %s: %s", line, err);
		else
			log_info("watching %s", root);
		free(root);
	}
	fclose(f);
}

static void do_watch(struct conn *c, struct proto_req *req)
{
	struct daemon *d = c->d;
	struct proto_err e;
	if (!d->fw) {
		proto_err_set(&e, "unavailable", "", "file watching is not available (inotify failed "
						       "at start; see the daemon's log)");
		reply_error(c, req->rid, &e);
		return;
	}
	/* The reply: every watch, and for add the one that holds the path
	 * ("state" says whether its tree is still being walked). */
	json_t *out = json_object();
	if (strcmp(req->action, "add") == 0) {
		char err[300] = "";
		char *root = NULL;
		int r = fswatch_add(d->fw, req->path, &root, err, sizeof err);
		if (r && r != -EEXIST) {
			json_decref(out);
			proto_err_set(&e, "bad_request", "path", "cannot watch: %s",
				      *err ? err : err_str(r));
			reply_error(c, req->rid, &e);
			return;
		}
		if (r == 0) {
			watches_save(d);
			log_info("watching %s", root);
		}
		json_object_set_new(out, "watch", fswatch_info(d->fw, root));
		json_object_set_new(out, "already", json_boolean(r == -EEXIST));
		if (*err)
			json_object_set_new(out, "note", json_string(err));
		free(root);
	} else if (strcmp(req->action, "rm") == 0) {
		char *root = NULL;
		if (fswatch_remove(d->fw, req->path, &root)) {
			json_decref(out);
			proto_err_set(&e, "not_found", "path", "'%s' is not watched; see 'cairn watch list'",
				      req->path);
			reply_error(c, req->rid, &e);
			return;
		}
		watches_save(d);
		log_info("no longer watching %s", root);
		free(root);
	}
	json_object_set_new(out, "watches", fswatch_list(d->fw));
	reply_ok(c, req->rid, out);
}

/* ---- requests ---- */

static void do_hello(struct conn *c, struct proto_req *req)
{
	int best = 0;
	for (int i = 0; i < req->n_versions; i++)
		if (req->versions[i] <= PROTO_VERSION && req->versions[i] > best)
			best = req->versions[i];
	if (!best) {
		json_t *o = json_pack("{s:b,s:{s:s,s:s},s:[i]}", "ok", 0, "error", "code",
				      "version", "message",
				      "no protocol version in common; this daemon speaks version 1",
				      "supported", PROTO_VERSION);
		if (req->rid)
			json_object_set(o, "rid", req->rid);
		size_t n;
		char *s = proto_json_line(o, &n);
		send_line(c, s, n);
		return;
	}
	reply_ok(c, req->rid,
		 json_pack("{s:i,s:s,s:{s:I,s:I}}", "version", best, "server", "cairn/" CAIRN_VERSION,
			   "limits", "line_bytes", (json_int_t)c->d->cfg->line_bytes, "event_bytes",
			   (json_int_t)c->d->cfg->event_bytes));
}

static void do_pub(struct conn *c, struct proto_req *req)
{
	struct daemon *d = c->d;
	if (d->store_err) {
		/* Nothing new is taken while the store cannot write: a clear
		 * error, and for a publisher that does not wait for durability,
		 * back-pressure too (its next requests wait unread). */
		struct proto_err e;
		store_error_set(d, d->store_err, 0, &e);
		reply_error(c, req->rid, &e);
		if (req->ack != ACK_DURABLE && d->store_err != CAIRN_E_CORRUPT) {
			c->pause |= PAUSE_STORE;
			conn_update_reading(c);
		}
		return;
	}
	bool fresh_id = req->ev->id == NULL;
	event_fill_defaults(req->ev, clock_wall_ms());
	struct pubctx *pc = xcalloc(1, sizeof *pc);
	pc->conn = c;
	c->refs++;
	pc->rid = req->rid;
	req->rid = NULL;
	pc->ack = req->ack;
	c->pubs_submitted++;
	c->pending_ops++;
	struct event *ev = req->ev;
	req->ev = NULL;
	sequence(d, ev, pc, fresh_id);
	if ((d->inflight > d->cfg->writer_queue_max ||
	     d->inflight_bytes > d->cfg->writer_queue_bytes) &&
	    !(c->pause & PAUSE_WRITER)) {
		/* The disk is behind: stop reading from this publisher for a
		 * while, so what waits for the writer stays bounded. */
		c->pause |= PAUSE_WRITER;
		conn_update_reading(c);
	}
}

static bool sub_name_ok(const char *s)
{
	for (; *s; s++)
		if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') ||
		      ('0' <= *s && *s <= '9') || strchr("_-.:", *s)))
			return false;
	return true;
}

static void do_sub(struct conn *c, struct proto_req *req)
{
	struct daemon *d = c->d;
	struct proto_err e;
	char autoname[24];
	const char *name = req->sub;
	if (name) {
		if (!sub_name_ok(name)) {
			proto_err_set(&e, "bad_request", "sub",
				      "field 'sub' may hold only letters, digits and _-.:");
			reply_error(c, req->rid, &e);
			return;
		}
		for (struct sub *s = c->subs; s; s = s->next)
			if (strcmp(s->name, name) == 0) {
				proto_err_set(&e, "exists", "sub",
					      "a subscription named '%s' already exists on this "
					      "connection",
					      name);
				reply_error(c, req->rid, &e);
				return;
			}
	} else {
		for (;;) {
			snprintf(autoname, sizeof autoname, "%u", ++c->next_sub_id);
			bool taken = false;
			for (struct sub *s = c->subs; s; s = s->next)
				taken |= strcmp(s->name, autoname) == 0;
			if (!taken)
				break;
		}
		name = autoname;
	}
	if (req->from.kind == POS_SEQ || req->from.kind == POS_TIME) {
		if (c->n_replaying >= CONN_REPLAYS) {
			proto_err_set(&e, "busy", "from",
				      "this connection already has %d subscriptions replaying the "
				      "log; wait until one is live (or use another connection)",
				      CONN_REPLAYS);
			reply_error(c, req->rid, &e);
			return;
		}
	}
	struct sub *s = xcalloc(1, sizeof *s);
	s->refs = 1;
	s->conn = c;
	c->refs++;
	s->name = xstrdup(name);
	s->pattern = req->pattern;
	req->pattern = NULL;
	s->prefix = xasprintf("{\"sub\":\"%s\",\"event\":", s->name);
	s->prefix_len = strlen(s->prefix);
	s->next = c->subs;
	c->subs = s;
	subindex_add(d->idx, s->pattern, s);
	d->n_subs++;
	reply_ok(c, req->rid,
		 json_pack("{s:s,s:I}", "sub", s->name, "seq", (json_int_t)d->last_seq));
	switch (req->from.kind) {
	case POS_NONE:
	case POS_NOW:
		s->state = SUB_LIVE;
		s->min_seq = d->last_seq + 1;
		break;
	case POS_SEQ:
		s->state = SUB_REPLAY;
		c->n_replaying++;
		s->announce_live = true;
		s->next_seq = s->min_seq = req->from.seq > 0 ? req->from.seq : 1;
		replay_step(d, s);
		break;
	case POS_TIME: {
		s->state = SUB_REPLAY;
		c->n_replaying++;
		s->announce_live = true;
		s->read_pending = true;
		struct seek_req *sr = xcalloc(1, sizeof *sr);
		sr->d = d;
		sr->sub = s;
		s->refs++;
		sr->ms = req->from.ms;
		uv_queue_work(&d->loop, &sr->work, seek_work, seek_done);
		break;
	}
	}
}

static void do_unsub(struct conn *c, struct proto_req *req)
{
	for (struct sub *s = c->subs; s; s = s->next)
		if (strcmp(s->name, req->sub) == 0) {
			sub_kill(c->d, s);
			reply_ok(c, req->rid, json_object());
			return;
		}
	struct proto_err e;
	proto_err_set(&e, "not_found", "sub", "no subscription named '%s' on this connection",
		      req->sub);
	reply_error(c, req->rid, &e);
}

/* A query, run in the thread pool; the reply line is built there. */
struct query_req {
	uv_work_t work;
	struct conn *conn;
	struct daemon *d;
	struct store_query q;
	char *pattern, *project;
	json_t *rid;
	struct buf reply; /* the events array; max: see do_query() */
	size_t n;
	int err;
	bool more;
	struct query_req *next_parked;
	uint64_t need_sequenced; /* the connection's pubs sent before the query */
	size_t page_bytes;       /* the reply's size: past it, "more" */
	int64_t target;          /* the seq that must be committed first, or -1 */
};

static int query_row(void *ctx, int64_t seq, const char *type, const char *json, size_t len)
{
	struct query_req *qr = ctx;
	if (qr->n > 0 && qr->reply.len + len > qr->page_bytes) {
		qr->more = true; /* the client pages on with since = last seq + 1 */
		return 1;
	}
	/* Room is kept for the closing ']' (see do_query()). */
	if (len + 2 > qr->reply.max - qr->reply.len) {
		qr->err = CAIRN_E_TOOBIG;
		return 1;
	}
	if (qr->n++)
		buf_addch(&qr->reply, ',');
	buf_add(&qr->reply, json, len);
	return 0;
}

static void query_work(uv_work_t *w)
{
	struct query_req *qr = (struct query_req *)w;
	buf_addch(&qr->reply, '[');
	int r = store_query(qr->d->st, &qr->q, query_row, qr, &qr->more);
	if (!qr->err)
		qr->err = r;
	buf_addch(&qr->reply, ']');
}

static void query_done(uv_work_t *w, int status)
{
	struct query_req *qr = (struct query_req *)w;
	struct conn *c = qr->conn;
	if ((status || qr->err) && !c->closing) {
		struct proto_err e;
		proto_err_set(&e, "unavailable", "", "the query failed; see the daemon's log");
		reply_error(c, qr->rid, &e);
	} else if (!c->closing) {
		char *rid = qr->rid ? json_dumps(qr->rid, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		char *line = xasprintf("{%s%s%s\"ok\":true,\"events\":%s,\"more\":%s}\n",
				       rid ? "\"rid\":" : "", rid ? rid : "", rid ? "," : "",
				       qr->reply.data, qr->more ? "true" : "false");
		free(rid);
		send_line(c, line, strlen(line));
	}
	json_decref(qr->rid);
	buf_release(&qr->reply);
	free(qr->pattern);
	free(qr->project);
	free(qr);
	conn_op_done(c, true);
	conn_unref(c);
}

/* Starts qr in the thread pool if the log already holds everything it must
 * see: the connection's own publishes sent before it, and every event
 * sequenced before them (readers see only committed rows). Returns false if
 * it must wait for a later commit. */
static bool query_try_start(struct daemon *d, struct query_req *qr)
{
	if (qr->target < 0) {
		if (qr->conn->pubs_sequenced < qr->need_sequenced)
			return false;
		qr->target = d->last_seq;
	}
	if (d->committed_seq < qr->target)
		return false;
	uv_queue_work(&d->loop, &qr->work, query_work, query_done);
	return true;
}

static void dispatch_parked(struct daemon *d)
{
	struct query_req **pp = &d->parked;
	while (*pp) {
		struct query_req *qr = *pp;
		if (query_try_start(d, qr)) {
			*pp = qr->next_parked;
		} else {
			pp = &qr->next_parked;
		}
	}
}

static void do_query(struct conn *c, struct proto_req *req)
{
	struct query_req *qr = xcalloc(1, sizeof *qr);
	qr->conn = c;
	c->refs++;
	conn_op_start(c, true);
	qr->d = c->d;
	qr->rid = req->rid;
	req->rid = NULL;
	store_query_init(&qr->q);
	qr->pattern = req->pattern;
	req->pattern = NULL;
	qr->project = req->project;
	req->project = NULL;
	qr->q.pattern = qr->pattern;
	qr->q.project = qr->project;
	qr->q.limit = req->limit;
	qr->q.desc = req->desc;
	if (req->since.kind == POS_SEQ)
		qr->q.since_seq = req->since.seq;
	else if (req->since.kind == POS_TIME)
		qr->q.since_ms = req->since.ms;
	if (req->until.kind == POS_SEQ) {
		qr->q.until_seq = req->until.seq;
		if (req->until.seq == 0)
			qr->q.until_ms = INT64_MIN; /* nothing is at or before seq 0 */
	} else if (req->until.kind == POS_TIME) {
		qr->q.until_ms = req->until.ms;
	}
	qr->need_sequenced = c->pubs_submitted;
	/* A reply is at most the connection's soft output limit (and 32 MiB),
	 * so CONN_POOL_OPS replies in flight stay under the hard one. */
	qr->page_bytes = c->d->cfg->conn_output_bytes < QUERY_REPLY_BYTES ? c->d->cfg->conn_output_bytes
									   : QUERY_REPLY_BYTES;
	/* Rows are added while the reply is under page_bytes, and the first
	 * row always, so the reply is at most page_bytes plus one row, a
	 * comma and the brackets. A row is what SQLite can hold. */
	buf_init(&qr->reply, qr->page_bytes + QUERY_ROW_MAX + 3);
	qr->target = -1;
	if (!query_try_start(c->d, qr)) {
		qr->next_parked = c->d->parked;
		c->d->parked = qr;
	}
}

struct status_req {
	uv_work_t work;
	struct conn *conn;
	json_t *rid;
	struct store_stats stats;
	int err;
};

static void status_work(uv_work_t *w)
{
	struct status_req *sr = (struct status_req *)w;
	sr->err = store_stats(sr->conn->d->st, &sr->stats);
}

static void status_done(uv_work_t *w, int status)
{
	struct status_req *sr = (struct status_req *)w;
	struct conn *c = sr->conn;
	struct daemon *d = c->d;
	if (!c->closing) {
		json_t *o = json_pack(
			"{s:s,s:i,s:i,s:I,s:{s:I,s:I,s:I},s:I,s:I,s:I,s:{s:s,s:I},"
			"s:{s:I,s:I,s:I},s:{s:I,s:I,s:I},s:{s:I}}",
			"version", CAIRN_VERSION, "protocol", PROTO_VERSION, "pid", (int)getpid(),
			"uptime_ms", (json_int_t)((clock_mono_ns() - d->start_ns) / 1000000), "seq",
			"first", (json_int_t)sr->stats.first_seq, "last", (json_int_t)d->last_seq,
			"committed", (json_int_t)d->committed_seq, "events",
			(json_int_t)sr->stats.events, "connections", (json_int_t)d->n_conns,
			"subscriptions", (json_int_t)d->n_subs, "store", "path", d->cfg->db_path,
			"bytes", (json_int_t)sr->stats.bytes, "writer", "queued",
			(json_int_t)d->inflight, "batches", (json_int_t)d->n_batches, "commits",
			(json_int_t)d->n_commits, "delivery", "published", (json_int_t)d->n_published,
			"delivered", (json_int_t)d->n_delivered, "gaps", (json_int_t)d->n_gaps, "spool",
			"imported", (json_int_t)d->n_spooled);
		if (d->triage) {
			struct triage_service_stats ts;
			triage_service_stats(d->triage, &ts);
			json_object_set_new(
				o, "triage",
				json_pack("{s:I,s:b,s:I,s:I,s:I,s:I,s:f}", "queued", (json_int_t)ts.queued,
					  "running", ts.running, "reports", (json_int_t)ts.reports,
					  "learned", (json_int_t)ts.learned, "dropped",
					  (json_int_t)ts.dropped, "failed", (json_int_t)ts.failed,
					  "last_ms", ts.last_ms));
		}
		size_t waiting = 0;
		for (struct sub *ws = d->replay_wait; ws; ws = ws->wait_next)
			waiting++;
		json_object_set_new(o, "ring",
				    json_pack("{s:I,s:I}", "events", (json_int_t)d->ring_len, "bytes",
					      (json_int_t)d->ring_bytes));
		json_object_set_new(o, "replay",
				    json_pack("{s:I,s:I}", "reading", (json_int_t)d->n_replay_reads,
					      "waiting", (json_int_t)waiting));
		json_object_set_new(json_object_get(o, "writer"), "queued_bytes",
				    json_integer((json_int_t)d->inflight_bytes));
		if (d->store_err)
			json_object_set_new(o, "store_health",
					    json_pack("{s:s,s:s}", "error",
						      d->store_err == CAIRN_E_FULL ? "disk_full"
						      : d->store_err == CAIRN_E_CORRUPT ? "damaged"
											 : "failing",
						      "message", d->store_msg));
		if (sr->err)
			json_object_set_new(o, "store_error", json_string("cannot read the database"));
		reply_ok(c, sr->rid, o);
	}
	json_decref(sr->rid);
	free(sr);
	conn_op_done(c, true);
	conn_unref(c);
}

static void do_status(struct conn *c, struct proto_req *req)
{
	struct status_req *sr = xcalloc(1, sizeof *sr);
	sr->conn = c;
	c->refs++;
	conn_op_start(c, true);
	sr->rid = req->rid;
	req->rid = NULL;
	uv_queue_work(&c->d->loop, &sr->work, status_work, status_done);
}

static int on_line(void *ctx, const char *line, size_t len, bool too_long)
{
	struct conn *c = ctx;
	struct proto_err err;
	if (c->closing)
		return 1;
	if (too_long) {
		/* The id, if the line's first bytes hold it, so that the client
		 * can match this answer to its request. */
		json_t *rid = proto_scan_rid(line, strlen(line));
		proto_err_set(&err, "line_too_long", "",
			      "request line of %zu bytes is over the limit of %zu bytes "
			      "([limits] line_bytes); it was discarded",
			      len, c->d->cfg->line_bytes);
		reply_error(c, rid, &err);
		json_decref(rid);
		return c->closing || c->pause;
	}
	struct proto_req req;
	if (proto_parse(line, len, &req, &err)) {
		json_t *rid = req.rid ? json_incref(req.rid)
				      : proto_scan_rid(line, len < LINEBUF_HEAD ? len : LINEBUF_HEAD);
		reply_error(c, rid, &err);
		json_decref(rid);
		proto_req_release(&req);
		return c->closing || c->pause;
	}
	if (c->d->stopping) {
		proto_err_set(&err, "unavailable", "", "the daemon is shutting down; retry later");
		reply_error(c, req.rid, &err);
		proto_req_release(&req);
		return 0;
	}
	switch (req.op) {
	case OP_HELLO: do_hello(c, &req); break;
	case OP_PUB: do_pub(c, &req); break;
	case OP_SUB: do_sub(c, &req); break;
	case OP_UNSUB: do_unsub(c, &req); break;
	case OP_QUERY: do_query(c, &req); break;
	case OP_STATUS: do_status(c, &req); break;
	case OP_WATCH: do_watch(c, &req); break;
	}
	proto_req_release(&req);
	/* Stop at this line when the connection was paused or closed by it;
	 * the rest of the chunk is kept in c->unread. */
	return c->closing || c->pause;
}

/* ---- connection lifecycle ---- */

static void conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	free(c->unread);
	buf_release(&c->acks);
	linebuf_release(&c->lb);
	free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
	conn_unref((struct conn *)h);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->reading = false;
	struct daemon *d = c->d;
	while (c->subs)
		sub_kill(d, c->subs);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->n_conns--;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

/* Feeds bytes read from c to its line splitter; what is left when a line
 * paused or closed the connection is kept for later. */
static void conn_feed(struct conn *c, const char *data, size_t len)
{
	c->refs++; /* keep c alive while its lines are handled */
	size_t used = linebuf_feed(&c->lb, data, len, on_line, c);
	if (used < len && !c->closing) {
		char *rest = xmalloc(c->unread_len + (len - used));
		if (c->unread_len)
			memcpy(rest, c->unread, c->unread_len);
		memcpy(rest + c->unread_len, data + used, len - used);
		free(c->unread);
		c->unread = rest;
		c->unread_len += len - used;
	}
	flush_acks(c->d); /* the acks of this chunk's publishes, in one write */
	conn_unref(c);
}

/* Whether c's requests should be read now. */
static bool conn_wants_read(const struct conn *c)
{
	return !c->closing && !c->eof && !c->d->stopping && c->pause == 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Starts or stops reading c to match conn_wants_read(), feeding first
 * what was read before a pause. */
static void conn_update_reading(struct conn *c)
{
	if (c->in_update)
		return;
	c->in_update = true;
	c->refs++;
	for (;;) {
		if (!conn_wants_read(c)) {
			if (c->reading && !c->closing)
				uv_read_stop((uv_stream_t *)&c->pipe);
			c->reading = false;
			break;
		}
		if (c->unread) {
			char *buf = c->unread;
			size_t len = c->unread_len;
			c->unread = NULL;
			c->unread_len = 0;
			conn_feed(c, buf, len);
			free(buf);
			continue;
		}
		if (!c->reading) {
			int r = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
			if (r < 0) {
				log_warn("cannot read from a client: %s", uv_strerror(r));
				c->in_update = false;
				conn_close(c);
				conn_unref(c);
				return;
			}
			c->reading = true;
		}
		break;
	}
	c->in_update = false;
	conn_unref(c);
}

/* A connection whose peer stopped sending is closed once every request it
 * sent is answered and every answer written. */
static void conn_maybe_finish(struct conn *c)
{
	if (c->eof && !c->closing && c->pending_ops == 0 && c->n_writes == 0 && !c->unread &&
	    !c->ack_pending && !c->acks.len)
		conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = (struct conn *)h;
	*buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)stream;
	if (nread == UV_EOF) {
		/* The peer half-closed (or closed): answer what it asked, then
		 * close. Its subscriptions end here: a stream of events needs a
		 * connection that can still say unsub. */
		if (c->reading)
			uv_read_stop(stream);
		c->reading = false;
		c->eof = true;
		while (c->subs)
			sub_kill(c->d, c->subs);
		conn_maybe_finish(c);
		return;
	}
	if (nread < 0) {
		log_debug("client read failed: %s", uv_strerror((int)nread));
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	if (c->unread) {
		/* Bytes kept from a pause come first. */
		char *all = xmalloc(c->unread_len + (size_t)nread);
		memcpy(all, c->unread, c->unread_len);
		memcpy(all + c->unread_len, buf->base, (size_t)nread);
		size_t len = c->unread_len + (size_t)nread;
		free(c->unread);
		c->unread = NULL;
		c->unread_len = 0;
		conn_feed(c, all, len);
		free(all);
	} else {
		conn_feed(c, buf->base, (size_t)nread);
	}
	if (!c->closing && !conn_wants_read(c) && c->reading) {
		uv_read_stop(stream);
		c->reading = false;
	}
}

#define REFUSED_LINGER 16           /* refused peers drained at once */
#define REFUSED_DRAIN (64 * 1024)   /* bytes read from one before closing */

static void on_refused_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)stream;
	if (nread < 0 || (c->drained += (size_t)nread) > REFUSED_DRAIN)
		conn_close(c);
}

static void on_refused_shut(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	if (!c->closing && (status < 0 || uv_read_start((uv_stream_t *)&c->pipe, on_alloc,
							 on_refused_read) < 0))
		conn_close(c);
	conn_unref(c);
}

/* Marks c refused; closes the oldest lingering refused peer past the cap. */
static void refused_linger(struct daemon *d, struct conn *c)
{
	size_t n = 0;
	struct conn *oldest = NULL;
	for (struct conn *o = d->conns; o; o = o->next)
		if (o->refused && !o->closing) {
			n++;
			oldest = o; /* the list is newest first */
		}
	if (n >= REFUSED_LINGER && oldest)
		conn_close(oldest);
	c->refused = true;
	c->shut.data = c;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct daemon *d = server->data;
	if (status < 0) {
		log_warn("accept failed: %s", uv_strerror(status));
		return;
	}
	struct conn *c = xcalloc(1, sizeof *c);
	c->d = d;
	c->refs = 1;
	linebuf_init(&c->lb, d->cfg->line_bytes);
	buf_init(&c->acks, ACK_BUF_MAX);
	uv_pipe_init(&d->loop, &c->pipe, 0);
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
		return;
	}
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	d->n_conns++;

	uv_os_fd_t fd;
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("cannot read a client's credentials: %s; refusing it", strerror(errno));
		conn_close(c);
		return;
	}
	c->uid = cred.uid;
	c->pid = cred.pid;
	if (cred.uid != getuid()) {
		log_warn("refused a connection from pid %d uid %u: only uid %u may use this daemon",
			 (int)cred.pid, (unsigned)cred.uid, (unsigned)getuid());
		struct proto_err e;
		proto_err_set(&e, "forbidden", "",
			      "this daemon belongs to uid %u; start your own with 'cairn daemon'",
			      (unsigned)getuid());
		/* Said, then our side is shut down, and what it sends is read
		 * and dropped until it closes: it reads a clear answer and EOF,
		 * never a broken pipe. A few such peers at most linger. */
		refused_linger(d, c);
		reply_error(c, NULL, &e);
		if (!c->closing) {
			c->refs++;
			if (uv_shutdown(&c->shut, (uv_stream_t *)&c->pipe, on_refused_shut) < 0) {
				conn_unref(c);
				conn_close(c);
			}
		}
		return;
	}
	conn_update_reading(c);
}

/* ---- start, signals, shutdown ---- */

static void on_handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void finish_shutdown(struct daemon *d)
{
	if (d->stopped)
		return;
	d->stopped = true;
	if (d->fw) {
		fswatch_flush(d->fw); /* pending file events go into the last commit */
		fswatch_free(d->fw);
		d->fw = NULL;
	}
	/* Let the writer commit what it holds; after this it notifies no more,
	 * so the async handle can close. */
	store_stop(d->st);
	drain_store(d);
	while (d->conns)
		conn_close(d->conns);
	uv_close((uv_handle_t *)&d->store_async, on_handle_closed);
	uv_close((uv_handle_t *)&d->sigint, on_handle_closed);
	uv_close((uv_handle_t *)&d->sigterm, on_handle_closed);
	if (d->watchdog_on)
		uv_close((uv_handle_t *)&d->watchdog, on_handle_closed);
	if (d->retention_on)
		uv_close((uv_handle_t *)&d->retention, on_handle_closed);
	if (d->spool_watch_on)
		uv_close((uv_handle_t *)&d->spool_watch, on_handle_closed);
	uv_close((uv_handle_t *)&d->store_timer, on_handle_closed);
	on_reap(&d->reaper);
	uv_close((uv_handle_t *)&d->reaper, on_handle_closed);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (d->stopping)
		return;
	log_info("received %s; stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
	sd_notify(0, "STOPPING=1");
	d->stopping = true;
	store_request_stop(d->st);
	if (d->triage)
		triage_service_stop(d->triage);
	uv_close((uv_handle_t *)&d->server, on_handle_closed);
	/* Log reads stop: a shutdown does not wait for replays. */
	for (struct conn *c = d->conns; c; c = c->next) {
		conn_update_reading(c);
		for (struct sub *sb = c->subs; sb; sb = sb->next)
			replay_cancel(d, sb);
	}
	if (d->inflight == 0 && !d->durable_head)
		finish_shutdown(d);
}

static void on_watchdog(uv_timer_t *t)
{
	sd_notify(0, "WATCHDOG=1");
}

static void on_retention(uv_timer_t *t)
{
	struct daemon *d = t->data;
	store_request_retention(d->st);
}

/* Creates dir (mode 0700) if missing and checks that it is ours and
 * private: a real directory (not a symlink), owned by this uid, with no
 * access for group or others. What it finds is never chmod-ed: a directory
 * that someone else could have made or swapped is refused, with the fix. */
static int ensure_private_dir(const char *dir)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
			log_error("cannot create directory '%s': %s", tmp, strerror(errno));
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create directory '%s': %s", dir, strerror(errno));
		return -errno;
	}
	struct stat sb;
	if (lstat(dir, &sb) < 0) {
		log_error("cannot inspect directory '%s': %s", dir, strerror(errno));
		return -errno;
	}
	if (S_ISLNK(sb.st_mode) || !S_ISDIR(sb.st_mode)) {
		log_error("'%s' is %s, not a directory of your own; refusing it. Remove it or "
			  "set [daemon] runtime_dir or data_dir to a private directory",
			  dir, S_ISLNK(sb.st_mode) ? "a symbolic link" : "not a directory");
		return -EPERM;
	}
	if (sb.st_uid != getuid()) {
		log_error("directory '%s' belongs to uid %u, not to you (uid %u); refusing it. "
			  "Set [daemon] runtime_dir or data_dir to a directory of your own",
			  dir, (unsigned)sb.st_uid, (unsigned)getuid());
		return -EPERM;
	}
	if (sb.st_mode & 077) {
		log_error("directory '%s' is open to group or others (mode %04o); refusing it. "
			  "Make it private with 'chmod 700 %s'",
			  dir, (unsigned)(sb.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

static int take_lock(struct daemon *d)
{
	const char *path = d->cfg->lock_path;
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (d->lock_fd < 0) {
		log_error("cannot open lock file '%s': %s", path, strerror(errno));
		return -errno;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		ssize_t n = pread(d->lock_fd, pid, sizeof pid - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_error("another cairn daemon is already running for this user (pid %s, lock "
			  "'%s'); stop it first or use 'cairn status' to talk to it",
			  *pid ? pid : "unknown", path);
		close(d->lock_fd);
		d->lock_fd = -1;
		return CAIRN_E_BUSY;
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, pid, (size_t)n, 0) < 0)
		log_warn("cannot write pid to '%s': %s", path, strerror(errno));
	return 0;
}

static int listen_socket(struct daemon *d)
{
	const char *path = d->cfg->socket_path;
	/* We hold the lock, so a socket file left here is stale. */
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("cannot remove stale socket '%s': %s", path, strerror(errno));
		return -errno;
	}
	uv_pipe_init(&d->loop, &d->server, 0);
	d->server.data = d;
	mode_t old = umask(0177); /* the socket is born 0600 */
	int r = uv_pipe_bind(&d->server, path);
	umask(old);
	if (r < 0) {
		log_error("cannot listen on '%s': %s", path, uv_strerror(r));
		uv_close((uv_handle_t *)&d->server, NULL);
		return r;
	}
	chmod(path, 0600);
	if ((r = uv_listen((uv_stream_t *)&d->server, 128, on_connection)) < 0) {
		log_error("cannot listen on '%s': %s", path, uv_strerror(r));
		uv_close((uv_handle_t *)&d->server, NULL);
		return r;
	}
	return 0;
}

int daemon_run(const struct config *cfg)
{
	struct daemon d;
	memset(&d, 0, sizeof d);
	d.cfg = cfg;
	d.lock_fd = -1;
	d.start_ns = clock_mono_ns();
	log_set_level(cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	/* Memory goes back to the system when clients let go of it: large
	 * buffers (replies, replays, big events) are mmap-ed and returned on
	 * free instead of fragmenting the heap (glibc raises its threshold
	 * after the first free otherwise), and the pool threads, which
	 * allocate what the loop frees, share two arenas instead of one each.
	 * The soak (bench/soak) shows the difference in RSS. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_ARENA_MAX, 2);
	int r;

	if ((r = ensure_private_dir(cfg->runtime_dir)) || (r = ensure_private_dir(cfg->data_dir)))
		return r;
	if ((r = take_lock(&d)))
		return r;

	char err[512];
	struct store_config sc = {
		.path = cfg->db_path,
		.batch_max = cfg->batch_max,
		.event_max_bytes = cfg->event_bytes,
		.retention_age_ms = cfg->retention_age_ms,
		.retention_bytes = cfg->retention_bytes,
		.reserve_bytes = cfg->reserve_bytes,
		.check_at_open = cfg->check_at_start,
	};
	if ((r = store_open(&sc, &d.st, err, sizeof err))) {
		log_error("cannot open the event log: %s", err);
		goto out_unlock;
	}
	d.last_seq = d.committed_seq = store_last_seq(d.st);
	strmap_init(&d.pending_ids);
	d.idx = subindex_new();
	d.ring_cap = cfg->ring_events + cfg->batch_max + 1;
	d.ring = xcalloc(d.ring_cap, sizeof *d.ring);

	uv_loop_init(&d.loop);
	uv_async_init(&d.loop, &d.store_async, on_store_async);
	d.store_async.data = &d;
	uv_timer_init(&d.loop, &d.store_timer);
	d.store_timer.data = &d;
	uv_idle_init(&d.loop, &d.reaper);
	d.reaper.data = &d;
	if ((r = store_start(d.st, store_notify, &d.store_async))) {
		log_error("cannot start the writer thread: %s", err_str(r));
		uv_close((uv_handle_t *)&d.store_async, on_handle_closed);
		uv_close((uv_handle_t *)&d.store_timer, on_handle_closed);
		uv_close((uv_handle_t *)&d.reaper, on_handle_closed);
		uv_run(&d.loop, UV_RUN_DEFAULT);
		goto out_loop;
	}
	uv_signal_init(&d.loop, &d.sigint);
	uv_signal_init(&d.loop, &d.sigterm);
	d.sigint.data = d.sigterm.data = &d;
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);

	if ((r = listen_socket(&d))) {
		finish_shutdown(&d);
		uv_run(&d.loop, UV_RUN_DEFAULT);
		goto out_loop;
	}
	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		uv_timer_init(&d.loop, &d.watchdog);
		uv_timer_start(&d.watchdog, on_watchdog, 0, wd_usec / 2000 ? wd_usec / 2000 : 1);
		d.watchdog_on = true;
	}
	if (cfg->retention_age_ms > 0 || cfg->retention_bytes > 0) {
		/* Timers only when something asked for them: an idle daemon sleeps. */
		uv_timer_init(&d.loop, &d.retention);
		d.retention.data = &d;
		uv_timer_start(&d.retention, on_retention, 0, 3600 * 1000);
		d.retention_on = true;
	}
	d.spool_dir = xasprintf("%s/spool", cfg->data_dir);
	if (mkdir(d.spool_dir, 0700) < 0 && errno != EEXIST)
		log_warn("spool: cannot create %s: %s", d.spool_dir, strerror(errno));
	uv_fs_event_init(&d.loop, &d.spool_watch);
	d.spool_watch.data = &d;
	if (uv_fs_event_start(&d.spool_watch, on_spool_change, d.spool_dir, 0) == 0)
		d.spool_watch_on = true;
	else
		uv_close((uv_handle_t *)&d.spool_watch, NULL);
	/* Before the spool: failures spooled while no daemon ran are triaged
	 * like live ones. */
	struct triage_service_config tsc = {.db_path = cfg->db_path,
					    .excerpt_lines = cfg->excerpt_lines,
					    .forget_ms = (int64_t)cfg->kb_forget_days * 86400000};
	if (triage_service_new(&d.loop, &tsc, publish_local, &d, &d.triage, err, sizeof err) == 0)
		triage_service_committed(d.triage, d.committed_seq);
	else
		log_warn("failure triage is off: %s", err);
	spool_scan(&d);
	/* cairn's own directories are never watched: it would report its own
	 * writes (the database's WAL) forever. */
	char *config_own = config_own_path(cfg);
	const char *own_paths[] = {cfg->data_dir, cfg->runtime_dir, config_own, NULL};
	struct fswatch_config fwc = {.settle_ms = cfg->settle_ms,
				     .max_delay_ms = cfg->max_delay_ms,
				     .retry_ms = cfg->retry_ms,
				     .max_dirs = cfg->max_dirs,
				     .own_paths = own_paths};
	int fwerr = 0;
	d.fw = fswatch_new(&d.loop, &fwc, publish_local, &d, &fwerr);
	free(config_own);
	if (!d.fw)
		log_warn("file watching is off: inotify: %s", err_str(fwerr));
	d.watches_path = xasprintf("%s/watches", cfg->data_dir);
	if (d.fw)
		watches_load(&d);
	log_info("listening on %s (log %s, last seq %lld)", cfg->socket_path, cfg->db_path,
		 (long long)d.last_seq);
	sd_notifyf(0, "READY=1\nSTATUS=listening on %s", cfg->socket_path);

	uv_run(&d.loop, UV_RUN_DEFAULT);
	r = 0;

out_loop:
	store_close(d.st); /* joins the writer after its last commit */
	d.st = NULL;
	uv_run(&d.loop, UV_RUN_NOWAIT);
	if (uv_loop_close(&d.loop) != 0)
		log_warn("the event loop closed with handles still open");
	triage_service_free(d.triage);
	for (size_t i = 0; i < d.ring_len; i++) {
		struct ring_entry *e = &d.ring[(d.ring_start + i) % d.ring_cap];
		free(e->type);
		blob_unref(e->json);
	}
	free(d.ring);
	free(d.spool_dir);
	free(d.watches_path);
	strmap_release(&d.pending_ids, NULL);
	while (d.spool_active) {
		struct spool_file *sf = d.spool_active;
		d.spool_active = sf->next;
		free(sf->path);
		free(sf);
	}
	subindex_free(d.idx);
	if (r == 0)
		log_info("stopped cleanly at seq %lld", (long long)d.last_seq);
out_unlock:
	store_close(d.st);
	if (r == 0)
		unlink(cfg->socket_path);
	if (d.lock_fd >= 0)
		close(d.lock_fd);
	return r;
}
