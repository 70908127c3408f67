/* The session service (see session.h): keeps the sessions of each project
 * from the events as they arrive. A service of the host (service.h):
 * handle() runs on the pool, one event at a time, and applies each event in
 * one transaction with its seq, so a job run twice after a crash changes
 * nothing; the events it published for that seq are kept (session_outbox)
 * and published again, the host's ids making the log drop the copies.
 *
 * The open sessions are few (one per project, plus running agents) and live
 * in memory as well as in the table; when a transaction fails, handle()
 * fails and the host restarts the service, which reads them again. */
#include "services/session.h"

#include "common/log.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "services/service.h"
#include "store/queries.h"
#include "store/store.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 512            /* longer item keys (commands, paths) are cut */
#define OUTBOX_KEEP_SEQS 65536 /* outputs kept for this many seqs back */

struct open_sess {
	int64_t id;
	char *project, *agent, *agent_session;
	int64_t last_ms;
};

struct sessions {
	sqlite3 *db; /* its own connection; only handle() uses it */
	int64_t gap_ms;
	struct open_sess *open;
	size_t n_open, cap_open;
	char **projects; /* every project seen, to place a shell command's cwd */
	size_t n_projects, cap_projects;
	sqlite3_stmt *seen, *mark, *outbox_get, *outbox_put, *outbox_prune;
	sqlite3_stmt *ins, *touch, *end, *item;
	uint64_t started, ended, events; /* atomics: handle() writes, status() reads */
};

/* The kinds of event that are work (and the requests about sessions); not
 * ">": a job per event of every kind would cost the live latency of a busy
 * log (bench/run.sh), and cairn's own commentary is no activity anyway. */
static const char *const session_patterns[] = {
	"file.>",  "git.>",         "build.>",       "test.>",      "ci.>", "kb.>",
	"agent.>", "shell.command", "session.start", "session.end", NULL,
};

static void open_free(struct open_sess *o)
{
	free(o->project);
	free(o->agent);
	free(o->agent_session);
}

static void sessions_free(void *state)
{
	struct sessions *s = state;
	for (size_t i = 0; i < s->n_open; i++)
		open_free(&s->open[i]);
	free(s->open);
	for (size_t i = 0; i < s->n_projects; i++)
		free(s->projects[i]);
	free(s->projects);
	sqlite3_stmt *all[] = {s->seen, s->mark,  s->outbox_get, s->outbox_put, s->outbox_prune,
			       s->ins,  s->touch, s->end,        s->item};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		sqlite3_finalize(all[i]);
	sqlite3_close(s->db);
	free(s);
}

static void project_add(struct sessions *s, const char *p)
{
	for (size_t i = 0; i < s->n_projects; i++)
		if (strcmp(s->projects[i], p) == 0)
			return;
	if (s->n_projects == s->cap_projects) {
		s->cap_projects = s->cap_projects ? s->cap_projects * 2 : 16;
		s->projects = xreallocarray(s->projects, s->cap_projects, sizeof *s->projects);
	}
	s->projects[s->n_projects++] = xstrdup(p);
}

/* The known project that holds dir (the deepest one), or NULL. */
static const char *project_of_dir(const struct sessions *s, const char *dir)
{
	const char *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; i < s->n_projects; i++) {
		size_t l = strlen(s->projects[i]);
		if (l > best_len && strncmp(dir, s->projects[i], l) == 0 &&
		    (dir[l] == '/' || dir[l] == '\0' || (l == 1 && s->projects[i][0] == '/'))) {
			best = s->projects[i];
			best_len = l;
		}
	}
	return best;
}

static struct open_sess *open_add(struct sessions *s, int64_t id, const char *project,
				  const char *agent, const char *agent_session, int64_t last_ms)
{
	if (s->n_open == s->cap_open) {
		s->cap_open = s->cap_open ? s->cap_open * 2 : 8;
		s->open = xreallocarray(s->open, s->cap_open, sizeof *s->open);
	}
	struct open_sess *o = &s->open[s->n_open++];
	o->id = id;
	o->project = xstrdup(project);
	o->agent = agent ? xstrdup(agent) : NULL;
	o->agent_session = agent_session ? xstrdup(agent_session) : NULL;
	o->last_ms = last_ms;
	return o;
}

static int prep(struct sessions *s, sqlite3_stmt **st, const char *sql)
{
	return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : -1;
}

static int sessions_start(const struct service_env *env, void **state, struct cairn_err *err)
{
	struct sessions *s = xcalloc(1, sizeof *s);
	s->gap_ms = env->cfg->session_gap_ms;
	int r = store_db_open(env->cfg->db_path, false, &s->db, err);
	if (r) {
		free(s);
		return r;
	}
	/* Sessions can be made again from the log: no fsync of their own. */
	sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	if (prep(s, &s->seen, "SELECT seq FROM session_learned WHERE id = 1") ||
	    prep(s, &s->mark,
		 "INSERT INTO session_learned(id, seq) VALUES (1, ?1)"
		 " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq") ||
	    prep(s, &s->outbox_get, "SELECT out FROM session_outbox WHERE seq = ?1") ||
	    prep(s, &s->outbox_put,
		 "INSERT OR REPLACE INTO session_outbox(seq, out) VALUES (?1, ?2)") ||
	    prep(s, &s->outbox_prune, "DELETE FROM session_outbox WHERE seq < ?1") ||
	    prep(s, &s->ins,
		 "INSERT INTO sessions(project, agent, agent_session, note, start_ms, last_ms,"
		 " start_seq, last_seq, events) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?6, 0)") ||
	    prep(s, &s->touch,
		 "UPDATE sessions SET last_ms = max(last_ms, ?2), last_seq = ?3,"
		 " events = events + 1 WHERE id = ?1") ||
	    prep(s, &s->end,
		 "UPDATE sessions SET end_ms = ?2, ended_by = ?3, end_note = ?4 WHERE id = ?1") ||
	    prep(s, &s->item,
		 "INSERT INTO session_items(session, kind, key, n, first_ms, last_ms, state,"
		 " text) VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5, ?6)"
		 " ON CONFLICT(session, kind, key) DO UPDATE SET n = n + 1,"
		 " last_ms = max(last_ms, excluded.last_ms),"
		 " state = coalesce(excluded.state, state), text = coalesce(excluded.text, text)"))
		goto fail;
	sqlite3_stmt *st = NULL;
	if (prep(s, &st,
		 "SELECT id, project, agent, agent_session, last_ms FROM sessions"
		 " WHERE end_ms IS NULL ORDER BY id"))
		goto fail;
	while (sqlite3_step(st) == SQLITE_ROW)
		open_add(s, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
			 (const char *)sqlite3_column_text(st, 2),
			 (const char *)sqlite3_column_text(st, 3), sqlite3_column_int64(st, 4));
	sqlite3_finalize(st);
	if (prep(s, &st, "SELECT DISTINCT project FROM sessions"))
		goto fail;
	while (sqlite3_step(st) == SQLITE_ROW)
		project_add(s, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	*state = s;
	return 0;
fail:
	cairn_err_set(err, CAIRN_E_STORE, "", "cannot prepare the sessions: %s",
		      sqlite3_errmsg(s->db));
	sessions_free(s);
	return CAIRN_E_STORE;
}

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : CAIRN_E_STORE;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* What one event does, built up by handle() and published at the end. */
struct step {
	struct sessions *s;
	json_t *out;
	const char *time; /* the event's own, given to what it makes */
	int64_t seq, ms;
};

static void emit(struct step *t, const char *type, const char *project, json_t *data)
{
	json_t *e = json_pack("{s:s,s:s,s:o}", "type", type, "project", project, "data", data);
	if (t->time)
		json_object_set_new(e, "time", json_string(t->time));
	json_array_append_new(t->out, e);
}

static int session_open(struct step *t, const char *project, const char *agent,
			const char *agent_session, const char *note, const char *reason,
			const char *source)
{
	struct sessions *s = t->s;
	sqlite3_bind_text(s->ins, 1, project, -1, SQLITE_TRANSIENT);
	bind_opt_text(s->ins, 2, agent);
	bind_opt_text(s->ins, 3, agent_session);
	bind_opt_text(s->ins, 4, note);
	sqlite3_bind_int64(s->ins, 5, t->ms);
	sqlite3_bind_int64(s->ins, 6, t->seq);
	if (step_reset(s->ins))
		return CAIRN_E_STORE;
	int64_t id = sqlite3_last_insert_rowid(s->db);
	open_add(s, id, project, agent, agent_session, t->ms);
	project_add(s, project);
	char start[TIMEFMT_RFC3339_LEN + 1];
	timefmt_rfc3339(start, t->ms);
	json_t *d =
		json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "start", start, "reason", reason);
	if (agent) {
		json_object_set_new(d, "agent", json_string(agent));
		json_object_set_new(d, "agent_session", json_string(agent_session));
		if (source)
			json_object_set_new(d, "source", json_string(source));
	}
	if (note)
		json_object_set_new(d, "note", json_string(note));
	emit(t, "session.started", project, d);
	__atomic_add_fetch(&s->started, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Ends open session i (removed from the open list) at end_ms. */
static int session_close(struct step *t, size_t i, int64_t end_ms, const char *by, const char *note)
{
	struct sessions *s = t->s;
	struct open_sess o = s->open[i];
	sqlite3_bind_int64(s->end, 1, o.id);
	sqlite3_bind_int64(s->end, 2, end_ms);
	sqlite3_bind_text(s->end, 3, by, -1, SQLITE_STATIC);
	bind_opt_text(s->end, 4, note);
	int r = step_reset(s->end);
	if (!r) {
		struct session_rec rec = {0};
		if (session_get(s->db, o.id, &rec, NULL) == 1) {
			json_t *d = session_fields(&rec);
			emit(t, "session.ended", o.project, d);
		}
		session_rec_release(&rec);
		__atomic_add_fetch(&s->ended, 1, __ATOMIC_RELAXED);
	}
	open_free(&o);
	s->open[i] = s->open[--s->n_open];
	return r ? CAIRN_E_STORE : 0;
}

static int item(struct sessions *s, int64_t id, const char *kind, const char *key,
		const char *state, const char *text, int64_t ms)
{
	if (!key || !*key)
		return 0;
	char cut[KEY_MAX + 1];
	size_t l = strlen(key);
	if (l > KEY_MAX) {
		/* Cut on a UTF-8 boundary. */
		l = KEY_MAX;
		while (l > 0 && ((unsigned char)key[l] & 0xC0) == 0x80)
			l--;
		memcpy(cut, key, l);
		cut[l] = '\0';
		key = cut;
	}
	sqlite3_bind_int64(s->item, 1, id);
	sqlite3_bind_text(s->item, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->item, 3, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s->item, 4, ms);
	bind_opt_text(s->item, 5, state);
	bind_opt_text(s->item, 6, text);
	return step_reset(s->item);
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* Records what ev says into open session id. */
static int record(struct step *t, int64_t id, const char *type, const json_t *ev)
{
	struct sessions *s = t->s;
	const json_t *data = json_object_get(ev, "data");
	const char *str = NULL;
	int r = 0;
#define S(o, k) json_string_value(json_object_get((o), (k)))
	if (has_prefix(type, "file.")) {
		r = item(s, id, SESSION_FILE, S(data, "path"), NULL, NULL, t->ms);
	} else if (strcmp(type, "git.commit") == 0) {
		r = item(s, id, SESSION_COMMIT, S(data, "hash"), NULL, S(data, "subject"), t->ms);
		if (!r)
			r = item(s, id, SESSION_BRANCH, S(data, "branch"), NULL, NULL, t->ms);
		const json_t *files = json_object_get(data, "files");
		size_t k;
		const json_t *f;
		json_array_foreach(files, k, f) {
			if (r)
				break;
			const char *p = json_is_string(f) ? json_string_value(f) : S(f, "path");
			r = item(s, id, SESSION_FILE, p, NULL, NULL, t->ms);
		}
	} else if (has_prefix(type, "git.")) {
		r = item(s, id, SESSION_BRANCH, S(data, "branch"), NULL, NULL, t->ms);
	} else if (strcmp(type, "build.passed") == 0 || strcmp(type, "test.passed") == 0 ||
		   strcmp(type, "build.failed") == 0 || strcmp(type, "test.failed") == 0) {
		bool pass = strstr(type, ".passed") != NULL;
		r = item(s, id, SESSION_TARGET, S(data, "target"), pass ? "passed" : "failed",
			 S(ev, "id"), t->ms);
		if (!r)
			r = item(s, id, SESSION_BRANCH, S(json_object_get(data, "git"), "branch"),
				 NULL, NULL, t->ms);
	} else if (has_prefix(type, "kb.")) {
		const char *key = S(data, "uid");
		char idbuf[32];
		if (!key && json_is_integer(json_object_get(data, "id"))) {
			snprintf(idbuf, sizeof idbuf, "%lld",
				 (long long)json_integer_value(json_object_get(data, "id")));
			key = idbuf;
		}
		r = item(s, id, SESSION_KB, key, type + 3, S(data, "title"), t->ms);
	} else if (strcmp(type, "shell.command") == 0) {
		char ex[24];
		const json_t *e = json_object_get(data, "exit");
		if (json_is_integer(e))
			snprintf(ex, sizeof ex, "%lld", (long long)json_integer_value(e));
		str = json_is_integer(e) ? ex : NULL;
		r = item(s, id, SESSION_COMMAND, S(data, "command"), str, NULL, t->ms);
	}
#undef S
	if (r)
		return r;
	sqlite3_bind_int64(s->touch, 1, id);
	sqlite3_bind_int64(s->touch, 2, t->ms);
	sqlite3_bind_int64(s->touch, 3, t->seq);
	return step_reset(s->touch);
}

/* What cairn says about the work rather than the work: no activity. */
static bool is_commentary(const char *type)
{
	return has_prefix(type, "triage.") || has_prefix(type, "service.") ||
	       has_prefix(type, "fs.") || strcmp(type, "session.started") == 0 ||
	       strcmp(type, "session.ended") == 0;
}

static int apply(struct step *t, const json_t *ev)
{
	struct sessions *s = t->s;
	const char *type = json_string_value(json_object_get(ev, "type"));
	const json_t *data = json_object_get(ev, "data");
	const char *project = json_string_value(json_object_get(ev, "project"));
	if (!type || strcmp(type, "session.started") == 0 || strcmp(type, "session.ended") == 0)
		return 0;
	int r = 0;
	/* Sessions quiet for longer than the gap are over, whatever this is. */
	for (size_t i = 0; i < s->n_open && !r;) {
		if (t->ms - s->open[i].last_ms > s->gap_ms)
			r = session_close(t, i, s->open[i].last_ms, "gap", NULL);
		else
			i++;
	}
	if (r)
		return r;
	if (!project && strcmp(type, "shell.command") == 0) {
		const char *cwd = json_string_value(json_object_get(data, "cwd"));
		if (cwd)
			project = project_of_dir(s, cwd);
	}
	if (!project || !*project)
		return 0;
	const char *note = json_string_value(json_object_get(data, "note"));
	if (strcmp(type, "session.start") == 0 || strcmp(type, "session.end") == 0) {
		bool start = strcmp(type, "session.start") == 0;
		for (size_t i = 0; i < s->n_open && !r;) {
			if (!s->open[i].agent && strcmp(s->open[i].project, project) == 0)
				r = session_close(t, i, t->ms, start ? "replaced" : "explicit",
						  start ? NULL : note);
			else
				i++;
		}
		if (!r && start)
			r = session_open(t, project, NULL, NULL, note, "explicit", NULL);
		return r;
	}
	if (strcmp(type, "agent.started") == 0 || strcmp(type, "agent.ended") == 0) {
		const char *agent = json_string_value(json_object_get(data, "agent"));
		const char *sid = json_string_value(json_object_get(data, "session_id"));
		if (!agent || !*agent || !sid || !*sid)
			return 0;
		size_t i = 0;
		while (i < s->n_open &&
		       !(s->open[i].agent && strcmp(s->open[i].agent, agent) == 0 &&
			 strcmp(s->open[i].agent_session, sid) == 0 &&
			 strcmp(s->open[i].project, project) == 0))
			i++;
		if (strcmp(type, "agent.ended") == 0)
			return i < s->n_open
				       ? session_close(
						 t, i, t->ms, "agent",
						 json_string_value(json_object_get(data, "reason")))
				       : 0;
		if (i < s->n_open) /* resumed, cleared, compacted: the same session */
			return record(t, s->open[i].id, type, ev);
		r = session_open(t, project, agent, sid, NULL, "agent",
				 json_string_value(json_object_get(data, "source")));
		return r ? r : record(t, s->open[s->n_open - 1].id, type, ev);
	}
	if (is_commentary(type))
		return 0;
	bool any = false;
	for (size_t i = 0; i < s->n_open; i++)
		any |= strcmp(s->open[i].project, project) == 0;
	if (!any && (r = session_open(t, project, NULL, NULL, NULL, "activity", NULL)))
		return r;
	for (size_t i = 0; i < s->n_open && !r; i++) {
		if (strcmp(s->open[i].project, project) != 0)
			continue;
		r = record(t, s->open[i].id, type, ev);
		if (t->ms > s->open[i].last_ms)
			s->open[i].last_ms = t->ms;
	}
	__atomic_add_fetch(&s->events, 1, __ATOMIC_RELAXED);
	return r;
}

/* Whether ev changes anything: most events of a busy log (outside any
 * project, or cairn's own) do not, and cost no transaction. */
static bool relevant(const struct sessions *s, const json_t *ev, int64_t ms)
{
	for (size_t i = 0; i < s->n_open; i++)
		if (ms - s->open[i].last_ms > s->gap_ms)
			return true;
	const char *type = json_string_value(json_object_get(ev, "type"));
	if (!type || is_commentary(type))
		return false;
	const char *project = json_string_value(json_object_get(ev, "project"));
	if (project && *project)
		return true;
	const char *cwd = json_string_value(json_object_get(json_object_get(ev, "data"), "cwd"));
	return strcmp(type, "shell.command") == 0 && cwd && project_of_dir(s, cwd);
}

static int sessions_handle(void *state, int64_t seq, const char *json, size_t len, json_t *out,
			   struct cairn_err *err)
{
	struct sessions *s = state;
	json_t *ev = json_loadb(json, len, 0, NULL);
	if (!ev)
		return 0; /* the log holds only valid envelopes; nothing to learn */
	struct step t = {.s = s, .out = json_array(), .seq = seq};
	t.time = json_string_value(json_object_get(ev, "time"));
	if (t.time)
		timefmt_parse_rfc3339(t.time, &t.ms);
	int r = 0;
	if (!relevant(s, ev, t.ms))
		goto done;
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	int64_t done = 0;
	if (sqlite3_step(s->seen) == SQLITE_ROW)
		done = sqlite3_column_int64(s->seen, 0);
	sqlite3_reset(s->seen);
	if (seq <= done) {
		/* Applied before a crash: publish again what it published. */
		sqlite3_bind_int64(s->outbox_get, 1, seq);
		if (sqlite3_step(s->outbox_get) == SQLITE_ROW) {
			json_t *v = json_loads((const char *)sqlite3_column_text(s->outbox_get, 0),
					       0, NULL);
			json_array_extend(out, v);
			json_decref(v);
		}
		sqlite3_reset(s->outbox_get);
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		goto done;
	}
	if (apply(&t, ev))
		goto fail_tx;
	if (json_array_size(t.out)) {
		char *o = json_dumps(t.out, JSON_COMPACT);
		sqlite3_bind_int64(s->outbox_put, 1, seq);
		sqlite3_bind_text(s->outbox_put, 2, o, -1, free);
		if (step_reset(s->outbox_put))
			goto fail_tx;
		sqlite3_bind_int64(s->outbox_prune, 1, seq - OUTBOX_KEEP_SEQS);
		if (step_reset(s->outbox_prune))
			goto fail_tx;
	}
	sqlite3_bind_int64(s->mark, 1, seq);
	if (step_reset(s->mark) || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_tx;
	json_array_extend(out, t.out);
	goto done;
fail_tx:
	cairn_err_set(err, CAIRN_E_STORE, "", "cannot keep the sessions for seq %lld: %s",
		      (long long)seq, sqlite3_errmsg(s->db));
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	r = CAIRN_E_STORE;
	goto done;
fail:
	r = cairn_err_set(err, CAIRN_E_STORE, "", "cannot keep the sessions for seq %lld: %s",
			  (long long)seq, sqlite3_errmsg(s->db));
done:
	json_decref(t.out);
	json_decref(ev);
	return r;
}

static void sessions_status(void *state, json_t *o)
{
	struct sessions *s = state;
	json_object_set_new(o, "open", json_integer((json_int_t)s->n_open));
	json_object_set_new(
		o, "started",
		json_integer((json_int_t)__atomic_load_n(&s->started, __ATOMIC_RELAXED)));
	json_object_set_new(o, "ended",
			    json_integer((json_int_t)__atomic_load_n(&s->ended, __ATOMIC_RELAXED)));
}

const struct service_def session_service = {
	.name = "session",
	.patterns = session_patterns,
	.start = sessions_start,
	.handle = sessions_handle,
	.status = sessions_status,
	.free = sessions_free,
};

/* ---- the queries ---- */

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	return v ? xstrdup((const char *)v) : NULL;
}

#define REC_COLS                                                                                   \
	"id, project, agent, agent_session, note, end_note, ended_by, start_ms, last_ms,"          \
	" coalesce(end_ms, 0), start_seq, last_seq, events"

static void rec_read(sqlite3_stmt *st, struct session_rec *r)
{
	r->id = sqlite3_column_int64(st, 0);
	r->project = col_dup(st, 1);
	r->agent = col_dup(st, 2);
	r->agent_session = col_dup(st, 3);
	r->note = col_dup(st, 4);
	r->end_note = col_dup(st, 5);
	r->ended_by = col_dup(st, 6);
	r->start_ms = sqlite3_column_int64(st, 7);
	r->last_ms = sqlite3_column_int64(st, 8);
	r->end_ms = sqlite3_column_int64(st, 9);
	r->start_seq = sqlite3_column_int64(st, 10);
	r->last_seq = sqlite3_column_int64(st, 11);
	r->events = sqlite3_column_int64(st, 12);
}

void session_rec_release(struct session_rec *r)
{
	free(r->project);
	free(r->agent);
	free(r->agent_session);
	free(r->note);
	free(r->end_note);
	free(r->ended_by);
	memset(r, 0, sizeof *r);
}

void session_recs_free(struct session_rec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		session_rec_release(&v[i]);
	free(v);
}

static int q_err(struct sqlite3 *db, struct cairn_err *err)
{
	return cairn_err_set(err, CAIRN_E_STORE, "", "cannot read the sessions: %s",
			     sqlite3_errmsg(db));
}

int session_list(struct sqlite3 *db, const char *project, int64_t before_id, size_t limit,
		 struct session_rec **out, size_t *n_out, struct cairn_err *err)
{
	*out = NULL;
	*n_out = 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT " REC_COLS " FROM sessions"
			       " WHERE (?1 IS NULL OR project = ?1) AND (?2 <= 0 OR id < ?2)"
			       " ORDER BY id DESC LIMIT ?3",
			       -1, &st, NULL) != SQLITE_OK)
		return q_err(db, err);
	bind_opt_text(st, 1, project);
	sqlite3_bind_int64(st, 2, before_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
	struct session_rec *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xreallocarray(v, cap, sizeof *v);
		}
		memset(&v[n], 0, sizeof v[n]);
		rec_read(st, &v[n++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		session_recs_free(v, n);
		return q_err(db, err);
	}
	*out = v;
	*n_out = n;
	return 0;
}

int session_get(struct sqlite3 *db, int64_t id, struct session_rec *out, struct cairn_err *err)
{
	memset(out, 0, sizeof *out);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT " REC_COLS " FROM sessions WHERE id = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return q_err(db, err);
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rec_read(st, out);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return q_err(db, err);
	return rc == SQLITE_ROW;
}

int session_is_over(const struct session_rec *r, int64_t gap_ms, int64_t now_ms)
{
	return r->end_ms > 0 || now_ms - r->last_ms > gap_ms;
}

json_t *session_fields(const struct session_rec *r)
{
	char start[TIMEFMT_RFC3339_LEN + 1], last[TIMEFMT_RFC3339_LEN + 1];
	timefmt_rfc3339(start, r->start_ms);
	timefmt_rfc3339(last, r->last_ms);
	json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:I,s:I,s:I}", "id", (json_int_t)r->id, "project",
			      r->project, "start", start, "last_activity", last, "events",
			      (json_int_t)r->events, "start_seq", (json_int_t)r->start_seq,
			      "last_seq", (json_int_t)r->last_seq);
	if (r->end_ms) {
		char end[TIMEFMT_RFC3339_LEN + 1];
		timefmt_rfc3339(end, r->end_ms);
		json_object_set_new(o, "end", json_string(end));
		json_object_set_new(o, "duration_ms", json_integer(r->end_ms - r->start_ms));
		json_object_set_new(o, "ended_by", json_string(r->ended_by ? r->ended_by : ""));
	}
	if (r->agent) {
		json_object_set_new(o, "agent", json_string(r->agent));
		json_object_set_new(o, "agent_session",
				    json_string(r->agent_session ? r->agent_session : ""));
	}
	if (r->note)
		json_object_set_new(o, "note", json_string(r->note));
	if (r->end_note)
		json_object_set_new(o, "end_note", json_string(r->end_note));
	return o;
}

char *session_failure_gist(struct sqlite3 *db, const char *failure_id, const char *report_id)
{
	struct store_q_event rep = {0};
	int found = report_id ? store_q_report_by_id(db, report_id, failure_id, &rep)
			      : store_q_report_for(db, failure_id, &rep);
	char *gist = NULL;
	if (found == 1) {
		json_t *e = json_loadb(rep.envelope, rep.envelope_len, 0, NULL);
		const char *sum =
			json_string_value(json_object_get(json_object_get(e, "data"), "summary"));
		if (sum)
			gist = xstrdup(sum);
		json_decref(e);
	}
	store_q_event_release(&rep);
	return gist;
}

json_t *session_record(struct sqlite3 *db, const struct session_rec *r, size_t limit,
		       struct cairn_err *err)
{
	static const struct {
		const char *kind, *name, *order;
	} parts[] = {
		{SESSION_FILE, "files", "n DESC, last_ms DESC"},
		{SESSION_BRANCH, "branches", "last_ms DESC"},
		{SESSION_TARGET, "targets", "last_ms DESC"},
		{SESSION_COMMIT, "commits", "first_ms"},
		{SESSION_KB, "knowledge", "first_ms"},
		{SESSION_COMMAND, "commands", "n DESC, last_ms DESC"},
	};
	json_t *o = session_fields(r);
	for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
		char sql[256];
		snprintf(sql, sizeof sql,
			 "SELECT key, n, first_ms, last_ms, state, text FROM session_items"
			 " WHERE session = ?1 AND kind = ?2 ORDER BY %s LIMIT ?3",
			 parts[p].order);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
			q_err(db, err);
			json_decref(o);
			return NULL;
		}
		sqlite3_bind_int64(st, 1, r->id);
		sqlite3_bind_text(st, 2, parts[p].kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
		json_t *list = json_array();
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *key = (const char *)sqlite3_column_text(st, 0);
			const char *state = (const char *)sqlite3_column_text(st, 4);
			const char *text = (const char *)sqlite3_column_text(st, 5);
			char last[TIMEFMT_RFC3339_LEN + 1];
			timefmt_rfc3339(last, sqlite3_column_int64(st, 3));
			json_t *e;
			switch (p) {
			case 0: /* files */
			case 5: /* commands */
				e = json_pack("{s:s,s:I,s:s}", p == 0 ? "path" : "command", key,
					      "n", (json_int_t)sqlite3_column_int64(st, 1), "last",
					      last);
				if (p == 5 && state)
					json_object_set_new(e, "exit", json_integer(atoll(state)));
				break;
			case 1: e = json_string(key); break;
			case 2:
				e = json_pack("{s:s,s:s,s:I,s:s}", "target", key, "state",
					      state ? state : "", "runs",
					      (json_int_t)sqlite3_column_int64(st, 1), "last",
					      last);
				if (state && strcmp(state, "failed") == 0 && text) {
					json_object_set_new(e, "failure", json_string(text));
					char *gist = session_failure_gist(db, text, NULL);
					if (gist)
						json_object_set_new(e, "gist", json_string(gist));
					free(gist);
				}
				break;
			case 3:
				e = json_pack("{s:s,s:s,s:s}", "hash", key, "subject",
					      text ? text : "", "time", last);
				break;
			default:
				e = json_pack("{s:s,s:s,s:s}", "uid", key, "what",
					      state ? state : "", "title", text ? text : "");
			}
			json_array_append_new(list, e);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			json_decref(list);
			json_decref(o);
			q_err(db, err);
			return NULL;
		}
		json_object_set_new(o, parts[p].name, list);
	}
	return o;
}

int session_focus(struct sqlite3 *db, const char *project, size_t max, char ***paths,
		  size_t *n_paths, int64_t *id, struct cairn_err *err)
{
	*paths = NULL;
	*n_paths = 0;
	*id = 0;
	sqlite3_stmt *st;
	/* The latest sessions first; the first with a file wins. */
	if (sqlite3_prepare_v2(db,
			       "SELECT i.session, i.key FROM sessions s JOIN session_items i"
			       " ON i.session = s.id AND i.kind = 'file'"
			       " WHERE s.project = ?1 AND s.id = (SELECT max(s2.id) FROM sessions"
			       " s2 JOIN session_items i2 ON i2.session = s2.id AND"
			       " i2.kind = 'file' WHERE s2.project = ?1)"
			       " ORDER BY i.n DESC, i.last_ms DESC LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return q_err(db, err);
	sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	char **v = xcalloc(max ? max : 1, sizeof *v);
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
		*id = sqlite3_column_int64(st, 0);
		v[n++] = xstrdup((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return q_err(db, err);
	}
	*paths = v;
	*n_paths = n;
	return 0;
}
