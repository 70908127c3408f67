/* cairn's hooks in Claude Code's project settings: the JSON edits of
 * `cairn hooks install|uninstall --agent claude` in .claude/settings.json.
 * What is cairn's is in claude_settings.h; the file handling is
 * claude_json.c's. */
#include "cli/claude_settings.h"
#include "cli/cli.h"

#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

static const char *const EVENTS[] = {"SessionStart", "SessionEnd"};
#define N_EVENTS (sizeof EVENTS / sizeof EVENTS[0])

/* ---- what is cairn's ---------------------------------------------------- */

/* What the other operations read of root: "hooks" an object if present,
 * its "SessionStart" and "SessionEnd" arrays if present. */
static int settings_check(const json_t *root, struct cairn_err *err)
{
	const json_t *hooks = json_object_get(root, "hooks");
	if (hooks && !json_is_object(hooks))
		return cairn_err_set(err, CAIRN_E_INVALID, "hooks",
				     "its \"hooks\" is not an object");
	for (size_t i = 0; i < N_EVENTS; i++) {
		const json_t *a = json_object_get(hooks, EVENTS[i]);
		if (a && !json_is_array(a))
			return cairn_err_set(err, CAIRN_E_INVALID, EVENTS[i],
					     "its \"hooks\".\"%s\" is not an array", EVENTS[i]);
	}
	return 0;
}

int claude_settings_parse(const char *text, size_t len, json_t **root, struct cairn_err *err)
{
	return claude_json_parse(&claude_settings_kind, text, len, root, err);
}

char *claude_settings_command(const char *cairn_path, const char *event)
{
	char *q = cli_sh_quote(cairn_path);
	/* "|| true": even a missing binary or a configuration cairn cannot load
	 * (which exits 2 before the hook runs) must not fail the agent's hook. */
	char *s = xasprintf("%s hook claude %s || true", q, event);
	free(q);
	return s;
}

bool claude_settings_is_ours(const json_t *hook)
{
	static const char *const tails[] = {" hook claude session-start",
					    " hook claude session-end"};
	const char *cmd = json_string_value(json_object_get(hook, "command"));
	if (!cmd)
		return false;
	size_t n = strlen(cmd);
	if (n >= 8 && strcmp(cmd + n - 8, " || true") == 0)
		n -= 8;
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		size_t k = strlen(tails[i]);
		if (n > k && memcmp(cmd + n - k, tails[i], k) == 0)
			return true;
	}
	return false;
}

bool claude_settings_calls(const json_t *root, const char *path)
{
	const json_t *hooks = json_object_get(root, "hooks");
	char *q = cli_sh_quote(path);
	char *prefix = xasprintf("%s hook claude ", q);
	size_t n = strlen(prefix), i, k;
	bool calls = false;
	json_t *g, *h;

	for (size_t e = 0; e < N_EVENTS && !calls; e++) {
		const json_t *arr = json_object_get(hooks, EVENTS[e]);
		if (!json_is_array(arr))
			continue;
		json_array_foreach((json_t *)arr, i, g) {
			json_t *hs = json_object_get(g, "hooks");
			if (!json_is_array(hs))
				continue;
			json_array_foreach(hs, k, h) {
				const char *cmd = json_string_value(json_object_get(h, "command"));
				if (claude_settings_is_ours(h) && strncmp(cmd, prefix, n) == 0)
					calls = true;
			}
		}
	}
	free(prefix);
	free(q);
	return calls;
}

/* The group cairn adds for EVENTS[ev], or NULL when cairn_path is not
 * UTF-8 (a JSON string cannot hold it). New reference. */
static json_t *our_group(size_t ev, const char *cairn_path)
{
	char *cmd = claude_settings_command(cairn_path, ev == 0 ? "session-start" : "session-end");
	json_t *c = json_string(cmd);
	free(cmd);
	if (!c)
		return NULL;
	json_t *hook = json_pack("{s:s,s:o,s:i}", "type", "command", "command", c, "timeout",
				 ev == 0 ? CLAUDE_START_TIMEOUT_S : CLAUDE_END_TIMEOUT_S);
	if (ev == 0)
		return json_pack("{s:s,s:[o]}", "matcher", CLAUDE_START_MATCHER, "hooks", hook);
	return json_pack("{s:[o]}", "hooks", hook);
}

size_t claude_settings_count(const json_t *root)
{
	const json_t *hooks = json_object_get(root, "hooks");
	size_t n = 0, i, k;
	json_t *g, *h;

	for (size_t e = 0; e < N_EVENTS; e++) {
		const json_t *arr = json_object_get(hooks, EVENTS[e]);
		if (!json_is_array(arr))
			continue;
		json_array_foreach((json_t *)arr, i, g) {
			json_t *hs = json_object_get(g, "hooks");
			if (json_is_array(hs))
				json_array_foreach(hs, k, h)
					n += claude_settings_is_ours(h);
		}
	}
	return n;
}

/* The group of arr that holds cairn's hook entry, or NULL. */
static const json_t *group_of_ours(const json_t *arr)
{
	size_t i, k;
	json_t *g, *h;

	json_array_foreach((json_t *)arr, i, g) {
		json_t *hs = json_object_get(g, "hooks");
		if (!json_is_array(hs))
			continue;
		json_array_foreach(hs, k, h) {
			if (claude_settings_is_ours(h))
				return g;
		}
	}
	return NULL;
}

bool claude_settings_current(const json_t *root, const char *cairn_path)
{
	const json_t *hooks = json_object_get(root, "hooks");

	if (claude_settings_count(root) != N_EVENTS)
		return false;
	for (size_t e = 0; e < N_EVENTS; e++) {
		const json_t *g = group_of_ours(json_object_get(hooks, EVENTS[e]));
		json_t *want = our_group(e, cairn_path);
		bool same = g && want && json_equal(g, want);
		json_decref(want);
		if (!same)
			return false;
	}
	return true;
}

size_t claude_settings_strip(json_t *root)
{
	json_t *hooks = json_object_get(root, "hooks");
	size_t removed = 0;

	if (!json_is_object(hooks))
		return 0;
	for (size_t e = 0; e < N_EVENTS; e++) {
		json_t *arr = json_object_get(hooks, EVENTS[e]);
		size_t before = removed;
		if (!json_is_array(arr))
			continue;
		for (size_t i = json_array_size(arr); i-- > 0;) {
			json_t *hs = json_object_get(json_array_get(arr, i), "hooks");
			size_t r = 0;
			if (!json_is_array(hs))
				continue;
			for (size_t k = json_array_size(hs); k-- > 0;)
				if (claude_settings_is_ours(json_array_get(hs, k))) {
					json_array_remove(hs, k);
					r++;
				}
			if (r && json_array_size(hs) == 0)
				json_array_remove(arr, i);
			removed += r;
		}
		if (removed > before && json_array_size(arr) == 0)
			json_object_del(hooks, EVENTS[e]);
	}
	if (removed && json_object_size(hooks) == 0)
		json_object_del(root, "hooks");
	return removed;
}

int claude_settings_add(json_t *root, const char *cairn_path, struct cairn_err *err)
{
	json_t *groups[N_EVENTS];

	for (size_t e = 0; e < N_EVENTS; e++) {
		if (!(groups[e] = our_group(e, cairn_path))) {
			while (e-- > 0)
				json_decref(groups[e]);
			return cairn_err_set(err, CAIRN_E_INVALID, "",
					     "the path of the cairn binary, '%s', is not UTF-8, "
					     "which a JSON file cannot hold; install cairn under a "
					     "UTF-8 path",
					     cairn_path);
		}
	}
	json_t *hooks = json_object_get(root, "hooks");
	if (!hooks) {
		hooks = json_object();
		json_object_set_new(root, "hooks", hooks);
	}
	for (size_t e = 0; e < N_EVENTS; e++) {
		json_t *arr = json_object_get(hooks, EVENTS[e]);
		if (!arr) {
			arr = json_array();
			json_object_set_new(hooks, EVENTS[e], arr);
		}
		json_array_append_new(arr, groups[e]);
	}
	return 0;
}

/* Leaves out empty event arrays and an empty "hooks" (install may have
 * made them). */
static void settings_prune(json_t *root)
{
	json_t *hooks = json_object_get(root, "hooks");
	if (!json_is_object(hooks))
		return;
	for (size_t e = 0; e < N_EVENTS; e++) {
		json_t *a = json_object_get(hooks, EVENTS[e]);
		if (json_is_array(a) && json_array_size(a) == 0)
			json_object_del(hooks, EVENTS[e]);
	}
	if (json_object_size(hooks) == 0)
		json_object_del(root, "hooks");
}

bool claude_settings_same(const json_t *a, const json_t *b)
{
	return claude_json_same(&claude_settings_kind, a, b);
}

/* ---- the kind for claude_json.h -------------------------------------- */

static bool settings_current(const json_t *root, const void *ctx)
{
	return claude_settings_current(root, ctx);
}

static int settings_put(json_t *root, const void *ctx, bool *had, struct cairn_err *err)
{
	*had = claude_settings_strip(root) > 0;
	return claude_settings_add(root, ctx, err);
}

static size_t settings_strip(json_t *root, const void *ctx)
{
	(void)ctx;
	return claude_settings_strip(root);
}

const struct claude_json_kind claude_settings_kind = {
	.label = "claude",
	.part = "hooks",
	.beside = "your settings and hooks",
	.check = settings_check,
	.current = settings_current,
	.blocked = NULL,
	.put = settings_put,
	.strip = settings_strip,
	.prune = settings_prune,
};
