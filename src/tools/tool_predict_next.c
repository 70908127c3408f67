/* predict_next: the files and commands likely next (src/services/predict.h,
 * src/services/cmdpredict.h), as `cairn predict` gives them. */
#include "common/xalloc.h"
#include "services/cmdpredict.h"
#include "services/predict.h"
#include "services/session.h"
#include "services/triage_int.h"
#include "tools/tools.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define GIVEN_MAX 10
#define FOCUS_FILES 5

static int files(struct tool_ctx *c, sqlite3 *db, const char *project, const json_t *args,
		 size_t limit, json_t *out, struct cairn_err *err)
{
	const json_t *given = json_object_get(args, "given");
	size_t n = 0;
	char **rel = NULL;
	const char *from = "given";
	if (json_array_size(given)) {
		rel = xcalloc(json_array_size(given), sizeof *rel);
		size_t i;
		const json_t *g;
		json_array_foreach(given, i, g) {
			char *r = triage__rel_path(project, project, json_string_value(g));
			if (!r || r[0] == '/') {
				free(r);
				for (size_t k = 0; k < n; k++)
					free(rel[k]);
				free(rel);
				return cairn_err_set(
					err, CAIRN_E_INVALID, "given",
					"argument 'given[%zu]': '%.200s' is not inside "
					"the project %.200s",
					i, json_string_value(g), project);
			}
			rel[n++] = r;
		}
	} else {
		int64_t sid = 0;
		if (session_focus(db, project, FOCUS_FILES, &rel, &n, &sid, err) < 0)
			return err->code ? err->code : CAIRN_E_STORE;
		from = "the focus of the latest session";
	}
	json_t *g = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(g, json_string(rel[i]));
	json_object_set_new(out, "given", g);
	json_object_set_new(out, "given_from", json_string(n ? from : "nothing"));
	json_t *arr = json_array();
	int r = 0;
	if (n) {
		struct predict_item *v = NULL;
		size_t nv = 0;
		r = predict_files(db, project, (const char *const *)rel, n, limit, &v, &nv, err);
		for (size_t i = 0; r == 0 && i < nv; i++) {
			char why[300];
			predict_item_reason(&v[i], why, sizeof why);
			json_array_append_new(arr, json_pack("{s:s,s:f,s:s}", "path", v[i].path,
							     "score", v[i].score, "reason", why));
		}
		predict_items_free(v, nv);
	}
	for (size_t i = 0; i < n; i++)
		free(rel[i]);
	free(rel);
	json_object_set_new(out, "files", arr);
	(void)c;
	return r;
}

static int commands(sqlite3 *db, const json_t *args, size_t limit, json_t *out,
		    struct cairn_err *err)
{
	const json_t *after = json_object_get(args, "after");
	const char *v_after[GIVEN_MAX];
	size_t n_after = 0;
	size_t i;
	const json_t *a;
	json_array_foreach(after, i, a) {
		if (n_after < GIVEN_MAX)
			v_after[n_after++] = json_string_value(a);
	}
	struct cmdpredict_item *v = NULL;
	size_t nv = 0;
	int r = cmdpredict_query(db, v_after, n_after, limit, &v, &nv, err);
	json_t *arr = json_array();
	for (size_t k = 0; r == 0 && k < nv; k++)
		json_array_append_new(arr, json_pack("{s:s,s:f,s:s}", "command", v[k].command,
						     "score", v[k].score, "reason", v[k].reason));
	cmdpredict_items_free(v, nv);
	json_object_set_new(out, "commands", arr);
	return r;
}

static int run(struct tool_ctx *c, const json_t *args, json_t **result, struct cairn_err *err)
{
	sqlite3 *db = tool_ctx_db(c, err);
	if (!db)
		return err->code;
	const char *what = tool_arg_str(args, "what", "both");
	size_t limit = (size_t)tool_arg_int(args, "limit", 5);
	const char *project = tool_project(c, args);
	json_t *out = json_object();
	int r = 0;
	if (strcmp(what, "commands") != 0) {
		if (!project) {
			if (strcmp(what, "files") == 0) {
				json_decref(out);
				return cairn_err_set(
					err, CAIRN_E_INVALID, "project",
					"predict_next: files are predicted within a "
					"project; give argument 'project' (an absolute "
					"path)");
			}
		} else {
			r = files(c, db, project, args, limit, out, err);
		}
	}
	if (r == 0 && strcmp(what, "files") != 0)
		r = commands(db, args, limit, out, err);
	if (r) {
		json_decref(out);
		return r;
	}
	*result = out;
	return 0;
}

const struct tool tool_predict_next = {
	.name = "predict_next",
	.title = "What is likely next",
	.description =
		"Predicts the files likely to change next (from files that changed together in "
		"this project's commits and edits) and the shell commands likely to be run next "
		"(from this user's command history), each with a score and a reason such as "
		"'changed together with src/a.c in 14 of 17 commits'. Without 'given' the files "
		"are predicted from the focus of the latest session; without 'after', the "
		"commands follow the last commands run. Use it for 'what is next', 'which files "
		"will I need', 'what do I usually run after make'.",
	.input_schema =
		"{\"type\":\"object\",\"properties\":{"
		"\"what\":{\"type\":\"string\",\"enum\":[\"files\",\"commands\",\"both\"],"
		"\"default\":\"both\"},"
		"\"given\":{\"type\":\"array\",\"maxItems\":10,\"items\":{\"type\":\"string\","
		"\"minLength\":1,\"maxLength\":1024},\"description\":\"Files in focus, relative to "
		"the project.\"},"
		"\"after\":{\"type\":\"array\",\"maxItems\":10,\"items\":{\"type\":\"string\","
		"\"minLength\":1,\"maxLength\":1024},\"description\":\"The commands just run, "
		"oldest first.\"},"
		"\"project\":{\"type\":\"string\",\"maxLength\":4096,\"description\":\"Absolute "
		"path of the project; default: the caller's.\"},"
		"\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"default\":5}},"
		"\"additionalProperties\":false}",
	.output_schema =
		"{\"type\":\"object\",\"properties\":{"
		"\"given\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
		"\"given_from\":{\"type\":\"string\"},"
		"\"files\":{\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"object\","
		"\"required\":[\"path\",\"score\",\"reason\"],\"properties\":{\"path\":{\"type\":"
		"\"string\"},\"score\":{\"type\":\"number\"},\"reason\":{\"type\":\"string\"}}}},"
		"\"commands\":{\"type\":\"array\",\"maxItems\":20,\"items\":{\"type\":\"object\","
		"\"required\":[\"command\",\"score\",\"reason\"],\"properties\":{\"command\":{"
		"\"type\":\"string\"},\"score\":{\"type\":\"number\"},\"reason\":{\"type\":"
		"\"string\"}}}}}}",
	.read_only = true,
	.idempotent = true,
	.run = run,
};
