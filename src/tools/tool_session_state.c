/* session_state: a session of work and what happened in it, as `cairn
 * session show` prints it (services/session.h keeps the sessions). */
#include "services/session.h"
#include "tools/tools.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define STR_MAX 200  /* bytes of any string in the result */
#define SHORT_MAX 80 /* ... when the result is still too big */
#define BUDGET 56000 /* bytes of the result before strings are cut shorter */
#define EARLIER 3    /* earlier sessions named */

/* Whether the failure whose event id is id is still open: no pass of its
 * target has resolved it (the failures row has no resolved_seq). A failure
 * the triage service has not recorded yet counts as open. Returns 1, 0, or
 * CAIRN_E_STORE; *resolved_seq gets the pass that resolved it. */
static int failure_open(sqlite3 *db, const char *id, int64_t *resolved_seq)
{
	sqlite3_stmt *st;
	*resolved_seq = 0;
	if (sqlite3_prepare_v2(db, "SELECT resolved_seq FROM failures WHERE event_id = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*resolved_seq = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return CAIRN_E_STORE;
	return *resolved_seq == 0;
}

static int store_err(sqlite3 *db, struct cairn_err *err)
{
	return cairn_err_set(err, CAIRN_E_STORE, "",
			     "session_state: cannot read the sessions: %s; 'cairn doctor' checks "
			     "the database",
			     sqlite3_errmsg(db));
}

/* Marks each failed target open or resolved, and lists the open ones. */
static int mark_failures(sqlite3 *db, json_t *rec, struct cairn_err *err)
{
	json_t *failing = json_array();
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(rec, "targets"), i, t) {
		const char *state = json_string_value(json_object_get(t, "state"));
		const char *failure = json_string_value(json_object_get(t, "failure"));
		if (!state || strcmp(state, "failed") != 0 || !failure)
			continue;
		int64_t resolved;
		int open = failure_open(db, failure, &resolved);
		if (open < 0) {
			json_decref(failing);
			return store_err(db, err);
		}
		json_object_set_new(t, "open", json_boolean(open));
		if (resolved)
			json_object_set_new(t, "resolved_seq", json_integer(resolved));
		if (open)
			json_array_append(failing, json_object_get(t, "target"));
	}
	json_object_set_new(rec, "failing", failing);
	return 0;
}

static int run(struct tool_ctx *c, const json_t *args, json_t **result, struct cairn_err *err)
{
	sqlite3 *db = tool_ctx_db(c, err);
	if (!db)
		return err->code;
	int64_t id = tool_arg_int(args, "id", 0);
	size_t limit = (size_t)tool_arg_int(args, "limit", 5);
	const char *project = tool_project(c, args);
	struct session_rec r = {0};
	int found;
	if (id) {
		found = session_get(db, id, &r, err);
	} else {
		struct session_rec *v;
		size_t n;
		found = session_list(db, project, 0, 1, &v, &n, err);
		if (found == 0 && n == 1) {
			r = v[0];
			memset(&v[0], 0, sizeof v[0]);
			found = 1;
		}
		if (found >= 0)
			session_recs_free(v, n);
	}
	if (found < 0)
		return err->code;
	if (found == 0) {
		if (id)
			return cairn_err_set(err, CAIRN_E_NOTFOUND, "id",
					     "session_state: no session %lld; call session_state "
					     "without 'id' for the latest session, whose 'earlier' "
					     "names the ones before it",
					     (long long)id);
		return cairn_err_set(
			err, CAIRN_E_NOTFOUND, project ? "project" : "",
			"session_state: no session %s%.300s yet: sessions are made "
			"from the activity the daemon sees (builds, commits, file "
			"changes, shell commands); recent_activity lists what was logged",
			project ? "in " : "anywhere", project ? project : "");
	}
	json_t *rec = session_record(db, &r, limit, err);
	int rc = 0;
	if (!rec) {
		rc = err->code;
		goto out;
	}
	json_object_set_new(rec, "open",
			    json_boolean(!session_is_over(&r, tool_session_gap_ms(c), c->now_ms)));
	if ((rc = mark_failures(db, rec, err)))
		goto out;
	struct session_rec *v;
	size_t n;
	if ((rc = session_list(db, r.project, r.id, EARLIER, &v, &n, err)))
		goto out;
	json_t *earlier = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *f = session_fields(&v[i]);
		json_t *e = json_pack("{s:I,s:O,s:O,s:I}", "id", (json_int_t)v[i].id, "start",
				      json_object_get(f, "start"), "last_activity",
				      json_object_get(f, "last_activity"), "events",
				      (json_int_t)v[i].events);
		if (v[i].agent)
			json_object_set_new(e, "agent", tool_str(v[i].agent, STR_MAX));
		if (v[i].note)
			json_object_set_new(e, "note", tool_str(v[i].note, STR_MAX));
		json_decref(f);
		json_array_append_new(earlier, e);
	}
	session_recs_free(v, n);
	json_object_set_new(rec, "earlier", earlier);
	/* Keys, commit subjects, notes and gists are as long as what was
	 * logged: cut each. The lists are already at most limit long; six
	 * lists of 20 items of STR_MAX bytes stay under BUDGET but for keys
	 * with many characters to escape, which get SHORT_MAX. */
	tool_json_trim(rec, STR_MAX, 64);
	char *text = json_dumps(rec, JSON_COMPACT);
	if (text && strlen(text) > BUDGET)
		tool_json_trim(rec, SHORT_MAX, 64);
	free(text);
	json_object_set_new(rec, "project", tool_str(r.project, 4096));
	*result = rec;
	rec = NULL;
out:
	json_decref(rec);
	session_rec_release(&r);
	return rc;
}

const struct tool tool_session_state = {
	.name = "session_state",
	.title = "The current or last work session",
	.description =
		"What the current (or last) session of work in a project looks like: when it "
		"started, whether it is still open, its note and the AI agent running it if any, "
		"the files edited most, the branches, the targets built or tested and their last "
		"state (a failure with the gist of its triage report, and whether it is still "
		"open), the commits, knowledge recorded and commands run. Use it for 'what was I "
		"doing', 'what did this session change', 'what is still broken from this "
		"session'. A session starts with the first activity after a quiet gap (30 "
		"minutes) and ends after the gap. Give id for an earlier session: the result's "
		"'earlier' lists the ids of the ones before. Each list holds at most limit "
		"items, most relevant first.",
	.input_schema =
		"{\"type\":\"object\",\"properties\":{"
		"\"project\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,"
		"\"description\":\"Absolute path of the project; default: the caller's. Ignored "
		"with id.\"},"
		"\"id\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":9007199254740991,"
		"\"description\":\"A session's id (from 'earlier' or a session.* event); "
		"default: the project's latest session.\"},"
		"\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"default\":5,"
		"\"description\":\"Items per list (files, commits, commands...).\"}},"
		"\"additionalProperties\":false}",
	.output_schema =
		"{\"type\":\"object\",\"required\":[\"id\",\"project\",\"start\",\"open\","
		"\"events\",\"files\",\"branches\",\"targets\",\"failing\",\"commits\","
		"\"knowledge\",\"commands\",\"earlier\"],\"properties\":{"
		"\"id\":{\"type\":\"integer\"},\"project\":{\"type\":\"string\"},"
		"\"start\":{\"type\":\"string\",\"description\":\"RFC 3339\"},"
		"\"last_activity\":{\"type\":\"string\"},"
		"\"end\":{\"type\":\"string\",\"description\":\"absent while open\"},"
		"\"duration_ms\":{\"type\":\"integer\"},"
		"\"ended_by\":{\"type\":\"string\",\"description\":\"gap, explicit, agent or "
		"replaced\"},"
		"\"open\":{\"type\":\"boolean\",\"description\":\"not ended and not quiet for "
		"longer than the gap\"},"
		"\"events\":{\"type\":\"integer\"},\"start_seq\":{\"type\":\"integer\"},"
		"\"last_seq\":{\"type\":\"integer\"},"
		"\"agent\":{\"type\":\"string\"},\"agent_session\":{\"type\":\"string\"},"
		"\"note\":{\"type\":\"string\"},\"end_note\":{\"type\":\"string\"},"
		"\"files\":{\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"object\","
		"\"properties\":{\"path\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"},"
		"\"last\":{\"type\":\"string\"}}}},"
		"\"branches\":{\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":"
		"\"string\"}},"
		"\"targets\":{\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"object\","
		"\"properties\":{\"target\":{\"type\":\"string\"},\"state\":{\"type\":\"string\","
		"\"enum\":[\"passed\",\"failed\"]},\"runs\":{\"type\":\"integer\"},"
		"\"last\":{\"type\":\"string\"},\"failure\":{\"type\":\"string\",\"description\":"
		"\"the failure's event id (explain_event)\"},\"gist\":{\"type\":\"string\"},"
		"\"open\":{\"type\":\"boolean\"},\"resolved_seq\":{\"type\":\"integer\"}}}},"
		"\"failing\":{\"type\":\"array\",\"maxItems\":20,\"description\":\"targets whose "
		"last failure in the session is still open\",\"items\":{\"type\":\"string\"}},"
		"\"commits\":{\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"object\","
		"\"properties\":{\"hash\":{\"type\":\"string\"},\"subject\":{\"type\":\"string\"},"
		"\"time\":{\"type\":\"string\"}}}},"
		"\"knowledge\":{\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"object\","
		"\"properties\":{\"uid\":{\"type\":\"string\"},\"what\":{\"type\":\"string\"},"
		"\"title\":{\"type\":\"string\"}}}},"
		"\"commands\":{\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"object\","
		"\"properties\":{\"command\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"},"
		"\"last\":{\"type\":\"string\"},\"exit\":{\"type\":\"integer\"}}}},"
		"\"earlier\":{\"type\":\"array\",\"maxItems\":3,\"items\":{\"type\":\"object\","
		"\"properties\":{\"id\":{\"type\":\"integer\"},\"start\":{\"type\":\"string\"},"
		"\"last_activity\":{\"type\":\"string\"},\"events\":{\"type\":\"integer\"},"
		"\"agent\":{\"type\":\"string\"},\"note\":{\"type\":\"string\"}}}}}}",
	.read_only = true,
	.idempotent = true,
	.run = run,
};
