/* last_failure: the latest failure of a build or test and its triage
 * report (what `cairn why` shows a person), bounded for a model. */
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "store/queries.h"
#include "tools/tools.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define EXCERPT_LINES 30
#define LINE_MAX_BYTES 240
#define FIXES_MAX 3
#define BODY_MAX 800
#define SUSPECTS_MAX 5

static json_t *env_of(struct store_q_event *row)
{
	json_t *env = row->envelope ? json_loadb(row->envelope, row->envelope_len, 0, NULL) : NULL;
	store_q_event_release(row);
	return env;
}

/* s cut to at most max bytes at a UTF-8 boundary, with "…" when cut. */
static json_t *cut(const char *s, size_t max)
{
	if (!s)
		return json_string("");
	size_t n = strlen(s);
	if (n <= max)
		return json_string(s);
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	char *t = xasprintf("%.*s…", (int)max, s);
	json_t *j = json_string(t);
	free(t);
	return j ? j : json_string("");
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* The parts of a triage report a caller needs, each bounded. */
static json_t *report_gist(const json_t *rep)
{
	json_t *out = json_object();
	json_object_set_new(out, "summary", cut(str(rep, "summary"), 600));
	const json_t *sig = json_object_get(rep, "signature");
	if (json_is_object(sig)) {
		json_t *s = json_object();
		json_object_set_new(s, "message", cut(str(sig, "message"), 400));
		json_object_set(s, "seen", json_object_get(sig, "seen"));
		if (json_object_get(sig, "file"))
			json_object_set_new(s, "file", cut(str(sig, "file"), 300));
		if (json_object_get(sig, "line"))
			json_object_set(s, "line", json_object_get(sig, "line"));
		json_object_set_new(out, "signature", s);
	}
	json_t *lines = json_array();
	size_t i;
	const json_t *l;
	json_array_foreach(json_object_get(json_object_get(rep, "excerpt"), "lines"), i, l) {
		if (i >= EXCERPT_LINES)
			break;
		json_array_append_new(lines,
				      json_pack("{s:O,s:o}", "line", json_object_get(l, "line"),
						"text", cut(str(l, "text"), LINE_MAX_BYTES)));
	}
	json_object_set_new(out, "excerpt", lines);
	json_t *fixes = json_array();
	const json_t *f;
	json_array_foreach(json_object_get(rep, "fixes"), i, f) {
		if (i >= FIXES_MAX)
			break;
		json_t *o = json_pack(
			"{s:O,s:o,s:o,s:o,s:o}", "id", json_object_get(f, "id"), "kind",
			cut(str(f, "kind"), 20), "title", cut(str(f, "title"), 200), "reason",
			cut(str(f, "reason"), 200), "body", cut(str(f, "body"), BODY_MAX));
		if (json_is_number(json_object_get(f, "confidence")))
			json_object_set(o, "confidence", json_object_get(f, "confidence"));
		if (json_is_true(json_object_get(f, "learned")))
			json_object_set_new(o, "learned", json_true());
		json_array_append_new(fixes, o);
	}
	json_object_set_new(out, "fixes", fixes);
	json_t *sus = json_array();
	const json_t *s;
	json_array_foreach(json_object_get(rep, "suspects"), i, s) {
		if (i >= SUSPECTS_MAX)
			break;
		json_array_append_new(sus,
				      json_pack("{s:o,s:o,s:o}", "path", cut(str(s, "path"), 300),
						"relation", cut(str(s, "relation"), 100), "changed",
						cut(str(s, "changed"), 100)));
	}
	json_object_set_new(out, "suspects", sus);
	return out;
}

/* The failure's row of the failures table: report id, resolution. */
struct row {
	char *report_id;
	int64_t resolved_seq, fixed_by;
	bool found;
};

static void read_row(sqlite3 *db, const char *id, struct row *r)
{
	memset(r, 0, sizeof *r);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT report_id, resolved_seq, fixed_by FROM failures"
			       " WHERE event_id = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		r->found = true;
		const char *rid = (const char *)sqlite3_column_text(st, 0);
		r->report_id = rid ? xstrdup(rid) : NULL;
		r->resolved_seq = sqlite3_column_int64(st, 1);
		r->fixed_by = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
}

/* The latest failure of target in project (through failures_target). */
static int by_target(sqlite3 *db, const char *project, const char *target, struct store_q_event *ev)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT event_id FROM failures WHERE target = ?1 AND project IS ?2"
			       " ORDER BY seq DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, project, -1, SQLITE_STATIC);
	int r = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		r = store_q_outcome_by_id(db, (const char *)sqlite3_column_text(st, 0), ev);
	sqlite3_finalize(st);
	return r;
}

static int run(struct tool_ctx *c, const json_t *args, json_t **result, struct cairn_err *err)
{
	sqlite3 *db = tool_ctx_db(c, err);
	if (!db)
		return err->code;
	const char *project = tool_project(c, args);
	const char *target = tool_arg_str(args, "target", NULL);
	struct store_q_event ev = {0};
	int r = target ? by_target(db, project, target, &ev)
		       : store_q_last_failure(db, project, &ev);
	if (r < 0)
		return cairn_err_set(err, CAIRN_E_STORE, "",
				     "last_failure: cannot read the log: %s", sqlite3_errmsg(db));
	if (r == 0) {
		*result = json_pack("{s:b,s:s}", "found", 0, "message",
				    target ? "no failure of this target is logged in this project"
					   : "no build or test failure is logged in this project");
		return 0;
	}
	json_t *env = env_of(&ev);
	if (!env)
		return cairn_err_set(err, CAIRN_E_STORE, "",
				     "last_failure: the event is unreadable");
	const json_t *data = json_object_get(env, "data");
	const char *id = str(env, "id");
	json_t *fail = json_pack("{s:s,s:O,s:s,s:o}", "id", id, "seq", json_object_get(env, "seq"),
				 "type", str(env, "type"), "time", cut(str(env, "time"), 40));
	if (json_is_string(json_object_get(data, "target")))
		json_object_set_new(fail, "target", cut(str(data, "target"), 300));
	if (json_is_integer(json_object_get(data, "exit")))
		json_object_set(fail, "exit_code", json_object_get(data, "exit"));
	if (json_is_string(json_object_get(env, "project")))
		json_object_set_new(fail, "project", cut(str(env, "project"), 4096));
	struct row row;
	read_row(db, id, &row);
	struct store_q_event rep = {0};
	int rr = row.report_id ? store_q_report_by_id(db, row.report_id, id, &rep) : 0;
	if (rr <= 0)
		rr = store_q_report_for(db, id, &rep);
	json_t *out = json_pack("{s:b,s:o}", "found", 1, "failure", fail);
	if (rr > 0) {
		json_t *renv = env_of(&rep);
		if (renv)
			json_object_set_new(out, "report",
					    report_gist(json_object_get(renv, "data")));
		json_decref(renv);
	} else {
		json_object_set_new(out, "report", json_null());
		json_object_set_new(out, "note",
				    json_string("no triage report was logged for this failure (the "
						"daemon was down, or it is still being made)"));
	}
	json_object_set_new(out, "open", json_boolean(row.found && !row.resolved_seq));
	if (row.resolved_seq)
		json_object_set_new(out, "resolved_seq", json_integer(row.resolved_seq));
	if (row.fixed_by)
		json_object_set_new(out, "fixed_by", json_integer(row.fixed_by));
	free(row.report_id);
	json_decref(env);
	*result = out;
	return 0;
}

const struct tool tool_last_failure = {
	.name = "last_failure",
	.title = "The last failure and why",
	.description =
		"The latest build or test failure in the project (or of one target) with its "
		"triage report: a one-line summary, the log lines that explain it, the error's "
		"signature and how often it was seen, known fixes from the knowledge base (with "
		"the diff of a learned fix), and the files changed since the last pass that most "
		"likely caused it. Use it for 'why did the build fail', 'what broke', 'what is "
		"the error'. found is false when nothing failed.",
	.input_schema =
		"{\"type\":\"object\",\"properties\":{"
		"\"target\":{\"type\":\"string\",\"maxLength\":300,\"description\":\"Only this "
		"target, as run (e.g. 'make check').\"},"
		"\"project\":{\"type\":\"string\",\"maxLength\":4096,\"description\":\"Absolute "
		"path of the project; default: the caller's.\"}},"
		"\"additionalProperties\":false}",
	.output_schema =
		"{\"type\":\"object\",\"required\":[\"found\"],\"properties\":{"
		"\"found\":{\"type\":\"boolean\"},\"message\":{\"type\":\"string\"},"
		"\"failure\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},"
		"\"seq\":{\"type\":\"integer\"},\"type\":{\"type\":\"string\"},\"time\":{\"type\":"
		"\"string\"},\"target\":{\"type\":\"string\"},\"exit_code\":{\"type\":\"integer\"},"
		"\"project\":{\"type\":\"string\"}}},"
		"\"report\":{\"type\":[\"object\",\"null\"],\"properties\":{"
		"\"summary\":{\"type\":\"string\"},\"signature\":{\"type\":\"object\"},"
		"\"excerpt\":{\"type\":\"array\",\"maxItems\":30},"
		"\"fixes\":{\"type\":\"array\",\"maxItems\":3},"
		"\"suspects\":{\"type\":\"array\",\"maxItems\":5}}},"
		"\"open\":{\"type\":\"boolean\"},\"resolved_seq\":{\"type\":\"integer\"},"
		"\"fixed_by\":{\"type\":\"integer\"},\"note\":{\"type\":\"string\"}}}",
	.read_only = true,
	.idempotent = true,
	.run = run,
};
