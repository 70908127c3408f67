/* The socket server (the contract is in server.h): connections, the line
 * protocol's requests, acks gathered per connection, queries and status in
 * the thread pool, and subscriptions as sinks of the bus.
 *
 * Connections and their subscriptions are reference-counted, because
 * writes in flight, reads in the thread pool and publishes waiting for the
 * writer may outlive the peer. */
#include "daemon/server.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
/* Bytes one query reply may hold. */
#define QUERY_REPLY_BYTES (32u * 1024 * 1024)
/* Acks gathered for one connection before they are written even mid-drain
 * (one ack is under 400 bytes). */
#define ACK_BUF_MAX ((size_t)1024 * 1024)
/* The longest row a query can meet: SQLite's default SQLITE_MAX_LENGTH. */
#define QUERY_ROW_MAX ((size_t)1000 * 1000 * 1000)
/* Requests of one connection in the thread pool at once (queries, status);
 * past this its further requests wait unread. */
#define CONN_POOL_OPS 8
/* Subscriptions of one connection replaying the log at once. */
#define CONN_REPLAYS 16

struct conn;

/* Events of one connection's subscriptions wait here until the end of the
 * loop turn (the server's flusher), then go out in one write: a subscriber
 * that gets ten events in a turn costs one writev and one wake-up, not ten
 * (docs/benchmarks.md). A write on the connection for anything else
 * (a reply, a gap or live notice, acks) sends these first, so the order
 * on the wire is the order of the calls. */
#define PEND_FLUSH 256 /* events in one write at most; past it, written at once */

struct pend {
	struct bus_sub *sub;   /* ref held; the event counts in its queue until done */
	struct bus_blob *blob; /* ref held */
	const char *prefix;    /* the subscription's; alive while sub is */
	size_t prefix_len;
};

/* A subscription of a connection: the bus's sink context. */
struct csub {
	struct csub *next; /* in conn->subs, while subscribed */
	struct conn *conn; /* ref held */
	struct bus_sub *bs;
	char *name;
	char *prefix; /* {"sub":"NAME","event": */
	size_t prefix_len;
	bool replaying; /* counted in conn->n_replaying */
};

/* Why a connection's requests are not being read (any set: not reading). */
enum conn_pause {
	PAUSE_WRITER = 1u << 0, /* the writer is behind */
	PAUSE_OUTPUT = 1u << 1, /* its replies are not being read */
	PAUSE_STORE = 1u << 2,  /* the store cannot write (disk full) */
	PAUSE_OPS = 1u << 3,    /* too many of its requests are in progress */
	PAUSE_FLOOD = 1u << 4,  /* a flood: its next requests are read with others' */
};

struct conn {
	uv_pipe_t pipe; /* first: the handle's data is not needed to find us */
	struct server *sv;
	struct conn *prev, *next;
	unsigned refs;
	bool closing;
	bool reading;   /* uv_read_start is in effect */
	bool eof;       /* the peer will send no more: close once answered */
	bool refused;   /* another uid: told so, then drained until it closes */
	size_t drained; /* bytes of a refused peer read and dropped */
	uv_shutdown_t shut;
	unsigned pause;     /* enum conn_pause */
	size_t out_bytes;   /* reply bytes written, not yet taken by the kernel */
	size_t n_writes;    /* writes in flight, replies and events */
	size_t pending_ops; /* requests taken and not yet answered */
	size_t n_replaying; /* its subscriptions still replaying */
	size_t pool_ops;    /* of pending_ops, those in the thread pool */
	bool in_update;     /* inside conn_update_reading() */
	bool doomed;        /* to be closed at the next loop turn (daemon->doomed) */
	struct conn *doomed_next;
	char *unread; /* bytes read but not yet fed (reading paused midway) */
	size_t unread_len;
	uid_t uid;
	pid_t pid;
	struct linebuf lb;
	struct csub *subs;
	unsigned next_sub_id;
	uint64_t pubs_submitted, pubs_sequenced; /* for read-your-writes queries */
	struct buf acks; /* acks gathered during one round of the writer's results, ACK_BUF_MAX */
	bool ack_pending;
	struct conn *ack_next;
	struct pend *pend; /* events waiting for the loop turn's end */
	size_t n_pend, cap_pend;
	bool pend_dirty; /* in sv->pend_dirty (a ref held) */
	struct conn *pend_next;
	/* Its publishes counted per window of the loop's clock, to tell
	 * whether it floods (flood_count()). */
	uint64_t flood_start;
	unsigned flood_events;
	bool flood;
};

struct server {
	const struct config *cfg;
	uv_loop_t *loop;
	struct bus *bus;
	struct server_hooks hooks;
	uv_pipe_t pipe;
	bool listening;
	struct conn *conns;
	size_t n_conns, n_subs;
	uv_idle_t reaper; /* closes doomed connections; runs only when there are some */
	struct conn *doomed;
	struct query_req *parked; /* queries waiting to see their own writes */
	struct conn *ack_dirty;   /* connections with gathered acks */
	struct conn *pend_dirty;  /* connections with events waiting */
	uv_prepare_t flusher;     /* writes them before the loop polls; runs only then */
	/* The timer that reads again the publishers paused in a flood
	 * (flood_pause()). */
	uv_timer_t flood_timer;
	bool flood_armed;
	uint64_t flood_pauses; /* reads deferred so far (status) */
	bool stopping, closed;
	uint64_t start_ns;
	/* Where every connection's reads land. One is enough: on_read()
	 * feeds or copies what it gets before it returns, and the loop reads
	 * one connection at a time (a buffer in each connection cost 64 KiB
	 * of memory each: bench/mem/mem.py). */
	char rbuf[READ_CHUNK];
};

/* The publisher's context for one publish. */
struct pubctx {
	struct bus_pub bp;
	struct conn *conn; /* ref held */
	json_t *rid;
	enum proto_ack ack;
};

struct wreq {
	uv_write_t req;
	struct conn *conn;
	struct bus_sub *sub; /* an event of this subscription, or NULL */
	struct bus_blob *blob;
	char *own;
	size_t bytes;
	struct pend *evs; /* or events of subscriptions (refs held), n_evs of them */
	size_t n_evs;
};

static void conn_unref(struct conn *c);
static void conn_close(struct conn *c);
static void conn_update_reading(struct conn *c);
static void conn_maybe_finish(struct conn *c);
static void send_line(struct conn *c, char *line, size_t len);
static void schedule_close(struct conn *c);
static void pend_flush(struct conn *c);

/* ---- connections and writes ---- */

/* A write finished. may_close is false when it failed inside uv_write()
 * itself: the caller may be fanning out or replaying with subscriptions of
 * this connection in hand, so the close waits for the next loop turn. */
static void write_done(uv_write_t *req, int status, bool may_close)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->conn;
	c->n_writes--;
	if (w->evs) {
		for (size_t i = 0; i < w->n_evs; i++) {
			bus_sub_done(w->evs[i].sub, w->evs[i].blob);
			bus_sub_unref(w->evs[i].sub);
			bus_blob_unref(w->evs[i].blob);
		}
		free(w->evs);
	} else if (!w->sub) {
		c->out_bytes -= w->bytes;
		if ((c->pause & PAUSE_OUTPUT) &&
		    c->out_bytes <= c->sv->cfg->conn_output_bytes / 2) {
			c->pause &= ~PAUSE_OUTPUT;
			conn_update_reading(c);
		}
	} else {
		bus_sub_done(w->sub, w->blob);
		bus_sub_unref(w->sub);
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
	bus_blob_unref(w->blob);
	free(w->own);
	free(w);
	conn_unref(c);
}

static void on_write(uv_write_t *req, int status)
{
	write_done(req, status, true);
}

/* Writes bufs; s: they are an event of s (blob, with a reference taken for
 * the write), counted in its queue until written. own: freed after. */
static void conn_write(struct conn *c, struct bus_sub *s, uv_buf_t *bufs, unsigned n,
		       struct bus_blob *blob, char *own)
{
	if (c->n_pend)
		pend_flush(c); /* events sent before this go first */
	if (c->closing) {
		if (s)
			bus_sub_done(s, blob);
		bus_blob_unref(blob);
		free(own);
		return;
	}
	size_t bytes = 0;
	for (unsigned i = 0; i < n; i++)
		bytes += bufs[i].len;
	if (!s && c->out_bytes > 0 && c->out_bytes + bytes > c->sv->cfg->conn_output_max) {
		/* It sends requests and never reads the replies: the hard limit
		 * on what one connection may hold of the daemon's memory. */
		log_warn("closing the connection of pid %d: %zu bytes of replies unread, over "
			 "[limits] conn_output_max (%zu)",
			 (int)c->pid, c->out_bytes + bytes, c->sv->cfg->conn_output_max);
		free(own);
		conn_close(c);
		return;
	}
	/* The common case: the socket has room and nothing is queued before
	 * this, so it is written now, with no request, no copy and no callback
	 * on a later loop turn. What the kernel does not take goes the queued
	 * way below. A half-closed peer's writes always take that way, so that
	 * its close follows the last of them as before. */
	uv_buf_t rest[4];
	if (!c->eof && n <= 4 && bytes <= INT_MAX) {
		int r = uv_try_write((uv_stream_t *)&c->pipe, bufs, n);
		if (r == (int)bytes) {
			if (s)
				bus_sub_done(s, blob);
			bus_blob_unref(blob);
			free(own);
			return;
		}
		if (r > 0) {
			size_t skip = (size_t)r;
			unsigned k = 0;
			for (unsigned i = 0; i < n; i++) {
				if (skip >= bufs[i].len) {
					skip -= bufs[i].len;
					continue;
				}
				rest[k++] = uv_buf_init(bufs[i].base + skip,
							(unsigned)(bufs[i].len - skip));
				skip = 0;
			}
			bufs = rest;
			n = k;
			bytes -= (size_t)r;
		}
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
		if (c->out_bytes > c->sv->cfg->conn_output_bytes && !(c->pause & PAUSE_OUTPUT)) {
			/* Back-pressure: read no more requests until it reads. */
			c->pause |= PAUSE_OUTPUT;
			conn_update_reading(c);
		}
	} else {
		w->sub = s;
		bus_sub_ref(s);
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

/* Lets go of events that will not be written (the connection closes). */
static void pend_release(struct pend *evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bus_sub_done(evs[i].sub, evs[i].blob);
		bus_sub_unref(evs[i].sub);
		bus_blob_unref(evs[i].blob);
	}
}

/* Writes c's waiting events, PEND_FLUSH at a time: at once as far as the
 * socket takes them, the rest queued in one request. The events written
 * are done only after the rest is queued, because done may deliver more
 * (a replay steps on) and write to c again: those must come after. */
static void pend_flush(struct conn *c)
{
	while (c->n_pend) {
		struct pend *evs = c->pend;
		size_t n = c->n_pend, cap = c->cap_pend;
		c->pend = NULL;
		c->n_pend = c->cap_pend = 0;
		if (c->closing) {
			pend_release(evs, n);
			free(evs);
			continue;
		}
		static char tail[] = "}\n";
		size_t at = 0;
		while (at < n) {
			size_t k = n - at < PEND_FLUSH ? n - at : PEND_FLUSH;
			uv_buf_t bufs[3 * PEND_FLUSH];
			size_t bytes = 0;
			for (size_t i = 0; i < k; i++) {
				const struct pend *e = &evs[at + i];
				bufs[3 * i] =
					uv_buf_init((char *)e->prefix, (unsigned)e->prefix_len);
				bufs[3 * i + 1] =
					uv_buf_init(e->blob->data, (unsigned)e->blob->len);
				bufs[3 * i + 2] = uv_buf_init(tail, 2);
				bytes += e->prefix_len + e->blob->len + 2;
			}
			int r = c->eof || c->closing || bytes > INT_MAX
					? UV_EAGAIN
					: uv_try_write((uv_stream_t *)&c->pipe, bufs,
						       (unsigned)(3 * k));
			size_t wrote = r > 0 ? (size_t)r : 0;
			/* The events the kernel took whole. */
			size_t whole = 0, b = 0;
			while (whole < k &&
			       wrote >= b + bufs[3 * whole].len + bufs[3 * whole + 1].len + 2) {
				b += bufs[3 * whole].len + bufs[3 * whole + 1].len + 2;
				whole++;
			}
			if (whole < k && !c->closing) {
				/* The rest, from the first byte not taken. */
				size_t skip = wrote - b;
				uv_buf_t *rest = bufs + 3 * whole;
				size_t nrest = 3 * (k - whole);
				while (skip && skip >= rest[0].len) {
					skip -= rest[0].len;
					rest++;
					nrest--;
				}
				if (skip) {
					rest[0].base += skip;
					rest[0].len -= skip;
				}
				struct wreq *w = xcalloc(1, sizeof *w);
				w->conn = c;
				c->refs++;
				w->n_evs = k - whole;
				w->evs = xmalloc(w->n_evs * sizeof *w->evs);
				memcpy(w->evs, evs + at + whole, w->n_evs * sizeof *w->evs);
				c->n_writes++;
				int wr = uv_write(&w->req, (uv_stream_t *)&c->pipe, rest,
						  (unsigned)nrest, on_write);
				if (wr < 0)
					write_done(&w->req, wr, false);
			} else if (whole < k) {
				pend_release(evs + at + whole, k - whole);
			}
			pend_release(evs + at, whole);
			at += k;
		}
		if (!c->pend && !c->closing) {
			c->pend = evs; /* kept for the next turn's events */
			c->cap_pend = cap;
		} else {
			free(evs);
		}
	}
}

/* Writes every connection's waiting events: run by the flusher just
 * before the loop polls, so once per loop turn that had events. */
static void on_flush(uv_prepare_t *h)
{
	struct server *sv = h->data;
	(void)uv_prepare_stop(h); /* returns 0 */
	while (sv->pend_dirty) {
		struct conn *c = sv->pend_dirty;
		sv->pend_dirty = c->pend_next;
		c->pend_dirty = false;
		pend_flush(c);
		conn_maybe_finish(c);
		conn_unref(c);
	}
}

static void reply_error(struct conn *c, const json_t *rid, const struct cairn_err *err)
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
	struct server *sv = h->data;
	(void)uv_idle_stop(h); /* returns 0 */
	while (sv->doomed) {
		struct conn *c = sv->doomed;
		sv->doomed = c->doomed_next;
		c->doomed = false;
		conn_close(c);
		conn_unref(c);
	}
}

static void schedule_close(struct conn *c)
{
	struct server *sv = c->sv;
	if (c->doomed || c->closing)
		return;
	c->doomed = true;
	c->refs++;
	c->doomed_next = sv->doomed;
	sv->doomed = c;
	int r = uv_idle_start(&sv->reaper, on_reap);
	if (r < 0) /* only without a callback: cannot happen */
		log_error("cannot schedule a connection's close: %s", uv_strerror(r));
}

/* The error a publisher gets when its event was not (or not yet) stored. */
static void store_error_set(const struct server *sv, int err, int64_t seq, struct cairn_err *e)
{
	const char *msg;
	bus_health(sv->bus, &msg);
	if (err == CAIRN_E_TOOBIG)
		cairn_err_set(e, CAIRN_E_EVENT_TOOBIG, "",
			      "the encoded event is over the limit of %zu bytes "
			      "([limits] event_bytes)",
			      sv->cfg->event_bytes);
	else if (err == CAIRN_E_FULL && seq > 0)
		cairn_err_set(e, CAIRN_E_FULL, "",
			      "the disk holding '%s' is full: the event (seq %lld) is not durable "
			      "yet; it is kept and written once space is freed, and publishing it "
			      "again with the same id is safe. Free some disk space.",
			      sv->cfg->data_dir, (long long)seq);
	else if (err == CAIRN_E_FULL)
		cairn_err_set(e, CAIRN_E_FULL, "",
			      "the disk holding '%s' is full: the event was not taken. Free some "
			      "disk space and publish it again.",
			      sv->cfg->data_dir);
	else if (err == CAIRN_E_CORRUPT)
		cairn_err_set(e, CAIRN_E_UNAVAIL, "",
			      "the event was not stored: the database is damaged (%s). Stop the "
			      "daemon and run 'cairn doctor'.",
			      msg);
	else
		cairn_err_set(e, CAIRN_E_UNAVAIL, "",
			      "the event was not stored: the database failed (%s); see the "
			      "daemon's log and retry",
			      *msg ? msg : err_str(err));
}

/* Acks gathered beyond this much are not kept between rounds. */
#define ACK_BUF_KEEP ((size_t)16 * 1024)

/* Writes the acks c has gathered, in one write; drops them if c is
 * closing. Written at once when the socket has room, the buffer is kept
 * for the next round (no allocation per round); otherwise it goes with
 * the write. */
static void acks_send(struct conn *c)
{
	if (c->n_pend && c->acks.len)
		pend_flush(c); /* events sent before these acks go first */
	if (c->acks.len && !c->closing) {
		size_t len = c->acks.len;
		uv_buf_t b = uv_buf_init(c->acks.data, (unsigned)len);
		int r = c->eof ? UV_EAGAIN : uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
		if (r != (int)len) {
			size_t done = r > 0 ? (size_t)r : 0;
			char *line = buf_detach(&c->acks, &len);
			if (done)
				memmove(line, line + done, len - done);
			send_line(c, line, len - done);
		} else if (c->acks.cap > ACK_BUF_KEEP) {
			buf_release(&c->acks);
		}
	}
	buf_reset(&c->acks);
}

static void pubctx_free(struct pubctx *pc)
{
	struct conn *c = pc->conn;
	json_decref(pc->rid);
	free(pc);
	c->pending_ops--;
	conn_maybe_finish(c);
	conn_unref(c);
}

/* Writes v in decimal at o (room for 20 bytes); returns the length. */
static size_t put_int(char *o, int64_t v)
{
	char tmp[24];
	size_t k = 0, n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[k++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		o[n++] = '-';
	while (k)
		o[n++] = tmp[--k];
	return n;
}

/* Answers a publish: gathered in c->acks (one write per drain), or an
 * error line. */
static void ack_pub(struct pubctx *pc, int err)
{
	struct conn *c = pc->conn;
	if (c->closing)
		return;
	if (err) {
		struct cairn_err e;
		store_error_set(c->sv, err, pc->bp.seq, &e);
		reply_error(c, pc->rid, &e);
		return;
	}
	if (pc->ack == ACK_NONE)
		return;
	/* The hot path: built by hand and gathered per connection, so a batch
	 * of acks costs one write. Ids are printable ASCII (envelope rule);
	 * those with a quote or backslash, and a string rid that escapes to
	 * more than fits, take the general path. */
	char line[512], *r = NULL;
	size_t n = 0, rlen = 0;
	if (pc->rid && !json_is_integer(pc->rid)) {
		r = json_dumps(pc->rid, JSON_ENCODE_ANY | JSON_COMPACT);
		rlen = r ? strlen(r) : SIZE_MAX;
	}
	if (strpbrk(pc->bp.id, "\"\\") || rlen > 300) {
		free(r);
		reply_ok(c, pc->rid,
			 json_pack("{s:I,s:s,s:b}", "seq", (json_int_t)pc->bp.seq, "id", pc->bp.id,
				   "duplicate", pc->bp.duplicate));
		return;
	}
	line[n++] = '{';
	if (pc->rid) {
		memcpy(line + n, "\"rid\":", 6);
		n += 6;
		if (r) {
			memcpy(line + n, r, rlen);
			n += rlen;
			free(r);
		} else {
			/* As jansson writes it, without its allocations. */
			n += put_int(line + n, json_integer_value(pc->rid));
		}
		line[n++] = ',';
	}
	static const char ok_seq[] = "\"ok\":true,\"seq\":", id[] = ",\"id\":\"",
			  dup[] = "\",\"duplicate\":";
	memcpy(line + n, ok_seq, sizeof ok_seq - 1);
	n += sizeof ok_seq - 1;
	n += put_int(line + n, pc->bp.seq);
	memcpy(line + n, id, sizeof id - 1);
	n += sizeof id - 1;
	size_t idlen = strlen(pc->bp.id); /* at most 128 (envelope rule) */
	memcpy(line + n, pc->bp.id, idlen);
	n += idlen;
	memcpy(line + n, dup, sizeof dup - 1);
	n += sizeof dup - 1;
	const char *tail = pc->bp.duplicate ? "true}\n" : "false}\n";
	memcpy(line + n, tail, strlen(tail));
	n += strlen(tail);
	struct server *sv = c->sv;
	if (buf_add(&c->acks, line, (size_t)n) < 0) {
		/* Full: write what is gathered, in order, and gather on. */
		acks_send(c);
		buf_add(&c->acks, line, (size_t)n);
	}
	if (!c->ack_pending) {
		c->ack_pending = true;
		c->refs++;
		c->ack_next = sv->ack_dirty;
		sv->ack_dirty = c;
	}
}

/* Writes every connection's gathered acks, one write each. */
static void flush_acks(struct server *sv)
{
	while (sv->ack_dirty) {
		struct conn *c = sv->ack_dirty;
		sv->ack_dirty = c->ack_next;
		c->ack_pending = false;
		acks_send(c);
		conn_maybe_finish(c);
		conn_unref(c);
	}
}

/* Clears one pause reason on every connection and reads again where no
 * other reason holds. */
static void resume_paused(struct server *sv, unsigned why)
{
	for (struct conn *c = sv->conns, *next; c; c = next) {
		next = c->next;
		if (c->pause & why) {
			c->pause &= ~why;
			conn_update_reading(c);
		}
	}
}

static void pub_done(struct bus_pub *bp, int err)
{
	struct pubctx *pc = (struct pubctx *)bp;
	ack_pub(pc, err);
	pubctx_free(pc);
}

/* ---- subscriptions: the socket as a sink of the bus ---- */

static void csub_unlink(struct csub *s)
{
	struct conn *c = s->conn;
	for (struct csub **pp = &c->subs; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			c->sv->n_subs--;
			break;
		}
	s->next = NULL;
	if (s->replaying) {
		s->replaying = false;
		c->n_replaying--;
	}
}

/* Ends a subscription of a connection (unsub, or the connection ends). */
static void csub_kill(struct csub *s)
{
	struct bus_sub *bs = s->bs;
	csub_unlink(s);
	bus_unsubscribe(bs); /* may free s */
}

static void sink_event(struct bus_sub *bs, struct bus_blob *b, int64_t seq)
{
	struct csub *s = bus_sub_ctx(bs);
	struct conn *c = s->conn;
	if (c->closing) {
		bus_sub_done(bs, b);
		return;
	}
	if (c->n_pend == c->cap_pend) {
		c->cap_pend = c->cap_pend ? 2 * c->cap_pend : 16;
		c->pend = xreallocarray(c->pend, c->cap_pend, sizeof *c->pend);
	}
	bus_sub_ref(bs);
	c->pend[c->n_pend++] = (struct pend){.sub = bs,
					     .blob = bus_blob_ref(b),
					     .prefix = s->prefix,
					     .prefix_len = s->prefix_len};
	struct server *sv = c->sv;
	if (!c->pend_dirty) {
		c->pend_dirty = true;
		c->refs++;
		c->pend_next = sv->pend_dirty;
		sv->pend_dirty = c;
		(void)uv_prepare_start(&sv->flusher, on_flush); /* 0, or already on */
	}
	if (c->n_pend >= PEND_FLUSH)
		pend_flush(c);
}

static void sink_gap(struct bus_sub *bs, int64_t from, int64_t to)
{
	struct csub *s = bus_sub_ctx(bs);
	size_t n;
	char *line = proto_json_line(json_pack("{s:s,s:{s:I,s:I}}", "sub", s->name, "gap", "from",
					       (json_int_t)from, "to", (json_int_t)to),
				     &n);
	send_line(s->conn, line, n);
}

static void sink_live(struct bus_sub *bs, int64_t seq)
{
	struct csub *s = bus_sub_ctx(bs);
	if (s->replaying) {
		s->replaying = false;
		s->conn->n_replaying--;
	}
	size_t n;
	char *line = proto_json_line(
		json_pack("{s:s,s:b,s:I}", "sub", s->name, "live", 1, "seq", (json_int_t)seq), &n);
	send_line(s->conn, line, n);
}

static void sink_failed(struct bus_sub *bs, const char *msg)
{
	struct csub *s = bus_sub_ctx(bs);
	struct cairn_err e;
	cairn_err_set(&e, CAIRN_E_UNAVAIL, "", "%s", msg);
	reply_error(s->conn, NULL, &e);
	csub_unlink(s); /* the bus unsubscribes it */
}

static void sink_free(void *ctx)
{
	struct csub *s = ctx;
	struct conn *c = s->conn;
	free(s->name);
	free(s->prefix);
	free(s);
	conn_unref(c);
}

static const struct bus_sink socket_sink = {
	.event = sink_event,
	.gap = sink_gap,
	.live = sink_live,
	.failed = sink_failed,
	.ctx_free = sink_free,
};

/* ---- requests ---- */

static void do_hello(struct conn *c, struct proto_req *req)
{
	int best = 0;
	for (int i = 0; i < req->n_versions; i++)
		if (req->versions[i] <= PROTO_VERSION && req->versions[i] > best)
			best = req->versions[i];
	if (!best) {
		json_t *o = json_pack("{s:b,s:{s:s,s:s},s:[i]}", "ok", 0, "error", "code",
				      err_wire(CAIRN_E_VERSION), "message",
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
		 json_pack("{s:i,s:s,s:{s:I,s:I}}", "version", best, "server",
			   "cairn/" CAIRN_VERSION, "limits", "line_bytes",
			   (json_int_t)c->sv->cfg->line_bytes, "event_bytes",
			   (json_int_t)c->sv->cfg->event_bytes));
}

/* The window over which publishes are counted to tell a flood. */
#define FLOOD_WINDOW_MS 10

/* Counts one publish of c. A window of FLOOD_WINDOW_MS in which c
 * published at [limits] flood_rate events/s or more makes the next window
 * a flood of c's; a gap of a whole window ends it. Each publisher is judged
 * alone, so that one that sends a request at a time is never slowed by
 * another's flood. */
static void flood_count(struct conn *c)
{
	uint64_t now = uv_now(c->sv->loop);
	uint64_t age = now - c->flood_start;
	if (age >= FLOOD_WINDOW_MS) {
		uint64_t rate = c->sv->cfg->flood_rate;
		c->flood = rate > 0 && age < 2 * FLOOD_WINDOW_MS &&
			   (uint64_t)c->flood_events * 1000 >= rate * age;
		c->flood_start = now;
		c->flood_events = 0;
	}
	c->flood_events++;
}

static bool conn_wants_read(const struct conn *c);

static void on_flood_timer(uv_timer_t *t)
{
	struct server *sv = t->data;
	sv->flood_armed = false;
	resume_paused(sv, PAUSE_FLOOD);
}

/* A publisher that floods is read at most once per [limits] flood_delay_ms
 * (what it sends meanwhile waits in its socket), so that each read, each
 * ack write and each subscriber's write carries many events instead of
 * one: at 20,000 events/s that is a sixth of the system calls and wake-ups
 * (docs/benchmarks.md). Called after a read that held publishes. */
static void flood_pause(struct conn *c)
{
	struct server *sv = c->sv;
	if (!c->flood || sv->cfg->flood_delay_ms == 0 || !conn_wants_read(c))
		return;
	c->pause |= PAUSE_FLOOD;
	sv->flood_pauses++;
	if (!sv->flood_armed) {
		(void)uv_timer_start(&sv->flood_timer, on_flood_timer,
				     (uint64_t)sv->cfg->flood_delay_ms, 0); /* returns 0 */
		sv->flood_armed = true;
	}
}

static void do_pub(struct conn *c, struct proto_req *req)
{
	struct server *sv = c->sv;
	int herr = bus_health(sv->bus, NULL);
	if (herr) {
		/* Nothing new is taken while the store cannot write: a clear
		 * error, and for a publisher that does not wait for durability,
		 * back-pressure too (its next requests wait unread). */
		struct cairn_err e;
		store_error_set(sv, herr, 0, &e);
		reply_error(c, req->rid, &e);
		if (req->ack != ACK_DURABLE && herr != CAIRN_E_CORRUPT) {
			c->pause |= PAUSE_STORE;
			conn_update_reading(c);
		}
		return;
	}
	flood_count(c);
	bool fresh_id = req->ev->id == NULL;
	event_fill_defaults(req->ev, clock_wall_ms());
	struct pubctx *pc = xcalloc(1, sizeof *pc);
	pc->conn = c;
	c->refs++;
	pc->rid = req->rid;
	req->rid = NULL;
	pc->ack = req->ack;
	pc->bp.durable = req->ack == ACK_DURABLE;
	pc->bp.done = pub_done;
	c->pubs_submitted++;
	c->pending_ops++;
	struct event *ev = req->ev;
	req->ev = NULL;
	bus_publish(sv->bus, ev, fresh_id, &pc->bp);
	c->pubs_sequenced++; /* bus_publish() sequences at once */
	if (bus_writer_busy(sv->bus) && !(c->pause & PAUSE_WRITER)) {
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
	struct server *sv = c->sv;
	struct cairn_err e;
	char autoname[24];
	const char *name = req->sub;
	if (name) {
		if (!sub_name_ok(name)) {
			cairn_err_set(&e, CAIRN_E_PROTO, "sub",
				      "field 'sub' may hold only letters, digits and _-.:");
			reply_error(c, req->rid, &e);
			return;
		}
		for (struct csub *s = c->subs; s; s = s->next)
			if (strcmp(s->name, name) == 0) {
				cairn_err_set(&e, CAIRN_E_EXISTS, "sub",
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
			for (struct csub *s = c->subs; s; s = s->next)
				taken |= strcmp(s->name, autoname) == 0;
			if (!taken)
				break;
		}
		name = autoname;
	}
	if (req->from.kind == POS_SEQ || req->from.kind == POS_TIME) {
		if (c->n_replaying >= CONN_REPLAYS) {
			cairn_err_set(&e, CAIRN_E_BUSY, "from",
				      "this connection already has %d subscriptions replaying the "
				      "log; wait until one is live (or use another connection)",
				      CONN_REPLAYS);
			reply_error(c, req->rid, &e);
			return;
		}
	}
	struct csub *s = xcalloc(1, sizeof *s);
	s->conn = c;
	c->refs++;
	s->name = xstrdup(name);
	s->prefix = xasprintf("{\"sub\":\"%s\",\"event\":", s->name);
	s->prefix_len = strlen(s->prefix);
	/* The answer goes first: a replay may deliver from the ring at once. */
	reply_ok(c, req->rid,
		 json_pack("{s:s,s:I}", "sub", s->name, "seq", (json_int_t)bus_last_seq(sv->bus)));
	if (c->closing) { /* the answer was over the hard output limit */
		sink_free(s);
		return;
	}
	const char *pats[] = {req->pattern};
	struct bus_sub_opts o = {.name = s->name, .patterns = pats, .n_patterns = 1};
	switch (req->from.kind) {
	case POS_NONE:
	case POS_NOW: o.from = BUS_FROM_NOW; break;
	case POS_SEQ:
		o.from = BUS_FROM_SEQ;
		o.from_seq = req->from.seq;
		break;
	case POS_TIME:
		o.from = BUS_FROM_TIME;
		o.from_ms = req->from.ms;
		break;
	}
	if (o.from != BUS_FROM_NOW) {
		s->replaying = true;
		c->n_replaying++;
	}
	/* Linked into the connection only once subscribed: a close meanwhile
	 * (a write over the hard output limit) finds no half-made one. */
	struct bus_sub *bs = bus_subscribe(sv->bus, &o, &socket_sink, s);
	if (c->closing) {
		csub_unlink(s); /* its replay count */
		bus_unsubscribe(bs);
		return;
	}
	s->bs = bs;
	s->next = c->subs;
	c->subs = s;
	sv->n_subs++;
}

static void do_unsub(struct conn *c, struct proto_req *req)
{
	for (struct csub *s = c->subs; s; s = s->next)
		if (strcmp(s->name, req->sub) == 0) {
			csub_kill(s);
			reply_ok(c, req->rid, json_object());
			return;
		}
	struct cairn_err e;
	cairn_err_set(&e, CAIRN_E_NOTFOUND, "sub", "no subscription named '%s' on this connection",
		      req->sub);
	reply_error(c, req->rid, &e);
}

/* A query, run in the thread pool; the reply line is built there. */
struct query_req {
	uv_work_t work;
	struct conn *conn;
	struct server *sv;
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
	int r = store_query(bus_store(qr->sv->bus), &qr->q, query_row, qr, &qr->more);
	if (!qr->err)
		qr->err = r;
	buf_addch(&qr->reply, ']');
}

static void query_done(uv_work_t *w, int status)
{
	struct query_req *qr = (struct query_req *)w;
	struct conn *c = qr->conn;
	if ((status || qr->err) && !c->closing) {
		struct cairn_err e;
		cairn_err_set(&e, CAIRN_E_UNAVAIL, "", "the query failed; see the daemon's log");
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
static bool query_try_start(struct server *sv, struct query_req *qr)
{
	if (qr->target < 0) {
		if (qr->conn->pubs_sequenced < qr->need_sequenced)
			return false;
		qr->target = bus_last_seq(sv->bus);
	}
	if (bus_committed_seq(sv->bus) < qr->target)
		return false;
	int r = uv_queue_work(sv->loop, &qr->work, query_work, query_done);
	if (r < 0) {
		log_error("cannot queue a query: %s", uv_strerror(r));
		qr->err = CAIRN_E_STORE;
		query_done(&qr->work, r);
	}
	return true;
}

static void dispatch_parked(struct server *sv)
{
	struct query_req **pp = &sv->parked;
	while (*pp) {
		struct query_req *qr = *pp;
		if (query_try_start(sv, qr)) {
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
	qr->sv = c->sv;
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
	size_t soft = c->sv->cfg->conn_output_bytes;
	qr->page_bytes = soft < QUERY_REPLY_BYTES ? soft : QUERY_REPLY_BYTES;
	/* Rows are added while the reply is under page_bytes, and the first
	 * row always, so the reply is at most page_bytes plus one row, a
	 * comma and the brackets. A row is what SQLite can hold. */
	buf_init(&qr->reply, qr->page_bytes + QUERY_ROW_MAX + 3);
	qr->target = -1;
	if (!query_try_start(c->sv, qr)) {
		qr->next_parked = c->sv->parked;
		c->sv->parked = qr;
		bus_flush(c->sv->bus); /* it waits for a commit: do not gather */
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
	sr->err = store_stats(bus_store(sr->conn->sv->bus), &sr->stats);
}

static void status_done(uv_work_t *w, int status)
{
	struct status_req *sr = (struct status_req *)w;
	struct conn *c = sr->conn;
	struct server *sv = c->sv;
	if (!c->closing) {
		struct bus *b = sv->bus;
		json_t *o = json_pack(
			"{s:s,s:i,s:i,s:I,s:{s:I,s:I,s:I},s:I,s:I,s:I,s:{s:s,s:I}}", "version",
			CAIRN_VERSION, "protocol", PROTO_VERSION, "pid", (int)getpid(), "uptime_ms",
			(json_int_t)((clock_mono_ns() - sv->start_ns) / 1000000), "seq", "first",
			(json_int_t)sr->stats.first_seq, "last", (json_int_t)bus_last_seq(b),
			"committed", (json_int_t)bus_committed_seq(b), "events",
			(json_int_t)sr->stats.events, "connections", (json_int_t)sv->n_conns,
			"subscriptions", (json_int_t)sv->n_subs, "store", "path", sv->cfg->db_path,
			"bytes", (json_int_t)sr->stats.bytes);
		json_object_set_new(o, "flood_pauses", json_integer((json_int_t)sv->flood_pauses));
		json_t *bst = bus_status(b);
		json_object_update(o, bst);
		json_decref(bst);
		const char *msg;
		int herr = bus_health(b, &msg);
		if (herr)
			json_object_set_new(o, "store_health",
					    json_pack("{s:s,s:s}", "error",
						      herr == CAIRN_E_FULL      ? "disk_full"
						      : herr == CAIRN_E_CORRUPT ? "damaged"
										: "failing",
						      "message", msg));
		if (sv->hooks.status)
			sv->hooks.status(sv->hooks.ctx, o);
		if (sr->err)
			json_object_set_new(o, "store_error",
					    json_string("cannot read the database"));
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
	int r = uv_queue_work(c->sv->loop, &sr->work, status_work, status_done);
	if (r < 0) {
		log_error("cannot queue a status request: %s", uv_strerror(r));
		sr->err = CAIRN_E_STORE;
		status_done(&sr->work, r);
	}
}

/* A request the daemon answers later, from another thread's work (ask,
 * record): the connection is held until done() runs on the loop. */
struct later_req {
	struct conn *conn;
	json_t *rid;
};

typedef void (*later_hook)(void *ctx, const struct proto_req *req,
			   void (*done)(void *token, json_t *reply, const struct cairn_err *e),
			   void *token);

static void later_done(void *token, json_t *reply, const struct cairn_err *e)
{
	struct later_req *lr = token;
	struct conn *c = lr->conn;
	if (!c->closing) {
		if (reply)
			reply_ok(c, lr->rid, reply);
		else
			reply_error(c, lr->rid, e);
	} else {
		json_decref(reply);
	}
	json_decref(lr->rid);
	free(lr);
	conn_op_done(c, true);
	conn_unref(c);
}

/* Hands req to hook, or answers unavailable with why when there is none. */
static void do_later(struct conn *c, struct proto_req *req, later_hook hook, const char *why)
{
	struct server *sv = c->sv;
	if (!hook) {
		struct cairn_err e;
		cairn_err_set(&e, CAIRN_E_UNAVAIL, "", "%s", why);
		reply_error(c, req->rid, &e);
		return;
	}
	struct later_req *lr = xcalloc(1, sizeof *lr);
	lr->conn = c;
	c->refs++;
	conn_op_start(c, true);
	lr->rid = req->rid;
	req->rid = NULL;
	hook(sv->hooks.ctx, req, later_done, lr);
}

static void do_watch(struct conn *c, struct proto_req *req)
{
	struct server *sv = c->sv;
	struct cairn_err e;
	json_t *out = NULL;
	if (!sv->hooks.watch) {
		cairn_err_set(&e, CAIRN_E_UNAVAIL, "", "file watching is not available here");
		reply_error(c, req->rid, &e);
		return;
	}
	if (sv->hooks.watch(sv->hooks.ctx, req, &out, &e) < 0)
		reply_error(c, req->rid, &e);
	else
		reply_ok(c, req->rid, out);
}

static int on_line(void *ctx, const char *line, size_t len, bool too_long)
{
	struct conn *c = ctx;
	struct cairn_err err;
	if (c->closing)
		return 1;
	if (too_long) {
		/* The id, if the line's first bytes hold it, so that the client
		 * can match this answer to its request. */
		json_t *rid = proto_scan_rid(line, strlen(line));
		cairn_err_set(&err, CAIRN_E_LINE_TOOLONG, "",
			      "request line of %zu bytes is over the limit of %zu bytes "
			      "([limits] line_bytes); it was discarded",
			      len, c->sv->cfg->line_bytes);
		reply_error(c, rid, &err);
		json_decref(rid);
		return c->closing || c->pause;
	}
	struct proto_req req;
	if (proto_parse(line, len, &req, &err)) {
		json_t *rid =
			req.rid ? json_incref(req.rid)
				: proto_scan_rid(line, len < LINEBUF_HEAD ? len : LINEBUF_HEAD);
		reply_error(c, rid, &err);
		json_decref(rid);
		proto_req_release(&req);
		return c->closing || c->pause;
	}
	if (c->sv->stopping) {
		cairn_err_set(&err, CAIRN_E_UNAVAIL, "",
			      "the daemon is shutting down; retry later");
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
	case OP_ASK:
		do_later(c, &req, c->sv->hooks.ask,
			 "no model server is configured ([model] url, docs/config.md); cairn ask "
			 "answers with the deterministic reasoner");
		break;
	case OP_RECORD:
		do_later(c, &req, c->sv->hooks.record, "recording is not available here");
		break;
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
	free(c->pend);
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
	struct server *sv = c->sv;
	pend_release(c->pend, c->n_pend);
	c->n_pend = 0;
	while (c->subs)
		csub_kill(c->subs);
	if (c->prev)
		c->prev->next = c->next;
	else
		sv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	sv->n_conns--;
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
	flush_acks(c->sv); /* the acks of this chunk's publishes, in one write */
	conn_unref(c);
}

/* Whether c's requests should be read now. */
static bool conn_wants_read(const struct conn *c)
{
	return !c->closing && !c->eof && !c->sv->stopping && c->pause == 0;
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
				(void)uv_read_stop((uv_stream_t *)&c->pipe); /* returns 0 */
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
	    !c->ack_pending && !c->acks.len && !c->n_pend)
		conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = (struct conn *)h;
	*buf = uv_buf_init(c->sv->rbuf, sizeof c->sv->rbuf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)stream;
	if (nread == UV_EOF) {
		/* The peer half-closed (or closed): answer what it asked, then
		 * close. Its subscriptions end here: a stream of events needs a
		 * connection that can still say unsub. */
		if (c->reading)
			(void)uv_read_stop(stream); /* returns 0 */
		c->reading = false;
		c->eof = true;
		while (c->subs)
			csub_kill(c->subs);
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
	uint64_t pubs = c->pubs_submitted;
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
	if (c->pubs_submitted != pubs)
		flood_pause(c);
	if (!c->closing && !conn_wants_read(c) && c->reading) {
		(void)uv_read_stop(stream); /* returns 0 */
		c->reading = false;
	}
}

#define REFUSED_LINGER 16         /* refused peers drained at once */
#define REFUSED_DRAIN (64 * 1024) /* bytes read from one before closing */

static void on_refused_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)stream;
	if (nread < 0 || (c->drained += (size_t)nread) > REFUSED_DRAIN)
		conn_close(c);
}

static void on_refused_shut(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	if (!c->closing &&
	    (status < 0 || uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_refused_read) < 0))
		conn_close(c);
	conn_unref(c);
}

/* Marks c refused; closes the oldest lingering refused peer past the cap. */
static void refused_linger(struct server *sv, struct conn *c)
{
	size_t n = 0;
	struct conn *oldest = NULL;
	for (struct conn *o = sv->conns; o; o = o->next)
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
	struct server *sv = server->data;
	if (status < 0) {
		log_warn("accept failed: %s", uv_strerror(status));
		return;
	}
	struct conn *c = xcalloc(1, sizeof *c);
	c->sv = sv;
	c->refs = 1;
	linebuf_init(&c->lb, sv->cfg->line_bytes);
	buf_init(&c->acks, ACK_BUF_MAX);
	int r = uv_pipe_init(sv->loop, &c->pipe, 0);
	if (r < 0) {
		log_warn("cannot take a connection: %s", uv_strerror(r));
		linebuf_release(&c->lb);
		buf_release(&c->acks);
		free(c);
		return;
	}
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
		return;
	}
	c->next = sv->conns;
	if (sv->conns)
		sv->conns->prev = c;
	sv->conns = c;
	sv->n_conns++;

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
		struct cairn_err e;
		cairn_err_set(&e, CAIRN_E_PEER, "",
			      "this daemon belongs to uid %u; start your own with 'cairn daemon'",
			      (unsigned)getuid());
		/* Said, then our side is shut down, and what it sends is read
		 * and dropped until it closes: it reads a clear answer and EOF,
		 * never a broken pipe. A few such peers at most linger. */
		refused_linger(sv, c);
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

/* ---- the server's life ---- */

static void on_handle_closed(uv_handle_t *h)
{
	(void)h;
}

int server_new(uv_loop_t *loop, const struct config *cfg, struct bus *bus,
	       const struct server_hooks *hooks, struct server **out)
{
	struct server *sv = xcalloc(1, sizeof *sv);
	sv->cfg = cfg;
	sv->loop = loop;
	sv->bus = bus;
	sv->start_ns = clock_mono_ns();
	if (hooks)
		sv->hooks = *hooks;
	(void)uv_idle_init(loop, &sv->reaper); /* returns 0: it only links the handle */
	sv->reaper.data = sv;
	(void)uv_prepare_init(loop, &sv->flusher); /* returns 0, as uv_idle_init() */
	sv->flusher.data = sv;
	(void)uv_timer_init(loop, &sv->flood_timer); /* returns 0, as uv_idle_init() */
	sv->flood_timer.data = sv;
	*out = sv;
	const char *path = cfg->socket_path;
	/* The caller holds the lock, so a socket file left here is stale. */
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("cannot remove stale socket '%s': %s", path, strerror(errno));
		return -errno;
	}
	int r = uv_pipe_init(loop, &sv->pipe, 0);
	if (r < 0) {
		log_error("cannot create the socket handle: %s", uv_strerror(r));
		return r;
	}
	sv->pipe.data = sv;
	sv->listening = true;
	mode_t old = umask(0177); /* the socket is born 0600 */
	r = uv_pipe_bind(&sv->pipe, path);
	umask(old);
	if (r < 0) {
		log_error("cannot listen on '%s': %s", path, uv_strerror(r));
		return r;
	}
	if (chmod(path, 0600) < 0)
		log_warn("cannot make '%s' private: %s", path, strerror(errno));
	if ((r = uv_listen((uv_stream_t *)&sv->pipe, 128, on_connection)) < 0) {
		log_error("cannot listen on '%s': %s", path, uv_strerror(r));
		return r;
	}
	return 0;
}

void server_drained(struct server *sv)
{
	flush_acks(sv);
	dispatch_parked(sv);
	if (bus_writer_relaxed(sv->bus))
		resume_paused(sv, PAUSE_WRITER);
}

void server_health(struct server *sv, int err)
{
	/* Writable again, or damaged for good (paused publishers then get the
	 * error instead of waiting). */
	if (err == 0 || err == CAIRN_E_CORRUPT)
		resume_paused(sv, PAUSE_STORE);
}

void server_stop(struct server *sv)
{
	if (sv->stopping)
		return;
	sv->stopping = true;
	if (sv->listening) {
		uv_close((uv_handle_t *)&sv->pipe, on_handle_closed);
		sv->listening = false;
	}
	for (struct conn *c = sv->conns; c; c = c->next)
		conn_update_reading(c);
}

void server_close(struct server *sv)
{
	if (sv->closed)
		return;
	sv->closed = true;
	server_stop(sv);
	while (sv->conns)
		conn_close(sv->conns);
	on_reap(&sv->reaper);
	uv_close((uv_handle_t *)&sv->reaper, on_handle_closed);
	on_flush(&sv->flusher); /* lets go of the connections still listed */
	uv_close((uv_handle_t *)&sv->flusher, on_handle_closed);
	uv_close((uv_handle_t *)&sv->flood_timer, on_handle_closed);
}

void server_free(struct server *sv)
{
	free(sv);
}
