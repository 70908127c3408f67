/* search_knowledge: the knowledge base's full-text search (docs/kb.md). */
#include "kb/kb.h"
#include "tools/tools.h"

#include <string.h>

#define SNIPPET_MAX 300

static json_t *entry_json(const struct kb_result *r)
{
	const struct kb_entry *e = &r->e;
	json_t *files = json_array();
	for (const char *p = e->files; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		json_array_append_new(files, json_stringn(p, n));
		p = nl ? nl + 1 : p + n;
	}
	size_t sl = strlen(r->snippet);
	json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s%,s:o,s:f,s:I}", "id", (json_int_t)e->id, "uid",
			      e->uid, "kind", e->kind, "title", e->title, "snippet", r->snippet,
			      sl > SNIPPET_MAX ? (size_t)SNIPPET_MAX : sl, "files", files,
			      "confidence", e->confidence, "uses", (json_int_t)e->uses);
	if (e->project)
		json_object_set_new(o, "project", json_string(e->project));
	if (e->superseded_by)
		json_object_set_new(o, "superseded_by", json_integer(e->superseded_by));
	json_object_set_new(o, "updated_ms", json_integer(e->updated_ms));
	return o;
}

static int run(struct tool_ctx *c, const json_t *args, json_t **result, struct cairn_err *err)
{
	struct kb *kb = tool_ctx_kb_ro(c, err);
	if (!kb)
		return err->code;
	struct kb_query q;
	kb_query_init(&q);
	q.text = tool_arg_str(args, "query", NULL);
	const char *kind = tool_arg_str(args, "kind", NULL);
	if (kind)
		q.kinds = kb_kind_bit(kind);
	const char *project = tool_project(c, args);
	if (project) {
		q.scope = KB_SCOPE_PROJECT;
		q.project = project;
	}
	q.limit = (size_t)tool_arg_int(args, "limit", 5);
	q.now_ms = c->now_ms;
	q.mark_open = "";
	q.mark_close = "";
	struct kb_results res;
	if (kb_search(kb, &q, &res))
		return cairn_err_set(err, CAIRN_E_STORE, "", "search_knowledge: %s", kb_errmsg(kb));
	json_t *arr = json_array();
	for (size_t i = 0; i < res.n; i++)
		json_array_append_new(arr, entry_json(&res.v[i]));
	kb_results_release(&res);
	*result = json_pack("{s:o}", "entries", arr);
	return 0;
}

const struct tool tool_search_knowledge = {
	.name = "search_knowledge",
	.title = "Search the knowledge base",
	.description =
		"Full-text search of the project's knowledge base: decisions (what was chosen "
		"and why), mistakes (what went wrong), patterns, notes and fixes (how an error "
		"was fixed before, many learned automatically from a failure followed by a "
		"pass). Use it for 'how did we fix X', 'what did we decide about Y', 'what do "
		"we know about Z'. Give the words to look for in query and narrow with kind. "
		"Returns the best entries first, each with id, kind, title, a snippet of its "
		"body and the files it concerns; an entry with superseded_by was replaced by "
		"that entry.",
	.input_schema =
		"{\"type\":\"object\",\"properties\":{"
		"\"query\":{\"type\":\"string\",\"maxLength\":500,\"description\":\"Words to "
		"look for (an error message, a file, a topic); empty lists the newest "
		"entries.\"},"
		"\"kind\":{\"type\":\"string\",\"enum\":[\"decision\",\"mistake\",\"pattern\","
		"\"fix\",\"note\"],\"description\":\"Only entries of this kind.\"},"
		"\"project\":{\"type\":\"string\",\"maxLength\":4096,\"description\":\"Absolute "
		"path of the project; default: the caller's.\"},"
		"\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"default\":5}},"
		"\"additionalProperties\":false}",
	.output_schema =
		"{\"type\":\"object\",\"required\":[\"entries\"],\"properties\":{\"entries\":{"
		"\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"object\",\"required\":["
		"\"id\",\"kind\",\"title\",\"snippet\"],\"properties\":{"
		"\"id\":{\"type\":\"integer\"},\"uid\":{\"type\":\"string\"},"
		"\"kind\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},"
		"\"snippet\":{\"type\":\"string\"},\"files\":{\"type\":\"array\",\"items\":{"
		"\"type\":\"string\"}},\"confidence\":{\"type\":\"number\"},"
		"\"uses\":{\"type\":\"integer\"},\"project\":{\"type\":\"string\"},"
		"\"superseded_by\":{\"type\":\"integer\"},\"updated_ms\":{\"type\":\"integer\"}}}}}"
		"}",
	.read_only = true,
	.idempotent = true,
	.run = run,
};
