/* record_knowledge: adds a decision, mistake, pattern or note to the
 * knowledge base (what `cairn kb add` does), and tells the daemon. */
#include "common/buf.h"
#include "kb/kb.h"
#include "tools/tools.h"

#include <stdlib.h>
#include <string.h>

/* A JSON array of strings joined with sep (a new string). */
static char *joined(const json_t *arr, char sep)
{
	struct buf b = BUF_INIT(KB_BODY_MAX);
	size_t i;
	const json_t *v;
	json_array_foreach(arr, i, v) {
		if (i)
			buf_addch(&b, sep);
		buf_addstr(&b, json_string_value(v));
	}
	return buf_detach(&b, NULL);
}

static int run(struct tool_ctx *c, const json_t *args, json_t **result, struct cairn_err *err)
{
	bool global = json_is_true(json_object_get(args, "global"));
	const char *project = global ? NULL : tool_project(c, args);
	char *tags = joined(json_object_get(args, "tags"), ' ');
	char *files = joined(json_object_get(args, "files"), '\n');
	/* Through the daemon when it runs: one writer for every caller. */
	if (c->record) {
		json_t *entry =
			json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", tool_arg_str(args, "kind", ""),
				  "title", tool_arg_str(args, "title", ""), "body",
				  tool_arg_str(args, "body", ""), "tags", tags, "files", files);
		if (project)
			json_object_set_new(entry, "project", json_string(project));
		int r = c->record(c->pctx, entry, result, err);
		json_decref(entry);
		if (r != CAIRN_E_DOWN) {
			free(tags);
			free(files);
			if (r && strncmp(err->msg, "record_knowledge", 16) != 0) {
				char msg[sizeof err->msg], field[sizeof err->field];
				memcpy(msg, err->msg, sizeof msg);
				memcpy(field, err->field, sizeof field);
				cairn_err_set(err, r, field, "record_knowledge: %.400s", msg);
			}
			return r;
		}
	}
	struct kb *kb = tool_ctx_kb(c, err);
	if (!kb) {
		free(tags);
		free(files);
		return err->code;
	}
	struct kb_entry in = {
		.kind = tool_arg_str(args, "kind", NULL),
		.title = (char *)tool_arg_str(args, "title", ""),
		.body = (char *)tool_arg_str(args, "body", ""),
		.tags = tags,
		.files = files,
		.project = (char *)project,
	};
	int64_t id = 0;
	bool dup = false;
	int r = kb_add(kb, &in, c->now_ms, &id, &dup);
	free(tags);
	free(files);
	if (r) {
		const struct cairn_err *ke = kb_error(kb);
		return cairn_err_set(err, r, ke->field, "record_knowledge: %s", ke->msg);
	}
	struct kb_entry e;
	if ((r = kb_get(kb, id, &e)))
		return cairn_err_set(err, r, "", "record_knowledge: %s", kb_errmsg(kb));
	if (c->publish && !dup)
		c->publish(c->pctx, kb_change_event("added", &e));
	*result = kb_entry_added_json(&e, dup);
	kb_entry_release(&e);
	return 0;
}

const struct tool tool_record_knowledge = {
	.name = "record_knowledge",
	.title = "Record knowledge",
	.description =
		"Adds an entry to the project's knowledge base so that later sessions (yours, a "
		"person's, another agent's) find it: a decision (what was chosen and why), a "
		"mistake (what went wrong, so it is not repeated), a pattern (how things are done "
		"here) or a note. Give a one-line title and, in body, the reasons. Secrets are "
		"redacted. Recording the same entry twice stores it once (duplicate is true).",
	.input_schema =
		"{\"type\":\"object\",\"required\":[\"kind\",\"title\"],\"properties\":{"
		"\"kind\":{\"type\":\"string\",\"enum\":[\"decision\",\"mistake\",\"pattern\","
		"\"note\"]},"
		"\"title\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200,\"description\":"
		"\"One line.\"},"
		"\"body\":{\"type\":\"string\",\"maxLength\":16000,\"description\":\"Why, how, "
		"what to do instead.\"},"
		"\"tags\":{\"type\":\"array\",\"maxItems\":32,\"items\":{\"type\":\"string\","
		"\"minLength\":1,\"maxLength\":64}},"
		"\"files\":{\"type\":\"array\",\"maxItems\":100,\"items\":{\"type\":\"string\","
		"\"minLength\":1,\"maxLength\":1024},\"description\":\"Paths it concerns, "
		"relative to the project.\"},"
		"\"project\":{\"type\":\"string\",\"maxLength\":4096,\"description\":\"Absolute "
		"path of the project; default: the caller's.\"},"
		"\"global\":{\"type\":\"boolean\",\"description\":\"For every project.\"}},"
		"\"additionalProperties\":false}",
	.output_schema =
		"{\"type\":\"object\",\"required\":[\"id\",\"uid\",\"kind\",\"title\","
		"\"duplicate\"],"
		"\"properties\":{\"id\":{\"type\":\"integer\"},\"uid\":{\"type\":\"string\"},"
		"\"kind\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},"
		"\"duplicate\":{\"type\":\"boolean\"},\"project\":{\"type\":\"string\"}}}",
	.read_only = false,
	.destructive = false,
	.idempotent = true,
	.run = run,
};
