/* Tools: cairn's data as functions a caller can name. The same tools serve
 * `cairn ask` (the deterministic reasoner and a model's tool calls), and any
 * AI agent through MCP (`cairn mcp`).
 *
 * Each tool is declared once, in a file of its own (src/tools/tool_*.c),
 * and listed once in tools[] (src/tools/registry.c): its name, a
 * description written for a model, a JSON Schema for its arguments and one
 * for its result (src/tools/schema.h says which keywords), and what it
 * does to the world:
 *
 *   read_only     it only reads (MCP readOnlyHint)
 *   destructive   it may change or remove what exists (destructiveHint);
 *                 meaningful only when not read_only
 *   idempotent    calling it twice with the same arguments does no more
 *                 than once (idempotentHint)
 *
 * tool_call() validates the arguments against the schema before the tool
 * runs (a mistake is named by its argument), runs it, and bounds the
 * result: a result whose JSON is larger than TOOL_RESULT_MAX is refused
 * rather than cut (each tool bounds its own lists well below that).
 *
 * Threading: a struct tool_ctx belongs to one thread at a time. */
#ifndef CAIRN_TOOLS_H
#define CAIRN_TOOLS_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;
struct config;
struct kb;
struct store_q_event;

/* The largest result a tool may return, as compact JSON. */
#define TOOL_RESULT_MAX (64 * 1024)

/* What a tool runs with. The caller fills cfg, project and now_ms; db, kb
 * are opened on first use by tool_ctx_db() / tool_ctx_kb() and closed by
 * tool_ctx_release(). cfg may be NULL when db_path is set (tests): no tool
 * reads it then but for defaults. */
struct tool_ctx {
	const struct config *cfg;
	/* The project a question is about when its arguments name none:
	 * the work tree of the caller's directory; NULL outside one. */
	const char *project;
	int64_t now_ms;
	/* Whether the daemon answered when the caller started (the brief
	 * says so when it did not). */
	bool daemon_down;
	/* How an acting tool tells the daemon what it did (a kb.* event);
	 * NULL: nothing is published. Returns 0 or a negative code; the
	 * tool's own work stands either way. */
	int (*publish)(void *pctx, json_t *event);
	/* How record_knowledge asks the daemon to add an entry (the `record`
	 * op, so that every writer goes through it): entry holds kind, title,
	 * body, tags (blank-separated), files (newline-separated), project
	 * (borrowed). Returns 0 with *result (the entry: id, uid, kind,
	 * title, duplicate, project?), CAIRN_E_DOWN when no daemon answers
	 * (the tool then writes the database itself and publishes), or another
	 * code with err. NULL: always write directly. */
	int (*record)(void *pctx, const json_t *entry, json_t **result, struct cairn_err *err);
	void *pctx;
	/* Test builds: a database path instead of cfg's. */
	const char *db_path;
	/* The circuit breakers' states, for project_state: an array of
	 * objects, owned (tool_ctx_release() drops it); NULL when the caller
	 * has none. */
	json_t *breakers;
	/* Or, when breakers is NULL, how to get them (a new array, or NULL),
	 * asked only by the tools that show them; pctx is passed. */
	json_t *(*get_breakers)(void *pctx);

	struct sqlite3 *db; /* read-only, opened lazily */
	struct kb *kb;      /* writable, opened lazily */
	struct kb *kb_ro;   /* over db, opened lazily */
	char *project_buf;  /* tool_project()'s last answer */
};

/* The read-only connection to the log (opened on first use). Returns NULL
 * with err filled when the database cannot be opened. */
struct sqlite3 *tool_ctx_db(struct tool_ctx *c, struct cairn_err *err);
/* The writable knowledge base (opened on first use), or NULL with err. */
struct kb *tool_ctx_kb(struct tool_ctx *c, struct cairn_err *err);
/* The knowledge base over the read-only connection (for searches), or NULL
 * with err. */
struct kb *tool_ctx_kb_ro(struct tool_ctx *c, struct cairn_err *err);
void tool_ctx_release(struct tool_ctx *c);

/* A tool's work: args passed validation. Returns 0 with *result (a new
 * object), or a negative code with err filled: CAIRN_E_INVALID or
 * CAIRN_E_NOTFOUND for what the caller can fix (a name that matches
 * nothing), other codes for a failure of cairn (the database). */
typedef int (*tool_fn)(struct tool_ctx *c, const json_t *args, json_t **result,
		       struct cairn_err *err);

struct tool {
	const char *name;
	const char *title;
	const char *description;   /* for a model: what, when, what comes back */
	const char *input_schema;  /* JSON text */
	const char *output_schema; /* JSON text */
	bool read_only, destructive, idempotent;
	tool_fn run;
};

/* Every tool, in a fixed order (the order of tools/list). */
const struct tool *const *tools_all(size_t *n);

/* The tool named name, or NULL. */
const struct tool *tool_find(const char *name);

/* The names of every tool, comma-separated ("a, b, c"), for an error that
 * lists the valid ones. Static storage. */
const char *tools_names(void);

/* The parsed schemas (parsed once, kept for the process; NULL only when the
 * text is not JSON, which tests_tools rules out). */
const json_t *tool_input_schema(const struct tool *t);
const json_t *tool_output_schema(const struct tool *t);

/* Validates args (NULL: {}) against t's schema, runs t, and checks the
 * result's size. Returns 0 with *result, or a negative code with err:
 * CAIRN_E_INVALID (err->field the argument) when the arguments break the
 * schema, CAIRN_E_TOOBIG when the result is over TOOL_RESULT_MAX, or the
 * tool's own error. */
int tool_call(struct tool_ctx *c, const struct tool *t, const json_t *args, json_t **result,
	      struct cairn_err *err);

/* ---- helpers for tool files ---- */

/* args' string member key, or def when absent. */
const char *tool_arg_str(const json_t *args, const char *key, const char *def);
/* args' integer member key, or def when absent. */
int64_t tool_arg_int(const json_t *args, const char *key, int64_t def);
/* The project a call means: args' "project" (an absolute path, made
 * canonical when it exists), else c->project. NULL when neither. The
 * result is owned by c until tool_ctx_release(). */
const char *tool_project(struct tool_ctx *c, const json_t *args);
/* The session gap (cfg's [session] gap; 30 minutes without a cfg). */
int64_t tool_session_gap_ms(const struct tool_ctx *c);
/* Parses args' "since" ("30m", "2h", "7d", an RFC 3339 time, or a Unix
 * time in ms) into ms; 0 when absent. CAIRN_E_INVALID when malformed. */
int tool_arg_since(struct tool_ctx *c, const json_t *args, int64_t *ms, struct cairn_err *err);

/* ---- bounded results (src/tools/results.c) ----
 *
 * What a tool copies into its result from the log, the knowledge base or a
 * repository is as long as what was logged there; these bound it. */

/* The longest one-line summary of an event, in bytes. */
#define TOOL_SUMMARY_MAX 200

/* A new JSON string of s's first len bytes, cut to at most max bytes on a
 * UTF-8 boundary with "…" (3 bytes) appended after a cut; bytes that are
 * not UTF-8 (a path or a commit subject from git) become '?', so the
 * result is never NULL. */
json_t *tool_strn(const char *s, size_t len, size_t max);
/* tool_strn() of a NUL-terminated s; json null when s is NULL. */
json_t *tool_str(const char *s, size_t max);

/* Cuts, in place, every string in v longer than max_str bytes (as
 * tool_strn() does) and every array or object with more than max_items
 * members (the first kept). Returns true when anything was cut. */
bool tool_json_trim(json_t *v, size_t max_str, size_t max_items);

/* One line about an event's data, at most TOOL_SUMMARY_MAX bytes and no
 * control characters: a commit's subject and file count, a run's target,
 * outcome and exit status, a shell command, a file's path, a report's
 * summary; for other types the subject and the first scalar fields. env is
 * the parsed envelope. A new string. */
json_t *tool_event_summary(const json_t *env);

/* The short form of a row of the log that lists of events hold: seq, id,
 * time (RFC 3339), type, source, project (when it has one) and summary.
 * NULL when the envelope does not parse (the log holds valid ones). */
json_t *tool_event_item(const struct store_q_event *ev);

#endif
