/* Named queries over the events table: every SELECT over the log that is not
 * the store's own (store.c's writer, reader pool and store_query()) lives in
 * src/store/queries.c, so the log's columns and indexes are read in one
 * place. The outcome type lists come from event/outcome.h.
 *
 * Each query takes a connection of the caller's own (store_db_open(), or
 * sqlite3_open_v2() on a file being checked), runs on the caller's thread
 * and blocks. None of them writes. Conventions:
 *
 *   lookups of one row     return 1 (row found, out-params set), 0 (none;
 *                          out-params zeroed) or CAIRN_E_STORE;
 *   queries of many rows   call fn once per row, in the order documented;
 *                          fn returns non-zero to stop early. They return 0
 *                          (stopped early or not) or CAIRN_E_STORE, in which
 *                          case some rows may already have been handed out.
 *
 * On CAIRN_E_STORE, sqlite3_errmsg(db) says why. */
#ifndef CAIRN_STORE_QUERIES_H
#define CAIRN_STORE_QUERIES_H

#include <stddef.h>
#include <stdint.h>

struct sqlite3;

/* One row of the events table. From a lookup (store_q_event_by_seq() and
 * friends) the strings are owned by the caller: release them with
 * store_q_event_release(). Handed to a store_q_event_fn they are borrowed:
 * valid during the call only. */
struct store_q_event {
	int64_t seq;
	int64_t time_ms;
	char *id;
	char *type;
	char *envelope; /* the encoded envelope, seq included; NUL-terminated */
	size_t envelope_len;
};

/* Frees an owned row's strings and zeroes it. Safe on a zeroed row. */
void store_q_event_release(struct store_q_event *ev);

/* Called per row; return non-zero to stop. ev and its strings are valid
 * during the call only. */
typedef int (*store_q_event_fn)(void *ctx, const struct store_q_event *ev);

/* ---- single events (`cairn why`) ---- */

/* The event at seq. */
int store_q_event_by_seq(struct sqlite3 *db, int64_t seq, struct store_q_event *out);

/* The latest failure (OUTCOME_FAILED_SQL) or triage.report whose event id is
 * id: what `cairn why ID` accepts. */
int store_q_outcome_by_id(struct sqlite3 *db, const char *id, struct store_q_event *out);

/* The latest failure (OUTCOME_FAILED_SQL) logged for project, or in any
 * project (runs outside projects included) when project is NULL. */
int store_q_last_failure(struct sqlite3 *db, const char *project, struct store_q_event *out);

/* The latest triage.report correlated to the failure whose id is
 * failure_id (its correlationid). */
int store_q_report_for(struct sqlite3 *db, const char *failure_id, struct store_q_event *out);

/* The triage.report whose event id is report_id (the failures row keeps
 * it), if it is the report of failure_id: one index probe, where
 * store_q_report_for() walks back through the reports logged since. */
int store_q_report_by_id(struct sqlite3 *db, const char *report_id, const char *failure_id,
			 struct store_q_event *out);

/* ---- what the triage service and the learner read ---- */

/* The last pass (OUTCOME_PASSED_SQL) of target (data.target) with
 * seq < before_seq (before_seq <= 0: no bound), in project; or, when project
 * is NULL, among runs outside any project whose data.cwd is cwd. A NULL
 * target matches nothing. */
int store_q_last_pass(struct sqlite3 *db, const char *project, const char *cwd, const char *target,
		      int64_t before_seq, struct store_q_event *out);

/* ---- what the brief reads (src/brief/brief.c) ---- */

/* Events of type (or, when type ends with '.', of every type under it) of
 * project with seq > after_seq, newest first, at most limit, through the
 * events_type index. */
int store_q_project_events(struct sqlite3 *db, const char *type, const char *project,
			   int64_t after_seq, int64_t limit, store_q_event_fn fn, void *ctx);

/* The seq before the first event later than ms (events' own times; the log
 * is in time order but for clocks that disagree), INT64_MAX when none is
 * later, into *seq: one probe of events_time. Returns 0 or CAIRN_E_STORE. */
int store_q_seq_before_time(struct sqlite3 *db, int64_t ms, int64_t *seq);

/* The window the change queries look at: events of project with
 * after_seq < seq <= until_seq and since_ms <= time_ms < until_ms;
 * until_seq and until_ms of 0 (or less) mean no bound at the top. */
struct store_q_window {
	const char *project;
	int64_t after_seq;
	int64_t until_seq;
	int64_t since_ms;
	int64_t until_ms;
};

/* Called per path; return non-zero to stop. path is valid during the call. */
typedef int (*store_q_path_fn)(void *ctx, const char *path, int64_t last_ms, int events,
			       int64_t last_seq);

/* File events (file.changed, file.created, file.deleted, file.renamed) in
 * the window, one row per path (data.path, else the subject): the time and
 * seq of its last event and how many there were. Newest first, at most
 * limit paths. A NULL project matches nothing. */
int store_q_file_changes(struct sqlite3 *db, const struct store_q_window *w, int limit,
			 store_q_path_fn fn, void *ctx);

/* git.commit, git.checkout and git.merge events in the window, in seq
 * order, at most limit. A NULL project matches nothing. */
int store_q_git_events(struct sqlite3 *db, const struct store_q_window *w, int limit,
		       store_q_event_fn fn, void *ctx);

/* ---- what the tools read (src/tools/) ---- */

/* The event whose id is id, of any source (the latest when two sources
 * used the same id): the sources are found by skipping through the
 * events_source_id index, then one probe of it per source. */
int store_q_event_by_id(struct sqlite3 *db, const char *id, struct store_q_event *out);

/* Events whose type matches the valid pattern (event/pattern.h; NULL: ">")
 * of project (NULL: any, events outside projects included) with
 * seq > after_seq, newest first, at most limit. A pattern other than ">"
 * is turned into the types logged that it matches (a seek of events_type
 * per distinct type under its literal prefix), each walked newest first on
 * events_type (the project checked on each row: a type is usually rarer
 * than a project's events), the walks merged by seq: so a pattern that
 * matches nothing recent reads nothing. ">" walks events_project with a
 * project, else the primary key; so does a pattern matching more than 64
 * types (narrowed in SQL by the type range and a GLOB, then by
 * pattern_match()). */
int store_q_recent_events(struct sqlite3 *db, const char *pattern, const char *project,
			  int64_t after_seq, int64_t limit, store_q_event_fn fn, void *ctx);

/* The events correlated with the event at seq whose id is id and whose
 * correlationid is corr (NULL: none), in seq order, at most limit: those
 * sharing its correlationid, the one its correlationid names, and those
 * whose correlationid is its id; the event itself excluded. No index
 * covers correlationid: only the window events either side of seq are
 * read (a primary key range), so a relation logged farther away is not
 * found. */
int store_q_correlated(struct sqlite3 *db, int64_t seq, const char *id, const char *corr,
		       int64_t window, int64_t limit, store_q_event_fn fn, void *ctx);

/* ---- checking (`cairn doctor`) ---- */

/* Called per hole; return non-zero to stop. */
typedef int (*store_q_gap_fn)(void *ctx, int64_t first_missing, int64_t last_missing);

/* The holes between the first and the last seq of the log, in seq order:
 * each run of missing seqs first_missing..last_missing (inclusive). The end
 * of the log past max(seq) is not a hole here (compare with the high-water
 * mark). */
int store_q_seq_gaps(struct sqlite3 *db, store_q_gap_fn fn, void *ctx);

/* ---- service checkpoints (migration 3) ----
 *
 * service_checkpoints  name TEXT PRIMARY KEY, seq INTEGER, time_ms INTEGER:
 * the last seq up to which a service of the daemon has handled every event
 * it subscribes to (src/services/host.c). Blocking, any thread. */

/* *seq, or CAIRN_E_NOTFOUND if the service has none, CAIRN_E_STORE. */
int store_checkpoint_get(struct sqlite3 *db, const char *name, int64_t *seq);

/* Sets it (insert or update). Returns 0 or CAIRN_E_STORE. */
int store_checkpoint_set(struct sqlite3 *db, const char *name, int64_t seq, int64_t now_ms);

#endif
