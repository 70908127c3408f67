/* Claude Code's project settings (<project>/.claude/settings.json): putting
 * cairn's SessionStart and SessionEnd hooks into the file and taking them
 * out again, for `cairn hooks install|uninstall --agent claude`.
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
 * anything, so a moved binary is recognised and updated.
 *
 * Beside the file, install keeps what uninstall needs to put it back
 * exactly:
 *
 *   settings.json.cairn-orig   the file as it was before the first install:
 *                              the same inode (a hard link; a copy with the
 *                              same mode and times where links fail)
 *   settings.json.cairn-none   there was no file before; its text says
 *                              whether install also made the .claude
 *                              directory
 *
 * Uninstall removes cairn's entries from the file; when what is left equals
 * the kept original (claude_settings_same()), it renames the original back
 * (byte for byte, mode and times included), or removes the file (and the
 * directory install made, if empty) when there was none. When the user
 * changed the file since, only cairn's entries go and the rest is rewritten.
 *
 * Writing: jansson rewrites the whole file, so claude_settings_style_of()
 * notes what of the file's layout it can reproduce (indent width, tabs,
 * one line or many, CRLF, final newline) and claude_settings_dump() applies
 * it; key order is kept. Whitespace inside lines, string escapes
 * ("\u00e9" becomes "é") and number spellings ("1e2" becomes "100.0"; reals
 * get the fewest digits that read back the same) are normalized.
 *
 * All functions run in the CLI's one thread and may block on the file
 * system. */
#ifndef CAIRN_CLAUDE_SETTINGS_H
#define CAIRN_CLAUDE_SETTINGS_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A settings file larger than this is refused (Claude Code's are a few KiB). */
#define CLAUDE_SETTINGS_MAX (1024u * 1024)

#define CLAUDE_START_MATCHER "startup|resume|clear|compact"
/* Seconds Claude Code gives each hook before it kills it; the hook keeps to
 * a shorter budget of its own (src/cli/hook_claude.c). */
#define CLAUDE_START_TIMEOUT_S 15
#define CLAUDE_END_TIMEOUT_S 5

#define CLAUDE_ORIG_SUFFIX ".cairn-orig"
#define CLAUDE_NONE_SUFFIX ".cairn-none"

/* How a settings file is laid out, as far as jansson can reproduce it. */
struct claude_settings_style {
	int indent;   /* spaces (or tabs) per level; 0: all on one line */
	bool tabs;    /* indent with tabs */
	bool compact; /* one line without spaces after ':' and ',' */
	bool crlf;    /* lines end with "\r\n" */
	bool newline; /* the file ends with a line ending */
};

/* The layout of text[0..len), a JSON document; an empty text gives the
 * layout of a new file (2 spaces, final newline, as Claude Code writes). */
void claude_settings_style_of(const char *text, size_t len, struct claude_settings_style *st);

/* Parses a settings file: a JSON object, duplicate keys refused (rewriting
 * would silently drop one), "hooks" an object if present, its
 * "SessionStart" and "SessionEnd" arrays if present. Returns 0 and a new
 * reference in *root, or CAIRN_E_PARSE / CAIRN_E_INVALID / CAIRN_E_TOOBIG
 * with err saying where (the caller adds the file's name). */
int claude_settings_parse(const char *text, size_t len, json_t **root, struct cairn_err *err);

/* The text of root laid out as st says. Returns a malloc'd NUL-terminated
 * string (length in *len); the caller frees it. */
char *claude_settings_dump(const json_t *root, const struct claude_settings_style *st, size_t *len);

/* The shell command of cairn's hook for event "session-start" or
 * "session-end", calling the binary at cairn_path. Caller frees. */
char *claude_settings_command(const char *cairn_path, const char *event);

/* True if hook (an entry of a group's "hooks" array) is cairn's. */
bool claude_settings_is_ours(const json_t *hook);

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

/* `cairn hooks install --agent claude` for the project whose top level is
 * project (absolute, no trailing '/'): edits project/.claude/settings.json as
 * described above, printing on stdout one line per thing done. Returns 0,
 * or a negative code with err saying what failed and what to do (nothing was
 * changed then). */
int claude_settings_install(const char *project, const char *cairn_path, struct cairn_err *err);

/* `cairn hooks uninstall --agent claude`: the reverse, as described above.
 * Returns 0 (also when nothing was installed) or a negative code with err. */
int claude_settings_uninstall(const char *project, struct cairn_err *err);

#endif
