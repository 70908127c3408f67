/* The daemon side of triage and learning: a bounded FIFO of jobs, run one
 * at a time on the thread pool once the log has caught up with them. */
#include "services/service.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/ulid.h"
#include "common/xalloc.h"
#include "event/outcome.h"
#include "kb/kb.h"
#include "services/triage.h"
#include "services/triage_int.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum job_kind { JOB_TRIAGE, JOB_LEARN };

struct job {
	struct job *next;
	enum job_kind kind;
	int64_t seq;
	char *json; /* the event */
	/* results, filled on the worker thread */
	json_t *out_event;
	json_t *out_event2;
	int err;
	uint64_t took_ns;
};

/* Loop thread only, except db/kb, which only the running job's worker
 * thread touches (one job at a time). */
struct triage_service {
	uv_loop_t *loop;
	struct triage_service_config cfg;
	void (*publish)(void *, json_t *);
	void *ctx;
	sqlite3 *db;
	struct kb *kb;
	struct job *head, *tail;
	size_t queued;
	struct job *running;
	uv_work_t work;
	int64_t committed;
	bool stopping;
	bool caught_up; /* looked for failures left without a report */
	struct triage_service_stats stats;
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->json);
	json_decref(j->out_event);
	json_decref(j->out_event2);
	free(j);
}

int triage_service_new(uv_loop_t *loop, const struct triage_service_config *cfg,
		       void (*publish)(void *ctx, json_t *ev), void *ctx,
		       struct triage_service **out, char *errbuf, size_t errlen)
{
	struct triage_service *ts = xcalloc(1, sizeof *ts);
	ts->loop = loop;
	ts->cfg = *cfg;
	if (!ts->cfg.excerpt_lines)
		ts->cfg.excerpt_lines = 50;
	if (!ts->cfg.queue_max)
		ts->cfg.queue_max = 256;
	ts->publish = publish;
	ts->ctx = ctx;
	int r;
	if ((r = store_db_open(cfg->db_path, false, &ts->db, errbuf, errlen))) {
		free(ts);
		return r;
	}
	if ((r = kb_open_db(ts->db, cfg->forget_ms, &ts->kb, errbuf, errlen))) {
		sqlite3_close(ts->db);
		free(ts);
		return r;
	}
	*out = ts;
	return 0;
}

void triage_service_free(struct triage_service *ts)
{
	if (!ts)
		return;
	while (ts->head) {
		struct job *j = ts->head;
		ts->head = j->next;
		job_free(j);
	}
	kb_close(ts->kb);
	sqlite3_close(ts->db);
	free(ts);
}

void triage_service_stop(struct triage_service *ts)
{
	ts->stopping = true;
}

void triage_service_stats(const struct triage_service *ts, struct triage_service_stats *out)
{
	*out = ts->stats;
	out->queued = ts->queued;
	out->running = ts->running != NULL;
}

/* ---- the worker ---- */

static json_t *report_event(const struct triage_failure *f, json_t *report)
{
	char id[ULID_LEN + 1];
	ulid_new(id);
	json_t *ev = json_pack("{s:s,s:s,s:s,s:s*,s:s*,s:s*,s:s,s:o}", "type", "triage.report",
			       "source", "cairn/triage", "id", id, "subject", f->target,
			       "correlationid", f->event_id, "project", f->project, "severity",
			       "notice", "data", report);
	return ev;
}

static void run_triage(struct triage_service *ts, struct job *j, const json_t *ev)
{
	struct triage_failure f;
	char *logbuf = NULL;
	if (triage_failure_from_event(ev, &f, &logbuf)) {
		j->err = CAIRN_E_INVALID;
		return;
	}
	struct triage_ctx cx = {.db = ts->db, .kb = ts->kb};
	struct triage_opts o = {.max_lines = ts->cfg.excerpt_lines};
	json_t *report = NULL;
	int64_t now = clock_wall_ms();
	int r = triage_analyze(&cx, &f, &o, now, &report);
	if (r < 0)
		log_warn("triage: %s for %s: part of the report is missing", err_str(r),
			 f.event_id ? f.event_id : "?");
	json_t *out = report_event(&f, report);
	const char *rid = json_string_value(json_object_get(out, "id"));
	if ((r = triage_record_failure(&cx, &f, report, rid, now)) < 0) {
		log_warn("triage: cannot remember failure %s for learning: %s", f.event_id,
			 sqlite3_errmsg(ts->db));
		j->err = r;
	}
	j->out_event = out;
	free(logbuf);
}

static void run_learn(struct triage_service *ts, struct job *j, const json_t *ev)
{
	const json_t *data = json_object_get(ev, "data");
	struct triage_pass p = {
		.event_id = json_string_value(json_object_get(ev, "id")),
		.seq = json_integer_value(json_object_get(ev, "seq")),
		.project = json_string_value(json_object_get(ev, "project")),
		.cwd = json_string_value(json_object_get(data, "cwd")),
		.target = json_string_value(json_object_get(data, "target")),
	};
	if (!p.target)
		p.target = json_string_value(json_object_get(ev, "subject"));
	const char *t = json_string_value(json_object_get(ev, "time"));
	p.time_ms = clock_wall_ms();
	if (t)
		timefmt_parse_rfc3339(t, &p.time_ms);
	json_int_t dur = json_integer_value(json_object_get(data, "duration_ms"));
	if (dur > 0 && dur < p.time_ms)
		p.started_ms = p.time_ms - dur;
	struct triage_ctx cx = {.db = ts->db, .kb = ts->kb};
	json_t *learned = NULL;
	int r = triage_learn(&cx, &p, clock_wall_ms(), &learned);
	if (r < 0) {
		log_warn("learn: %s after %s: %s", err_str(r), p.event_id ? p.event_id : "?",
			 sqlite3_errmsg(ts->db));
		j->err = r;
		return;
	}
	if (r == 0)
		return;
	bool recurred = json_is_true(json_object_get(learned, "recurred"));
	json_object_set_new(learned, "kind", json_string("fix"));
	json_object_set_new(learned, "learned", json_true());
	char id[ULID_LEN + 1];
	ulid_new(id);
	j->out_event = json_pack("{s:s,s:s,s:s,s:s*,s:s*,s:s*,s:o}", "type",
				 recurred ? "kb.updated" : "kb.added", "source", "cairn/learn", "id",
				 id, "subject", p.target, "correlationid", p.event_id, "project",
				 p.project, "data", learned);
}

static void work_cb(uv_work_t *w)
{
	struct triage_service *ts = w->data;
	struct job *j = ts->running;
	uint64_t t0 = clock_mono_ns();
	json_error_t je;
	json_t *ev = json_loads(j->json, 0, &je);
	if (!ev) {
		j->err = CAIRN_E_PARSE;
		return;
	}
	if (j->kind == JOB_TRIAGE)
		run_triage(ts, j, ev);
	else
		run_learn(ts, j, ev);
	json_decref(ev);
	j->took_ns = clock_mono_ns() - t0;
}

static void maybe_start(struct triage_service *ts);

static void after_cb(uv_work_t *w, int status)
{
	struct triage_service *ts = w->data;
	struct job *j = ts->running;
	ts->running = NULL;
	ts->stats.last_ms = (double)j->took_ns / 1e6;
	if (j->err)
		ts->stats.failed++;
	if (!ts->stopping && status == 0 && j->out_event) {
		if (j->kind == JOB_TRIAGE)
			ts->stats.reports++;
		else
			ts->stats.learned++;
		json_t *e = j->out_event;
		j->out_event = NULL;
		ts->publish(ts->ctx, e);
	}
	job_free(j);
	maybe_start(ts);
}

static void maybe_start(struct triage_service *ts)
{
	if (ts->running || ts->stopping || !ts->head || ts->head->seq > ts->committed)
		return;
	struct job *j = ts->head;
	ts->head = j->next;
	if (!ts->head)
		ts->tail = NULL;
	ts->queued--;
	ts->running = j;
	ts->work.data = ts;
	if (uv_queue_work(ts->loop, &ts->work, work_cb, after_cb) != 0) {
		ts->running = NULL;
		ts->stats.failed++;
		job_free(j);
	}
}

static void enqueue(struct triage_service *ts, enum job_kind kind, const char *type, int64_t seq,
		    const char *json, size_t len)
{
	if (ts->queued >= ts->cfg.queue_max) {
		ts->stats.dropped++;
		log_warn("triage: %zu jobs waiting; %s at seq %lld is not analysed"
			 " (run 'cairn triage' on its log by hand)",
			 ts->queued, type, (long long)seq);
		return;
	}
	struct job *j = xcalloc(1, sizeof *j);
	j->kind = kind;
	j->seq = seq;
	j->json = xstrndup(json, len);
	if (ts->tail)
		ts->tail->next = j;
	else
		ts->head = j;
	ts->tail = j;
	ts->queued++;
	maybe_start(ts);
}

void triage_service_offer(struct triage_service *ts, const struct event *ev, const char *json,
			  size_t len)
{
	if (!ts || ts->stopping)
		return;
	if (outcome_is_failure(ev->type))
		enqueue(ts, JOB_TRIAGE, ev->type, ev->seq, json, len);
	else if (outcome_is_pass(ev->type))
		enqueue(ts, JOB_LEARN, ev->type, ev->seq, json, len);
}

/* Failures of the last day that have no report (the daemon stopped or
 * crashed before their job ran, or the queue was full): queued again, oldest
 * first, at most CATCH_UP_MAX. */
#define CATCH_UP_MAX 20
static void catch_up(struct triage_service *ts, int64_t now_ms)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(ts->db,
			       "SELECT seq, type, envelope FROM (SELECT e.seq, e.type, e.envelope"
			       " FROM events e WHERE e.type IN " OUTCOME_FAILED_SQL
			       " AND e.time_ms >= ?1"
			       " AND NOT EXISTS (SELECT 1 FROM events r WHERE r.type = 'triage.report'"
			       " AND r.seq > e.seq AND r.correlationid = e.id)"
			       " ORDER BY e.seq DESC LIMIT ?2) ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK) {
		log_warn("triage: cannot look for failures left without a report: %s",
			 sqlite3_errmsg(ts->db));
		return;
	}
	sqlite3_bind_int64(st, 1, now_ms - 24 * 3600 * 1000LL);
	sqlite3_bind_int(st, 2, CATCH_UP_MAX);
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		enqueue(ts, JOB_TRIAGE, (const char *)sqlite3_column_text(st, 1),
			sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 2),
			(size_t)sqlite3_column_bytes(st, 2));
		n++;
	}
	sqlite3_finalize(st);
	if (n)
		log_info("triage: %d earlier failure%s had no report; analysing now", n,
			 n == 1 ? "" : "s");
}

void triage_service_committed(struct triage_service *ts, int64_t seq)
{
	if (!ts)
		return;
	if (seq > ts->committed)
		ts->committed = seq;
	if (!ts->caught_up) {
		ts->caught_up = true;
		catch_up(ts, clock_wall_ms());
	}
	maybe_start(ts);
}
