/* The tools (src/tools/tools.h): every declaration's schemas check, and
 * session_state, recent_activity, project_state and explain_event called
 * through tool_call() on a small scripted database (events, failures,
 * knowledge, sessions written with plain SQL) and a real git work tree,
 * with the answers known; bad arguments named by their argument; results
 * bounded however long what was logged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "store/store.h"
#include "tools/schema.h"
#include "tools/tools.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1764000000000LL /* the first event's time */
#define MIN 60000LL
#define NOW (T0 + 20 * MIN)

static char dir[] = "/tmp/cairn-test-tools-XXXXXX";
static char db_path[PATH_MAX];
static char repo[PATH_MAX]; /* project P: a git work tree */
#define Q "/q/other"        /* project Q: no work tree */
#define BIG "/big"          /* long strings, for the bounds */

static struct tool_ctx ctx;

/* ---- the scripted database ---- */

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

/* Logs one event: seq at T0 + minutes; data is JSON text (NULL: none). */
static void ev(sqlite3 *db, int64_t seq, int64_t minutes, const char *id, const char *source,
	       const char *type, const char *project, const char *corr, const char *subject,
	       const char *data)
{
	int64_t ms = T0 + minutes * MIN;
	char when[TIMEFMT_RFC3339_LEN + 1];
	timefmt_rfc3339(when, ms);
	json_t *env =
		json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "specversion", "1.0", "id", id, "source",
			  source, "type", type, "time", when, "seq", (json_int_t)seq);
	if (project)
		json_object_set_new(env, "project", json_string(project));
	if (corr)
		json_object_set_new(env, "correlationid", json_string(corr));
	if (subject)
		json_object_set_new(env, "subject", json_string(subject));
	if (data) {
		json_error_t je;
		json_t *d = json_loads(data, 0, &je);
		if (!d)
			fail_msg("bad test data %s: %s", data, je.text);
		json_object_set_new(env, "data", d);
	}
	char *text = json_dumps(env, JSON_COMPACT);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT INTO events(seq, id, source, type, time_ms,"
					    " project, correlationid, subject, envelope)"
					    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, ms);
	if (project)
		sqlite3_bind_text(st, 6, project, -1, SQLITE_STATIC);
	if (corr)
		sqlite3_bind_text(st, 7, corr, -1, SQLITE_STATIC);
	if (subject)
		sqlite3_bind_text(st, 8, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, text, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	free(text);
	json_decref(env);
}

/* A string of n copies of c. */
static char *fill(size_t n, char c)
{
	char *s = xmalloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Project P's story: a failed build, its report, a fix, a pass that
 * resolved it and taught a fix, a test failure still open; a shell
 * command outside any project; project Q's open failure. Then, in BIG,
 * events and a session whose strings are far longer than a result may
 * carry. */
static void write_log(sqlite3 *db)
{
	char *data = xasprintf("{\"command\":\"make all\\nsecond line\",\"exit\":2,"
			       "\"cwd\":\"%s\"}",
			       repo);
	ev(db, 1, 1, "E1", "cairn/shell", "shell.command", NULL, NULL, "make", data);
	free(data);
	ev(db, 2, 2, "S1", "cairn/run", "build.started", repo, NULL, "all",
	   "{\"target\":\"all\",\"command\":\"make all\"}");
	ev(db, 3, 3, "F1", "cairn/run", "build.failed", repo, "S1", "all",
	   "{\"target\":\"all\",\"command\":\"make all\",\"exit\":2,\"duration_ms\":1500}");
	ev(db, 4, 4, "R1", "cairn/triage", "triage.report", repo, "F1", "all",
	   "{\"failure\":{\"id\":\"F1\"},\"summary\":\"all failed: missing ';' in a.c\","
	   "\"fixes\":[{\"id\":1,\"title\":\"add ;\",\"body\":\"a long body\"}]}");
	ev(db, 5, 5, "C1", "cairn/fswatch", "file.changed", repo, NULL, "a.c",
	   "{\"path\":\"a.c\",\"size\":10}");
	ev(db, 6, 6, "G1", "cairn/git", "git.commit", repo, NULL, "main",
	   "{\"hash\":\"abcdef1234567890\",\"subject\":\"Fix the parser\",\"branch\":\"main\","
	   "\"files\":[{\"path\":\"a.c\",\"status\":\"M\"},{\"path\":\"b.c\",\"status\":"
	   "\"A\"}],\"files_total\":2}");
	ev(db, 7, 7, "P1", "cairn/run", "build.passed", repo, NULL, "all",
	   "{\"target\":\"all\",\"exit\":0,\"duration_ms\":900}");
	ev(db, 8, 8, "F2", "cairn/run", "test.failed", repo, NULL, "unit",
	   "{\"target\":\"unit\",\"exit\":1}");
	ev(db, 9, 9, "K1", "cairn/learn", "kb.added", repo, "P1", "all",
	   "{\"id\":1,\"kind\":\"fix\",\"title\":\"add ;\"}");
	ev(db, 10, 10, "C2", "cairn/fswatch", "file.changed", Q, NULL, "z.c", "{\"path\":\"z.c\"}");
	ev(db, 11, 11, "F3", "cairn/run", "build.failed", Q, NULL, "lib",
	   "{\"target\":\"lib\",\"exit\":1}");

	/* BIG: data far over the bounds, a long project name for every event. */
	json_t *d = json_object();
	for (int i = 0; i < 10; i++) {
		char key[16];
		snprintf(key, sizeof key, "s%d", i);
		char *s = fill(5000, 'a' + i);
		json_object_set_new(d, key, json_string(s));
		free(s);
	}
	json_t *arr = json_array();
	for (int i = 0; i < 1000; i++)
		json_array_append_new(arr, json_pack("{s:i,s:s}", "n", i, "text", "item text"));
	json_object_set_new(d, "items", arr);
	char *text = json_dumps(d, JSON_COMPACT);
	char *subject = fill(4000, 's');
	ev(db, 12, 12, "B1", "cairn/test", "big.event", BIG, NULL, subject, text);
	free(subject);
	free(text);
	json_decref(d);
	char *cmd = fill(16000, 'c');
	char *longp = fill(3000, 'p');
	longp[0] = '/';
	for (int i = 0; i < 60; i++) {
		char id[16];
		snprintf(id, sizeof id, "L%d", i);
		json_t *dd = json_pack("{s:s,s:i}", "command", cmd, "exit", 0);
		char *t = json_dumps(dd, JSON_COMPACT);
		ev(db, 13 + i, 13, id, "cairn/test", "big.command", longp, NULL, "c", t);
		free(t);
		json_decref(dd);
	}
	free(longp);
	free(cmd);
	/* More types than a query walks one by one. */
	for (int i = 0; i < 70; i++) {
		char id[16], type[32];
		snprintf(id, sizeof id, "M%d", i);
		snprintf(type, sizeof type, "many.t%02d", i);
		ev(db, 73 + i, 14, id, "cairn/test", type, "/many", NULL, NULL, "{\"n\":1}");
	}

	/* What the triage service and the learner would have kept. */
	char *sql = xasprintf(
		"INSERT INTO knowledge(id, uid, kind, title, body, created_ms, updated_ms,"
		" sources, hash, state) VALUES (1, '01KFIX', 'fix', 'add ;', 'body', %lld,"
		" %lld, '[\"F1\",\"P1\"]', 'h1', 'candidate');"
		"INSERT INTO knowledge(id, uid, kind, title, body, created_ms, updated_ms,"
		" sources, hash) VALUES (2, '01KOTHER', 'note', 'names F10, not F1',"
		" 'body', %lld, %lld, '[\"F10\"]', 'h2');"
		"INSERT INTO failures(event_id, seq, project, target, time_ms, report_id,"
		" resolved_seq, fixed_by, message) VALUES"
		" ('F1', 3, '%s', 'all', %lld, 'R1', 7, 1, 'expected ;'),"
		" ('F2', 8, '%s', 'unit', %lld, NULL, NULL, NULL, 'assertion failed'),"
		" ('F3', 11, '" Q "', 'lib', %lld, NULL, NULL, NULL, NULL);",
		T0, T0, T0, T0, repo, T0 + 3 * MIN, repo, T0 + 8 * MIN, T0 + 11 * MIN);
	exec(db, sql);
	free(sql);

	/* Sessions: P's first (ended by hand), P's current (open: quiet for
	 * 11 minutes of a 30-minute gap), Q's, and BIG's with long items. */
	sql = xasprintf(
		"INSERT INTO sessions(id, project, note, ended_by, start_ms, last_ms, end_ms,"
		" start_seq, last_seq, events) VALUES"
		" (1, '%s', 'first try', 'explicit', %lld, %lld, %lld, 1, 3, 3),"
		" (2, '%s', NULL, NULL, %lld, %lld, NULL, 5, 9, 5),"
		" (3, '" Q "', NULL, NULL, %lld, %lld, NULL, 10, 11, 2),"
		" (4, '" BIG "', NULL, NULL, %lld, %lld, NULL, 12, 12, 1);",
		repo, T0, T0 + 3 * MIN, T0 + 3 * MIN, repo, T0 + 5 * MIN, T0 + 9 * MIN,
		T0 + 10 * MIN, T0 + 11 * MIN, T0 + 12 * MIN, T0 + 12 * MIN);
	exec(db, sql);
	free(sql);
	sql = xasprintf("INSERT INTO session_items(session, kind, key, n, first_ms, last_ms, state,"
			" text) VALUES"
			" (1, 'target', 'all', 1, %lld, %lld, 'failed', 'F1'),"
			" (1, 'command', 'make all', 1, %lld, %lld, '2', NULL),"
			" (2, 'file', 'a.c', 3, %lld, %lld, NULL, NULL),"
			" (2, 'file', 'b.c', 1, %lld, %lld, NULL, NULL),"
			" (2, 'branch', 'main', 1, %lld, %lld, NULL, NULL),"
			" (2, 'target', 'all', 1, %lld, %lld, 'passed', 'P1'),"
			" (2, 'target', 'unit', 1, %lld, %lld, 'failed', 'F2'),"
			" (2, 'commit', 'abcdef1234567890', 1, %lld, %lld, NULL, 'Fix the parser'),"
			" (2, 'kb', '01KFIX', 1, %lld, %lld, 'added', 'add ;'),"
			" (2, 'command', 'make test', 2, %lld, %lld, '1', NULL);",
			T0 + 3 * MIN, T0 + 3 * MIN, T0 + MIN, T0 + MIN, T0 + 5 * MIN, T0 + 6 * MIN,
			T0 + 6 * MIN, T0 + 6 * MIN, T0 + 6 * MIN, T0 + 6 * MIN, T0 + 7 * MIN,
			T0 + 7 * MIN, T0 + 8 * MIN, T0 + 8 * MIN, T0 + 6 * MIN, T0 + 6 * MIN,
			T0 + 9 * MIN, T0 + 9 * MIN, T0 + 8 * MIN, T0 + 9 * MIN);
	exec(db, sql);
	free(sql);
	char *key = fill(5000, 'k');
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT INTO session_items(session, kind, key, n,"
					    " first_ms, last_ms, state, text) VALUES (4, ?1, ?2,"
					    " 1, 0, 0, ?3, ?4)",
					    -1, &st, NULL),
			 SQLITE_OK);
	static const char *const kinds[] = {"file", "branch", "target", "commit", "kb", "command"};
	for (size_t k = 0; k < 6; k++) {
		for (int i = 0; i < 20; i++) {
			char *kk = xasprintf("%d%s", i, key);
			sqlite3_bind_text(st, 1, kinds[k], -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, kk, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 3, k == 2 ? "failed" : key, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, key, -1, SQLITE_STATIC);
			assert_int_equal(sqlite3_step(st), SQLITE_DONE);
			sqlite3_reset(st);
			free(kk);
		}
	}
	sqlite3_finalize(st);
	free(key);
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(db_path, sizeof db_path, "%s/cairn.db", dir);
	char raw[PATH_MAX];
	snprintf(raw, sizeof raw, "%s/repo", dir);
	/* A work tree with one commit and two untracked files. */
	char *cmd = xasprintf("git init -q -b main '%s' && cd '%s' && git -c user.name=t -c "
			      "user.email=t@example.invalid commit -q --allow-empty -m 'Initial "
			      "commit' && touch u1.txt u2.txt",
			      raw, raw);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0 || !realpath(raw, repo))
		return -1;
	sqlite3 *db;
	struct cairn_err err;
	if (store_db_open(db_path, false, &db, &err)) {
		fprintf(stderr, "store_db_open: %s\n", err.msg);
		return -1;
	}
	exec(db, "BEGIN");
	write_log(db);
	exec(db, "COMMIT");
	sqlite3_close(db);
	ctx = (struct tool_ctx){.db_path = db_path, .project = repo, .now_ms = NOW};
	return 0;
}

static int teardown(void **state)
{
	tool_ctx_release(&ctx);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
	return 0;
}

/* ---- calling ---- */

/* Calls tool name with args (JSON text; NULL: none) on ctx. */
static int call(const char *name, const char *args, json_t **res, struct cairn_err *err)
{
	const struct tool *t = tool_find(name);
	if (!t)
		fail_msg("no tool %s", name);
	json_t *a = NULL;
	if (args) {
		json_error_t je;
		if (!(a = json_loads(args, 0, &je)))
			fail_msg("bad args %s: %s", args, je.text);
	}
	int r = tool_call(&ctx, t, a, res, err);
	json_decref(a);
	if (r == 0) {
		/* Every result matches its declared output schema. */
		struct cairn_err e2;
		if (schema_validate(tool_output_schema(t), *res, &e2))
			fail_msg("%s(%s): the result breaks its output schema: %s", name,
				 args ? args : "", e2.msg);
	}
	return r;
}

/* Calls and expects success. */
static json_t *ok(const char *name, const char *args)
{
	json_t *res = NULL;
	struct cairn_err err;
	int r = call(name, args, &res, &err);
	if (r)
		fail_msg("%s(%s): %d %s", name, args ? args : "", r, err.msg);
	return res;
}

/* Calls and expects code with err.field naming field; returns the message
 * in a static buffer. */
static const char *fails(const char *name, const char *args, int code, const char *field)
{
	static char msg[sizeof((struct cairn_err *)0)->msg];
	json_t *res = NULL;
	struct cairn_err err;
	int r = call(name, args, &res, &err);
	if (r != code)
		fail_msg("%s(%s): wanted %d, got %d (%s)", name, args ? args : "", code, r,
			 err.msg);
	assert_null(res);
	if (strcmp(err.field, field) != 0)
		fail_msg("%s(%s): field '%s', wanted '%s' (%s)", name, args ? args : "", err.field,
			 field, err.msg);
	assert_true(err.msg[0] != '\0');
	snprintf(msg, sizeof msg, "%s", err.msg);
	return msg;
}

#define GET(o, path) json_path((o), (path))

/* A member by a dotted path with [i] for array items ("events[0].seq"). */
static json_t *json_path(json_t *o, const char *path)
{
	char key[64];
	const char *p = path;
	while (o && *p) {
		if (*p == '[') {
			o = json_array_get(o, strtoul(p + 1, (char **)&p, 10));
			p++; /* ']' */
		} else {
			size_t n = strcspn(p, ".[");
			snprintf(key, sizeof key, "%.*s", (int)n, p);
			o = json_object_get(o, key);
			p += n;
		}
		if (*p == '.')
			p++;
	}
	return o;
}

static const char *S(json_t *o, const char *path)
{
	const char *s = json_string_value(GET(o, path));
	if (!s)
		fail_msg("no string at %s", path);
	return s;
}

static int64_t I(json_t *o, const char *path)
{
	json_t *v = GET(o, path);
	if (!json_is_integer(v))
		fail_msg("no integer at %s", path);
	return json_integer_value(v);
}

static size_t dumped_size(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);
	size_t n = strlen(s);
	free(s);
	return n;
}

/* The longest string anywhere in v, in bytes. */
static size_t longest_string(const json_t *v)
{
	size_t m = 0, i;
	const char *k;
	json_t *x;
	if (json_is_string(v))
		return json_string_length(v);
	if (json_is_array(v))
		json_array_foreach(v, i, x) {
			size_t l = longest_string(x);
			m = l > m ? l : m;
		}
	if (json_is_object(v))
		json_object_foreach((json_t *)v, k, x) {
			size_t l = longest_string(x);
			m = l > m ? l : m;
		}
	return m;
}

/* ---- the registry ---- */

static void test_declarations(void **state)
{
	size_t n;
	const struct tool *const *all = tools_all(&n);
	assert_true(n >= 5);
	for (size_t i = 0; i < n; i++) {
		const struct tool *t = all[i];
		struct cairn_err err;
		assert_non_null(t->name);
		assert_non_null(t->run);
		assert_true(t->description && strlen(t->description) > 40);
		assert_true(t->title && *t->title);
		const json_t *in = tool_input_schema(t), *out = tool_output_schema(t);
		if (!in || !out)
			fail_msg("%s: a schema is not JSON", t->name);
		if (schema_check_schema(in, &err))
			fail_msg("%s input: %s", t->name, err.msg);
		if (schema_check_schema(out, &err))
			fail_msg("%s output: %s", t->name, err.msg);
		/* Unknown arguments are refused. */
		assert_true(json_is_false(json_object_get(in, "additionalProperties")));
		assert_ptr_equal(tool_find(t->name), t);
		for (size_t j = 0; j < i; j++)
			if (strcmp(all[j]->name, t->name) == 0)
				fail_msg("two tools named %s", t->name);
		assert_false(t->read_only && t->destructive);
		assert_non_null(strstr(tools_names(), t->name));
	}
	static const char *const mine[] = {"session_state", "recent_activity", "project_state",
					   "explain_event"};
	for (size_t i = 0; i < 4; i++) {
		const struct tool *t = tool_find(mine[i]);
		assert_non_null(t);
		assert_true(t->read_only && t->idempotent && !t->destructive);
	}
}

/* ---- session_state ---- */

static void test_session_latest(void **state)
{
	json_t *r = ok("session_state", NULL);
	assert_int_equal(I(r, "id"), 2);
	assert_string_equal(S(r, "project"), repo);
	assert_true(json_is_true(GET(r, "open")));
	assert_null(GET(r, "end"));
	assert_int_equal(I(r, "events"), 5);
	assert_int_equal(json_array_size(GET(r, "files")), 2);
	assert_string_equal(S(r, "files[0].path"), "a.c");
	assert_int_equal(I(r, "files[0].n"), 3);
	assert_string_equal(S(r, "branches[0]"), "main");
	assert_string_equal(S(r, "commits[0].hash"), "abcdef1234567890");
	assert_string_equal(S(r, "commits[0].subject"), "Fix the parser");
	assert_string_equal(S(r, "knowledge[0].title"), "add ;");
	assert_string_equal(S(r, "commands[0].command"), "make test");
	assert_int_equal(I(r, "commands[0].exit"), 1);
	/* Targets, the latest first: unit failed and is still open; all
	 * passed. */
	assert_int_equal(json_array_size(GET(r, "targets")), 2);
	assert_string_equal(S(r, "targets[0].target"), "unit");
	assert_string_equal(S(r, "targets[0].state"), "failed");
	assert_string_equal(S(r, "targets[0].failure"), "F2");
	assert_true(json_is_true(GET(r, "targets[0].open")));
	assert_string_equal(S(r, "targets[1].state"), "passed");
	assert_null(GET(r, "targets[1].open"));
	assert_int_equal(json_array_size(GET(r, "failing")), 1);
	assert_string_equal(S(r, "failing[0]"), "unit");
	/* The one before. */
	assert_int_equal(json_array_size(GET(r, "earlier")), 1);
	assert_int_equal(I(r, "earlier[0].id"), 1);
	assert_string_equal(S(r, "earlier[0].note"), "first try");
	json_decref(r);

	/* Quiet for longer than the gap: no longer open. */
	int64_t now = ctx.now_ms;
	ctx.now_ms = T0 + 9 * MIN + 31 * MIN;
	r = ok("session_state", NULL);
	assert_true(json_is_false(GET(r, "open")));
	json_decref(r);
	ctx.now_ms = now;

	r = ok("session_state", "{\"limit\":1}");
	assert_int_equal(json_array_size(GET(r, "files")), 1);
	assert_int_equal(json_array_size(GET(r, "targets")), 1);
	json_decref(r);

	r = ok("session_state", "{\"project\":\"" Q "\"}");
	assert_int_equal(I(r, "id"), 3);
	assert_int_equal(json_array_size(GET(r, "earlier")), 0);
	json_decref(r);
}

static void test_session_by_id(void **state)
{
	json_t *r = ok("session_state", "{\"id\":1}");
	assert_int_equal(I(r, "id"), 1);
	assert_true(json_is_false(GET(r, "open")));
	assert_string_equal(S(r, "ended_by"), "explicit");
	assert_string_equal(S(r, "note"), "first try");
	assert_int_equal(I(r, "duration_ms"), 3 * MIN);
	/* Its failure was resolved by the pass at seq 7; the gist is the
	 * report's summary. */
	assert_string_equal(S(r, "targets[0].target"), "all");
	assert_string_equal(S(r, "targets[0].state"), "failed");
	assert_true(json_is_false(GET(r, "targets[0].open")));
	assert_int_equal(I(r, "targets[0].resolved_seq"), 7);
	assert_string_equal(S(r, "targets[0].gist"), "all failed: missing ';' in a.c");
	assert_int_equal(json_array_size(GET(r, "failing")), 0);
	assert_int_equal(json_array_size(GET(r, "earlier")), 0);
	json_decref(r);
}

static void test_session_errors(void **state)
{
	const char *m = fails("session_state", "{\"id\":99}", CAIRN_E_NOTFOUND, "id");
	assert_non_null(strstr(m, "no session 99"));
	m = fails("session_state", "{\"project\":\"/nowhere\"}", CAIRN_E_NOTFOUND, "project");
	assert_non_null(strstr(m, "recent_activity"));
	fails("session_state", "{\"limit\":0}", CAIRN_E_INVALID, "limit");
	fails("session_state", "{\"limit\":21}", CAIRN_E_INVALID, "limit");
	fails("session_state", "{\"id\":\"2\"}", CAIRN_E_INVALID, "id");
	fails("session_state", "{\"id\":0}", CAIRN_E_INVALID, "id");
	m = fails("session_state", "{\"session\":2}", CAIRN_E_INVALID, "session");
	assert_non_null(strstr(m, "session_state"));
}

/* ---- recent_activity ---- */

/* The seqs of a result's events. */
static void seqs(json_t *r, char *buf, size_t n)
{
	size_t i, l = 0;
	json_t *e;
	buf[0] = '\0';
	json_array_foreach(GET(r, "events"), i, e)
		l += (size_t)snprintf(buf + l, n - l, "%s%lld", i ? " " : "",
				      (long long)json_integer_value(json_object_get(e, "seq")));
}

static void expect_seqs(const char *args, const char *want)
{
	json_t *r = ok("recent_activity", args);
	char got[256];
	seqs(r, got, sizeof got);
	if (strcmp(got, want) != 0)
		fail_msg("recent_activity(%s): seqs '%s', wanted '%s'", args ? args : "", got,
			 want);
	json_decref(r);
}

static void test_recent_filters(void **state)
{
	/* The caller's project, newest first. */
	expect_seqs(NULL, "9 8 7 6 5 4 3 2");
	expect_seqs("{\"pattern\":\"build.>\"}", "7 3 2");
	expect_seqs("{\"pattern\":\"build.failed\"}", "3");
	expect_seqs("{\"pattern\":\"*.failed\"}", "8 3");
	expect_seqs("{\"pattern\":\"*.failed\",\"project\":\"all\"}", "11 8 3");
	expect_seqs("{\"pattern\":\"build.failed\",\"project\":\"all\"}", "11 3");
	expect_seqs("{\"pattern\":\">\",\"project\":\"" Q "\"}", "11 10");
	expect_seqs("{\"pattern\":\"shell.command\",\"project\":\"all\",\"limit\":1}", "1");
	expect_seqs("{\"pattern\":\"big.command\",\"project\":\"all\",\"limit\":2}", "72 71");
	expect_seqs("{\"pattern\":\"git.*\",\"project\":\"all\"}", "6");
	/* Since: a duration ago (NOW - 15m = T0 + 5m), an RFC 3339 time,
	 * Unix ms. */
	expect_seqs("{\"since\":\"15m\"}", "9 8 7 6 5");
	char when[TIMEFMT_RFC3339_LEN + 1], args[128];
	timefmt_rfc3339(when, T0 + 7 * MIN);
	snprintf(args, sizeof args, "{\"since\":\"%s\"}", when);
	expect_seqs(args, "9 8 7");
	snprintf(args, sizeof args, "{\"since\":%lld}", T0 + 8 * MIN);
	expect_seqs(args, "9 8");
	expect_seqs("{\"since\":\"1m\"}", "");
}

static void test_recent_items(void **state)
{
	json_t *r = ok("recent_activity", "{\"limit\":3}");
	assert_int_equal(json_array_size(GET(r, "events")), 3);
	assert_true(json_is_true(GET(r, "more")));
	assert_string_equal(S(r, "project"), repo);
	assert_string_equal(S(r, "pattern"), ">");
	assert_int_equal(I(r, "events[0].seq"), 9);
	assert_string_equal(S(r, "events[0].id"), "K1");
	assert_string_equal(S(r, "events[0].type"), "kb.added");
	assert_string_equal(S(r, "events[0].source"), "cairn/learn");
	char when[TIMEFMT_RFC3339_LEN + 1];
	timefmt_rfc3339(when, T0 + 9 * MIN);
	assert_string_equal(S(r, "events[0].time"), when);
	/* One project asked for: it is not repeated in every event. */
	assert_null(GET(r, "events[0].project"));
	assert_string_equal(S(r, "events[0].summary"), "fix #1: add ;");
	assert_string_equal(S(r, "events[1].summary"), "unit failed (exit 1)");
	assert_string_equal(S(r, "events[2].summary"), "all passed after 0.9s");
	json_decref(r);

	r = ok("recent_activity", "{\"pattern\":\"git.commit\"}");
	assert_true(json_is_false(GET(r, "more")));
	assert_string_equal(S(r, "events[0].summary"),
			    "abcdef1234 Fix the parser (2 files, on main)");
	json_decref(r);
	r = ok("recent_activity", "{\"pattern\":\"build.failed\"}");
	assert_string_equal(S(r, "events[0].summary"), "all failed (exit 2) after 1.5s");
	json_decref(r);
	r = ok("recent_activity", "{\"pattern\":\"file.>\"}");
	assert_string_equal(S(r, "events[0].summary"), "a.c");
	json_decref(r);
	r = ok("recent_activity", "{\"pattern\":\"triage.report\"}");
	assert_string_equal(S(r, "events[0].summary"), "all failed: missing ';' in a.c");
	json_decref(r);
	/* Every project: each event names its own; a shell command has none
	 * and its two lines become one. */
	r = ok("recent_activity", "{\"project\":\"all\",\"pattern\":\"shell.command\"}");
	json_t *last = json_array_get(GET(r, "events"), json_array_size(GET(r, "events")) - 1);
	assert_int_equal(I(last, "seq"), 1);
	assert_null(GET(last, "project"));
	assert_string_equal(S(last, "summary"), "make all second line (exit 2)");
	assert_true(json_is_null(GET(r, "project")));
	json_decref(r);
	r = ok("recent_activity", "{\"project\":\"all\",\"pattern\":\"file.changed\"}");
	assert_string_equal(S(r, "events[0].project"), Q);
	json_decref(r);
	/* Outside any project, every project is the scope. */
	const char *p = ctx.project;
	ctx.project = NULL;
	expect_seqs("{\"pattern\":\"*.failed\"}", "11 8 3");
	ctx.project = p;
}

/* Patterns matching more types than are walked one by one are read in one
 * statement, and match the same. */
static void test_recent_many_types(void **state)
{
	expect_seqs("{\"pattern\":\"many.>\",\"project\":\"/many\",\"limit\":3}", "142 141 140");
	expect_seqs("{\"pattern\":\"many.*\",\"project\":\"all\",\"limit\":3}", "142 141 140");
	expect_seqs("{\"pattern\":\"*.t05\",\"project\":\"all\"}", "78");
	expect_seqs("{\"pattern\":\"many.*.x\",\"project\":\"all\"}", "");
	json_t *r = ok("recent_activity", "{\"pattern\":\"many.>\",\"project\":\"all\","
					  "\"limit\":50}");
	assert_int_equal(json_array_size(GET(r, "events")), 50);
	assert_true(json_is_true(GET(r, "more")));
	assert_int_equal(I(r, "events[49].seq"), 93);
	assert_string_equal(S(r, "events[0].summary"), "n=1");
	json_decref(r);
}

static void test_recent_errors(void **state)
{
	const char *m =
		fails("recent_activity", "{\"pattern\":\"Build.>\"}", CAIRN_E_INVALID, "pattern");
	assert_non_null(strstr(m, "build.>"));
	fails("recent_activity", "{\"pattern\":\"a.>.b\"}", CAIRN_E_INVALID, "pattern");
	fails("recent_activity", "{\"pattern\":\"\"}", CAIRN_E_INVALID, "pattern");
	m = fails("recent_activity", "{\"since\":\"yesterday\"}", CAIRN_E_INVALID, "since");
	assert_non_null(strstr(m, "2h"));
	fails("recent_activity", "{\"since\":true}", CAIRN_E_INVALID, "since");
	fails("recent_activity", "{\"limit\":0}", CAIRN_E_INVALID, "limit");
	fails("recent_activity", "{\"limit\":51}", CAIRN_E_INVALID, "limit");
	fails("recent_activity", "{\"types\":\"x\"}", CAIRN_E_INVALID, "types");
}

/* Sixty events whose project and command are thousands of bytes: the list
 * ends early, with more, rather than break the result's bound. */
static void test_recent_bound(void **state)
{
	json_t *r = ok("recent_activity",
		       "{\"project\":\"all\",\"pattern\":\"big.command\",\"limit\":50}");
	size_t n = json_array_size(GET(r, "events"));
	assert_true(n > 10 && n < 50);
	assert_true(json_is_true(GET(r, "more")));
	assert_true(dumped_size(r) <= TOOL_RESULT_MAX);
	assert_true(json_string_length(GET(r, "events[0].summary")) <= TOOL_SUMMARY_MAX + 3);
	assert_true(json_string_length(GET(r, "events[0].project")) <= 1024 + 3);
	json_decref(r);
}

/* ---- project_state ---- */

static void test_project_state(void **state)
{
	json_t *r = ok("project_state", NULL);
	assert_string_equal(S(r, "project"), repo);
	assert_true(json_is_true(GET(r, "daemon_running")));
	assert_string_equal(S(r, "git.branch"), "main");
	assert_int_equal(strlen(S(r, "git.head")), 12);
	assert_string_equal(S(r, "git.head_subject"), "Initial commit");
	assert_int_equal(I(r, "git.dirty_count"), 2);
	assert_int_equal(json_array_size(GET(r, "git.dirty")), 2);
	assert_null(GET(r, "git_note"));
	/* Targets by their latest outcome, the latest first. */
	assert_int_equal(json_array_size(GET(r, "targets")), 2);
	assert_string_equal(S(r, "targets[0].target"), "unit");
	assert_string_equal(S(r, "targets[0].state"), "failed");
	assert_string_equal(S(r, "targets[0].event"), "F2");
	assert_int_equal(I(r, "targets[0].seq"), 8);
	assert_string_equal(S(r, "targets[1].target"), "all");
	assert_string_equal(S(r, "targets[1].state"), "passed");
	assert_int_equal(I(r, "targets[1].seq"), 7);
	char when[TIMEFMT_RFC3339_LEN + 1];
	timefmt_rfc3339(when, T0 + 3 * MIN);
	assert_string_equal(S(r, "targets[1].last_failed"), when);
	/* F1 was resolved: one failure open. */
	assert_int_equal(I(r, "open_failures"), 1);
	assert_int_equal(json_array_size(GET(r, "failing")), 1);
	assert_string_equal(S(r, "failing[0].target"), "unit");
	assert_string_equal(S(r, "failing[0].failure"), "F2");
	assert_string_equal(S(r, "failing[0].message"), "assertion failed");
	assert_int_equal(json_array_size(GET(r, "breakers")), 0);
	json_decref(r);

	/* The daemon down; breakers given by the caller are copied. */
	json_t *b = json_pack("[{s:s,s:s}]", "name", "model", "state", "open");
	ctx.daemon_down = true;
	ctx.breakers = b;
	r = ok("project_state", NULL);
	ctx.daemon_down = false;
	ctx.breakers = NULL;
	assert_true(json_is_false(GET(r, "daemon_running")));
	assert_true(json_equal(GET(r, "breakers"), b));
	assert_ptr_not_equal(GET(r, "breakers"), b);
	json_decref(r);
	json_decref(b);

	/* No work tree: git is null and git_note says why. */
	r = ok("project_state", "{\"project\":\"" Q "\"}");
	assert_true(json_is_null(GET(r, "git")));
	assert_non_null(strstr(S(r, "git_note"), "git work tree"));
	assert_string_equal(S(r, "targets[0].target"), "lib");
	assert_int_equal(I(r, "open_failures"), 1);
	json_decref(r);
}

static void test_project_errors(void **state)
{
	const char *p = ctx.project;
	ctx.project = NULL;
	const char *m = fails("project_state", NULL, CAIRN_E_INVALID, "project");
	ctx.project = p;
	assert_non_null(strstr(m, "absolute path"));
	fails("project_state", "{\"project\":\"\"}", CAIRN_E_INVALID, "project");
	fails("project_state", "{\"project\":7}", CAIRN_E_INVALID, "project");
	fails("project_state", "{\"limit\":3}", CAIRN_E_INVALID, "limit");
}

/* ---- explain_event ---- */

static void test_explain_failure(void **state)
{
	json_t *r = ok("explain_event", "{\"seq\":3}");
	assert_string_equal(S(r, "event.id"), "F1");
	assert_string_equal(S(r, "event.type"), "build.failed");
	assert_int_equal(I(r, "event.data.exit"), 2);
	assert_true(json_is_false(GET(r, "trimmed")));
	assert_true(json_is_true(GET(r, "failure.recorded")));
	assert_string_equal(S(r, "failure.target"), "all");
	assert_true(json_is_true(GET(r, "failure.resolved")));
	assert_int_equal(I(r, "failure.resolved_by.seq"), 7);
	assert_string_equal(S(r, "failure.resolved_by.id"), "P1");
	assert_int_equal(I(r, "failure.fixed_by"), 1);
	assert_string_equal(S(r, "failure.report.summary"), "all failed: missing ';' in a.c");
	assert_string_equal(S(r, "failure.report.report_id"), "R1");
	assert_null(GET(r, "failure.report.failure"));
	assert_string_equal(S(r, "failure.report.fixes[0].title"), "add ;");
	assert_null(GET(r, "failure.report.fixes[0].body"));
	/* Only the entry whose sources hold "F1", not the one with "F10". */
	assert_int_equal(json_array_size(GET(r, "knowledge")), 1);
	assert_int_equal(I(r, "knowledge[0].id"), 1);
	assert_string_equal(S(r, "knowledge[0].state"), "candidate");
	/* Its run's start (its correlationid) and its report (correlated to
	 * it). */
	assert_int_equal(json_array_size(GET(r, "related")), 2);
	assert_int_equal(I(r, "related[0].seq"), 2);
	assert_int_equal(I(r, "related[1].seq"), 4);
	assert_null(GET(r, "resolved_failures"));
	json_decref(r);

	/* Still open, no report yet. */
	r = ok("explain_event", "{\"id\":\"F2\"}");
	assert_int_equal(I(r, "event.seq"), 8);
	assert_true(json_is_false(GET(r, "failure.resolved")));
	assert_null(GET(r, "failure.report"));
	assert_null(GET(r, "failure.resolved_by"));
	json_decref(r);
}

static void test_explain_pass_and_lookups(void **state)
{
	json_t *r = ok("explain_event", "{\"id\":\"P1\"}");
	assert_int_equal(I(r, "event.seq"), 7);
	assert_null(GET(r, "failure"));
	assert_int_equal(json_array_size(GET(r, "resolved_failures")), 1);
	assert_string_equal(S(r, "resolved_failures[0].failure"), "F1");
	assert_string_equal(S(r, "resolved_failures[0].target"), "all");
	assert_int_equal(I(r, "knowledge[0].id"), 1);
	/* The fix learned from it. */
	assert_int_equal(json_array_size(GET(r, "related")), 1);
	assert_string_equal(S(r, "related[0].id"), "K1");
	json_decref(r);

	/* The latest of a type: in the caller's project, or anywhere. */
	r = ok("explain_event", "{\"type\":\"build.failed\"}");
	assert_int_equal(I(r, "event.seq"), 3);
	json_decref(r);
	r = ok("explain_event", "{\"type\":\"build.failed\",\"project\":\"all\"}");
	assert_int_equal(I(r, "event.seq"), 11);
	json_decref(r);
	r = ok("explain_event", "{\"type\":\"*.failed\"}");
	assert_int_equal(I(r, "event.seq"), 8);
	json_decref(r);
	r = ok("explain_event", "{\"type\":\"build.failed\",\"project\":\"" Q "\"}");
	assert_string_equal(S(r, "event.id"), "F3");
	json_decref(r);
	/* A report: the failure it explains is related. */
	r = ok("explain_event", "{\"id\":\"R1\"}");
	assert_string_equal(S(r, "related[0].id"), "F1");
	json_decref(r);
}

static void test_explain_errors(void **state)
{
	const char *m = fails("explain_event", "{\"seq\":999}", CAIRN_E_NOTFOUND, "seq");
	assert_non_null(strstr(m, "no event with seq 999"));
	assert_non_null(strstr(m, "recent_activity"));
	m = fails("explain_event", "{\"id\":\"nope\"}", CAIRN_E_NOTFOUND, "id");
	assert_non_null(strstr(m, "recent_activity"));
	fails("explain_event", "{\"type\":\"ci.>\"}", CAIRN_E_NOTFOUND, "type");
	/* Exactly one of id, seq, type. */
	m = fails("explain_event", "{\"id\":\"F1\",\"seq\":3}", CAIRN_E_INVALID, "seq");
	assert_non_null(strstr(m, "'id' and 'seq'"));
	fails("explain_event", "{\"seq\":3,\"type\":\"build.failed\"}", CAIRN_E_INVALID, "type");
	m = fails("explain_event", NULL, CAIRN_E_INVALID, "id");
	assert_non_null(strstr(m, "recent_activity"));
	fails("explain_event", "{\"seq\":3,\"project\":\"all\"}", CAIRN_E_INVALID, "project");
	fails("explain_event", "{\"type\":\"Build\"}", CAIRN_E_INVALID, "type");
	fails("explain_event", "{\"seq\":0}", CAIRN_E_INVALID, "seq");
	fails("explain_event", "{\"id\":\"\"}", CAIRN_E_INVALID, "id");
	fails("explain_event", "{\"event\":3}", CAIRN_E_INVALID, "event");
}

/* An event of 50 KB of strings and a thousand items: cut to its bounds. */
static void test_explain_bound(void **state)
{
	json_t *r = ok("explain_event", "{\"seq\":12}");
	assert_true(json_is_true(GET(r, "trimmed")));
	assert_string_equal(S(r, "event.id"), "B1");
	assert_true(dumped_size(GET(r, "event.data")) <= 8 * 1024);
	assert_true(longest_string(GET(r, "event")) <= 2048 + 3);
	assert_true(dumped_size(r) <= TOOL_RESULT_MAX);
	json_decref(r);
}

/* A session whose every item is 5 KB long, 20 of each kind. */
static void test_session_bound(void **state)
{
	json_t *r = ok("session_state", "{\"project\":\"" BIG "\",\"limit\":20}");
	assert_int_equal(json_array_size(GET(r, "files")), 20);
	assert_int_equal(json_array_size(GET(r, "commands")), 20);
	assert_true(longest_string(r) <= 200 + 3);
	assert_true(dumped_size(r) <= TOOL_RESULT_MAX);
	json_decref(r);
}

/* ---- the helpers ---- */

static void test_strings(void **state)
{
	json_t *s = tool_strn("abc\xff\xfe", 5, 100);
	assert_string_equal(json_string_value(s), "abc??");
	json_decref(s);
	/* Cut on a character boundary, with an ellipsis. */
	s = tool_str("h\xc3\xa9llo", 2);
	assert_string_equal(json_string_value(s), "h\xe2\x80\xa6");
	json_decref(s);
	s = tool_str("hello", 5);
	assert_string_equal(json_string_value(s), "hello");
	json_decref(s);
	s = tool_str(NULL, 5);
	assert_true(json_is_null(s));
	json_decref(s);
	json_t *v = json_pack("{s:[i,i,i],s:s,s:{s:s}}", "a", 1, 2, 3, "b", "long string", "c", "d",
			      "x");
	assert_true(tool_json_trim(v, 4, 2));
	assert_int_equal(json_array_size(json_object_get(v, "a")), 2);
	assert_string_equal(json_string_value(json_object_get(v, "b")), "long\xe2\x80\xa6");
	assert_null(json_object_get(v, "c")); /* the third member */
	assert_false(tool_json_trim(v, 100, 100));
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_declarations),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_session_latest),
		cmocka_unit_test(test_session_by_id),
		cmocka_unit_test(test_session_errors),
		cmocka_unit_test(test_session_bound),
		cmocka_unit_test(test_recent_filters),
		cmocka_unit_test(test_recent_items),
		cmocka_unit_test(test_recent_many_types),
		cmocka_unit_test(test_recent_errors),
		cmocka_unit_test(test_recent_bound),
		cmocka_unit_test(test_project_state),
		cmocka_unit_test(test_project_errors),
		cmocka_unit_test(test_explain_failure),
		cmocka_unit_test(test_explain_pass_and_lookups),
		cmocka_unit_test(test_explain_errors),
		cmocka_unit_test(test_explain_bound),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
