/* The service host (the contract is in host.h and service.h).
 *
 * Per service: a bus subscription whose sink queues jobs; one piece of
 * work at a time in the thread pool (a job, with the checkpoint saved
 * first when it moved, or a save alone); a FIFO of finished jobs whose
 * outputs are not yet durable, which the checkpoint passes in order; two
 * timers, one for the restart backoff and one that saves a moved
 * checkpoint when no job comes to carry it. A generation number tells
 * results of work started before a restart from current ones. */
#include "services/host.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "store/queries.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
/* A moved checkpoint is written at most this late when no job carries it.
 * A checkpoint lost to a crash costs a longer catch-up, never an event. */
#define SAVE_DELAY_MS 5000
#define SKIP_AFTER 3 /* failures in a row on one event before it is skipped */

enum svc_state { SVC_OFF, SVC_RUNNING, SVC_BACKOFF, SVC_STOPPED };
static const char *const state_names[] = {"off", "running", "backoff", "stopped"};

struct job {
	struct job *next;
	int64_t seq;
	struct bus_sub *sub; /* ref held: bus_sub_done() when finished */
	struct bus_blob *blob;
};

/* A finished job whose outputs are on their way to the log. */
struct pending {
	struct pending *next;
	int64_t seq;
	uint64_t gen;
	unsigned outstanding; /* outputs not yet answered (+1 while publishing) */
	int err;
	bool skipped; /* passed over after SKIP_AFTER failures: no recovery */
};

struct svc;

struct outpub {
	struct bus_pub bp;
	struct svc *svc;
	struct pending *pd;
};

struct svc {
	struct host *h;
	const struct service_def *def;
	void *state;
	enum svc_state st;
	uint64_t gen; /* bumped at each failure */
	struct bus_sub *sub;
	sqlite3 *db; /* checkpoints; used by the pool work, or by the loop when none runs */
	struct job *head, *tail;
	size_t queued;
	/* the work in the pool */
	uv_work_t work;
	bool busy;
	struct job *running;
	uint64_t run_gen;
	int64_t w_save; /* checkpoint to save first, or -1 */
	int w_save_rc;
	int w_rc;
	struct cairn_err w_err;
	json_t *w_out;
	uint64_t w_ns;
	struct pending *pend_head, *pend_tail;
	uv_timer_t restart_timer, save_timer;
	bool save_armed, restart_wanted;
	int64_t checkpoint; /* every matching event up to here is handled and its outputs logged */
	int64_t saved;      /* what the store holds */
	unsigned backoff_ms;
	int64_t retry_at_ms;
	int64_t fail_seq;
	unsigned fail_count;
	int64_t skip_seq;
	bool failed_since_ok;
	uint64_t done, failed, skipped, restarts;
	double last_ms;
	char last_error[640];
};

struct host {
	uv_loop_t *loop;
	struct bus *bus;
	const struct config *cfg;
	struct svc *svcs;
	size_t n;
	bool stopping;
	/* Test build only: CAIRN_TEST_SLOW=NAME:MS makes NAME's jobs MS
	 * slower, to fill its queue. */
	char slow_name[32];
	unsigned slow_ms;
};

bool service_named_in(const char *name, const char *list)
{
	size_t l = strlen(name);
	for (const char *p = list; p && *p;) {
		p += strspn(p, ", ");
		size_t w = strcspn(p, ", ");
		if (w == l && strncmp(p, name, l) == 0)
			return true;
		p += w;
	}
	return false;
}

void service_output_id(char *buf, size_t n, const char *name, int64_t seq, unsigned k)
{
	snprintf(buf, n, "%s-%lld-%u", name, (long long)seq, k);
}

static void maybe_run(struct svc *s);
static void svc_start(struct svc *s);

/* ---- the host's own events ---- */

struct hostpub {
	struct bus_pub bp;
};

static void hostpub_done(struct bus_pub *bp, int err)
{
	if (err)
		log_warn("a service event was not stored: %s", err_str(err));
	free(bp);
}

/* Publishes service.TYPE about s; takes data. */
static void emit(struct svc *s, const char *type, json_t *data)
{
	struct host *h = s->h;
	if (h->stopping) {
		json_decref(data);
		return;
	}
	char t[64];
	snprintf(t, sizeof t, "service.%s", type);
	json_object_set_new(data, "service", json_string(s->def->name));
	json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "type", t, "source", "cairn/host", "subject",
			      s->def->name, "data", data);
	struct event *ev = NULL;
	struct cairn_err ve;
	if (event_from_json(o, EVENT_PUBLISH, &ev, &ve)) {
		log_error("dropped a service event: %s", ve.msg);
		json_decref(o);
		return;
	}
	json_decref(o);
	event_fill_defaults(ev, clock_wall_ms());
	struct hostpub *p = xcalloc(1, sizeof *p);
	p->bp.done = hostpub_done;
	bus_publish(h->bus, ev, true, &p->bp);
}

/* ---- checkpoints ---- */

static void save_timer_cb(uv_timer_t *t);

/* The checkpoint moved: have it saved soon (with the next job, or by the
 * save timer). */
static void checkpoint_moved(struct svc *s)
{
	if (s->checkpoint == s->saved || s->save_armed || s->h->stopping)
		return;
	int r = uv_timer_start(&s->save_timer, save_timer_cb, SAVE_DELAY_MS, 0);
	if (r < 0)
		log_warn("service %s: cannot arm the checkpoint timer: %s; it is saved with the "
			 "next job or at shutdown",
			 s->def->name, uv_strerror(r));
	s->save_armed = r == 0;
}

/* Finished jobs whose outputs are all answered, oldest first: the
 * checkpoint passes them (if they belong to the current generation). */
/* A failure at seq (of handle() or of logging its outputs): counted, and
 * the event is marked for skipping once it failed SKIP_AFTER times in a
 * row. */
static void note_failure(struct svc *s, int64_t seq)
{
	s->failed++;
	if (s->fail_seq == seq) {
		s->fail_count++;
	} else {
		s->fail_seq = seq;
		s->fail_count = 1;
	}
	if (s->fail_count >= SKIP_AFTER)
		s->skip_seq = seq;
}

static void pending_advance(struct svc *s);

static void svc_fail(struct svc *s, int64_t seq, const char *why);

static void pending_advance(struct svc *s)
{
	while (s->pend_head && s->pend_head->outstanding == 0) {
		struct pending *pd = s->pend_head;
		s->pend_head = pd->next;
		if (!s->pend_head)
			s->pend_tail = NULL;
		if (pd->gen == s->gen && s->st == SVC_RUNNING) {
			int64_t seq = pd->seq;
			if (pd->err) {
				char why[200];
				snprintf(why, sizeof why, "its output could not be logged (%s)",
					 err_str(pd->err));
				free(pd);
				note_failure(s, seq);
				svc_fail(s, seq, why);
				continue;
			}
			if (seq > s->checkpoint)
				s->checkpoint = seq;
			/* Recovered: an event at or past the one that failed is
			 * handled and its outputs are logged. */
			if (s->failed_since_ok && !pd->skipped && seq >= s->fail_seq) {
				s->failed_since_ok = false;
				s->backoff_ms = BACKOFF_MIN_MS;
				s->fail_count = 0;
				log_info("service %s recovered", s->def->name);
				emit(s, "recovered",
				     json_pack("{s:I,s:I}", "seq", (json_int_t)seq, "restarts",
					       (json_int_t)s->restarts));
			}
		}
		free(pd);
	}
	checkpoint_moved(s);
}

static void out_done(struct bus_pub *bp, int err)
{
	struct outpub *op = (struct outpub *)bp;
	struct pending *pd = op->pd;
	struct svc *s = op->svc;
	free(op);
	if (err && !pd->err)
		pd->err = err;
	pd->outstanding--;
	pending_advance(s);
}

/* Publishes a finished job's outputs (takes out) and queues its pending
 * entry. */
static void publish_outputs(struct svc *s, int64_t seq, json_t *out, bool skipped)
{
	struct host *h = s->h;
	struct pending *pd = xcalloc(1, sizeof *pd);
	pd->seq = seq;
	pd->skipped = skipped;
	pd->gen = s->gen;
	pd->outstanding = 1; /* held while publishing: done may come at once */
	if (s->pend_tail)
		s->pend_tail->next = pd;
	else
		s->pend_head = pd;
	s->pend_tail = pd;
	size_t k;
	json_t *e;
	char src[80];
	snprintf(src, sizeof src, "cairn/%s", s->def->name);
	json_array_foreach(out, k, e) {
		if (!json_is_object(e)) {
			log_error("service %s: output %zu for seq %lld is not an object; dropped",
				  s->def->name, k, (long long)seq);
			continue;
		}
		if (!json_object_get(e, "id")) {
			char id[80];
			service_output_id(id, sizeof id, s->def->name, seq, (unsigned)k);
			json_object_set_new(e, "id", json_string(id));
		}
		if (!json_object_get(e, "source"))
			json_object_set_new(e, "source", json_string(src));
		struct event *ev = NULL;
		struct cairn_err ve;
		if (event_from_json(e, EVENT_PUBLISH, &ev, &ve)) {
			log_error("service %s: output %zu for seq %lld is not a valid event (%s); "
				  "dropped",
				  s->def->name, k, (long long)seq, ve.msg);
			continue;
		}
		event_fill_defaults(ev, clock_wall_ms());
		struct outpub *op = xcalloc(1, sizeof *op);
		op->bp.durable = true;
		op->bp.done = out_done;
		op->svc = s;
		op->pd = pd;
		pd->outstanding++;
		bus_publish(h->bus, ev, false, &op->bp);
	}
	json_decref(out);
	pd->outstanding--;
	pending_advance(s);
}

/* ---- jobs ---- */

static void job_free(struct job *j)
{
	bus_sub_done(j->sub, j->blob);
	bus_sub_unref(j->sub);
	bus_blob_unref(j->blob);
	free(j);
}

static void drop_queue(struct svc *s)
{
	while (s->head) {
		struct job *j = s->head;
		s->head = j->next;
		job_free(j);
	}
	s->tail = NULL;
	s->queued = 0;
}

static void work_cb(uv_work_t *w)
{
	struct svc *s = w->data;
	if (s->w_save >= 0)
		s->w_save_rc =
			store_checkpoint_set(s->db, s->def->name, s->w_save, clock_wall_ms());
	struct job *j = s->running;
	if (!j)
		return;
	uint64_t t0 = clock_mono_ns();
	if (s->h->slow_ms && strcmp(s->h->slow_name, s->def->name) == 0) {
		struct timespec ts = {s->h->slow_ms / 1000, (long)(s->h->slow_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	s->w_out = json_array();
	cairn_err_clear(&s->w_err);
	s->w_rc =
		s->def->handle(s->state, j->seq, j->blob->data, j->blob->len, s->w_out, &s->w_err);
	s->w_ns = clock_mono_ns() - t0;
}

static void svc_restart(struct svc *s);

static void after_cb(uv_work_t *w, int status)
{
	struct svc *s = w->data;
	struct job *j = s->running;
	json_t *out = s->w_out;
	s->w_out = NULL;
	s->running = NULL;
	/* busy stays set until the end: what this publishes fans out at once,
	 * possibly to s itself, and must not start s's next job while this
	 * one's results are still being handled. */
	if (s->w_save >= 0) {
		if (status == 0 && s->w_save_rc == 0)
			s->saved = s->w_save;
		else
			log_warn("service %s: cannot save its checkpoint (seq %lld); it is tried "
				 "again",
				 s->def->name, (long long)s->w_save);
	}
	if (j) {
		bool current = s->run_gen == s->gen && s->st == SVC_RUNNING && !s->h->stopping;
		if (!current || status != 0) {
			json_decref(out);
		} else if (s->w_rc < 0) {
			json_decref(out);
			note_failure(s, j->seq);
			char why[600];
			snprintf(why, sizeof why, "%s",
				 *s->w_err.msg ? s->w_err.msg : err_str(s->w_rc));
			/* Fail first, then free the job: freeing it makes room in
			 * the subscription's queue, which a live or replaying
			 * subscription would fill at once in the failed
			 * generation. svc_fail() unsubscribes, so it cannot. */
			svc_fail(s, j->seq, why);
		} else {
			s->done++;
			s->last_ms = (double)s->w_ns / 1e6;
			publish_outputs(s, j->seq, out, false);
		}
		job_free(j);
	}
	s->busy = false;
	if (s->restart_wanted) {
		s->restart_wanted = false;
		svc_restart(s);
	}
	maybe_run(s);
}

static void start_work(struct svc *s, struct job *j)
{
	s->running = j;
	s->run_gen = s->gen;
	s->busy = true;
	s->w_save = s->checkpoint != s->saved ? s->checkpoint : -1;
	s->w_save_rc = 0;
	s->w_out = NULL;
	s->work.data = s;
	int r = uv_queue_work(s->h->loop, &s->work, work_cb, after_cb);
	if (r < 0) {
		log_error("service %s: cannot queue work: %s", s->def->name, uv_strerror(r));
		s->busy = false;
		s->running = NULL;
		/* Failed first: freeing the job makes room the bus would fill. */
		svc_fail(s, j ? j->seq : 0, "the thread pool refused its work");
		if (j)
			job_free(j);
	}
}

static void maybe_run(struct svc *s)
{
	struct host *h = s->h;
	while (!s->busy && !h->stopping && s->st == SVC_RUNNING && s->head &&
	       s->head->seq <= bus_committed_seq(h->bus)) {
		struct job *j = s->head;
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		s->queued--;
		if (j->seq == s->skip_seq) {
			/* Failed SKIP_AFTER times in a row: passed over. */
			s->skipped++;
			log_warn("service %s: skipped seq %lld after %u failures in a row (%s)",
				 s->def->name, (long long)j->seq, SKIP_AFTER, s->last_error);
			s->skip_seq = 0;
			s->fail_count = 0;
			publish_outputs(s, j->seq, json_array(), true);
			job_free(j);
			continue;
		}
		start_work(s, j);
		return;
	}
	if (!s->busy && s->checkpoint != s->saved)
		checkpoint_moved(s);
}

static void save_timer_cb(uv_timer_t *t)
{
	struct svc *s = t->data;
	s->save_armed = false;
	if (s->busy || s->checkpoint == s->saved || s->h->stopping)
		return; /* the running work saves it, or the shutdown does */
	start_work(s, NULL);
}

/* ---- the sink ---- */

static void sink_event(struct bus_sub *bs, struct bus_blob *b, int64_t seq)
{
	struct svc *s = bus_sub_ctx(bs);
	struct job *j = xcalloc(1, sizeof *j);
	j->seq = seq;
	j->sub = bs;
	bus_sub_ref(bs);
	j->blob = bus_blob_ref(b);
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	s->queued++;
	maybe_run(s);
}

static void sink_failed(struct bus_sub *bs, const char *msg)
{
	struct svc *s = bus_sub_ctx(bs);
	svc_fail(s, 0, msg);
}

static const struct bus_sink service_sink = {
	.event = sink_event, .failed = sink_failed,
	/* no .gap: an overflow is replayed from the log */
};

/* ---- start, failure, restart ---- */

static void restart_timer_cb(uv_timer_t *t)
{
	struct svc *s = t->data;
	if (s->busy) {
		s->restart_wanted = true; /* after_cb() restarts it */
		return;
	}
	svc_restart(s);
}

static void svc_fail(struct svc *s, int64_t seq, const char *why)
{
	if (s->st != SVC_RUNNING)
		return;
	snprintf(s->last_error, sizeof s->last_error, "%s", why);
	s->gen++;
	s->st = SVC_BACKOFF;
	s->failed_since_ok = true;
	if (s->sub) {
		bus_unsubscribe(s->sub);
		s->sub = NULL;
	}
	drop_queue(s);
	unsigned wait = s->backoff_ms;
	s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
	s->retry_at_ms = clock_wall_ms() + wait;
	char at[40] = "";
	if (seq)
		snprintf(at, sizeof at, " at seq %lld", (long long)seq);
	log_warn("service %s failed%s: %s; restarting in %u s", s->def->name, at, why, wait / 1000);
	json_t *data = json_pack("{s:s,s:I,s:I}", "error", why, "retry_ms", (json_int_t)wait,
				 "restarts", (json_int_t)s->restarts);
	if (seq)
		json_object_set_new(data, "seq", json_integer(seq));
	if (seq && s->skip_seq == seq)
		json_object_set_new(data, "skipping", json_true());
	emit(s, "failed", data);
	if (s->h->stopping)
		return;
	int r = uv_timer_start(&s->restart_timer, restart_timer_cb, wait, 0);
	if (r < 0)
		log_error("service %s: cannot arm its restart timer: %s; it stays stopped until "
			  "the daemon restarts",
			  s->def->name, uv_strerror(r));
}

static void svc_restart(struct svc *s)
{
	if (s->h->stopping || s->st != SVC_BACKOFF)
		return;
	if (s->state && s->def->free)
		s->def->free(s->state);
	s->state = NULL;
	s->restarts++;
	svc_start(s);
}

static void svc_start(struct svc *s)
{
	struct host *h = s->h;
	struct service_env env = {.cfg = h->cfg};
	struct cairn_err err;
	cairn_err_clear(&err);
	if (service_named_in(s->def->name, h->cfg->services_off)) {
		s->st = SVC_OFF;
		log_info("service %s is off ([services] off)", s->def->name);
		return;
	}
	int r = s->def->start(&env, &s->state, &err);
	if (r == 1) {
		s->st = SVC_OFF;
		log_debug("service %s is off", s->def->name);
		return;
	}
	s->st = SVC_RUNNING;
	if (r < 0) {
		s->state = NULL;
		char why[600];
		snprintf(why, sizeof why, "cannot start: %s", *err.msg ? err.msg : err_str(r));
		s->failed++;
		svc_fail(s, 0, why);
		return;
	}
	size_t n = 0;
	while (s->def->patterns[n])
		n++;
	struct bus_sub_opts o = {.name = s->def->name,
				 .patterns = s->def->patterns,
				 .n_patterns = n,
				 .from = BUS_FROM_SEQ,
				 .from_seq = s->checkpoint + 1,
				 .queue_events = h->cfg->service_queue};
	/* A restart is news; the daemon's own start is not (it would add an
	 * event per service to the log at every start). */
	if (s->restarts)
		emit(s, "started",
		     json_pack("{s:I,s:I}", "checkpoint", (json_int_t)s->checkpoint, "restarts",
			       (json_int_t)s->restarts));
	s->sub = bus_subscribe(h->bus, &o, &service_sink, s);
	log_info("service %s started at seq %lld", s->def->name, (long long)s->checkpoint + 1);
}

/* ---- the host ---- */

struct host *host_new(uv_loop_t *loop, struct bus *bus, const struct config *cfg,
		      const struct service_def *const *defs)
{
	struct host *h = xcalloc(1, sizeof *h);
	h->loop = loop;
	h->bus = bus;
	h->cfg = cfg;
#ifdef CAIRN_TEST_BUILD
	const char *slow = getenv("CAIRN_TEST_SLOW");
	const char *colon = slow ? strchr(slow, ':') : NULL;
	if (colon && (size_t)(colon - slow) < sizeof h->slow_name) {
		memcpy(h->slow_name, slow, (size_t)(colon - slow));
		h->slow_ms = (unsigned)strtoul(colon + 1, NULL, 10);
	}
#endif
	while (defs[h->n])
		h->n++;
	h->svcs = xcalloc(h->n ? h->n : 1, sizeof *h->svcs);
	for (size_t i = 0; i < h->n; i++) {
		struct svc *s = &h->svcs[i];
		s->h = h;
		s->def = defs[i];
		s->backoff_ms = BACKOFF_MIN_MS;
		s->saved = -1;
		(void)uv_timer_init(loop, &s->restart_timer); /* returns 0: it only links */
		(void)uv_timer_init(loop, &s->save_timer);
		s->restart_timer.data = s->save_timer.data = s;
		struct cairn_err err;
		cairn_err_clear(&err);
		int r = store_db_open(cfg->db_path, false, &s->db, &err);
		/* Checkpoints need no fsync of their own: one that is lost only
		 * means reading a stretch of the log again. */
		if (r == 0 &&
		    sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
			log_warn("service %s: %s", s->def->name, sqlite3_errmsg(s->db));
		if (r == 0)
			r = store_checkpoint_get(s->db, s->def->name, &s->checkpoint);
		if (r == 0) {
			s->saved = s->checkpoint;
			if (s->checkpoint > bus_last_seq(bus)) {
				/* The log lost its end (cairn doctor --recover): the
				 * seqs past it will be new events. */
				log_warn("service %s: its checkpoint (seq %lld) is past the end of "
					 "the log (seq %lld); going on from the end",
					 s->def->name, (long long)s->checkpoint,
					 (long long)bus_last_seq(bus));
				s->checkpoint = bus_last_seq(bus);
			}
		} else if (r == CAIRN_E_NOTFOUND) {
			/* The first start: from the end of the log, not its whole
			 * history. */
			s->checkpoint = bus_committed_seq(bus);
		} else {
			log_error("service %s: cannot read its checkpoint: %s; it is off until the "
				  "daemon restarts",
				  s->def->name, *err.msg ? err.msg : err_str(r));
			s->st = SVC_STOPPED;
			continue;
		}
		svc_start(s);
	}
	return h;
}

void host_committed(struct host *h)
{
	if (!h)
		return;
	int64_t committed = bus_committed_seq(h->bus);
	for (size_t i = 0; i < h->n; i++) {
		struct svc *s = &h->svcs[i];
		if (s->st != SVC_RUNNING)
			continue;
		maybe_run(s);
		/* Idle and live: every event it wants up to the last commit is
		 * handled (fan-out is synchronous), so its checkpoint moves
		 * there and a restart does not read that stretch again. */
		if (!s->busy && !s->head && !s->pend_head && s->sub && bus_sub_live(s->sub) &&
		    committed > s->checkpoint) {
			s->checkpoint = committed;
			checkpoint_moved(s);
		}
	}
}

/* Seconds since the oldest event still to handle was logged. */
static double lag_seconds(const struct svc *s)
{
	const struct job *j = s->running ? s->running : s->head;
	if (!j)
		return 0;
	json_t *ev = json_loadb(j->blob->data, j->blob->len, 0, NULL);
	int64_t t = 0;
	const char *ts = json_string_value(json_object_get(ev, "time"));
	double lag = 0;
	if (ts && timefmt_parse_rfc3339(ts, &t) == 0)
		lag = (double)(clock_wall_ms() - t) / 1000.0;
	json_decref(ev);
	return lag > 0 ? lag : 0;
}

void host_status(struct host *h, json_t *reply)
{
	if (!h)
		return;
	json_t *all = json_object();
	int64_t committed = bus_committed_seq(h->bus);
	for (size_t i = 0; i < h->n; i++) {
		struct svc *s = &h->svcs[i];
		int64_t lag = committed > s->checkpoint ? committed - s->checkpoint : 0;
		json_t *o = json_pack("{s:s,s:I,s:I,s:f,s:I,s:b,s:I,s:I,s:I,s:I,s:f}", "state",
				      state_names[s->st], "checkpoint", (json_int_t)s->checkpoint,
				      "lag_events", (json_int_t)lag, "lag_s", lag_seconds(s),
				      "queued", (json_int_t)s->queued, "running",
				      s->running != NULL, "done", (json_int_t)s->done, "failed",
				      (json_int_t)s->failed, "skipped", (json_int_t)s->skipped,
				      "restarts", (json_int_t)s->restarts, "last_ms", s->last_ms);
		json_object_set_new(o, "last_error",
				    *s->last_error ? json_string(s->last_error) : json_null());
		if (s->st == SVC_BACKOFF) {
			int64_t in = s->retry_at_ms - clock_wall_ms();
			json_object_set_new(o, "retry_in_ms", json_integer(in > 0 ? in : 0));
		}
		if (s->state && s->def->status)
			s->def->status(s->state, o);
		json_object_set_new(all, s->def->name, o);
	}
	json_object_set_new(reply, "services", all);
}

static void on_timer_closed(uv_handle_t *h)
{
	(void)h;
}

void host_stop(struct host *h)
{
	if (!h || h->stopping)
		return;
	h->stopping = true;
	for (size_t i = 0; i < h->n; i++) {
		struct svc *s = &h->svcs[i];
		uv_close((uv_handle_t *)&s->restart_timer, on_timer_closed);
		uv_close((uv_handle_t *)&s->save_timer, on_timer_closed);
		if (s->state && s->def->stop)
			s->def->stop(s->state);
		if (s->sub) {
			bus_unsubscribe(s->sub);
			s->sub = NULL;
		}
		drop_queue(s);
	}
}

void host_free(struct host *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		struct svc *s = &h->svcs[i];
		if (s->db && s->checkpoint != s->saved &&
		    store_checkpoint_set(s->db, s->def->name, s->checkpoint, clock_wall_ms()))
			log_warn("service %s: cannot save its checkpoint (seq %lld): %s",
				 s->def->name, (long long)s->checkpoint, sqlite3_errmsg(s->db));
		drop_queue(s);
		while (s->pend_head) {
			struct pending *pd = s->pend_head;
			s->pend_head = pd->next;
			free(pd);
		}
		if (s->state && s->def->free)
			s->def->free(s->state);
		sqlite3_close(s->db);
	}
	free(h->svcs);
	free(h);
}
