/* Claude Code's JSON files in a project (.claude/settings.json, .mcp.json):
 * what `cairn hooks install|uninstall --agent claude` does to any of them,
 * so that each gets cairn's part, keeps everything else, and is put back
 * exactly by uninstall. What cairn's part is in a file is a struct
 * claude_json_kind (claude_settings.h: the hooks; claude_mcp.h: the MCP
 * server); reading, writing, the records kept beside the file and the order
 * of changes across files are here.
 *
 * Beside each FILE, the first install keeps what uninstall needs to put it
 * back exactly:
 *
 *   FILE.cairn-orig   the file as it was before the first install: the same
 *                     inode (a hard link; a copy with the same mode and
 *                     times where links fail)
 *   FILE.cairn-none   there was no file before; its text says whether
 *                     install also made the directory FILE is in
 *
 * Uninstall removes cairn's part from the file; when what is left equals
 * the kept original (claude_json_same()), it renames the original back
 * (byte for byte, mode and times included), or removes the file (and the
 * directory install made, if empty) when there was none. When the user
 * changed the file since, only cairn's part goes and the rest is rewritten.
 *
 * Several files, one change: claude_json_install() reads, parses and checks
 * every file before it writes anything, so a file it cannot use leaves all
 * of them as they were. It then writes each new text to a temporary file
 * beside its file (and the records above), and only when all of that
 * worked renames the temporary files into place, in order; if a rename
 * fails, the files already renamed are put back as they were (the
 * original's inode where it was kept, else its text, mode and times).
 * Uninstall also checks every file first, but then changes them in order:
 * if one fails, those before it stay uninstalled (running it again finishes).
 *
 * Writing: jansson rewrites the whole file, so claude_json_style_of() notes
 * what of the file's layout it can reproduce (indent width, tabs, one line
 * or many, CRLF, final newline) and claude_json_dump() applies it; key
 * order is kept. Whitespace inside lines, string escapes ("\u00e9" becomes
 * "é") and number spellings ("1e2" becomes "100.0"; reals get the fewest
 * digits that read back the same) are normalized.
 *
 * All functions run in the CLI's one thread and may block on the file
 * system. */
#ifndef CAIRN_CLAUDE_JSON_H
#define CAIRN_CLAUDE_JSON_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* A file larger than this is refused (Claude Code's are a few KiB). */
#define CLAUDE_JSON_MAX (1024u * 1024)

#define CLAUDE_ORIG_SUFFIX ".cairn-orig"
#define CLAUDE_NONE_SUFFIX ".cairn-none"

/* How a file is laid out, as far as jansson can reproduce it. */
struct claude_json_style {
	int indent;   /* spaces (or tabs) per level; 0: all on one line */
	bool tabs;    /* indent with tabs */
	bool compact; /* one line without spaces after ':' and ',' */
	bool crlf;    /* lines end with "\r\n" */
	bool newline; /* the file ends with a line ending */
};

/* The layout of text[0..len), a JSON document; an empty text gives the
 * layout of a new file (2 spaces, final newline, as Claude Code writes). */
void claude_json_style_of(const char *text, size_t len, struct claude_json_style *st);

/* The text of root laid out as st says. Returns a malloc'd NUL-terminated
 * string (length in *len); the caller frees it. */
char *claude_json_dump(const json_t *root, const struct claude_json_style *st, size_t *len);

/* What cairn's part of one kind of file is. Every operation gets the ctx of
 * the edit (claude_json_edit_new()); root has passed claude_json_parse()
 * with this kind. */
struct claude_json_kind {
	/* The file's column in the output ("claude", "claude mcp") and what
	 * cairn's part is called there ("hooks", "MCP server"). */
	const char *label;
	const char *part;
	/* What install keeps of the user's ("your settings and hooks"). */
	const char *beside;
	/* Checks what of root (a JSON object) the other operations read.
	 * Returns 0, or CAIRN_E_INVALID with err saying what is wrong (the
	 * caller adds the file's name). */
	int (*check)(const json_t *root, struct cairn_err *err);
	/* True if root holds cairn's part exactly as put() puts it: installing
	 * again would change nothing. */
	bool (*current)(const json_t *root, const void *ctx);
	/* If something in root that is not cairn's stands where cairn's part
	 * goes, CAIRN_E_EXISTS with err saying what and what to do; else 0.
	 * NULL when nothing can. */
	int (*blocked)(const json_t *root, const void *ctx, struct cairn_err *err);
	/* Puts cairn's part into root, replacing any of cairn's that is there
	 * (*had says whether there was). Called only when blocked() said 0.
	 * Returns 0, or a negative code with err (root is then thrown away). */
	int (*put)(json_t *root, const void *ctx, bool *had, struct cairn_err *err);
	/* Takes cairn's part out of root, and the containers this emptied.
	 * Returns how many entries it removed. */
	size_t (*strip)(json_t *root, const void *ctx);
	/* Removes from root what put() may have made that is empty now (so that
	 * it does not count in claude_json_same()). */
	void (*prune)(json_t *root);
};

/* Parses a file of kind k: a JSON object (an empty or blank text is {}),
 * duplicate keys refused (rewriting would silently drop one), of at most
 * CLAUDE_JSON_MAX bytes, that k->check() accepts. Returns 0 and a new
 * reference in *root, or CAIRN_E_PARSE / CAIRN_E_INVALID / CAIRN_E_TOOBIG
 * with err saying where (the caller adds the file's name). */
int claude_json_parse(const struct claude_json_kind *k, const char *text, size_t len, json_t **root,
		      struct cairn_err *err);

/* True if a and b are the same once k->prune() has run on a copy of each,
 * comparing keys in order. */
bool claude_json_same(const struct claude_json_kind *k, const json_t *a, const json_t *b);

/* One file to edit: its kind, the ctx its operations get, and where it is.
 * Opaque. */
struct claude_json_edit;

/* A new edit of dir/name (dir absolute, no trailing '/'; made by install if
 * missing) with kind k and ctx (both kept by pointer: they must outlive the
 * edit). Free it with claude_json_edit_free(). */
struct claude_json_edit *claude_json_edit_new(const struct claude_json_kind *k, const void *ctx,
					      const char *dir, const char *name);

/* Frees e (NULL is fine); undoes nothing it did. */
void claude_json_edit_free(struct claude_json_edit *e);

/* The file as claude_json_install() or claude_json_uninstall() read it,
 * before any change ({} when there was none); NULL until then. Edits are
 * read in order, so the ctx of a later edit may look at an earlier one's. */
const json_t *claude_json_edit_was(const struct claude_json_edit *e);

/* After claude_json_install() returned 0: true if cairn's part is in the
 * file (put there, or found as wanted), false when something else stood in
 * its way. False before install ran; meaningless after uninstall. */
bool claude_json_edit_installed(const struct claude_json_edit *e);

/* `cairn hooks install --agent claude` for the files of edits[0..n), as
 * described above, cairn's part calling the binary at cairn_path (named in
 * the output). Prints on stdout one line per file (what it did, or that
 * nothing needed doing), and on stderr, prefixed by prog, why a file was
 * left alone when something not cairn's stood where its part goes (that is
 * no failure). Returns 0, or a negative code with err saying what failed
 * and what to do; then no file was changed. */
int claude_json_install(struct claude_json_edit *const *edits, size_t n, const char *cairn_path,
			const char *prog, struct cairn_err *err);

/* `cairn hooks uninstall --agent claude`: the reverse, as described above,
 * one line per file on stdout. Returns 0 (also when nothing was installed)
 * or a negative code with err; then no file was changed when the failure
 * was in reading one, and those before the failing one otherwise. */
int claude_json_uninstall(struct claude_json_edit *const *edits, size_t n, struct cairn_err *err);

#endif
