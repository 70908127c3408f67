/* Sessions: spans of work in one project, kept by the session service
 * (src/services/session.c) from the events as they arrive, and the queries
 * `cairn session` and `cairn brief` run over them.
 *
 * A person's session in a project starts with the first activity after a
 * quiet gap ([session] gap, 30 minutes by default) and ends after the gap, or
 * explicitly (`cairn session start|end`, which log session.start and
 * session.end requests). An AI agent's session starts and ends with the
 * agent.started and agent.ended events its hooks log (`cairn hooks install
 * --agent claude`), carries the agent's name and session id, and ends after
 * the gap too if its end never arrives. Activity in a project goes to every
 * session open there.
 *
 * Activity is an event of work with a project: file.*, git.*, build.*,
 * test.*, ci.*, kb.*, agent.* and shell.command (which carries no project:
 * the known project its cwd is in). What cairn says about the work
 * (triage.*, service.*, session.*, fs.*) and other kinds are not. Each
 * event's own time is used, so a replayed history makes the sessions it
 * made when it happened. A session that went quiet is ended by the next
 * activity after the gap, in any project; its end is the time of its last
 * activity.
 *
 * Model (migration 6):
 *   sessions       one row per session: project, agent, span, seqs, counts
 *   session_items  what happened in it, aggregated per (kind, key): files
 *                  changed, branches, targets and their last state, commits,
 *                  knowledge recorded, commands run
 *   session_learned, session_outbox  the last seq learned, and the events
 *                  published for recent seqs, so that a job the host runs
 *                  again after a crash changes nothing and publishes what it
 *                  published the first time. */
#ifndef CAIRN_SESSION_H
#define CAIRN_SESSION_H

#include "common/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

/* Items of a session, by kind (session_items.kind). */
#define SESSION_FILE "file"
#define SESSION_BRANCH "branch"
#define SESSION_TARGET "target"   /* state: passed|failed; text: the outcome's event id */
#define SESSION_COMMIT "commit"   /* key: hash; text: subject */
#define SESSION_KB "kb"           /* key: uid; state: added|updated|...; text: title */
#define SESSION_COMMAND "command" /* key: the command line; state: its exit status */

struct session_rec {
	int64_t id;
	char *project;
	char *agent;                       /* NULL: a person's session */
	char *agent_session;               /* the agent's own session id */
	char *note;                        /* given at `cairn session start --note` */
	char *end_note;                    /* given at `cairn session end --note` */
	char *ended_by;                    /* NULL while open; gap|explicit|agent|replaced */
	int64_t start_ms, last_ms, end_ms; /* end_ms 0 while open */
	int64_t start_seq, last_seq;
	int64_t events;
};

void session_rec_release(struct session_rec *r);
void session_recs_free(struct session_rec *v, size_t n);

/* Sessions, newest first (by start), at most limit; of project when not
 * NULL; before before_id when > 0. Returns 0 or CAIRN_E_STORE. */
int session_list(struct sqlite3 *db, const char *project, int64_t before_id, size_t limit,
		 struct session_rec **out, size_t *n_out, struct cairn_err *err);

/* Session id into *out. Returns 1, 0 (no such session) or CAIRN_E_STORE. */
int session_get(struct sqlite3 *db, int64_t id, struct session_rec *out, struct cairn_err *err);

/* True when the session has ended, or has been quiet for longer than gap_ms
 * at now_ms (its end is then logged with the next event). */
int session_is_over(const struct session_rec *r, int64_t gap_ms, int64_t now_ms);

/* The session's whole record as JSON (what `cairn session show --json`
 * prints): its fields, then "files" (most changed first, at most limit),
 * "branches", "targets" (with their last state; a failed one with the gist
 * of its triage report), "commits", "knowledge", "commands" (most run
 * first, at most limit). Returns a new object, or NULL with err filled. */
json_t *session_record(struct sqlite3 *db, const struct session_rec *r, size_t limit,
		       struct cairn_err *err);

/* The focus of project's latest session that changed a file: its files
 * changed most, at most max, into *paths (n_paths; free each and the
 * array), and its id into *id. Returns 0 (*n_paths 0: no such session) or
 * CAIRN_E_STORE. */
int session_focus(struct sqlite3 *db, const char *project, size_t max, char ***paths,
		  size_t *n_paths, int64_t *id, struct cairn_err *err);

/* The summary of the triage report of failure failure_id (its event id),
 * found by report_id when known (the failures row's), or NULL. Returns a
 * malloc'd string. */
char *session_failure_gist(struct sqlite3 *db, const char *failure_id, const char *report_id);

/* The session's JSON fields alone (no items). */
json_t *session_fields(const struct session_rec *r);

#endif
