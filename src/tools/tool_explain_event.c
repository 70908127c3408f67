/* explain_event: one event of the log, whole, and what cairn knows about
 * it: a failure's triage report and whether a pass resolved it, the
 * failures a pass resolved, the knowledge learned from it, the events
 * correlated with it. */
#include "common/xalloc.h"
#include "event/outcome.h"
#include "event/pattern.h"
#include "store/queries.h"
#include "tools/tools.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_MAX 2048        /* bytes of a string of the envelope or its data */
#define DATA_MAX (8 * 1024)   /* bytes of the event's data, as JSON */
#define REPORT_MAX (8 * 1024) /* bytes of the triage report's data */
#define KNOWLEDGE_MAX 5       /* entries listed */
#define RELATED_MAX 10        /* correlated events listed */
#define RELATED_WINDOW 5000   /* events either side searched for them */
#define RESOLVED_MAX 5        /* failures a pass resolved, listed */
#define STR_MAX 300           /* bytes of a title or a target */

static size_t json_size(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t n = s ? strlen(s) : 0;
	free(s);
	return n;
}

/* Cuts v (in place) until its JSON is at most max bytes: strings, then
 * lists, shorter at each step; at the end only its scalar members are kept
 * (an object) or nothing (anything else). Returns true when it cut. */
static bool bound(json_t **v, size_t max, size_t first_str)
{
	static const struct {
		size_t str, items;
	} steps[] = {{0, 200}, {512, 50}, {200, 20}, {80, 8}};
	bool cut = false;
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if (i > 0 && json_size(*v) <= max)
			return cut;
		cut |= tool_json_trim(*v, i == 0 ? first_str : steps[i].str, steps[i].items);
	}
	if (json_size(*v) <= max)
		return cut;
	json_t *keep = json_object();
	const char *key;
	json_t *x;
	json_object_foreach(*v, key, x) {
		if (!json_is_object(x) && !json_is_array(x))
			json_object_set(keep, key, x);
	}
	json_decref(*v);
	*v = keep;
	return true;
}

/* The envelope with every string of it cut to FIELD_MAX and its data to
 * DATA_MAX; *trimmed says whether anything was cut. */
static json_t *envelope_json(const struct store_q_event *ev, bool *trimmed)
{
	json_t *env = json_loadb(ev->envelope, ev->envelope_len, 0, NULL);
	*trimmed = false;
	if (!env)
		return NULL;
	json_t *data = json_object_get(env, "data");
	if (data) {
		json_incref(data);
		json_object_del(env, "data");
	}
	*trimmed = tool_json_trim(env, FIELD_MAX, 64);
	if (data) {
		*trimmed |= bound(&data, DATA_MAX, FIELD_MAX);
		json_object_set_new(env, "data", data);
	}
	return env;
}

static int store_err(sqlite3 *db, struct cairn_err *err)
{
	return cairn_err_set(err, CAIRN_E_STORE, "",
			     "explain_event: cannot read the event log: %s; 'cairn doctor' checks "
			     "the database",
			     sqlite3_errmsg(db));
}

/* ---- finding the event ---- */

static int take_first(void *arg, const struct store_q_event *ev)
{
	struct store_q_event *out = arg;
	out->seq = ev->seq;
	out->time_ms = ev->time_ms;
	out->id = ev->id ? xstrdup(ev->id) : NULL;
	out->type = ev->type ? xstrdup(ev->type) : NULL;
	out->envelope = xmalloc(ev->envelope_len + 1);
	memcpy(out->envelope, ev->envelope, ev->envelope_len + 1);
	out->envelope_len = ev->envelope_len;
	return 1;
}

/* Exactly one of id, seq and type: the schema cannot say so. */
static int check_one(const json_t *args, struct cairn_err *err)
{
	static const char *const keys[] = {"id", "seq", "type"};
	const char *given = NULL;
	for (size_t i = 0; i < 3; i++) {
		if (!json_object_get(args, keys[i]))
			continue;
		if (given)
			return cairn_err_set(err, CAIRN_E_INVALID, keys[i],
					     "explain_event: give one of 'id', 'seq' and 'type', "
					     "not both '%s' and '%s'",
					     given, keys[i]);
		given = keys[i];
	}
	if (!given)
		return cairn_err_set(err, CAIRN_E_INVALID, "id",
				     "explain_event: give one of 'id' (an event id), 'seq' (its "
				     "position in the log) or 'type' (a pattern: the latest event "
				     "of that type); recent_activity lists recent events");
	if (json_object_get(args, "project") && strcmp(given, "type") != 0)
		return cairn_err_set(err, CAIRN_E_INVALID, "project",
				     "explain_event: argument 'project' goes with 'type' only (an "
				     "id or a seq names one event already)");
	return 0;
}

static int find(struct tool_ctx *c, sqlite3 *db, const json_t *args, struct store_q_event *ev,
		struct cairn_err *err)
{
	const char *id = tool_arg_str(args, "id", NULL);
	const char *type = tool_arg_str(args, "type", NULL);
	int found;
	memset(ev, 0, sizeof *ev);
	if (id) {
		if ((found = store_q_event_by_id(db, id, ev)) < 0)
			return store_err(db, err);
		if (!found)
			return cairn_err_set(err, CAIRN_E_NOTFOUND, "id",
					     "explain_event: no event with id '%.128s'; "
					     "recent_activity lists recent events with their ids",
					     id);
		return 0;
	}
	if (!type) {
		int64_t seq = tool_arg_int(args, "seq", 0);
		if ((found = store_q_event_by_seq(db, seq, ev)) < 0)
			return store_err(db, err);
		if (!found)
			return cairn_err_set(
				err, CAIRN_E_NOTFOUND, "seq",
				"explain_event: no event with seq %lld (it may be older "
				"than the log keeps); recent_activity lists recent events",
				(long long)seq);
		return 0;
	}
	const char *why = NULL;
	if (!pattern_valid(type, &why))
		return cairn_err_set(err, CAIRN_E_INVALID, "type",
				     "explain_event: argument 'type' is not an event type pattern: "
				     "%s; examples: 'build.failed', 'git.commit', '*.failed'",
				     why ? why : "invalid");
	const char *p = tool_arg_str(args, "project", NULL);
	const char *project = p && strcmp(p, "all") == 0 ? NULL : tool_project(c, args);
	if (store_q_recent_events(db, type, project, 0, 1, take_first, ev))
		return store_err(db, err);
	if (!ev->seq)
		return cairn_err_set(err, CAIRN_E_NOTFOUND, "type",
				     "explain_event: no event of type '%s' %s%.300s; "
				     "recent_activity lists what was logged%s",
				     type, project ? "in " : "in the log", project ? project : "",
				     project ? " (project 'all' looks in every project)" : "");
	return 0;
}

/* ---- what cairn knows about it ---- */

/* The triage report's data, without what the envelope already says and
 * bounded to REPORT_MAX. */
static json_t *report_json(const struct store_q_event *rep)
{
	json_t *env = json_loadb(rep->envelope, rep->envelope_len, 0, NULL);
	json_t *data = json_incref(json_object_get(env, "data"));
	json_decref(env);
	if (!json_is_object(data)) {
		json_decref(data);
		return NULL;
	}
	json_object_del(data, "failure");
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(data, "fixes"), i, f)
		json_object_del(f, "body"); /* search_knowledge has it */
	bool cut = bound(&data, REPORT_MAX, 1024);
	json_object_set_new(data, "report_id", tool_str(rep->id, 128));
	json_object_set_new(data, "report_seq", json_integer(rep->seq));
	if (cut)
		json_object_set_new(data, "trimmed", json_true());
	return data;
}

/* A failure: its report, whether a pass resolved it and which. */
static int failure_json(sqlite3 *db, const struct store_q_event *ev, json_t **out)
{
	sqlite3_stmt *st;
	*out = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT target, report_id, resolved_seq, fixed_by FROM failures"
			       " WHERE event_id = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, ev->id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		return CAIRN_E_STORE;
	}
	json_t *o = json_object();
	char *report_id = NULL;
	int64_t resolved = 0;
	json_object_set_new(o, "recorded", json_boolean(rc == SQLITE_ROW));
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		if (t)
			json_object_set_new(o, "target", tool_str(t, STR_MAX));
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			report_id = xstrdup((const char *)sqlite3_column_text(st, 1));
		resolved = sqlite3_column_int64(st, 2);
		if (sqlite3_column_type(st, 3) != SQLITE_NULL)
			json_object_set_new(o, "fixed_by",
					    json_integer(sqlite3_column_int64(st, 3)));
	}
	sqlite3_finalize(st);
	json_object_set_new(o, "resolved", json_boolean(resolved > 0));
	int r = 0;
	if (resolved > 0) {
		struct store_q_event pass;
		int found = store_q_event_by_seq(db, resolved, &pass);
		if (found < 0)
			r = CAIRN_E_STORE;
		json_t *item = found == 1 ? tool_event_item(&pass) : NULL;
		json_object_set_new(o, "resolved_by",
				    item ? item : json_pack("{s:I}", "seq", (json_int_t)resolved));
		store_q_event_release(&pass);
	}
	struct store_q_event rep;
	int found = r           ? 0
		    : report_id ? store_q_report_by_id(db, report_id, ev->id, &rep)
				: store_q_report_for(db, ev->id, &rep);
	free(report_id);
	if (found < 0)
		r = CAIRN_E_STORE;
	if (found == 1) {
		json_t *j = report_json(&rep);
		if (j)
			json_object_set_new(o, "report", j);
		store_q_event_release(&rep);
	}
	if (r) {
		json_decref(o);
		return r;
	}
	*out = o;
	return 0;
}

/* The failures a pass resolved. The failures table has no index on
 * resolved_seq: this reads it whole (a row per failure ever triaged). */
static int resolved_json(sqlite3 *db, int64_t seq, json_t **out)
{
	sqlite3_stmt *st;
	*out = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT event_id, target, seq FROM failures WHERE resolved_seq = ?1"
			       " ORDER BY seq DESC LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int(st, 2, RESOLVED_MAX);
	json_t *arr = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(
			arr,
			json_pack("{s:o,s:o,s:I}", "failure",
				  tool_str((const char *)sqlite3_column_text(st, 0), 128), "target",
				  tool_str((const char *)sqlite3_column_text(st, 1), STR_MAX),
				  "seq", (json_int_t)sqlite3_column_int64(st, 2)));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return CAIRN_E_STORE;
	}
	*out = arr;
	return 0;
}

/* Knowledge entries whose sources name the event. No index covers
 * sources (a JSON array): this reads the knowledge table, whose size is
 * what people and the learner wrote, not the log's. */
static int knowledge_json(sqlite3 *db, const char *id, json_t **out)
{
	sqlite3_stmt *st;
	*out = NULL;
	if (sqlite3_prepare_v2(
		    db,
		    "SELECT id, uid, kind, title, state, superseded_by FROM knowledge"
		    " WHERE forgotten_ms IS NULL AND instr(sources, ?1) > 0 AND EXISTS (SELECT 1"
		    " FROM json_each(CASE WHEN json_valid(sources) THEN sources ELSE '[]' END)"
		    " WHERE value = ?1) ORDER BY id DESC LIMIT ?2",
		    -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, KNOWLEDGE_MAX);
	json_t *arr = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *e = json_pack(
			"{s:I,s:o,s:o,s:o,s:o}", "id", (json_int_t)sqlite3_column_int64(st, 0),
			"uid", tool_str((const char *)sqlite3_column_text(st, 1), 64), "kind",
			tool_str((const char *)sqlite3_column_text(st, 2), 32), "title",
			tool_str((const char *)sqlite3_column_text(st, 3), STR_MAX), "state",
			tool_str((const char *)sqlite3_column_text(st, 4), 32));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			json_object_set_new(e, "superseded_by",
					    json_integer(sqlite3_column_int64(st, 5)));
		json_array_append_new(arr, e);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return CAIRN_E_STORE;
	}
	*out = arr;
	return 0;
}

static int add_item(void *arg, const struct store_q_event *ev)
{
	json_t *item = tool_event_item(ev);
	if (item)
		json_array_append_new(arg, item);
	return 0;
}

static int run(struct tool_ctx *c, const json_t *args, json_t **result, struct cairn_err *err)
{
	int r = check_one(args, err);
	if (r)
		return r;
	sqlite3 *db = tool_ctx_db(c, err);
	if (!db)
		return err->code;
	struct store_q_event ev;
	if ((r = find(c, db, args, &ev, err)))
		goto out;
	bool trimmed;
	json_t *env = envelope_json(&ev, &trimmed);
	if (!env) {
		r = cairn_err_set(err, CAIRN_E_STORE, "",
				  "explain_event: the event at seq %lld does not parse; 'cairn "
				  "doctor' checks the database",
				  (long long)ev.seq);
		goto out;
	}
	json_t *o = json_pack("{s:o,s:b}", "event", env, "trimmed", trimmed);
	const char *corr = json_string_value(json_object_get(env, "correlationid"));
	json_t *part = NULL;
	if (ev.type && outcome_is_failure(ev.type)) {
		if (failure_json(db, &ev, &part))
			goto store_error;
		json_object_set_new(o, "failure", part);
	} else if (ev.type && outcome_is_pass(ev.type)) {
		if (resolved_json(db, ev.seq, &part))
			goto store_error;
		json_object_set_new(o, "resolved_failures", part);
	}
	if (knowledge_json(db, ev.id, &part))
		goto store_error;
	json_object_set_new(o, "knowledge", part);
	part = json_array();
	json_object_set_new(o, "related", part);
	if (store_q_correlated(db, ev.seq, ev.id, corr, RELATED_WINDOW, RELATED_MAX, add_item,
			       part))
		goto store_error;
	*result = o;
	goto out;
store_error:
	json_decref(o);
	r = store_err(db, err);
out:
	store_q_event_release(&ev);
	return r;
}

const struct tool tool_explain_event = {
	.name = "explain_event",
	.title = "Explain one event",
	.description =
		"One event of cairn's log in full, and what cairn knows about it. Name it by id "
		"(the event id a result or a report gave), by seq (its position in the log), or "
		"by type: the latest event matching a pattern ('build.failed', '*.failed', "
		"'git.commit'), in the caller's project unless project says otherwise ('all': "
		"every project). Returns the whole envelope (long strings and big data cut; "
		"trimmed says so) and, for a failed build, test or CI run, its triage report "
		"(summary, error signature, excerpt, known fixes, suspect changes) and whether "
		"a later pass resolved it and which; for a pass, the failures it resolved; the "
		"knowledge entries learned from the event; and the events correlated with it "
		"(the run's start, its report, the fix learned). Use it for 'why did the build "
		"fail', 'what is this event', or to follow an id another tool returned.",
	.input_schema =
		"{\"type\":\"object\",\"properties\":{"
		"\"id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":128,\"description\":"
		"\"The event's id. Give exactly one of id, seq and type.\"},"
		"\"seq\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":9007199254740991,"
		"\"description\":\"The event's position in the log.\"},"
		"\"type\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":255,\"description\":"
		"\"A type pattern: the latest event matching it ('build.failed', '*.failed', "
		"'test.>').\"},"
		"\"project\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,"
		"\"description\":\"With type only: absolute path of the project, or 'all'; "
		"default: the caller's project, else all.\"}},"
		"\"additionalProperties\":false}",
	.output_schema =
		"{\"type\":\"object\",\"required\":[\"event\",\"trimmed\",\"knowledge\","
		"\"related\"],\"properties\":{"
		"\"event\":{\"type\":\"object\",\"description\":\"the envelope: id, source, "
		"type, subject, time, seq, project, correlationid, severity, data\","
		"\"required\":[\"id\",\"type\",\"seq\"]},"
		"\"trimmed\":{\"type\":\"boolean\",\"description\":\"strings or lists of the "
		"event were cut\"},"
		"\"failure\":{\"type\":\"object\",\"description\":\"for a failure\","
		"\"properties\":{\"recorded\":{\"type\":\"boolean\",\"description\":\"the triage "
		"service has seen it\"},\"target\":{\"type\":\"string\"},"
		"\"resolved\":{\"type\":\"boolean\"},\"resolved_by\":{\"type\":\"object\","
		"\"description\":\"the pass that resolved it\"},\"fixed_by\":{\"type\":"
		"\"integer\",\"description\":\"the knowledge entry learned from it\"},"
		"\"report\":{\"type\":\"object\",\"description\":\"the triage report's data: "
		"summary, signature, diagnostics, excerpt, fixes, suspects, since_pass\"}}},"
		"\"resolved_failures\":{\"type\":\"array\",\"maxItems\":5,\"items\":{\"type\":"
		"\"object\",\"properties\":{\"failure\":{\"type\":\"string\"},\"target\":{"
		"\"type\":\"string\"},\"seq\":{\"type\":\"integer\"}}}},"
		"\"knowledge\":{\"type\":\"array\",\"maxItems\":5,\"items\":{\"type\":\"object\","
		"\"properties\":{\"id\":{\"type\":\"integer\"},\"uid\":{\"type\":\"string\"},"
		"\"kind\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},"
		"\"state\":{\"type\":\"string\"},\"superseded_by\":{\"type\":\"integer\"}}}},"
		"\"related\":{\"type\":\"array\",\"maxItems\":10,\"items\":{\"type\":\"object\","
		"\"properties\":{\"seq\":{\"type\":\"integer\"},\"id\":{\"type\":\"string\"},"
		"\"time\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},"
		"\"source\":{\"type\":\"string\"},\"project\":{\"type\":\"string\"},"
		"\"summary\":{\"type\":\"string\"}}}}}}",
	.read_only = true,
	.idempotent = true,
	.run = run,
};
