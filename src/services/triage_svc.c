/* The triage service: for each failure (build.failed, test.failed,
 * ci.run.failed) it runs triage and publishes a triage.report correlated to
 * it; for each pass (build.passed, ...) it runs the learner and publishes
 * kb.added / kb.updated when it learned a fix.
 *
 * Triage and learning are one service, not two, because learning pairs a
 * pass with the failures recorded before it: in one queue a failure is
 * always recorded before a later pass is looked at. The host
 * (src/services/host.c) runs handle() on the thread pool, in log order,
 * once the log is committed up to the event. Its own writes (the failures
 * and snapshots tables) are INSERT OR IGNORE keyed by the failure, and the
 * learner resolves a failure once, so a second run for the same event adds
 * nothing. */
#include "services/service.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "event/outcome.h"
#include "kb/kb.h"
#include "services/triage.h"
#include "services/triage_int.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct triage_svc {
	size_t excerpt_lines;
	sqlite3 *db; /* its own connection; only handle() uses it */
	struct kb *kb;
	uint64_t reports, learned; /* atomics: written by handle(), read by status() */
};

static const char *const triage_patterns[] = {
	OUTCOME_FAILED_TYPES,
	OUTCOME_PASSED_TYPES,
	NULL,
};

static int triage_start(const struct service_env *env, void **state, struct cairn_err *err)
{
	struct triage_svc *ts = xcalloc(1, sizeof *ts);
	const struct config *cfg = env->cfg;
	ts->excerpt_lines = cfg->excerpt_lines ? cfg->excerpt_lines : 50;
	int r;
	if ((r = store_db_open(cfg->db_path, false, &ts->db, err))) {
		free(ts);
		return r;
	}
	if ((r = kb_open_db(ts->db, (int64_t)cfg->kb_forget_days * 86400000, &ts->kb, err))) {
		sqlite3_close(ts->db);
		free(ts);
		return r;
	}
	*state = ts;
	return 0;
}

static void triage_free(void *state)
{
	struct triage_svc *ts = state;
	kb_close(ts->kb);
	sqlite3_close(ts->db);
	free(ts);
}

static void triage_status(void *state, json_t *o)
{
	struct triage_svc *ts = state;
	json_object_set_new(
		o, "reports",
		json_integer((json_int_t)__atomic_load_n(&ts->reports, __ATOMIC_RELAXED)));
	json_object_set_new(
		o, "learned",
		json_integer((json_int_t)__atomic_load_n(&ts->learned, __ATOMIC_RELAXED)));
}

/* ---- handle(): on the pool ---- */

static json_t *report_event(const struct triage_failure *f, json_t *report, const char *id)
{
	json_t *ev =
		json_pack("{s:s,s:s,s:s,s:s*,s:s*,s:s*,s:s,s:o}", "type", "triage.report", "source",
			  "cairn/triage", "id", id, "subject", f->target, "correlationid",
			  f->event_id, "project", f->project, "severity", "notice", "data", report);
	return ev;
}

static int run_triage(struct triage_svc *ts, int64_t seq, const json_t *ev, json_t *out,
		      struct cairn_err *err)
{
	struct triage_failure f;
	char *logbuf = NULL;
	if (triage_failure_from_event(ev, &f, &logbuf)) {
		/* Not one to retry: the event itself is unusable. */
		log_warn("triage: seq %lld is not a failure event triage can read; skipped",
			 (long long)seq);
		return 0;
	}
	struct triage_ctx cx = {.db = ts->db, .kb = ts->kb};
	struct triage_opts o = {.max_lines = ts->excerpt_lines};
	json_t *report = NULL;
	int64_t now = clock_wall_ms();
	int r = triage_analyze(&cx, &f, &o, now, &report);
	if (r < 0)
		log_warn("triage: %s for %s: part of the report is missing", err_str(r),
			 f.event_id ? f.event_id : "?");
	char rid[64];
	service_output_id(rid, sizeof rid, "triage", seq, 0);
	json_t *rep = report_event(&f, report, rid);
	if ((r = triage_record_failure(&cx, &f, report, rid, now)) < 0) {
		cairn_err_set(err, r, "", "cannot remember failure %s for learning: %s", f.event_id,
			      sqlite3_errmsg(ts->db));
		json_decref(rep);
		free(logbuf);
		return r;
	}
	json_array_append_new(out, rep);
	__atomic_add_fetch(&ts->reports, 1, __ATOMIC_RELAXED);
	free(logbuf);
	return 0;
}

static int run_learn(struct triage_svc *ts, int64_t seq, const json_t *ev, json_t *out,
		     struct cairn_err *err)
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
	/* The runner's own start time, when it gives one, is exact. */
	const char *st = json_string_value(json_object_get(data, "started"));
	int64_t st_ms;
	if (st && timefmt_parse_rfc3339(st, &st_ms) == 0 && st_ms > 0 && st_ms <= p.time_ms)
		p.started_ms = st_ms;
	struct triage_ctx cx = {.db = ts->db, .kb = ts->kb};
	json_t *learned = NULL;
	int r = triage_learn(&cx, &p, clock_wall_ms(), &learned);
	if (r < 0) {
		cairn_err_set(err, r, "", "learning after %s: %s: %s",
			      p.event_id ? p.event_id : "?", err_str(r), sqlite3_errmsg(ts->db));
		return r;
	}
	if (r == 0)
		return 0;
	bool recurred = json_is_true(json_object_get(learned, "recurred"));
	if (!json_object_get(learned, "kind"))
		json_object_set_new(learned, "kind", json_string("fix"));
	json_object_set_new(learned, "learned", json_true());
	char id[64];
	service_output_id(id, sizeof id, "triage", seq, 0);
	json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s*,s:s*,s:s*,s:o}", "type",
					     recurred ? "kb.updated" : "kb.added", "source",
					     "cairn/learn", "id", id, "subject", p.target,
					     "correlationid", p.event_id, "project", p.project,
					     "data", learned));
	__atomic_add_fetch(&ts->learned, 1, __ATOMIC_RELAXED);
	return 0;
}

static int triage_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
			 struct cairn_err *err)
{
	struct triage_svc *ts = state;
	json_error_t je;
	json_t *ev = json_loadb(json, len, 0, &je);
	if (!ev) {
		log_warn("triage: seq %lld is not JSON (%s); skipped", (long long)seq, je.text);
		return 0;
	}
	const char *type = json_string_value(json_object_get(ev, "type"));
	int r = 0;
	if (type && outcome_is_failure(type))
		r = run_triage(ts, seq, ev, out, err);
	else if (type && outcome_is_pass(type))
		r = run_learn(ts, seq, ev, out, err);
	json_decref(ev);
	return r;
}

const struct service_def triage_service = {
	.name = "triage",
	.patterns = triage_patterns,
	.start = triage_start,
	.handle = triage_handle,
	.status = triage_status,
	.free = triage_free,
};
