/* libFuzzer target for the edits of Claude Code's settings
 * (src/cli/claude_settings.h): for every file claude_settings_parse()
 * accepts, install then uninstall in memory must behave as the commands
 * promise: the written text parses again with its layout, holds cairn's
 * hooks exactly once (installing again changes nothing), and taking them out
 * gives back what the file held before (so uninstall would restore it). */
#include "cli/claude_settings.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAIRN_PATH "/opt/it's here/cairn"

static void must(int cond, const char *what, const char *text)
{
	if (!cond) {
		fprintf(stderr, "broken rule: %s\n%s\n", what, text ? text : "");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct claude_settings_style st, st2;
	struct cairn_err err;
	json_t *root, *before, *again;
	size_t len;

	if (claude_settings_parse(text, size, &root, &err) != 0) {
		must(err.code < 0 && err.msg[0], "a failure has a code and a message", NULL);
		return 0;
	}
	claude_settings_style_of(text, size, &st);
	claude_settings_strip(root);
	must(claude_settings_count(root) == 0, "strip leaves none of cairn's hooks", NULL);
	before = json_deep_copy(root);
	must(claude_settings_add(root, CAIRN_PATH, &err) == 0, "add", NULL);
	must(claude_settings_current(root, CAIRN_PATH), "installed once, as wanted", NULL);

	char *out = claude_settings_dump(root, &st, &len);
	must(strlen(out) == len, "the text has no NUL", out);
	must(claude_settings_parse(out, len, &again, &err) == 0, "what is written parses", out);
	claude_settings_style_of(out, len, &st2);
	/* (Line ends can only be seen where there are some.) */
	must(st2.indent == st.indent && st2.tabs == st.tabs && st2.newline == st.newline &&
		     (st2.crlf == st.crlf || (st.indent == 0 && !st.newline)),
	     "the layout survives", out);
	must(claude_settings_same(again, root), "the text reads back as written", out);
	must(claude_settings_current(again, CAIRN_PATH), "installing again changes nothing", out);
	must(claude_settings_strip(again) == 2, "uninstall finds both hooks", out);
	must(claude_settings_same(again, before), "uninstall gives back the original", out);

	free(out);
	json_decref(again);
	json_decref(before);
	json_decref(root);
	return 0;
}
