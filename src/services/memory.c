/* A project's memory as one file (see memory.h). */
#include "services/memory.h"

#include "common/clock.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "kb/kb.h"
#include "services/session.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MEMORY_VERSION 1
#define ITEMS_MAX 100000 /* items of one session in a file */
#define TEXT_MAX 4096    /* a session's note, an item's key, state or text */

/* The prediction models' tables: what is exported, and how a row merges
 * with one already there (counts: the larger; times: the later). Adding a
 * model is a row here. */
struct model_table {
	const char *name;
	const char *keys[4];   /* text columns, project first; NULL-terminated */
	const char *counts[4]; /* integer columns merged by max */
	const char *times[4];  /* integer columns (ms) merged by max */
			       /* (the edit burst in progress, predict_bursts, is
				* not memory: it is left out) */
	const char *reals[2];  /* real columns, merged by max (global: not merged) */
	/* The user's, not a project's (no project column): exported with every
	 * project, and imported only into an empty model, since two models of
	 * decayed weights do not merge row by row (src/services/cmdpredict.h). */
	bool global;
};

static const struct model_table models[] = {
	/* The file model (src/services/predict.h): counts per project; `no`
	 * and `a_at` count the project's commits (predict_projects.commits). */
	{"predict_projects",
	 {"project", NULL},
	 {"commits", NULL},
	 {"t0_ms", "last_ms"},
	 {NULL},
	 false},
	{"file_changes",
	 {"project", "path", NULL},
	 {"n", "e", "no", NULL},
	 {"last_ms", NULL},
	 {"w", NULL},
	 false},
	{"cochange",
	 {"project", "a", "b", NULL},
	 {"n", "e", "a_at", NULL},
	 {"last_ms", NULL},
	 {"ws", NULL},
	 false},
	{"cmd_ctx", {"ctx", NULL}, {"n", "d", NULL}, {NULL}, {NULL}, true},
	{"cmd_next",
	 {"ctx", "next", NULL},
	 {"at", "n", NULL},
	 {"last_ms", NULL},
	 {"w", NULL},
	 true},
};
#define N_MODELS (sizeof models / sizeof models[0])

static const char *const item_kinds[] = {SESSION_FILE,   SESSION_BRANCH, SESSION_TARGET,
					 SESSION_COMMIT, SESSION_KB,     SESSION_COMMAND};

static int fail(struct cairn_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		err->code = code;
		err->field[0] = '\0';
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int store_fail(struct sqlite3 *db, struct cairn_err *err)
{
	return fail(err, CAIRN_E_STORE, "cannot read or write the memory: %s", sqlite3_errmsg(db));
}

/* ---- export ---- */

static int put(FILE *out, json_t *o)
{
	int r = json_dumpf(o, out, JSON_COMPACT) == 0 && fputc('\n', out) != EOF ? 0 : -EIO;
	json_decref(o);
	return r;
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL: return json_null();
	case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_FLOAT: return json_real(sqlite3_column_double(st, i));
	default: return json_string((const char *)sqlite3_column_text(st, i));
	}
}

static int export_knowledge(struct kb *kb, const char *project, FILE *out, struct memory_stats *st,
			    struct cairn_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem)
		return fail(err, -errno, "cannot export the knowledge: %s", strerror(errno));
	struct kb_query q;
	kb_query_init(&q);
	q.include_forgotten = q.include_rejected = true;
	if (project) {
		q.scope = KB_SCOPE_PROJECT;
		q.project = project;
	}
	size_t n = 0;
	int r = kb_export(kb, mem, &q, &n);
	fclose(mem);
	if (r) {
		free(buf);
		return fail(err, r, "cannot export the knowledge: %s", err_str(r));
	}
	for (char *line = buf; line && *line && !r;) {
		char *nl = strchr(line, '\n');
		json_t *e = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
		if (e) {
			r = put(out, json_pack("{s:s,s:o}", "record", "knowledge", "entry", e));
			st->knowledge++;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(buf);
	return r ? fail(err, r, "cannot write the export: %s", strerror(-r)) : 0;
}

static int export_sessions(struct sqlite3 *db, const char *project, FILE *out,
			   struct memory_stats *st, struct cairn_err *err)
{
	sqlite3_stmt *s, *it;
	if (sqlite3_prepare_v2(db,
			       "SELECT id, project, agent, agent_session, note, end_note, ended_by,"
			       " start_ms, last_ms, end_ms, events FROM sessions"
			       " WHERE ?1 IS NULL OR project = ?1 ORDER BY id",
			       -1, &s, NULL) != SQLITE_OK)
		return store_fail(db, err);
	if (sqlite3_prepare_v2(db,
			       "SELECT kind, key, n, first_ms, last_ms, state, text FROM"
			       " session_items WHERE session = ?1 ORDER BY kind, key",
			       -1, &it, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return store_fail(db, err);
	}
	if (project)
		sqlite3_bind_text(s, 1, project, -1, SQLITE_STATIC);
	static const char *const scols[] = {"project",  "agent",    "agent_session", "note",
					    "end_note", "ended_by", "start_ms",      "last_ms",
					    "end_ms",   "events"};
	static const char *const icols[] = {"kind",    "key",   "n",   "first_ms",
					    "last_ms", "state", "text"};
	int rc, r = 0;
	while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *so = json_object();
		for (int i = 0; i < 10; i++)
			json_object_set_new(so, scols[i], col_json(s, i + 1));
		json_t *items = json_array();
		sqlite3_bind_int64(it, 1, sqlite3_column_int64(s, 0));
		while (sqlite3_step(it) == SQLITE_ROW) {
			json_t *io = json_object();
			for (int i = 0; i < 7; i++)
				json_object_set_new(io, icols[i], col_json(it, i));
			json_array_append_new(items, io);
			st->items++;
		}
		sqlite3_reset(it);
		r = put(out, json_pack("{s:s,s:o,s:o}", "record", "session", "session", so, "items",
				       items));
		st->sessions++;
	}
	sqlite3_finalize(s);
	sqlite3_finalize(it);
	if (r)
		return fail(err, r, "cannot write the export: %s", strerror(-r));
	return rc == SQLITE_DONE ? 0 : store_fail(db, err);
}

static size_t cols_of(const struct model_table *m, const char **cols)
{
	size_t n = 0;
	for (size_t i = 0; m->keys[i]; i++)
		cols[n++] = m->keys[i];
	for (size_t i = 0; m->counts[i]; i++)
		cols[n++] = m->counts[i];
	for (size_t i = 0; m->times[i]; i++)
		cols[n++] = m->times[i];
	for (size_t i = 0; m->reals[i]; i++)
		cols[n++] = m->reals[i];
	return n;
}

static int export_models(struct sqlite3 *db, const char *project, FILE *out,
			 struct memory_stats *st, struct cairn_err *err)
{
	for (size_t m = 0; m < N_MODELS; m++) {
		const char *cols[12];
		size_t nc = cols_of(&models[m], cols);
		char sql[512];
		size_t l = (size_t)snprintf(sql, sizeof sql, "SELECT ");
		for (size_t i = 0; i < nc; i++)
			l += (size_t)snprintf(sql + l, sizeof sql - l, "%s%s", i ? ", " : "",
					      cols[i]);
		snprintf(sql + l, sizeof sql - l, " FROM %s%s", models[m].name,
			 models[m].global ? "" : " WHERE ?1 IS NULL OR project = ?1");
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
			return store_fail(db, err);
		if (project && !models[m].global)
			sqlite3_bind_text(q, 1, project, -1, SQLITE_STATIC);
		int rc, r = 0;
		while (!r && (rc = sqlite3_step(q)) == SQLITE_ROW) {
			json_t *row = json_object();
			for (size_t i = 0; i < nc; i++)
				json_object_set_new(row, cols[i], col_json(q, (int)i));
			r = put(out, json_pack("{s:s,s:s,s:o}", "record", "model", "table",
					       models[m].name, "row", row));
			st->rows++;
		}
		sqlite3_finalize(q);
		if (r)
			return fail(err, r, "cannot write the export: %s", strerror(-r));
		if (rc != SQLITE_DONE)
			return store_fail(db, err);
	}
	return 0;
}

int memory_export(struct sqlite3 *db, struct kb *kb, const char *project, FILE *out,
		  struct memory_stats *st, struct cairn_err *err)
{
	memset(st, 0, sizeof *st);
	char now[TIMEFMT_RFC3339_LEN + 1];
	timefmt_rfc3339(now, clock_wall_ms());
	int r = put(out, json_pack("{s:s,s:s,s:i,s:s,s:o}", "record", "header", "format",
				   "cairn-memory", "version", MEMORY_VERSION, "created", now,
				   "project", project ? json_string(project) : json_null()));
	if (r)
		return fail(err, r, "cannot write the export: %s", strerror(-r));
	if ((r = export_knowledge(kb, project, out, st, err)) ||
	    (r = export_sessions(db, project, out, st, err)) ||
	    (r = export_models(db, project, out, st, err)))
		return r;
	return fflush(out) == 0 ? 0
				: fail(err, -errno, "cannot write the export: %s", strerror(errno));
}

/* ---- checking a line ---- */

/* value is a string of at most max bytes, or (nullable) null. */
static bool is_text(const json_t *v, size_t max, bool nullable)
{
	return (nullable && json_is_null(v)) || (json_is_string(v) && json_string_length(v) <= max);
}

static bool is_ms(const json_t *v, bool nullable)
{
	return (nullable && json_is_null(v)) || (json_is_integer(v) && json_integer_value(v) >= 0 &&
						 json_integer_value(v) < (json_int_t)1 << 52);
}

/* Every key of o is one of names. */
static const char *unknown_key(const json_t *o, const char *const *names, size_t n)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)o, k, v) {
		bool ok = false;
		for (size_t i = 0; i < n && !ok; i++)
			ok = strcmp(k, names[i]) == 0;
		if (!ok)
			return k;
	}
	return NULL;
}

static int check_session(const json_t *rec, struct cairn_err *err)
{
	static const char *const top[] = {"record", "session", "items"};
	static const char *const sk[] = {"project",  "agent",    "agent_session", "note",
					 "end_note", "ended_by", "start_ms",      "last_ms",
					 "end_ms",   "events"};
	static const char *const ik[] = {"kind",    "key",   "n",   "first_ms",
					 "last_ms", "state", "text"};
	const char *k;
	if ((k = unknown_key(rec, top, 3)))
		return fail(err, CAIRN_E_PARSE, "unknown field '%s'", k);
	const json_t *s = json_object_get(rec, "session");
	const json_t *items = json_object_get(rec, "items");
	if (!json_is_object(s) || !json_is_array(items))
		return fail(err, CAIRN_E_PARSE, "a session record needs 'session' and 'items'");
	if ((k = unknown_key(s, sk, 10)))
		return fail(err, CAIRN_E_PARSE, "unknown session field '%s'", k);
	const json_t *p = json_object_get(s, "project");
	if (!json_is_string(p) || json_string_value(p)[0] != '/' ||
	    json_string_length(p) > TEXT_MAX)
		return fail(err, CAIRN_E_PARSE, "session 'project' must be an absolute path");
	for (int i = 1; i < 6; i++)
		if (!is_text(json_object_get(s, sk[i]), TEXT_MAX, true))
			return fail(err, CAIRN_E_PARSE, "session '%s' must be text or null", sk[i]);
	if (!is_ms(json_object_get(s, "start_ms"), false) ||
	    !is_ms(json_object_get(s, "last_ms"), false) ||
	    !is_ms(json_object_get(s, "end_ms"), true) ||
	    !is_ms(json_object_get(s, "events"), false))
		return fail(err, CAIRN_E_PARSE,
			    "session 'start_ms', 'last_ms', 'events' must be counts, 'end_ms' a "
			    "count or null");
	if (json_array_size(items) > ITEMS_MAX)
		return fail(err, CAIRN_E_PARSE, "more than %d items", ITEMS_MAX);
	size_t i;
	const json_t *it;
	json_array_foreach(items, i, it) {
		if (!json_is_object(it))
			return fail(err, CAIRN_E_PARSE, "item %zu is not an object", i);
		if ((k = unknown_key(it, ik, 7)))
			return fail(err, CAIRN_E_PARSE, "item %zu: unknown field '%s'", i, k);
		const char *kind = json_string_value(json_object_get(it, "kind"));
		bool known = false;
		for (size_t j = 0; kind && j < sizeof item_kinds / sizeof item_kinds[0]; j++)
			known |= strcmp(kind, item_kinds[j]) == 0;
		if (!known)
			return fail(err, CAIRN_E_PARSE, "item %zu: unknown 'kind'", i);
		const json_t *key = json_object_get(it, "key");
		if (!is_text(key, TEXT_MAX, false) || json_string_length(key) == 0 ||
		    !is_text(json_object_get(it, "state"), TEXT_MAX, true) ||
		    !is_text(json_object_get(it, "text"), TEXT_MAX, true) ||
		    !is_ms(json_object_get(it, "n"), false) ||
		    !is_ms(json_object_get(it, "first_ms"), false) ||
		    !is_ms(json_object_get(it, "last_ms"), false))
			return fail(err, CAIRN_E_PARSE, "item %zu: a field has the wrong type", i);
	}
	return 0;
}

static const struct model_table *model_named(const char *name)
{
	for (size_t m = 0; name && m < N_MODELS; m++)
		if (strcmp(models[m].name, name) == 0)
			return &models[m];
	return NULL;
}

static int check_model(const json_t *rec, struct cairn_err *err)
{
	static const char *const top[] = {"record", "table", "row"};
	const char *k;
	if ((k = unknown_key(rec, top, 3)))
		return fail(err, CAIRN_E_PARSE, "unknown field '%s'", k);
	const struct model_table *m = model_named(json_string_value(json_object_get(rec, "table")));
	const json_t *row = json_object_get(rec, "row");
	if (!m)
		return fail(err, CAIRN_E_PARSE, "unknown model table");
	if (!json_is_object(row))
		return fail(err, CAIRN_E_PARSE, "'row' must be an object");
	const char *cols[12];
	size_t nc = cols_of(m, cols);
	if ((k = unknown_key(row, cols, nc)))
		return fail(err, CAIRN_E_PARSE, "%s: unknown column '%s'", m->name, k);
	size_t nk = 0, nr = 0;
	while (m->keys[nk])
		nk++;
	while (m->reals[nr])
		nr++;
	for (size_t i = 0; i < nc; i++) {
		const json_t *v = json_object_get(row, cols[i]);
		bool key = i < nk;
		if (i >= nc - nr) {
			if (!json_is_number(v) || json_number_value(v) < 0 ||
			    json_number_value(v) > 1e15)
				return fail(err, CAIRN_E_PARSE, "%s: column '%s' must be a number",
					    m->name, cols[i]);
			continue;
		}
		if (key ? !is_text(v, TEXT_MAX, false) || json_string_length(v) == 0
			: !is_ms(v, false))
			return fail(err, CAIRN_E_PARSE,
				    "%s: column '%s' is missing or has the wrong "
				    "type",
				    m->name, cols[i]);
	}
	if (!m->global && json_string_value(json_object_get(row, "project"))[0] != '/')
		return fail(err, CAIRN_E_PARSE, "%s: 'project' must be an absolute path", m->name);
	return 0;
}

static int check_record(const json_t *rec, const char **kind, struct cairn_err *err)
{
	if (!json_is_object(rec))
		return fail(err, CAIRN_E_PARSE, "a line must be a JSON object");
	*kind = json_string_value(json_object_get(rec, "record"));
	if (!*kind)
		return fail(err, CAIRN_E_PARSE, "field 'record' is missing");
	if (strcmp(*kind, "header") == 0) {
		static const char *const hk[] = {"record", "format", "version", "created",
						 "project"};
		const char *k = unknown_key(rec, hk, 5);
		if (k)
			return fail(err, CAIRN_E_PARSE, "unknown field '%s'", k);
		const char *f = json_string_value(json_object_get(rec, "format"));
		if (!f || strcmp(f, "cairn-memory") != 0)
			return fail(err, CAIRN_E_PARSE, "not a cairn memory file ('format')");
		if (json_integer_value(json_object_get(rec, "version")) != MEMORY_VERSION)
			return fail(err, CAIRN_E_PARSE,
				    "version %lld of the format is not known to this cairn "
				    "(it reads version %d)",
				    (long long)json_integer_value(json_object_get(rec, "version")),
				    MEMORY_VERSION);
		const json_t *p = json_object_get(rec, "project");
		if (!json_is_null(p) && !(json_is_string(p) && json_string_value(p)[0] == '/'))
			return fail(err, CAIRN_E_PARSE,
				    "header 'project' must be an absolute path or null");
		return 0;
	}
	if (strcmp(*kind, "knowledge") == 0) {
		static const char *const kk[] = {"record", "entry"};
		const char *k = unknown_key(rec, kk, 2);
		if (k)
			return fail(err, CAIRN_E_PARSE, "unknown field '%s'", k);
		/* The entry itself is checked by kb_import(). */
		return json_is_object(json_object_get(rec, "entry"))
			       ? 0
			       : fail(err, CAIRN_E_PARSE, "'entry' must be an object");
	}
	if (strcmp(*kind, "session") == 0)
		return check_session(rec, err);
	if (strcmp(*kind, "model") == 0)
		return check_model(rec, err);
	return fail(err, CAIRN_E_PARSE, "unknown record '%.40s'", *kind);
}

int memory_check_line(const char *line, size_t len, struct cairn_err *err)
{
	if (len > MEMORY_LINE_MAX)
		return fail(err, CAIRN_E_PARSE, "the line is over %u bytes", MEMORY_LINE_MAX);
	json_error_t je;
	json_t *rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!rec)
		return fail(err, CAIRN_E_PARSE, "not JSON: %s", je.text);
	const char *kind;
	int r = check_record(rec, &kind, err);
	json_decref(rec);
	return r;
}

/* ---- import ---- */

struct importer {
	struct sqlite3 *db;
	const char *as_project;
	struct memory_stats *st;
	sqlite3_stmt *find, *ins, *item;
	FILE *kb_lines;    /* knowledge entries, handed to kb_import() at the end */
	bool global_empty; /* the user's models are empty here: they are imported */
};

/* The project a record is imported under. */
static const char *project_for(struct importer *im, const char *p)
{
	return im->as_project ? im->as_project : p;
}

static const char *opt_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static int import_session(struct importer *im, const json_t *rec)
{
	const json_t *s = json_object_get(rec, "session");
	const char *project = project_for(im, opt_str(s, "project"));
	int64_t start = json_integer_value(json_object_get(s, "start_ms"));
	int64_t last = json_integer_value(json_object_get(s, "last_ms"));
	const char *asid = opt_str(s, "agent_session");
	sqlite3_bind_text(im->find, 1, project, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(im->find, 2, start);
	sqlite3_bind_text(im->find, 3, asid ? asid : "", -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(im->find);
	sqlite3_reset(im->find);
	if (rc == SQLITE_ROW) {
		im->st->skipped++;
		return 0;
	}
	if (rc != SQLITE_DONE)
		return CAIRN_E_STORE;
	const json_t *end = json_object_get(s, "end_ms");
	sqlite3_bind_text(im->ins, 1, project, -1, SQLITE_TRANSIENT);
	bind_opt(im->ins, 2, opt_str(s, "agent"));
	bind_opt(im->ins, 3, asid);
	bind_opt(im->ins, 4, opt_str(s, "note"));
	bind_opt(im->ins, 5, opt_str(s, "end_note"));
	/* An imported session is over: the sessions of this log are the
	 * service's to open and end. */
	const char *by = opt_str(s, "ended_by");
	sqlite3_bind_text(im->ins, 6, by ? by : "imported", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(im->ins, 7, start);
	sqlite3_bind_int64(im->ins, 8, last);
	sqlite3_bind_int64(im->ins, 9, json_is_integer(end) ? json_integer_value(end) : last);
	sqlite3_bind_int64(im->ins, 10, json_integer_value(json_object_get(s, "events")));
	rc = sqlite3_step(im->ins);
	sqlite3_reset(im->ins);
	if (rc != SQLITE_DONE)
		return CAIRN_E_STORE;
	int64_t id = sqlite3_last_insert_rowid(im->db);
	size_t i;
	const json_t *it;
	json_array_foreach(json_object_get(rec, "items"), i, it) {
		sqlite3_bind_int64(im->item, 1, id);
		sqlite3_bind_text(im->item, 2, opt_str(it, "kind"), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(im->item, 3, opt_str(it, "key"), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(im->item, 4, json_integer_value(json_object_get(it, "n")));
		sqlite3_bind_int64(im->item, 5,
				   json_integer_value(json_object_get(it, "first_ms")));
		sqlite3_bind_int64(im->item, 6, json_integer_value(json_object_get(it, "last_ms")));
		bind_opt(im->item, 7, opt_str(it, "state"));
		bind_opt(im->item, 8, opt_str(it, "text"));
		rc = sqlite3_step(im->item);
		sqlite3_reset(im->item);
		if (rc != SQLITE_DONE)
			return CAIRN_E_STORE;
		im->st->items++;
	}
	im->st->sessions++;
	return 0;
}

static int import_model(struct importer *im, const json_t *rec)
{
	const struct model_table *m = model_named(opt_str(rec, "table"));
	const json_t *row = json_object_get(rec, "row");
	if (m->global && !im->global_empty) {
		im->st->skipped++;
		return 0;
	}
	const char *cols[12];
	size_t nc = cols_of(m, cols);
	size_t nr = 0;
	while (m->reals[nr])
		nr++;
	char sql[1024];
	size_t l = (size_t)snprintf(sql, sizeof sql, "INSERT INTO %s(", m->name);
	for (size_t i = 0; i < nc; i++)
		l += (size_t)snprintf(sql + l, sizeof sql - l, "%s%s", i ? ", " : "", cols[i]);
	l += (size_t)snprintf(sql + l, sizeof sql - l, ") VALUES (");
	for (size_t i = 0; i < nc; i++)
		l += (size_t)snprintf(sql + l, sizeof sql - l, "%s?%zu", i ? ", " : "", i + 1);
	l += (size_t)snprintf(sql + l, sizeof sql - l, ") ON CONFLICT(");
	size_t nk = 0;
	while (m->keys[nk])
		nk++;
	for (size_t i = 0; i < nk; i++)
		l += (size_t)snprintf(sql + l, sizeof sql - l, "%s%s", i ? ", " : "", m->keys[i]);
	l += (size_t)snprintf(sql + l, sizeof sql - l, ") DO UPDATE SET ");
	for (size_t i = nk; i < nc; i++)
		l += (size_t)snprintf(sql + l, sizeof sql - l, "%s%s = max(%s, excluded.%s)",
				      i > nk ? ", " : "", cols[i], cols[i], cols[i]);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(im->db, sql, -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	for (size_t i = 0; i < nc; i++) {
		const json_t *v = json_object_get(row, cols[i]);
		if (i == 0 && !m->global)
			sqlite3_bind_text(st, 1, project_for(im, json_string_value(v)), -1,
					  SQLITE_TRANSIENT);
		else if (i >= nc - nr)
			sqlite3_bind_double(st, (int)i + 1, json_number_value(v));
		else if (i < nk)
			sqlite3_bind_text(st, (int)i + 1, json_string_value(v), -1,
					  SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, (int)i + 1, json_integer_value(v));
	}
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return CAIRN_E_STORE;
	im->st->rows++;
	return 0;
}

static int import_knowledge(struct importer *im, json_t *rec)
{
	json_t *e = json_object_get(rec, "entry");
	if (im->as_project && json_is_string(json_object_get(e, "project")))
		json_object_set_new(e, "project", json_string(im->as_project));
	if (json_dumpf(e, im->kb_lines, JSON_COMPACT) != 0 || fputc('\n', im->kb_lines) == EOF)
		return -EIO;
	return 0;
}

struct kb_report_ctx {
	memory_report_fn report;
	void *ctx;
	size_t *lines; /* file line of each knowledge line */
	size_t n;
	struct memory_stats *st;
};

static void on_kb_report(void *ctx, size_t line, bool skipped, const char *msg)
{
	struct kb_report_ctx *c = ctx;
	size_t file_line = line >= 1 && line <= c->n ? c->lines[line - 1] : 0;
	if (skipped)
		c->st->bad++;
	if (c->report)
		c->report(c->ctx, file_line, msg);
}

int memory_import(struct sqlite3 *db, struct kb *kb, FILE *in, const char *as_project,
		  struct memory_stats *st, memory_report_fn report, void *ctx,
		  struct cairn_err *err)
{
	memset(st, 0, sizeof *st);
	struct importer im = {.db = db, .as_project = as_project, .st = st};
	char *kbuf = NULL;
	size_t klen = 0;
	im.kb_lines = open_memstream(&kbuf, &klen);
	if (!im.kb_lines)
		return fail(err, -errno, "cannot import: %s", strerror(errno));
	size_t *kb_at = NULL, n_kb = 0, cap_kb = 0;
	int r = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT 1 FROM sessions WHERE project = ?1 AND start_ms = ?2"
			       " AND coalesce(agent_session, '') = ?3",
			       -1, &im.find, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO sessions(project, agent, agent_session, note, end_note,"
			       " ended_by, start_ms, last_ms, end_ms, events, start_seq, last_seq)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, 0)",
			       -1, &im.ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		    db,
		    "INSERT OR IGNORE INTO session_items(session, kind, key, n, first_ms,"
		    " last_ms, state, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		    -1, &im.item, NULL) != SQLITE_OK) {
		r = store_fail(db, err);
		goto out;
	} /* The user's models are imported only into empty ones. */
	im.global_empty = true;
	for (size_t m = 0; m < N_MODELS; m++) {
		if (!models[m].global)
			continue;
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT 1 FROM %s LIMIT 1", models[m].name);
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
			r = store_fail(db, err);
			goto out;
		}
		if (sqlite3_step(q) == SQLITE_ROW)
			im.global_empty = false;
		sqlite3_finalize(q);
	}
	char *line = NULL;
	size_t cap = 0, lineno = 0, in_tx = 0;
	ssize_t len;
	bool header = false;
	while ((len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0)
			continue;
		struct cairn_err le = {0};
		json_t *rec = NULL;
		const char *kind = NULL;
		if ((size_t)len > MEMORY_LINE_MAX) {
			fail(&le, CAIRN_E_PARSE, "the line is over %u bytes", MEMORY_LINE_MAX);
		} else {
			json_error_t je;
			rec = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je);
			if (!rec)
				fail(&le, CAIRN_E_PARSE, "not JSON: %s", je.text);
			else
				check_record(rec, &kind, &le);
		}
		if (!header) {
			if (le.code || strcmp(kind, "header") != 0) {
				json_decref(rec);
				r = fail(err, CAIRN_E_INVALID,
					 "line %zu: not a cairn memory file (%s); make one with "
					 "'cairn export'",
					 lineno, le.code ? le.msg : "no header first");
				break;
			}
			if (as_project && json_is_null(json_object_get(rec, "project"))) {
				json_decref(rec);
				r = fail(
					err, CAIRN_E_INVALID,
					"the file holds every project's memory; --project needs "
					"the export of one project ('cairn export --project DIR')");
				break;
			}
			header = true;
			json_decref(rec);
			continue;
		}
		if (le.code) {
			st->bad++;
			if (report)
				report(ctx, lineno, le.msg);
			json_decref(rec);
			continue;
		}
		if (!in_tx && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			json_decref(rec);
			r = store_fail(db, err);
			break;
		}
		in_tx++;
		int w = 0;
		if (strcmp(kind, "session") == 0) {
			w = import_session(&im, rec);
		} else if (strcmp(kind, "model") == 0) {
			w = import_model(&im, rec);
		} else if (strcmp(kind, "knowledge") == 0) {
			w = import_knowledge(&im, rec);
			if (n_kb == cap_kb) {
				cap_kb = cap_kb ? cap_kb * 2 : 64;
				kb_at = xreallocarray(kb_at, cap_kb, sizeof *kb_at);
			}
			kb_at[n_kb++] = lineno;
		} else { /* a second header */
			st->bad++;
			if (report)
				report(ctx, lineno, "a second header");
		}
		json_decref(rec);
		if (w) {
			r = w == CAIRN_E_STORE ? store_fail(db, err)
					       : fail(err, w, "cannot import: %s", err_str(w));
			break;
		}
		if (in_tx >= 1000) {
			if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
				r = store_fail(db, err);
				break;
			}
			in_tx = 0;
		}
	}
	free(line);
	if (in_tx) {
		if (r)
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		else if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			r = store_fail(db, err);
	}
	if (!r && !header)
		r = fail(
			err, CAIRN_E_INVALID,
			"the file is empty: not a cairn memory file; make one with 'cairn export'");
	fclose(im.kb_lines);
	im.kb_lines = NULL;
	if (!r && n_kb) {
		FILE *kin = fmemopen(kbuf, klen, "r");
		if (!kin) {
			r = fail(err, -errno, "cannot import the knowledge: %s", strerror(errno));
		} else {
			struct kb_import_stats ks;
			struct kb_report_ctx kc = {report, ctx, kb_at, n_kb, st};
			int kr = kb_import(kb, kin, &ks, on_kb_report, &kc);
			fclose(kin);
			st->knowledge = ks.imported + ks.updated;
			st->skipped += ks.unchanged + ks.duplicates;
			if (kr && kr != CAIRN_E_PARSE)
				r = fail(err, kr, "cannot import the knowledge: %s",
					 kb_error(kb)->msg[0] ? kb_error(kb)->msg : err_str(kr));
		}
	}
	if (!r && st->bad)
		r = fail(err, CAIRN_E_PARSE, "%zu line%s could not be imported", st->bad,
			 st->bad == 1 ? "" : "s");
out:
	if (im.kb_lines)
		fclose(im.kb_lines);
	free(kbuf);
	free(kb_at);
	sqlite3_finalize(im.find);
	sqlite3_finalize(im.ins);
	sqlite3_finalize(im.item);
	return r;
}
