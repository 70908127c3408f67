/* The service host's job queue (src/services/host.c): ordering, commit
 * gating, overflow followed by catch-up from the log, outputs and the
 * checkpoint, a stop while a job runs (with the next start handling it
 * again), failure and restart with backoff, and a failure while the
 * subscription catches up with a full queue.
 *
 * Each test wires what the daemon wires (daemon.c): a store on a real
 * SQLite file in a temporary directory, a libuv loop, the bus (its drained
 * hook calls host_committed()) and a host over service definitions of this
 * file's own. Events are published with bus_publish(); the loop is driven
 * until a condition holds or a generous deadline passes (never a timing
 * assertion). The shutdown is the daemon's, in the daemon's order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bus/bus.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/config.h"
#include "event/envelope.h"
#include "services/host.h"
#include "services/service.h"
#include "store/queries.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define DEADLINE_MS 20000

static char dir[] = "/tmp/cairn-test-host-XXXXXX";

/* ---- what the services saw (written by handle() on pool threads) ---- */

static struct rec {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int64_t *seqs; /* seqs handled successfully, in the order handled */
	size_t n, cap;
	unsigned calls;      /* handle() calls, failed ones included */
	unsigned violations; /* gate: the event was not in the log yet */
	unsigned bad_json;   /* the encoding did not carry the seq handed in */
	/* block: handle() for block_seq waits until released */
	int64_t block_seq;
	bool entered, released;
	unsigned fail_first; /* flaky: this many calls fail */
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void rec_reset(void)
{
	pthread_mutex_lock(&rec.mu);
	free(rec.seqs);
	rec.seqs = NULL;
	rec.n = rec.cap = 0;
	rec.calls = rec.violations = rec.bad_json = 0;
	rec.block_seq = 0;
	rec.entered = rec.released = false;
	rec.fail_first = 0;
	pthread_mutex_unlock(&rec.mu);
}

/* Locked. */
static void rec_push(int64_t seq)
{
	if (rec.n == rec.cap) {
		rec.cap = rec.cap ? rec.cap * 2 : 256;
		rec.seqs = xreallocarray(rec.seqs, rec.cap, sizeof *rec.seqs);
	}
	rec.seqs[rec.n++] = seq;
}

static size_t rec_count(void)
{
	pthread_mutex_lock(&rec.mu);
	size_t n = rec.n;
	pthread_mutex_unlock(&rec.mu);
	return n;
}

/* The seq inside the encoding handle() got must be the one handed in. */
static bool json_has_seq(const char *json, size_t len, int64_t seq)
{
	json_t *o = json_loadb(json, len, 0, NULL);
	bool ok = o && json_integer_value(json_object_get(o, "seq")) == seq;
	json_decref(o);
	return ok;
}

/* ---- the services ---- */

/* A state of their own, so that start() and free() pair up under ASan. */
struct svc_state {
	sqlite3 *db; /* gate only */
};

static int plain_start(const struct service_env *env, void **state, struct cairn_err *err)
{
	*state = xcalloc(1, sizeof(struct svc_state));
	return 0;
}

static void plain_free(void *state)
{
	struct svc_state *s = state;
	if (s->db)
		sqlite3_close(s->db);
	free(s);
}

/* order, slow: record the seq. */
static int record_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
			 struct cairn_err *err)
{
	bool ok = json_has_seq(json, len, seq);
	pthread_mutex_lock(&rec.mu);
	rec.calls++;
	rec.bad_json += !ok;
	rec_push(seq);
	pthread_mutex_unlock(&rec.mu);
	return 0;
}

/* Waits while seq is rec.block_seq and the test has not released it. */
static void maybe_block(int64_t seq)
{
	pthread_mutex_lock(&rec.mu);
	if (seq == rec.block_seq) {
		rec.entered = true;
		pthread_cond_broadcast(&rec.cond);
		while (!rec.released)
			pthread_cond_wait(&rec.cond, &rec.mu);
	}
	pthread_mutex_unlock(&rec.mu);
}

static int slow_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
		       struct cairn_err *err)
{
	maybe_block(seq);
	struct timespec ts = {0, 2 * 1000 * 1000};
	nanosleep(&ts, NULL);
	return record_handle(state, seq, json, len, out, err);
}

/* gate: the event must already be in the log, read on a connection of its
 * own. */
static int gate_start(const struct service_env *env, void **state, struct cairn_err *err)
{
	struct svc_state *s = xcalloc(1, sizeof *s);
	int r = store_db_open(env->cfg->db_path, true, &s->db, err);
	if (r) {
		free(s);
		return r;
	}
	*state = s;
	return 0;
}

static int gate_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
		       struct cairn_err *err)
{
	struct svc_state *s = state;
	struct store_q_event ev = {0};
	int r = store_q_event_by_seq(s->db, seq, &ev);
	bool logged = r == 1 && ev.seq == seq;
	store_q_event_release(&ev);
	if (!logged) {
		pthread_mutex_lock(&rec.mu);
		rec.violations++;
		pthread_mutex_unlock(&rec.mu);
	}
	return record_handle(state, seq, json, len, out, err);
}

/* echo, block: one output per input. block waits for the test on
 * rec.block_seq. */
static int echo_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
		       struct cairn_err *err)
{
	json_array_append_new(out, json_pack("{s:s,s:{s:I}}", "type", "echo.done", "data", "in",
					     (json_int_t)seq));
	return record_handle(state, seq, json, len, out, err);
}

static int block_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
			struct cairn_err *err)
{
	maybe_block(seq);
	return echo_handle(state, seq, json, len, out, err);
}

/* flaky: the first rec.fail_first calls fail. */
static int flaky_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
			struct cairn_err *err)
{
	pthread_mutex_lock(&rec.mu);
	unsigned call = ++rec.calls;
	bool fail = call <= rec.fail_first;
	if (!fail)
		rec_push(seq);
	pthread_mutex_unlock(&rec.mu);
	if (fail) {
		cairn_err_set(err, CAIRN_E_INVALID, "", "failing on purpose (call %u)", call);
		return CAIRN_E_INVALID;
	}
	return 0;
}

static const char *const order_patterns[] = {"t.>", NULL};
static const char *const gate_patterns[] = {"g.>", NULL};
static const char *const slow_patterns[] = {"s.>", NULL};
static const char *const echo_patterns[] = {"e.>", NULL};
static const char *const block_patterns[] = {"b.>", NULL};
static const char *const flaky_patterns[] = {"f.>", NULL};

static const struct service_def order_svc = {.name = "order",
					     .patterns = order_patterns,
					     .start = plain_start,
					     .handle = record_handle,
					     .free = plain_free};
static const struct service_def gate_svc = {.name = "gate",
					    .patterns = gate_patterns,
					    .start = gate_start,
					    .handle = gate_handle,
					    .free = plain_free};
static const struct service_def slow_svc = {.name = "slow",
					    .patterns = slow_patterns,
					    .start = plain_start,
					    .handle = slow_handle,
					    .free = plain_free};
static const struct service_def echo_svc = {.name = "echo",
					    .patterns = echo_patterns,
					    .start = plain_start,
					    .handle = echo_handle,
					    .free = plain_free};
static const struct service_def block_svc = {.name = "block",
					     .patterns = block_patterns,
					     .start = plain_start,
					     .handle = block_handle,
					     .free = plain_free};
static const struct service_def flaky_svc = {.name = "flaky",
					     .patterns = flaky_patterns,
					     .start = plain_start,
					     .handle = flaky_handle,
					     .free = plain_free};

/* ---- the fixture: what daemon_run() wires ---- */

struct fx {
	char path[256];
	struct config cfg;
	struct store *st;
	uv_loop_t loop;
	struct bus *bus;
	struct host *host;
};

static void on_drained(void *ctx)
{
	struct fx *f = ctx;
	host_committed(f->host);
}

/* A fresh database for each test. */
static void fx_new_db(struct fx *f, const char *name)
{
	snprintf(f->path, sizeof f->path, "%s/%s.db", dir, name);
	unlink(f->path);
}

static void fx_start(struct fx *f, const struct service_def *const *defs, size_t service_queue)
{
	memset(&f->cfg, 0, sizeof f->cfg);
	f->cfg.data_dir = dir;
	f->cfg.db_path = f->path;
	f->cfg.service_queue = service_queue;
	f->cfg.event_bytes = 64 * 1024;
	f->cfg.batch_max = 64;
	f->cfg.log_level = LOG_ERROR;

	struct store_config sc = {.path = f->path, .batch_max = 64, .event_max_bytes = 64 * 1024};
	struct cairn_err err;
	int r = store_open(&sc, &f->st, &err);
	if (r)
		fail_msg("store_open: %s", err.msg);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	/* A small ring (by bytes), so that a few newer events push older ones
	 * out and a catch-up must read them from the log. */
	struct bus_config bc = {.ring_events = 16,
				.ring_bytes = 16 * 1024,
				.queue_events = 4096,
				.queue_bytes = 8 << 20,
				.replays = 2,
				.batch_max = 64,
				.event_bytes = 64 * 1024,
				.writer_queue_max = 65536,
				.writer_queue_bytes = 32 << 20};
	struct bus_hooks bh = {.ctx = f, .drained = on_drained};
	f->host = NULL;
	assert_int_equal(bus_new(&f->loop, f->st, &bc, &bh, &f->bus), 0);
	f->host = host_new(&f->loop, f->bus, &f->cfg, defs);
	assert_non_null(f->host);
}

/* Runs the loop until pred(f, arg) holds; false at the deadline. */
static bool run_until(struct fx *f, bool (*pred)(struct fx *, void *), void *arg)
{
	uint64_t end = clock_mono_ns() + (uint64_t)DEADLINE_MS * 1000000;
	for (;;) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		if (pred(f, arg))
			return true;
		if (clock_mono_ns() > end)
			return false;
		struct timespec ts = {0, 200 * 1000};
		nanosleep(&ts, NULL);
	}
}

static bool pred_bus_idle(struct fx *f, void *arg)
{
	return bus_idle(f->bus);
}

/* The shutdown of daemon.c: on_signal() (host_stop, bus_stop), then
 * finish_shutdown() once the bus is idle (bus_finish), the loop run to
 * completion, then store_close, a last loop pass, uv_loop_close, host_free,
 * bus_free. The hooks (may be NULL) run right after host_stop and right
 * after bus_finish. */
static void fx_stop_hooked(struct fx *f, void (*stopped)(struct fx *),
			   void (*finished)(struct fx *))
{
	host_stop(f->host);
	if (stopped)
		stopped(f);
	bus_stop(f->bus);
	assert_true(run_until(f, pred_bus_idle, NULL));
	bus_finish(f->bus);
	if (finished)
		finished(f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	store_close(f->st);
	f->st = NULL;
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	host_free(f->host);
	f->host = NULL;
	bus_free(f->bus);
	f->bus = NULL;
}

static void fx_stop(struct fx *f)
{
	fx_stop_hooked(f, NULL, NULL);
}

/* Publishes one event of type (with data {"i": i}); returns its seq. */
struct pubrec {
	struct bus_pub bp;
	bool done;
	int err;
};

static void pub_done(struct bus_pub *bp, int err)
{
	struct pubrec *p = (struct pubrec *)bp;
	p->done = true;
	p->err = err;
}

static int64_t publish(struct fx *f, const char *type, int i)
{
	json_t *o =
		json_pack("{s:s,s:s,s:{s:i}}", "type", type, "source", "test/host", "data", "i", i);
	struct event *ev = NULL;
	struct cairn_err ve;
	assert_int_equal(event_from_json(o, EVENT_PUBLISH, &ev, &ve), 0);
	json_decref(o);
	event_fill_defaults(ev, clock_wall_ms());
	struct pubrec p = {.bp.done = pub_done};
	bus_publish(f->bus, ev, true, &p.bp);
	/* Not durable: answered once sequenced, within bus_publish(). */
	assert_true(p.done);
	assert_int_equal(p.err, 0);
	assert_false(p.bp.duplicate);
	return p.bp.seq;
}

/* The service's object of a status reply (new reference). */
static json_t *svc_status(struct fx *f, const char *name)
{
	json_t *reply = json_object();
	host_status(f->host, reply);
	json_t *o = json_incref(json_object_get(json_object_get(reply, "services"), name));
	json_decref(reply);
	assert_non_null(o);
	return o;
}

static int64_t status_int(struct fx *f, const char *name, const char *key)
{
	json_t *o = svc_status(f, name);
	int64_t v = json_integer_value(json_object_get(o, key));
	json_decref(o);
	return v;
}

/* Everything handled: n records, the log committed up to the last seq,
 * nothing queued or running for the service. */
struct idle_arg {
	const char *name;
	size_t n;
};

static bool pred_idle(struct fx *f, void *arg)
{
	struct idle_arg *a = arg;
	if (rec_count() < a->n || bus_committed_seq(f->bus) < bus_last_seq(f->bus))
		return false;
	json_t *o = svc_status(f, a->name);
	bool idle = json_integer_value(json_object_get(o, "queued")) == 0 &&
		    !json_is_true(json_object_get(o, "running"));
	json_decref(o);
	return idle;
}

struct cp_arg {
	const char *name;
	int64_t seq;
};

static bool pred_checkpoint(struct fx *f, void *arg)
{
	struct cp_arg *a = arg;
	return status_int(f, a->name, "checkpoint") >= a->seq;
}

/* Checks rec.seqs against want[0..n): the same seqs, in the same order. */
static void assert_handled(const int64_t *want, size_t n)
{
	pthread_mutex_lock(&rec.mu);
	size_t got = rec.n;
	int64_t *seqs = xreallocarray(NULL, got ? got : 1, sizeof *seqs);
	memcpy(seqs, rec.seqs, got * sizeof *seqs);
	unsigned bad_json = rec.bad_json;
	pthread_mutex_unlock(&rec.mu);
	assert_int_equal(bad_json, 0);
	for (size_t i = 0; i < got && i < n; i++)
		if (seqs[i] != want[i])
			fail_msg("handled #%zu: seq %lld, want %lld", i, (long long)seqs[i],
				 (long long)want[i]);
	assert_int_equal(got, n);
	free(seqs);
}

/* A connection of the test's own on f's database. */
static sqlite3 *db_open_ro(struct fx *f)
{
	sqlite3 *db = NULL;
	struct cairn_err err;
	if (store_db_open(f->path, true, &db, &err))
		fail_msg("store_db_open: %s", err.msg);
	return db;
}

static int64_t count_sql(sqlite3 *db, const char *sql, const char *a, const char *b)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (a)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Rows of the events table with this source and id. */
static int64_t count_id(sqlite3 *db, const char *source, const char *id)
{
	return count_sql(db, "SELECT count(*) FROM events WHERE source = ?1 AND id = ?2", source,
			 id);
}

static int64_t checkpoint_in_db(struct fx *f, const char *name)
{
	sqlite3 *db = db_open_ro(f);
	int64_t seq = -1;
	assert_int_equal(store_checkpoint_get(db, name, &seq), 0);
	sqlite3_close(db);
	return seq;
}

static void release_block(struct fx *f)
{
	pthread_mutex_lock(&rec.mu);
	rec.released = true;
	pthread_cond_broadcast(&rec.cond);
	pthread_mutex_unlock(&rec.mu);
}

static bool pred_entered(struct fx *f, void *arg)
{
	pthread_mutex_lock(&rec.mu);
	bool e = rec.entered;
	pthread_mutex_unlock(&rec.mu);
	return e;
}

static bool pred_committed(struct fx *f, void *arg)
{
	return bus_committed_seq(f->bus) == bus_last_seq(f->bus);
}

static int64_t bus_stat(struct fx *f, const char *group, const char *key)
{
	json_t *bs = bus_status(f->bus);
	int64_t v = json_integer_value(json_object_get(json_object_get(bs, group), key));
	json_decref(bs);
	return v;
}

/* ---- the tests ---- */

/* Every matching event arrives once, in seq order; no other. */
static void test_ordering(void **state)
{
	struct fx f;
	rec_reset();
	fx_new_db(&f, "ordering");
	const struct service_def *const defs[] = {&order_svc, NULL};
	fx_start(&f, defs, 256);

	static const char *const types[] = {"t.x", "u.y", "t.a.b", "t", "tx.y", "t.x", "u.t.x"};
	int64_t want[200];
	size_t n = 0;
	for (int i = 0; i < 200; i++) {
		const char *type = types[i % 7];
		int64_t seq = publish(&f, type, i);
		if (type[0] == 't' && type[1] == '.')
			want[n++] = seq;
		/* Let the loop turn now and then: delivery both while jobs run
		 * and in bursts. */
		if (i % 37 == 0)
			uv_run(&f.loop, UV_RUN_NOWAIT);
	}
	struct idle_arg ia = {"order", n};
	assert_true(run_until(&f, pred_idle, &ia));
	assert_handled(want, n);
	assert_int_equal(status_int(&f, "order", "done"), (int64_t)n);
	assert_int_equal(status_int(&f, "order", "failed"), 0);

	fx_stop(&f);
	assert_handled(want, n); /* nothing more came at the stop */
}

/* handle() runs only once the log holds its event. */
static void test_commit_gating(void **state)
{
	struct fx f;
	rec_reset();
	fx_new_db(&f, "gating");
	const struct service_def *const defs[] = {&gate_svc, NULL};
	fx_start(&f, defs, 1024);

	int64_t want[400];
	for (int i = 0; i < 400; i++)
		want[i] = publish(&f, i % 2 ? "g.x" : "g.y.z", i);
	/* The loop has not turned: nothing is committed yet, so every job
	 * waits in the queue and none runs. */
	assert_true(bus_committed_seq(f.bus) < want[0]);
	assert_int_equal(status_int(&f, "gate", "queued"), 400);
	json_t *o = svc_status(&f, "gate");
	assert_false(json_is_true(json_object_get(o, "running")));
	json_decref(o);

	struct idle_arg ia = {"gate", 400};
	assert_true(run_until(&f, pred_idle, &ia));
	assert_handled(want, 400);
	pthread_mutex_lock(&rec.mu);
	unsigned violations = rec.violations;
	pthread_mutex_unlock(&rec.mu);
	assert_int_equal(violations, 0);

	fx_stop(&f);
}

/* A queue of 4 and a slow service: the subscription pauses, then the gap is
 * read back from the log; nothing is lost or repeated. */
static void test_overflow_catch_up(void **state)
{
	struct fx f;
	rec_reset();
	fx_new_db(&f, "overflow");
	const struct service_def *const defs[] = {&slow_svc, NULL};
	fx_start(&f, defs, 4);

	enum { N = 300, FILL = 200 };
	int64_t want[N];
	for (int i = 0; i < N; i++)
		want[i] = publish(&f, "s.x", i);
	/* The queue holds 4; the rest matched while it was full. */
	assert_int_equal(status_int(&f, "slow", "queued"), 4);

	/* Hold the first job until the log has all of them and newer events
	 * have pushed them out of the ring: the catch-up must read the log. */
	pthread_mutex_lock(&rec.mu);
	rec.block_seq = want[0];
	pthread_mutex_unlock(&rec.mu);
	assert_true(run_until(&f, pred_entered, NULL));
	assert_true(run_until(&f, pred_committed, NULL));
	for (int i = 0; i < FILL; i++)
		publish(&f, "filler.x", i);
	assert_true(bus_stat(&f, "ring", "events") <= FILL); /* fillers only */
	assert_int_equal(status_int(&f, "slow", "queued"), 3);
	release_block(&f);

	struct idle_arg ia = {"slow", N};
	assert_true(run_until(&f, pred_idle, &ia));
	assert_handled(want, N);
	assert_true(bus_stat(&f, "delivery", "gaps") >= 1);
	assert_int_equal(status_int(&f, "slow", "done"), N);

	fx_stop(&f);
	assert_true(checkpoint_in_db(&f, "slow") >= want[N - 1]);
}

/* One output per input, logged under "NAME-SEQ-0"; the checkpoint saved at
 * the stop is past the last input. */
static void test_outputs_and_checkpoint(void **state)
{
	struct fx f;
	rec_reset();
	fx_new_db(&f, "outputs");
	const struct service_def *const defs[] = {&echo_svc, NULL};
	fx_start(&f, defs, 64);

	enum { N = 150 };
	int64_t want[N];
	for (int i = 0; i < N; i++) {
		want[i] = publish(&f, "e.x", i);
		publish(&f, "other.x", i); /* not the service's */
	}
	/* The checkpoint passes an input once its outputs are in the log. */
	struct cp_arg ca = {"echo", want[N - 1]};
	assert_true(run_until(&f, pred_checkpoint, &ca));
	assert_handled(want, N);

	sqlite3 *db = db_open_ro(&f);
	for (int i = 0; i < N; i++) {
		char id[80];
		service_output_id(id, sizeof id, "echo", want[i], 0);
		char expect[80];
		snprintf(expect, sizeof expect, "echo-%lld-0", (long long)want[i]);
		assert_string_equal(id, expect);
		assert_int_equal(count_id(db, "cairn/echo", id), 1);
		/* It is the output of that input. */
		static const char sql[] = "SELECT type, json_extract(envelope, '$.data.in') "
					  "FROM events WHERE source = 'cairn/echo' AND id = ?1";
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "echo.done");
		assert_int_equal(sqlite3_column_int64(st, 1), want[i]);
		sqlite3_finalize(st);
	}
	assert_int_equal(count_sql(db, "SELECT count(*) FROM events WHERE source = 'cairn/echo'",
				   NULL, NULL),
			 N);
	sqlite3_close(db);

	fx_stop(&f);
	assert_true(checkpoint_in_db(&f, "echo") >= want[N - 1]);
}

/* A stop while handle() runs: its result is dropped and the checkpoint stays
 * below it; the next start handles it again and its output is logged once. */
static void test_stop_while_running(void **state)
{
	struct fx f;
	rec_reset();
	fx_new_db(&f, "stop");
	const struct service_def *const defs[] = {&block_svc, NULL};
	fx_start(&f, defs, 64);

	enum { N = 5, BLOCK = 2 };
	int64_t seqs[N];
	for (int i = 0; i < N; i++)
		seqs[i] = publish(&f, "b.x", i);
	pthread_mutex_lock(&rec.mu);
	rec.block_seq = seqs[BLOCK];
	pthread_mutex_unlock(&rec.mu);
	assert_true(run_until(&f, pred_entered, NULL));
	json_t *o = svc_status(&f, "block");
	assert_true(json_is_true(json_object_get(o, "running")));
	json_decref(o);

	/* Stop with the job in handle(); it returns only after the bus has
	 * finished (the store's writer stopped). */
	fx_stop_hooked(&f, NULL, release_block);
	assert_handled(seqs, BLOCK + 1); /* the blocked one did run, to its end */
	int64_t cp = checkpoint_in_db(&f, "block");
	assert_true(cp < seqs[BLOCK]);
	/* What was handled before, with its output logged, is passed. */
	assert_true(cp >= seqs[BLOCK - 1]);
	sqlite3 *db = db_open_ro(&f);
	char id[80];
	service_output_id(id, sizeof id, "block", seqs[BLOCK], 0);
	assert_int_equal(count_id(db, "cairn/block", id), 0); /* dropped at the stop */
	sqlite3_close(db);

	/* As if the daemon had died before saving its last checkpoint: the
	 * next start handles seqs[BLOCK - 1] again too, whose output is in the
	 * log already. */
	{
		sqlite3 *w = NULL;
		struct cairn_err err;
		if (store_db_open(f.path, false, &w, &err))
			fail_msg("store_db_open: %s", err.msg);
		assert_int_equal(store_checkpoint_set(w, "block", seqs[BLOCK - 2], clock_wall_ms()),
				 0);
		sqlite3_close(w);
	}

	/* The next start, on the same database. */
	rec_reset();
	fx_start(&f, defs, 64);
	struct cp_arg ca = {"block", seqs[N - 1]};
	assert_true(run_until(&f, pred_checkpoint, &ca));
	assert_handled(seqs + BLOCK - 1, N - BLOCK + 1);
	db = db_open_ro(&f);
	for (int i = 0; i < N; i++) {
		service_output_id(id, sizeof id, "block", seqs[i], 0);
		assert_int_equal(count_id(db, "cairn/block", id), 1);
	}
	assert_int_equal(count_sql(db, "SELECT count(*) FROM events WHERE source = 'cairn/block'",
				   NULL, NULL),
			 N);
	sqlite3_close(db);
	fx_stop(&f);
	assert_true(checkpoint_in_db(&f, "block") >= seqs[N - 1]);
}

static bool pred_not_running(struct fx *f, void *arg)
{
	json_t *o = svc_status(f, arg);
	bool running = json_is_true(json_object_get(o, "running"));
	json_decref(o);
	return !running;
}

static void release_and_wait(struct fx *f)
{
	release_block(f);
	assert_true(run_until(f, pred_not_running, "block"));
}

/* The same, with the blocked job the service's last and other events
 * committed meanwhile, and handle() returning after host_stop() while the
 * bus still runs: its output must not be published, and the checkpoint
 * must not pass it. */
static void test_stop_while_last_job_runs(void **state)
{
	struct fx f;
	rec_reset();
	fx_new_db(&f, "stoplast");
	const struct service_def *const defs[] = {&block_svc, NULL};
	fx_start(&f, defs, 64);

	enum { N = 3 };
	int64_t seqs[N];
	for (int i = 0; i < N; i++)
		seqs[i] = publish(&f, "b.x", i);
	pthread_mutex_lock(&rec.mu);
	rec.block_seq = seqs[N - 1];
	pthread_mutex_unlock(&rec.mu);
	assert_true(run_until(&f, pred_entered, NULL));
	for (int i = 0; i < 50; i++)
		publish(&f, "other.x", i);
	assert_true(run_until(&f, pred_committed, NULL));
	/* Nothing queued, the earlier outputs logged, the log committed past
	 * the job: still the checkpoint stays below the job in handle(). */
	assert_int_equal(status_int(&f, "block", "queued"), 0);
	assert_true(status_int(&f, "block", "checkpoint") < seqs[N - 1]);

	fx_stop_hooked(&f, release_and_wait, NULL);
	assert_handled(seqs, N);
	int64_t cp = checkpoint_in_db(&f, "block");
	assert_true(cp < seqs[N - 1]);
	assert_true(cp >= seqs[N - 2]);
	sqlite3 *db = db_open_ro(&f);
	char id[80];
	service_output_id(id, sizeof id, "block", seqs[N - 1], 0);
	assert_int_equal(count_id(db, "cairn/block", id), 0); /* dropped at the stop */
	sqlite3_close(db);

	rec_reset();
	fx_start(&f, defs, 64);
	struct cp_arg ca = {"block", seqs[N - 1]};
	assert_true(run_until(&f, pred_checkpoint, &ca));
	assert_handled(seqs + N - 1, 1);
	db = db_open_ro(&f);
	for (int i = 0; i < N; i++) {
		service_output_id(id, sizeof id, "block", seqs[i], 0);
		assert_int_equal(count_id(db, "cairn/block", id), 1);
	}
	sqlite3_close(db);
	fx_stop(&f);
}

/* Two failures on one event, then success: restarts after 1 s and 2 s, the
 * event handled, service.failed and service.recovered in the log. */
static bool pred_recovered(struct fx *f, void *arg)
{
	json_t *o = svc_status(f, "flaky");
	bool ok = json_integer_value(json_object_get(o, "done")) >= 1 &&
		  strcmp(json_string_value(json_object_get(o, "state")), "running") == 0 &&
		  bus_committed_seq(f->bus) == bus_last_seq(f->bus);
	json_decref(o);
	return ok;
}

static void test_failure_and_backoff(void **state)
{
	struct fx f;
	rec_reset();
	rec.fail_first = 2;
	fx_new_db(&f, "flaky");
	const struct service_def *const defs[] = {&flaky_svc, NULL};
	fx_start(&f, defs, 64);

	int64_t seq = publish(&f, "f.x", 0);
	assert_true(run_until(&f, pred_recovered, NULL));
	assert_handled(&seq, 1);
	pthread_mutex_lock(&rec.mu);
	unsigned calls = rec.calls;
	pthread_mutex_unlock(&rec.mu);
	assert_int_equal(calls, 3);

	json_t *o = svc_status(&f, "flaky");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
	assert_true(json_integer_value(json_object_get(o, "failed")) >= 2);
	assert_true(json_integer_value(json_object_get(o, "restarts")) >= 1);
	assert_int_equal(json_integer_value(json_object_get(o, "skipped")), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "done")), 1);
	assert_non_null(
		strstr(json_string_value(json_object_get(o, "last_error")), "failing on purpose"));
	json_decref(o);

	sqlite3 *db = db_open_ro(&f);
	const char *q = "SELECT count(*) FROM events WHERE type = ?1 AND subject = ?2 AND "
			"source = 'cairn/host'";
	assert_int_equal(count_sql(db, q, "service.failed", "flaky"), 2);
	assert_int_equal(count_sql(db, q, "service.recovered", "flaky"), 1);
	static const char sql[] = "SELECT json_extract(envelope, '$.data.seq') FROM events "
				  "WHERE type = 'service.recovered'";
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), seq);
	sqlite3_finalize(st);
	sqlite3_close(db);

	fx_stop(&f);
	assert_true(checkpoint_in_db(&f, "flaky") >= seq);
}

/* A failure while the subscription catches up with a full queue: freeing
 * the failed job makes room, and the bus delivers the next event at once;
 * no handle() may run for it before the restart, and after the restart
 * every event is handled once, in order. */
static bool pred_done(struct fx *f, void *arg)
{
	struct idle_arg *a = arg;
	return status_int(f, a->name, "done") >= (int64_t)a->n && pred_idle(f, arg);
}

static void test_failure_while_catching_up(void **state)
{
	struct fx f;
	rec_reset();
	rec.fail_first = 2;
	fx_new_db(&f, "flakyq");
	const struct service_def *const defs[] = {&flaky_svc, NULL};
	fx_start(&f, defs, 4);

	enum { N = 10 };
	int64_t want[N];
	for (int i = 0; i < N; i++)
		want[i] = publish(&f, "f.x", i);
	/* The first call fails; the restart replays from the checkpoint (from
	 * the ring, 4 at a time) and the second call fails too. */
	struct idle_arg ia = {"flaky", N};
	assert_true(run_until(&f, pred_done, &ia));
	assert_handled(want, N);
	pthread_mutex_lock(&rec.mu);
	unsigned calls = rec.calls;
	pthread_mutex_unlock(&rec.mu);
	assert_int_equal(calls, N + 2);
	json_t *o = svc_status(&f, "flaky");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
	assert_int_equal(json_integer_value(json_object_get(o, "failed")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "restarts")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "done")), N);
	json_decref(o);

	fx_stop(&f);
	assert_true(checkpoint_in_db(&f, "flaky") >= want[N - 1]);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ordering),
		cmocka_unit_test(test_commit_gating),
		cmocka_unit_test(test_overflow_catch_up),
		cmocka_unit_test(test_outputs_and_checkpoint),
		cmocka_unit_test(test_stop_while_running),
		cmocka_unit_test(test_stop_while_last_job_runs),
		cmocka_unit_test(test_failure_and_backoff),
		cmocka_unit_test(test_failure_while_catching_up),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rec_reset();
	char cmd[sizeof dir + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return r;
}
