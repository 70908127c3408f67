/* Named queries over the events table (see queries.h). */
#include "store/queries.h"

#include "common/err.h"
#include "common/xalloc.h"
#include "event/outcome.h"
#include "event/pattern.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every query that hands out struct store_q_event selects these columns
 * first, in this order. */
#define EVENT_COLS "seq, time_ms, id, type, envelope"

/* The file and git event types the change queries read. */
#define FILE_TYPES_SQL "('file.changed','file.created','file.deleted','file.renamed')"
#define GIT_TYPES_SQL "('git.commit','git.checkout','git.merge')"

void store_q_event_release(struct store_q_event *ev)
{
	if (!ev)
		return;
	free(ev->id);
	free(ev->type);
	free(ev->envelope);
	memset(ev, 0, sizeof *ev);
}

/* The current row's EVENT_COLS, borrowed from the statement. */
static void event_view(sqlite3_stmt *st, struct store_q_event *ev)
{
	ev->seq = sqlite3_column_int64(st, 0);
	ev->time_ms = sqlite3_column_int64(st, 1);
	ev->id = (char *)sqlite3_column_text(st, 2);
	ev->type = (char *)sqlite3_column_text(st, 3);
	ev->envelope = (char *)sqlite3_column_text(st, 4);
	ev->envelope_len = (size_t)sqlite3_column_bytes(st, 4);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* Steps a statement whose first columns are EVENT_COLS once, copying the
 * row into out; finalizes it. 1, 0 or CAIRN_E_STORE (queries.h). */
static int one_event(sqlite3_stmt *st, struct store_q_event *out)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		struct store_q_event v;
		event_view(st, &v);
		out->seq = v.seq;
		out->time_ms = v.time_ms;
		out->id = dup_or_null(v.id);
		out->type = dup_or_null(v.type);
		if (v.envelope) {
			out->envelope = xmalloc(v.envelope_len + 1);
			memcpy(out->envelope, v.envelope, v.envelope_len + 1);
			out->envelope_len = v.envelope_len;
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}

/* Steps a statement whose first columns are EVENT_COLS to its end (or until
 * fn stops), handing each row to fn; finalizes it. */
static int each_event(sqlite3_stmt *st, store_q_event_fn fn, void *ctx)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_q_event v;
		event_view(st, &v);
		if (fn(ctx, &v)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	*st = NULL;
	return sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK ? 0 : CAIRN_E_STORE;
}

/* ---- single events ---- */

int store_q_event_by_seq(sqlite3 *db, int64_t seq, struct store_q_event *out)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	if (prepare(db, "SELECT " EVENT_COLS " FROM events WHERE seq = ?1", &st))
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, seq);
	return one_event(st, out);
}

int store_q_outcome_by_id(sqlite3 *db, const char *id, struct store_q_event *out)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	if (prepare(db,
		    "SELECT " EVENT_COLS " FROM events WHERE (type IN " OUTCOME_FAILED_SQL
		    " OR type = 'triage.report') AND id = ?1 ORDER BY seq DESC LIMIT 1",
		    &st))
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return one_event(st, out);
}

int store_q_last_failure(sqlite3 *db, const char *project, struct store_q_event *out)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	const char *sql = project ? "SELECT " EVENT_COLS " FROM events WHERE project = ?1"
				    " AND type IN " OUTCOME_FAILED_SQL " ORDER BY seq DESC LIMIT 1"
				  : "SELECT " EVENT_COLS " FROM events"
				    " WHERE type IN " OUTCOME_FAILED_SQL
				    " ORDER BY seq DESC LIMIT 1";
	if (prepare(db, sql, &st))
		return CAIRN_E_STORE;
	if (project)
		sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
	return one_event(st, out);
}

int store_q_report_for(sqlite3 *db, const char *failure_id, struct store_q_event *out)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	if (prepare(db,
		    "SELECT " EVENT_COLS " FROM events WHERE type = 'triage.report'"
		    " AND correlationid = ?1 ORDER BY seq DESC LIMIT 1",
		    &st))
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, failure_id, -1, SQLITE_STATIC);
	return one_event(st, out);
}

int store_q_report_by_id(sqlite3 *db, const char *report_id, const char *failure_id,
			 struct store_q_event *out)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	if (prepare(db,
		    "SELECT " EVENT_COLS " FROM events WHERE source = 'cairn/triage' AND id = ?1"
		    " AND type = 'triage.report' AND correlationid = ?2",
		    &st))
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, report_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, failure_id, -1, SQLITE_STATIC);
	return one_event(st, out);
}

/* ---- what the brief reads ---- */

int store_q_project_events(sqlite3 *db, const char *type, const char *project, int64_t after_seq,
			   int64_t limit, store_q_event_fn fn, void *ctx)
{
	size_t tl = strlen(type);
	bool prefix = tl > 0 && type[tl - 1] == '.';
	char hi[256];
	snprintf(hi, sizeof hi, "%s\xff", type);
	sqlite3_stmt *st;
	if (prepare(db,
		    prefix ? "SELECT " EVENT_COLS " FROM events WHERE type > ?1 AND type < ?2"
			     " AND seq > ?4 AND project = ?3 ORDER BY seq DESC LIMIT ?5"
			   : "SELECT " EVENT_COLS " FROM events WHERE type = ?1 AND seq > ?4"
			     " AND project = ?3 ORDER BY seq DESC LIMIT ?5",
		    &st))
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	if (prefix)
		sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, project, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, after_seq);
	sqlite3_bind_int64(st, 5, limit);
	return each_event(st, fn, ctx);
}

int store_q_seq_before_time(sqlite3 *db, int64_t ms, int64_t *seq)
{
	sqlite3_stmt *st;
	*seq = INT64_MAX;
	if (prepare(db, "SELECT seq FROM events WHERE time_ms > ?1 ORDER BY time_ms LIMIT 1", &st))
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, ms);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0) - 1;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}

/* ---- triage and learning ---- */

int store_q_last_pass(sqlite3 *db, const char *project, const char *cwd, const char *target,
		      int64_t before_seq, struct store_q_event *out)
{
	memset(out, 0, sizeof *out);
	const char *sql =
		project ? "SELECT " EVENT_COLS " FROM events WHERE project = ?1 AND seq < ?3"
			  " AND type IN " OUTCOME_PASSED_SQL
			  " AND json_extract(envelope,'$.data.target') = ?2"
			  " ORDER BY seq DESC LIMIT 1"
			: "SELECT " EVENT_COLS " FROM events WHERE seq < ?3"
			  " AND type IN " OUTCOME_PASSED_SQL
			  " AND json_extract(envelope,'$.data.target') = ?2"
			  " AND json_extract(envelope,'$.data.cwd') = ?1 AND project IS NULL"
			  " ORDER BY seq DESC LIMIT 1";
	sqlite3_stmt *st;
	if (prepare(db, sql, &st))
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, project ? project : cwd, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, before_seq > 0 ? before_seq : INT64_MAX);
	return one_event(st, out);
}

/* Binds ?1..?5 of the change queries: project, (after_seq, until_seq],
 * [since_ms, until_ms). */
static void bind_window(sqlite3_stmt *st, const struct store_q_window *w)
{
	sqlite3_bind_text(st, 1, w->project, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, w->after_seq);
	sqlite3_bind_int64(st, 3, w->until_seq > 0 ? w->until_seq : INT64_MAX);
	sqlite3_bind_int64(st, 4, w->since_ms);
	sqlite3_bind_int64(st, 5, w->until_ms > 0 ? w->until_ms : INT64_MAX);
}

#define WINDOW_SQL                                                                                 \
	" WHERE project = ?1 AND seq > ?2 AND seq <= ?3 AND time_ms >= ?4 AND time_ms < ?5"

int store_q_file_changes(sqlite3 *db, const struct store_q_window *w, int limit, store_q_path_fn fn,
			 void *ctx)
{
	sqlite3_stmt *st;
	if (prepare(db,
		    "SELECT coalesce(json_extract(envelope,'$.data.path'), subject),"
		    " max(time_ms), count(*), max(seq) FROM events" WINDOW_SQL
		    " AND type IN " FILE_TYPES_SQL " GROUP BY 1"
		    /* Not a path whose first event created it and whose last
		     * deleted it: it was there neither before nor after
		     * (configure's conftest.c). The low bit of seq*2+flag is the
		     * flag of the first (min) or last (max) event. */
		    " HAVING NOT (min(seq*2 + (type='file.created')) % 2 = 1"
		    " AND max(seq*2 + (type='file.deleted')) % 2 = 1)"
		    " ORDER BY 2 DESC LIMIT ?6",
		    &st))
		return CAIRN_E_STORE;
	bind_window(st, w);
	sqlite3_bind_int(st, 6, limit);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);
		if (!p)
			continue; /* neither a path nor a subject: nothing to name */
		if (fn(ctx, p, sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2),
		       sqlite3_column_int64(st, 3))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}

int store_q_git_events(sqlite3 *db, const struct store_q_window *w, int limit, store_q_event_fn fn,
		       void *ctx)
{
	sqlite3_stmt *st;
	if (prepare(db,
		    "SELECT " EVENT_COLS " FROM events" WINDOW_SQL " AND type IN " GIT_TYPES_SQL
		    " ORDER BY seq LIMIT ?6",
		    &st))
		return CAIRN_E_STORE;
	bind_window(st, w);
	sqlite3_bind_int(st, 6, limit);
	return each_event(st, fn, ctx);
}

/* ---- what the tools read ---- */

int store_q_event_by_id(sqlite3 *db, const char *id, struct store_q_event *out)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	/* Each step of s seeks the next source in events_source_id: a few
	 * probes, where "WHERE id = ?" alone would read the whole table. */
	if (prepare(db,
		    "WITH RECURSIVE s(src) AS (SELECT min(source) FROM events UNION ALL"
		    " SELECT (SELECT min(source) FROM events WHERE source > s.src) FROM s"
		    " WHERE s.src IS NOT NULL)"
		    " SELECT " EVENT_COLS " FROM events WHERE source IN (SELECT src FROM s)"
		    " AND id = ?1 ORDER BY seq DESC LIMIT 1",
		    &st))
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return one_event(st, out);
}

/* Hands on the rows pattern_match() accepts, at most limit. */
struct match_call {
	const char *pattern;
	int64_t left;
	store_q_event_fn fn;
	void *ctx;
};

static int match_row(void *arg, const struct store_q_event *ev)
{
	struct match_call *m = arg;
	if (!ev->type || !pattern_match(m->pattern, ev->type))
		return 0;
	if (m->fn(m->ctx, ev))
		return 1;
	return --m->left <= 0;
}

/* The most types one query walks one by one; a pattern matching more is
 * read in one statement instead. */
#define WALK_TYPES_MAX 64

/* The types logged that the pattern matches, at most WALK_TYPES_MAX + 1,
 * into types (each freed by the caller): a seek of events_type per
 * distinct type within the pattern's literal prefix, rather than a read of
 * its rows. */
static int matching_types(sqlite3 *db, const char *pat, size_t plen, char **types, size_t *n)
{
	*n = 0;
	char lo[PATTERN_MAX + 2], hi[PATTERN_MAX + 2];
	memcpy(lo, pat, plen);
	lo[plen] = '\0';
	if (plen) {
		memcpy(hi, pat, plen);
		hi[plen - 1] = '.' + 1;
		hi[plen] = '\0';
	} else {
		strcpy(hi, "~"); /* above every type: tokens are [a-z0-9_-] */
	}
	sqlite3_stmt *st;
	if (prepare(db,
		    "WITH RECURSIVE t(type) AS (SELECT (SELECT min(type) FROM events"
		    " WHERE type >= ?1 AND type < ?2) UNION ALL SELECT (SELECT min(type)"
		    " FROM events WHERE type > t.type AND type < ?2) FROM t"
		    " WHERE t.type IS NOT NULL) SELECT type FROM t WHERE type IS NOT NULL",
		    &st))
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (!t || !pattern_match(pat, t))
			continue;
		types[(*n)++] = xstrdup(t);
		if (*n > WALK_TYPES_MAX) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}

/* Walks events_type once per type, newest first, and merges the walks by
 * seq: each walk reads only its type's rows, and stops with the limit. */
static int walk_types(sqlite3 *db, char **types, size_t n, const char *project, int64_t after_seq,
		      int64_t limit, store_q_event_fn fn, void *ctx)
{
	sqlite3_stmt *st[WALK_TYPES_MAX];
	bool live[WALK_TYPES_MAX];
	int r = 0;
	size_t ready = 0;
	for (; ready < n; ready++) {
		if (prepare(db,
			    project ? "SELECT " EVENT_COLS " FROM events WHERE type = ?1"
				      " AND seq > ?2 AND +project = ?3 ORDER BY seq DESC LIMIT ?4"
				    : "SELECT " EVENT_COLS " FROM events WHERE type = ?1"
				      " AND seq > ?2 ORDER BY seq DESC LIMIT ?4",
			    &st[ready])) {
			r = CAIRN_E_STORE;
			goto out;
		}
		sqlite3_bind_text(st[ready], 1, types[ready], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st[ready], 2, after_seq);
		if (project)
			sqlite3_bind_text(st[ready], 3, project, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st[ready], 4, limit);
		int rc = sqlite3_step(st[ready]);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			ready++;
			r = CAIRN_E_STORE;
			goto out;
		}
		live[ready] = rc == SQLITE_ROW;
	}
	for (int64_t left = limit; left > 0; left--) {
		size_t best = n;
		for (size_t i = 0; i < n; i++)
			if (live[i] && (best == n || sqlite3_column_int64(st[i], 0) >
							     sqlite3_column_int64(st[best], 0)))
				best = i;
		if (best == n)
			break;
		struct store_q_event v;
		event_view(st[best], &v);
		if (fn(ctx, &v))
			break;
		int rc = sqlite3_step(st[best]);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			r = CAIRN_E_STORE;
			break;
		}
		live[best] = rc == SQLITE_ROW;
	}
out:
	for (size_t i = 0; i < ready; i++)
		sqlite3_finalize(st[i]);
	return r;
}

int store_q_recent_events(sqlite3 *db, const char *pattern, const char *project, int64_t after_seq,
			  int64_t limit, store_q_event_fn fn, void *ctx)
{
	const char *pat = pattern ? pattern : ">";
	if (limit <= 0)
		return 0;
	bool exact;
	size_t plen = pattern_literal_prefix(pat, &exact);
	if (strcmp(pat, ">") != 0) {
		char *types[WALK_TYPES_MAX + 1];
		size_t n = 0;
		int r = 0;
		if (exact)
			types[n++] = xstrdup(pat);
		else
			r = matching_types(db, pat, plen, types, &n);
		if (!r && n <= WALK_TYPES_MAX)
			r = walk_types(db, types, n, project, after_seq, limit, fn, ctx);
		for (size_t i = 0; i < n; i++)
			free(types[i]);
		if (r || n <= WALK_TYPES_MAX)
			return r;
	}
	/* Everything (">"), or a pattern matching too many types to walk
	 * each: one statement over events_project with a project, else the
	 * type range ("x.>" is ["x.", "x/") exactly) or the primary key. A
	 * '*' needs the GLOB ("*" -> "*", "x.>" -> "x.*"), whose '*' also
	 * spans dots, and then pattern_match(). Type tokens hold no GLOB
	 * metacharacters. */
	bool star = strchr(pat, '*') != NULL;
	char glob[PATTERN_MAX + 2] = "";
	if (star) {
		size_t gl = 0;
		for (const char *p = pat; *p && gl + 2 < sizeof glob; p++)
			glob[gl++] = *p == '>' ? '*' : *p;
		glob[gl] = '\0';
	}
	char sql[512];
	snprintf(sql, sizeof sql,
		 "SELECT " EVENT_COLS " FROM events WHERE seq > ?1%s%s%s ORDER BY seq DESC%s",
		 project ? " AND project = ?2" : "", plen ? " AND type >= ?3 AND type < ?4" : "",
		 star ? " AND type GLOB ?5" : "", star ? "" : " LIMIT ?6");
	sqlite3_stmt *st;
	if (prepare(db, sql, &st))
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, after_seq);
	if (project)
		sqlite3_bind_text(st, 2, project, -1, SQLITE_STATIC);
	char hi[PATTERN_MAX + 2];
	if (plen) {
		/* Types with the prefix "a.b." sort in ["a.b.", "a.b/"). */
		memcpy(hi, pat, plen);
		hi[plen - 1] = '.' + 1;
		hi[plen] = '\0';
		sqlite3_bind_text(st, 3, pat, (int)plen, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, hi, -1, SQLITE_STATIC);
	}
	if (star) {
		sqlite3_bind_text(st, 5, glob, -1, SQLITE_STATIC);
		struct match_call m = {pat, limit, fn, ctx};
		return each_event(st, match_row, &m);
	}
	sqlite3_bind_int64(st, 6, limit);
	return each_event(st, fn, ctx);
}

int store_q_correlated(sqlite3 *db, int64_t seq, const char *id, const char *corr, int64_t window,
		       int64_t limit, store_q_event_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	if (prepare(db,
		    "SELECT " EVENT_COLS " FROM events WHERE seq >= ?1 - ?4 AND seq <= ?1 + ?4"
		    " AND seq != ?1 AND (correlationid = ?2 OR (?3 IS NOT NULL AND"
		    " (correlationid = ?3 OR id = ?3))) ORDER BY seq LIMIT ?5",
		    &st))
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (corr)
		sqlite3_bind_text(st, 3, corr, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, window);
	sqlite3_bind_int64(st, 5, limit);
	return each_event(st, fn, ctx);
}

/* ---- checking ---- */

int store_q_seq_gaps(sqlite3 *db, store_q_gap_fn fn, void *ctx)
{
	sqlite3_stmt *st;
	if (prepare(db,
		    "SELECT seq + 1, nxt - 1 FROM (SELECT seq, lead(seq) OVER "
		    "(ORDER BY seq) AS nxt FROM events) WHERE nxt > seq + 1",
		    &st))
		return CAIRN_E_STORE;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1))) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}

/* ---- service checkpoints ---- */

int store_checkpoint_get(sqlite3 *db, const char *name, int64_t *seq)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT seq FROM service_checkpoints WHERE name = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int r = 0;
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		r = CAIRN_E_NOTFOUND;
	else
		r = CAIRN_E_STORE;
	sqlite3_finalize(st);
	return r;
}

int store_checkpoint_set(sqlite3 *db, const char *name, int64_t seq, int64_t now_ms)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(
		    db,
		    "INSERT INTO service_checkpoints(name, seq, time_ms) VALUES (?1, ?2, ?3)"
		    " ON CONFLICT(name) DO UPDATE SET seq = excluded.seq,"
		    " time_ms = excluded.time_ms",
		    -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, now_ms);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}
