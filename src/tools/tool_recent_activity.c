/* recent_activity: the newest events of the log, filtered by type pattern,
 * time and project, each as one line (tools.h tool_event_item()). */
#include "event/pattern.h"
#include "store/queries.h"
#include "tools/tools.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* What the listed events may take of the result: a few events with long
 * paths end the list early (with "more") rather than break TOOL_RESULT_MAX. */
#define BUDGET (48 * 1024)

struct collect {
	json_t *events;
	int64_t limit;
	size_t bytes;
	bool more;
	bool one_project; /* every event is of the project asked for */
};

static int collect(void *arg, const struct store_q_event *ev)
{
	struct collect *k = arg;
	if ((int64_t)json_array_size(k->events) == k->limit) {
		k->more = true;
		return 1;
	}
	json_t *item = tool_event_item(ev);
	if (!item)
		return 0;
	if (k->one_project)
		json_object_del(item, "project");
	char *text = json_dumps(item, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0;
	free(text);
	if (k->bytes + len > BUDGET) {
		json_decref(item);
		k->more = true;
		return 1;
	}
	k->bytes += len;
	json_array_append_new(k->events, item);
	return 0;
}

static int store_err(sqlite3 *db, struct cairn_err *err)
{
	return cairn_err_set(err, CAIRN_E_STORE, "",
			     "recent_activity: cannot read the event log: %s; 'cairn doctor' "
			     "checks the database",
			     sqlite3_errmsg(db));
}

static int run(struct tool_ctx *c, const json_t *args, json_t **result, struct cairn_err *err)
{
	const char *pattern = tool_arg_str(args, "pattern", ">");
	const char *why = NULL;
	if (!pattern_valid(pattern, &why))
		return cairn_err_set(err, CAIRN_E_INVALID, "pattern",
				     "recent_activity: argument 'pattern' is not an event type "
				     "pattern: %s; examples: 'build.>', 'git.commit', '*.failed', "
				     "'>' (everything)",
				     why ? why : "invalid");
	int64_t since_ms;
	if (tool_arg_since(c, args, &since_ms, err))
		return err->code;
	const char *p = tool_arg_str(args, "project", NULL);
	const char *project = p && strcmp(p, "all") == 0 ? NULL : tool_project(c, args);
	sqlite3 *db = tool_ctx_db(c, err);
	if (!db)
		return err->code;
	/* A time becomes a seq (one probe of events_time), so that every
	 * query below is a range of an index ordered by seq. */
	int64_t after = 0;
	if (since_ms > 0 && store_q_seq_before_time(db, since_ms - 1, &after))
		return store_err(db, err);
	struct collect k = {
		.events = json_array(),
		.limit = tool_arg_int(args, "limit", 20),
		.one_project = project != NULL,
	};
	if (store_q_recent_events(db, pattern, project, after, k.limit + 1, collect, &k)) {
		json_decref(k.events);
		return store_err(db, err);
	}
	*result = json_pack("{s:o,s:b,s:o,s:s}", "events", k.events, "more", k.more, "project",
			    tool_str(project, 4096), "pattern", pattern);
	return 0;
}

const struct tool tool_recent_activity = {
	.name = "recent_activity",
	.title = "Recent events of the activity log",
	.description =
		"The newest events cairn logged, newest first: builds and tests run through "
		"cairn (build.*, test.*), commits and checkouts (git.*), file changes (file.*), "
		"shell commands (shell.command), triage reports, knowledge changes (kb.*), "
		"sessions and AI agent sessions. Use it for 'what happened in the last hour', "
		"'what did I run', 'when did the build last fail', or to find an event to pass "
		"to explain_event. Filter by type with pattern ('build.>' every build event, "
		"'git.commit', '*.failed' every failure, '>' everything), by time with since, "
		"and by project (default the caller's; 'all' for every project and the events "
		"outside any, such as shell commands, which carry no project). Each event comes "
		"with seq, id, time, type, source, project (with project 'all') and a one-line "
		"summary of its data; 'more' says that older ones matched too.",
	.input_schema =
		"{\"type\":\"object\",\"properties\":{"
		"\"pattern\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":255,"
		"\"default\":\">\",\"description\":\"Event type pattern: tokens separated by "
		"dots, '*' one token, '>' (last) one or more tokens: 'build.>', 'git.commit', "
		"'*.failed'.\"},"
		"\"since\":{\"type\":[\"string\",\"integer\"],\"maxLength\":64,\"description\":"
		"\"Only events logged since then: a duration ago ('30m', '2h', '7d'), an RFC "
		"3339 time, or Unix time in ms.\"},"
		"\"project\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,"
		"\"description\":\"Absolute path of the project, or 'all' for every project "
		"(and events outside any); default: the caller's project, else all.\"},"
		"\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":50,\"default\":20}},"
		"\"additionalProperties\":false}",
	.output_schema =
		"{\"type\":\"object\",\"required\":[\"events\",\"more\",\"project\",\"pattern\"],"
		"\"properties\":{"
		"\"events\":{\"type\":\"array\",\"maxItems\":50,\"items\":{\"type\":\"object\","
		"\"required\":[\"seq\",\"id\",\"time\",\"type\",\"source\",\"summary\"],"
		"\"properties\":{\"seq\":{\"type\":\"integer\",\"description\":\"position in "
		"the log\"},\"id\":{\"type\":\"string\"},\"time\":{\"type\":\"string\","
		"\"description\":\"RFC 3339\"},\"type\":{\"type\":\"string\"},"
		"\"source\":{\"type\":\"string\"},\"project\":{\"type\":\"string\"},"
		"\"summary\":{\"type\":\"string\",\"maxLength\":201}}}},"
		"\"more\":{\"type\":\"boolean\",\"description\":\"older events matched too\"},"
		"\"project\":{\"type\":[\"string\",\"null\"],\"description\":\"the project "
		"listed; null: every project\"},"
		"\"pattern\":{\"type\":\"string\"}}}",
	.read_only = true,
	.idempotent = true,
	.run = run,
};
