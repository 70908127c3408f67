/* Claude Code's project settings (<project>/.claude/settings.json): cairn's
 * SessionStart and SessionEnd hooks in the file, for `cairn hooks
 * install|uninstall --agent claude`. This is what cairn's part of the file
 * is (claude_settings_kind); reading, writing, the records kept beside the
 * file for uninstall and the layout are claude_json.h's.
 *
 * What cairn adds, and nothing else (other keys, other events and other
 * tools' entries in the same arrays are kept as they are):
 *
 *   "hooks": {
 *     "SessionStart": [ ...,
 *       {"matcher": "startup|resume|clear|compact",
 *        "hooks": [{"type": "command", "timeout": 15,
 *                   "command": "'/abs/cairn' hook claude session-start || true"}]}],
 *     "SessionEnd": [ ...,
 *       {"hooks": [{"type": "command", "timeout": 5,
 *                   "command": "'/abs/cairn' hook claude session-end || true"}]}]
 *   }
 *
 * A hook entry is cairn's when its "command" ends with " hook claude
 * session-start" or " hook claude session-end", optionally followed by
 * " || true" (claude_settings_is_ours()); the binary's path in front may be
 * anything, so a moved binary is recognised and updated (its groups go to
 * the end of their arrays again).
 *
 * All functions run in the CLI's one thread; none blocks. */
#ifndef CAIRN_CLAUDE_SETTINGS_H
#define CAIRN_CLAUDE_SETTINGS_H

#include "cli/claude_json.h"
#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CLAUDE_START_MATCHER "startup|resume|clear|compact"
/* Seconds Claude Code gives each hook before it kills it; the hook keeps to
 * a shorter budget of its own (src/cli/hook_claude.c). */
#define CLAUDE_START_TIMEOUT_S 15
#define CLAUDE_END_TIMEOUT_S 5

/* The settings file for claude_json.h. Its ctx is the path of the cairn
 * binary (const char *) that the hooks call. put() takes out any of cairn's
 * hooks, then appends the two groups; blocked is NULL (any entry under
 * another command is someone else's and stays). */
extern const struct claude_json_kind claude_settings_kind;

/* claude_json_parse() with claude_settings_kind: a JSON object, duplicate
 * keys refused, "hooks" an object if present, its "SessionStart" and
 * "SessionEnd" arrays if present. */
int claude_settings_parse(const char *text, size_t len, json_t **root, struct cairn_err *err);

/* The shell command of cairn's hook for event "session-start" or
 * "session-end", calling the binary at cairn_path. Caller frees. */
char *claude_settings_command(const char *cairn_path, const char *event);

/* True if hook (an entry of a group's "hooks" array) is cairn's. */
bool claude_settings_is_ours(const json_t *hook);

/* True if one of cairn's hook entries in root calls the binary at path
 * (its command starts with path as claude_settings_command() quotes it). */
bool claude_settings_calls(const json_t *root, const char *path);

/* The number of cairn's hook entries under SessionStart and SessionEnd. */
size_t claude_settings_count(const json_t *root);

/* True if root holds cairn's hooks exactly as claude_settings_add() with
 * cairn_path puts them, once each: installing again would change nothing. */
bool claude_settings_current(const json_t *root, const char *cairn_path);

/* Removes cairn's hook entries from root, then each group, event array and
 * "hooks" object that this emptied. Returns how many entries it removed. */
size_t claude_settings_strip(json_t *root);

/* Appends cairn's two groups (above) to root, creating "hooks" and the
 * arrays where missing. root must have passed claude_settings_parse() and
 * hold none of cairn's entries (strip first). Returns 0, or CAIRN_E_INVALID
 * with root unchanged when cairn_path is not UTF-8 (JSON cannot hold it). */
int claude_settings_add(json_t *root, const char *cairn_path, struct cairn_err *err);

/* True if a and b are the same settings once empty "SessionStart" and
 * "SessionEnd" arrays and an empty "hooks" object are left out (install may
 * have made them), comparing keys in order. */
bool claude_settings_same(const json_t *a, const json_t *b);

#endif
