/* The tool table and what every tool shares: the context, argument
 * validation, result bounds. tools.h is the manual. */
#include "tools/tools.h"

#include "common/clock.h"
#include "common/io.h"
#include "common/timefmt.h"
#include "common/xalloc.h"
#include "daemon/config.h"
#include "kb/kb.h"
#include "store/store.h"
#include "tools/schema.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One declaration per tool, in its own file. */
extern const struct tool tool_get_brief, tool_session_state, tool_last_failure,
	tool_search_knowledge, tool_recent_activity, tool_predict_next, tool_project_state,
	tool_explain_event, tool_record_knowledge;

/* The order of tools/list: the session's start first, the one that acts
 * last. */
static const struct tool *const tools[] = {
	&tool_get_brief,        &tool_session_state,   &tool_last_failure,
	&tool_search_knowledge, &tool_recent_activity, &tool_predict_next,
	&tool_project_state,    &tool_explain_event,   &tool_record_knowledge,
};
#define N_TOOLS (sizeof tools / sizeof tools[0])

static json_t *in_schemas[N_TOOLS], *out_schemas[N_TOOLS];
static char names[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void free_schemas(void)
{
	for (size_t i = 0; i < N_TOOLS; i++) {
		json_decref(in_schemas[i]);
		json_decref(out_schemas[i]);
	}
}

static void parse_schemas(void)
{
	size_t l = 0;
	for (size_t i = 0; i < N_TOOLS; i++) {
		in_schemas[i] = json_loads(tools[i]->input_schema, 0, NULL);
		out_schemas[i] = json_loads(tools[i]->output_schema, 0, NULL);
		l += (size_t)snprintf(names + l, sizeof names - l, "%s%s", i ? ", " : "",
				      tools[i]->name);
	}
	atexit(free_schemas);
}

const struct tool *const *tools_all(size_t *n)
{
	*n = N_TOOLS;
	return tools;
}

const struct tool *tool_find(const char *name)
{
	for (size_t i = 0; name && i < N_TOOLS; i++)
		if (strcmp(tools[i]->name, name) == 0)
			return tools[i];
	return NULL;
}

static size_t index_of(const struct tool *t)
{
	for (size_t i = 0; i < N_TOOLS; i++)
		if (tools[i] == t)
			return i;
	return N_TOOLS;
}

const char *tools_names(void)
{
	pthread_once(&once, parse_schemas);
	return names;
}

const json_t *tool_input_schema(const struct tool *t)
{
	pthread_once(&once, parse_schemas);
	size_t i = index_of(t);
	return i < N_TOOLS ? in_schemas[i] : NULL;
}

const json_t *tool_output_schema(const struct tool *t)
{
	pthread_once(&once, parse_schemas);
	size_t i = index_of(t);
	return i < N_TOOLS ? out_schemas[i] : NULL;
}

int tool_call(struct tool_ctx *c, const struct tool *t, const json_t *args, json_t **result,
	      struct cairn_err *err)
{
	*result = NULL;
	cairn_err_clear(err);
	json_t *empty = NULL;
	if (!args)
		args = empty = json_object();
	const json_t *schema = tool_input_schema(t);
	int r = schema ? schema_validate(schema, args, err)
		       : cairn_err_set(err, CAIRN_E_INVALID, "", "tool %s has no schema", t->name);
	if (r) {
		/* Say which tool, keep the argument's name first. */
		char msg[sizeof err->msg], field[sizeof err->field];
		memcpy(msg, err->msg, sizeof msg);
		memcpy(field, err->field, sizeof field);
		cairn_err_set(err, r, field, "%s: %.400s", t->name, msg);
		json_decref(empty);
		return r;
	}
	r = t->run(c, args, result, err);
	json_decref(empty);
	if (r) {
		json_decref(*result);
		*result = NULL;
		if (!err->code)
			cairn_err_set(err, r, "", "%s failed: %s", t->name, err_str(r));
		return r;
	}
	char *text = json_dumps(*result, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0;
	free(text);
	if (len > TOOL_RESULT_MAX) {
		json_decref(*result);
		*result = NULL;
		return cairn_err_set(err, CAIRN_E_TOOBIG, "",
				     "%s: the result is %zu bytes, over the %d allowed; ask for "
				     "fewer items (a smaller limit)",
				     t->name, len, TOOL_RESULT_MAX);
	}
	return 0;
}

/* ---- the context ---- */

struct sqlite3 *tool_ctx_db(struct tool_ctx *c, struct cairn_err *err)
{
	if (c->db)
		return c->db;
	const char *path = c->db_path ? c->db_path : c->cfg->db_path;
	if (access(path, R_OK) != 0) {
		/* No log yet: an empty one in memory, so a new user gets
		 * empty answers rather than errors. */
		if (store_db_open(":memory:", false, &c->db, err))
			return NULL;
		return c->db;
	}
	if (store_db_open(path, true, &c->db, err))
		return NULL;
	return c->db;
}

struct kb *tool_ctx_kb(struct tool_ctx *c, struct cairn_err *err)
{
	if (c->kb)
		return c->kb;
	const char *path = c->db_path ? c->db_path : c->cfg->db_path;
	/* No daemon ever ran: the data directory may not exist yet. */
	if (!c->db_path)
		io_mkdirs(c->cfg->data_dir, 0700);
	int64_t forget = c->cfg ? (int64_t)c->cfg->kb_forget_days * 86400000 : 0;
	if (kb_open(path, false, forget, &c->kb, err))
		return NULL;
	return c->kb;
}

struct kb *tool_ctx_kb_ro(struct tool_ctx *c, struct cairn_err *err)
{
	if (c->kb_ro)
		return c->kb_ro;
	struct sqlite3 *db = tool_ctx_db(c, err);
	if (!db || kb_open_db(db, 0, &c->kb_ro, err))
		return NULL;
	return c->kb_ro;
}

void tool_ctx_release(struct tool_ctx *c)
{
	if (c->kb_ro)
		kb_close(c->kb_ro);
	if (c->kb)
		kb_close(c->kb);
	if (c->db)
		sqlite3_close(c->db);
	free(c->project_buf);
	json_decref(c->breakers);
	c->breakers = NULL;
	c->kb = NULL;
	c->kb_ro = NULL;
	c->db = NULL;
	c->project_buf = NULL;
}

/* ---- argument helpers ---- */

const char *tool_arg_str(const json_t *args, const char *key, const char *def)
{
	const json_t *v = json_object_get(args, key);
	return json_is_string(v) ? json_string_value(v) : def;
}

int64_t tool_arg_int(const json_t *args, const char *key, int64_t def)
{
	const json_t *v = json_object_get(args, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return def;
}

const char *tool_project(struct tool_ctx *c, const json_t *args)
{
	const char *p = tool_arg_str(args, "project", NULL);
	if (!p || !*p)
		return c->project;
	free(c->project_buf);
	char *real = realpath(p, NULL);
	c->project_buf = real ? real : xstrdup(p);
	size_t l = strlen(c->project_buf);
	if (l > 1 && c->project_buf[l - 1] == '/')
		c->project_buf[l - 1] = '\0';
	return c->project_buf;
}

int64_t tool_session_gap_ms(const struct tool_ctx *c)
{
	return c->cfg ? c->cfg->session_gap_ms : 30 * 60 * 1000;
}

int tool_arg_since(struct tool_ctx *c, const json_t *args, int64_t *ms, struct cairn_err *err)
{
	*ms = 0;
	const json_t *v = json_object_get(args, "since");
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*ms = json_integer_value(v);
		return 0;
	}
	const char *s = json_string_value(v);
	int64_t d;
	if (s && timefmt_parse_duration(s, &d) == 0) {
		*ms = c->now_ms - d;
		return 0;
	}
	if (s && timefmt_parse_rfc3339(s, ms) == 0)
		return 0;
	return cairn_err_set(err, CAIRN_E_INVALID, "since",
			     "argument 'since' must be a duration ago (30m, 2h, 7d) or an RFC 3339 "
			     "time (2026-12-03T09:00:00Z), not '%.60s'",
			     s ? s : "?");
}
