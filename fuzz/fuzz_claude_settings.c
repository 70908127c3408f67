/* libFuzzer target for the edits `cairn hooks install --agent claude` makes
 * to Claude Code's JSON files (src/cli/claude_json.h), for each kind of file
 * it edits: .claude/settings.json (claude_settings.h) and .mcp.json
 * (claude_mcp.h). For every text a kind's parser accepts, install then
 * uninstall in memory must behave as the commands promise: what is in the
 * way is left alone; otherwise the written text parses again with its
 * layout, holds cairn's part exactly once (installing again changes
 * nothing; installing from a moved binary updates it), and taking it out
 * gives back what the file held before (so uninstall would restore it). */
#include "cli/claude_mcp.h"
#include "cli/claude_settings.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAIRN_PATH "/opt/it's here/cairn"
#define OLD_PATH "/old/cairn"

static void must(int cond, const char *what, const char *text)
{
	if (!cond) {
		fprintf(stderr, "broken rule: %s\n%s\n", what, text ? text : "");
		abort();
	}
}

/* The rules for kind k, its operations getting ctx (then old_ctx for a
 * binary elsewhere); n_ours is how many entries cairn's part has. */
static void rules(const struct claude_json_kind *k, const void *ctx, const void *old_ctx,
		  size_t n_ours, const char *text, size_t size)
{
	struct claude_json_style st, st2;
	struct cairn_err err;
	json_t *root, *before, *again;
	size_t len;
	bool had;

	if (claude_json_parse(k, text, size, &root, &err) != 0) {
		must(err.code < 0 && err.msg[0], "a failure has a code and a message", NULL);
		return;
	}
	if (k->blocked && k->blocked(root, ctx, &err) != 0) {
		/* Install leaves the file alone; uninstall finds nothing of cairn's. */
		must(err.code == CAIRN_E_EXISTS && err.msg[0], "what is in the way is named", NULL);
		must(!k->current(root, ctx), "what is in the way is not cairn's", NULL);
		before = json_deep_copy(root);
		must(k->strip(root, ctx) == 0 && json_equal(root, before),
		     "uninstall leaves what is in the way", NULL);
		json_decref(before);
		json_decref(root);
		return;
	}
	claude_json_style_of(text, size, &st);
	k->strip(root, ctx);
	must(!k->current(root, ctx), "nothing of cairn's is left after strip", NULL);
	before = json_deep_copy(root);
	must(k->put(root, old_ctx, &had, &err) == 0 && !had, "a first install", NULL);
	must(k->current(root, old_ctx), "installed once, as wanted", NULL);
	must(k->put(root, ctx, &had, &err) == 0 && had, "a moved binary is updated", NULL);
	must(k->current(root, ctx) && !k->current(root, old_ctx), "updated, as wanted", NULL);

	char *out = claude_json_dump(root, &st, &len);
	must(strlen(out) == len, "the text has no NUL", out);
	must(claude_json_parse(k, out, len, &again, &err) == 0, "what is written parses", out);
	claude_json_style_of(out, len, &st2);
	/* (Line ends can only be seen where there are some.) */
	must(st2.indent == st.indent && st2.tabs == st.tabs && st2.newline == st.newline &&
		     (st2.crlf == st.crlf || (st.indent == 0 && !st.newline)),
	     "the layout survives", out);
	must(claude_json_same(k, again, root), "the text reads back as written", out);
	must(k->current(again, ctx), "installing again changes nothing", out);
	must(!k->blocked || k->blocked(again, ctx, NULL) == 0, "cairn's part is not in its way",
	     out);
	must(k->strip(again, ctx) == n_ours, "uninstall finds all of cairn's part", out);
	must(claude_json_same(k, again, before), "uninstall gives back the original", out);

	free(out);
	json_decref(again);
	json_decref(before);
	json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct claude_mcp_ctx mcp = {CAIRN_PATH, NULL}, old_mcp = {OLD_PATH, NULL};

	rules(&claude_settings_kind, CAIRN_PATH, OLD_PATH, 2, text, size);
	rules(&claude_mcp_kind, &mcp, &old_mcp, 1, text, size);
	return 0;
}
