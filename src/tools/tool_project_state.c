/* project_state: where a project stands now: its repository (branch, HEAD,
 * uncommitted files), the targets built and tested there and how each last
 * ended, the failures still open, and whether cairn is watching. */
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "event/outcome.h"
#include "services/session.h"
#include "sources/gitinfo.h"
#include "store/queries.h"
#include "tools/tools.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define STR_MAX 300     /* bytes of any string in the result */
#define DIRTY_MAX 20    /* uncommitted files listed */
#define OUTCOMES 100    /* latest outcomes read per type */
#define TARGETS_MAX 20  /* targets listed */
#define TRACK_MAX 64    /* targets told apart while reading */
#define FAILING_MAX 5   /* open failures listed (the latest per target) */
#define FAILING_READ 50 /* open failures read to find them */

static const char *const outcome_types[] = {OUTCOME_FAILED_TYPES, OUTCOME_PASSED_TYPES};

struct target {
	char *name;
	int64_t seq, ms;   /* the latest outcome */
	bool failed;       /* how it ended */
	char *id;          /* its event id */
	int64_t failed_ms; /* the latest failure read, 0: none */
	int64_t passed_ms; /* the latest pass read, 0: none */
};

struct targets {
	struct target v[TRACK_MAX];
	size_t n;
};

static int tally(void *arg, const struct store_q_event *ev)
{
	struct targets *t = arg;
	json_t *env = json_loadb(ev->envelope, ev->envelope_len, 0, NULL);
	const char *name =
		json_string_value(json_object_get(json_object_get(env, "data"), "target"));
	if (!name) /* a CI run may name none: its subject then */
		name = json_string_value(json_object_get(env, "subject"));
	if (!name || !*name) {
		json_decref(env);
		return 0;
	}
	size_t i = 0;
	while (i < t->n && strcmp(t->v[i].name, name) != 0)
		i++;
	if (i == t->n) {
		if (t->n == TRACK_MAX) {
			json_decref(env);
			return 0;
		}
		t->v[t->n++] = (struct target){.name = xstrdup(name)};
	}
	struct target *x = &t->v[i];
	bool failed = outcome_is_failure(ev->type);
	if (ev->seq > x->seq) {
		x->seq = ev->seq;
		x->ms = ev->time_ms;
		x->failed = failed;
		free(x->id);
		x->id = xstrdup(ev->id ? ev->id : "");
	}
	int64_t *last = failed ? &x->failed_ms : &x->passed_ms;
	if (ev->time_ms > *last)
		*last = ev->time_ms;
	json_decref(env);
	return 0;
}

static int by_seq_desc(const void *a, const void *b)
{
	const struct target *x = a, *y = b;
	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

static json_t *time_json(int64_t ms)
{
	char buf[TIMEFMT_RFC3339_LEN + 1];
	timefmt_rfc3339(buf, ms);
	return json_string(buf);
}

/* The targets of project's latest outcomes, the latest first. */
static int targets_json(sqlite3 *db, const char *project, json_t **out)
{
	struct targets t = {.n = 0};
	int r = 0;
	for (size_t i = 0; i < sizeof outcome_types / sizeof outcome_types[0] && !r; i++)
		r = store_q_recent_events(db, outcome_types[i], project, 0, OUTCOMES, tally, &t);
	qsort(t.v, t.n, sizeof t.v[0], by_seq_desc);
	json_t *arr = json_array();
	for (size_t i = 0; i < t.n; i++) {
		struct target *x = &t.v[i];
		if (i < TARGETS_MAX) {
			json_t *o = json_pack(
				"{s:o,s:s,s:o,s:I,s:o}", "target", tool_str(x->name, STR_MAX),
				"state", x->failed ? "failed" : "passed", "time", time_json(x->ms),
				"seq", (json_int_t)x->seq, "event", tool_str(x->id, 128));
			if (x->failed && x->passed_ms)
				json_object_set_new(o, "last_passed", time_json(x->passed_ms));
			if (!x->failed && x->failed_ms)
				json_object_set_new(o, "last_failed", time_json(x->failed_ms));
			json_array_append_new(arr, o);
		}
		free(x->name);
		free(x->id);
	}
	*out = arr;
	return r;
}

/* Failures no pass has resolved: how many, and the latest per target with
 * the gist of its triage report (the failures row names the report: one
 * index probe). Through the failures_open index. */
static int failing_json(sqlite3 *db, const char *project, json_t **list, int64_t *count)
{
	sqlite3_stmt *st;
	*list = NULL;
	*count = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT count(*) FROM failures WHERE project = ?1"
			       " AND resolved_seq IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return CAIRN_E_STORE;
	if (sqlite3_prepare_v2(db,
			       "SELECT event_id, target, message, time_ms, report_id FROM failures"
			       " WHERE project = ?1 AND resolved_seq IS NULL ORDER BY seq DESC"
			       " LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, project, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, FAILING_READ);
	json_t *arr = json_array();
	char *seen[FAILING_MAX];
	size_t n_seen = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n_seen < FAILING_MAX) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *target = (const char *)sqlite3_column_text(st, 1);
		const char *msg = (const char *)sqlite3_column_text(st, 2);
		const char *report = (const char *)sqlite3_column_text(st, 4);
		if (!id || !target)
			continue;
		bool dup = false;
		for (size_t i = 0; i < n_seen && !dup; i++)
			dup = strcmp(seen[i], target) == 0;
		if (dup)
			continue;
		seen[n_seen++] = xstrdup(target);
		json_t *o = json_pack("{s:o,s:o,s:o}", "target", tool_str(target, STR_MAX),
				      "failure", tool_str(id, 128), "time",
				      time_json(sqlite3_column_int64(st, 3)));
		char *gist = session_failure_gist(db, id, report);
		if (gist)
			json_object_set_new(o, "gist", tool_str(gist, STR_MAX));
		else if (msg)
			json_object_set_new(o, "message", tool_str(msg, STR_MAX));
		free(gist);
		json_array_append_new(arr, o);
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < n_seen; i++)
		free(seen[i]);
	*list = arr;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : CAIRN_E_STORE;
}

static json_t *git_json(const char *project, const char **note)
{
	struct gitinfo gi;
	int r = gitinfo_read(project, DIRTY_MAX, &gi);
	json_t *o = NULL;
	*note = NULL;
	if (r == CAIRN_E_NOTFOUND) {
		*note = "not inside a git work tree (or it cannot be read from here)";
	} else if (r) {
		*note = "the repository could not be read (libgit2 failed)";
	} else {
		json_t *dirty = json_array();
		for (size_t i = 0; i < gi.n_dirty; i++)
			json_array_append_new(dirty, tool_str(gi.dirty[i], STR_MAX));
		char shorthead[13];
		memcpy(shorthead, gi.head, sizeof shorthead - 1);
		shorthead[sizeof shorthead - 1] = '\0';
		o = json_pack("{s:o,s:o,s:o,s:o,s:I}", "branch", tool_str(gi.branch, STR_MAX),
			      "head", gi.head[0] ? json_string(shorthead) : json_null(),
			      "head_subject", tool_str(gi.head_subject, STR_MAX), "dirty", dirty,
			      "dirty_count", (json_int_t)gi.dirty_total);
	}
	gitinfo_release(&gi);
	return o;
}

static int run(struct tool_ctx *c, const json_t *args, json_t **result, struct cairn_err *err)
{
	const char *project = tool_project(c, args);
	if (!project)
		return cairn_err_set(err, CAIRN_E_INVALID, "project",
				     "project_state: no project: the caller is not inside a git "
				     "work tree; give 'project', the absolute path of one");
	sqlite3 *db = tool_ctx_db(c, err);
	if (!db)
		return err->code;
	json_t *targets = NULL, *failing = NULL;
	int64_t open = 0;
	if (targets_json(db, project, &targets) || failing_json(db, project, &failing, &open)) {
		json_decref(targets);
		json_decref(failing);
		return cairn_err_set(err, CAIRN_E_STORE, "",
				     "project_state: cannot read the event log: %s; 'cairn "
				     "doctor' checks the database",
				     sqlite3_errmsg(db));
	}
	const char *note;
	json_t *git = git_json(project, &note);
	if (!c->breakers && c->get_breakers)
		c->breakers = c->get_breakers(c->pctx);
	json_t *breakers = c->breakers ? json_deep_copy(c->breakers) : json_array();
	if (!json_is_array(breakers)) {
		json_decref(breakers);
		breakers = json_array();
	}
	tool_json_trim(breakers, STR_MAX, 32);
	json_t *o = json_pack("{s:o,s:b,s:o,s:o,s:I,s:o,s:o}", "project", tool_str(project, 4096),
			      "daemon_running", !c->daemon_down, "git", git ? git : json_null(),
			      "targets", targets, "open_failures", (json_int_t)open, "failing",
			      failing, "breakers", breakers);
	if (note)
		json_object_set_new(o, "git_note", json_string(note));
	*result = o;
	return 0;
}

const struct tool tool_project_state = {
	.name = "project_state",
	.title = "Where a project stands now",
	.description =
		"The state of a project right now: its git branch, HEAD commit (short id and "
		"subject) and uncommitted files; every target built or tested there through "
		"cairn (from the latest outcomes) with how it last ended (passed or failed, "
		"when, and the event to give explain_event); how many failures no later pass "
		"has resolved, the latest per target with the gist of its triage report; "
		"whether the cairn daemon is running (when it is not, nothing new is logged); "
		"and the circuit breakers' states when known. Use it for 'is the build green', "
		"'what is broken', 'what have I not committed', or before starting work.",
	.input_schema =
		"{\"type\":\"object\",\"properties\":{"
		"\"project\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,"
		"\"description\":\"Absolute path of the project; default: the caller's.\"}},"
		"\"additionalProperties\":false}",
	.output_schema =
		"{\"type\":\"object\",\"required\":[\"project\",\"daemon_running\",\"git\","
		"\"targets\",\"open_failures\",\"failing\",\"breakers\"],\"properties\":{"
		"\"project\":{\"type\":\"string\"},"
		"\"daemon_running\":{\"type\":\"boolean\"},"
		"\"git\":{\"type\":[\"object\",\"null\"],\"description\":\"null when the project "
		"is not a readable git work tree (git_note says why)\",\"properties\":{"
		"\"branch\":{\"type\":[\"string\",\"null\"],\"description\":\"null: detached\"},"
		"\"head\":{\"type\":[\"string\",\"null\"],\"description\":\"12 hex digits; null "
		"before the first commit\"},\"head_subject\":{\"type\":[\"string\",\"null\"]},"
		"\"dirty\":{\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"string\"}},"
		"\"dirty_count\":{\"type\":\"integer\",\"description\":\"all uncommitted "
		"files, listed or not\"}}},"
		"\"git_note\":{\"type\":\"string\"},"
		"\"targets\":{\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"object\","
		"\"required\":[\"target\",\"state\",\"time\",\"seq\",\"event\"],\"properties\":{"
		"\"target\":{\"type\":\"string\"},\"state\":{\"type\":\"string\",\"enum\":["
		"\"passed\",\"failed\"]},\"time\":{\"type\":\"string\"},\"seq\":{\"type\":"
		"\"integer\"},\"event\":{\"type\":\"string\",\"description\":\"the outcome's "
		"event id\"},\"last_passed\":{\"type\":\"string\"},\"last_failed\":{\"type\":"
		"\"string\"}}}},"
		"\"open_failures\":{\"type\":\"integer\",\"minimum\":0},"
		"\"failing\":{\"type\":\"array\",\"maxItems\":5,\"items\":{\"type\":\"object\","
		"\"properties\":{\"target\":{\"type\":\"string\"},\"failure\":{\"type\":"
		"\"string\"},\"time\":{\"type\":\"string\"},\"gist\":{\"type\":\"string\"},"
		"\"message\":{\"type\":\"string\"}}}},"
		"\"breakers\":{\"type\":\"array\",\"maxItems\":32,\"items\":{\"type\":"
		"\"object\"}}}}",
	.read_only = true,
	.idempotent = true,
	.run = run,
};
