/* The excerpt that explains a failure: at most a few dozen lines of a build
 * or test log, chosen for the triage report, from the structured
 * diagnostics where there are any and from the log's own wording otherwise.
 * Pure: no I/O, no globals; any thread may call any function here on
 * distinct excerpts. See docs/excerpt.md for how lines are chosen and how
 * the choice is measured.
 *
 * What a line of the excerpt holds: the log line with ANSI escape sequences
 * removed, carriage-return progress resolved (only what follows the last
 * '\r' is kept, as a terminal shows it), other control bytes dropped,
 * invalid UTF-8 turned into '?', and the text cut at EXCERPT_MAX_TEXT bytes
 * on a UTF-8 boundary. Lines are numbered as diag_extract() numbers them:
 * from 0, split at '\n' only, a last line without '\n' counted.
 *
 * Bounded: the work is linear in the size of the log (each byte is looked at
 * a small, fixed number of times) and the memory held besides the result is
 * fixed, whatever the log holds; about 1 ms per MiB on a current x86 core. */
#ifndef CAIRN_EXCERPT_H
#define CAIRN_EXCERPT_H

#include <stddef.h>

#include "sources/diag.h"

enum {
	EXCERPT_DEFAULT_LINES = 50, /* lines chosen when the caller asks for 0 */
	EXCERPT_MAX_LINES = 1000,   /* a larger max_lines is lowered to this */
	EXCERPT_MAX_TEXT = 512,     /* bytes of one line's text, NUL excluded */
};

/* One line of the log. */
struct excerpt_line {
	size_t line; /* 0-based line number in the log */
	char *text;  /* cleaned as described above; owned by the excerpt */
};

struct excerpt {
	/* In log order, no line twice: runs of consecutive lines, the gaps
	 * between runs implied by the line numbers. */
	struct excerpt_line *v;
	size_t n;
	/* Lines in the log. */
	size_t total_lines;
	/* Static: "diagnostics" when the lines were chosen around error
	 * diagnostics from diag_extract(), "log" when they were chosen from
	 * the log's own wording (or, with nothing that looks like trouble,
	 * are its last lines). */
	const char *method;
};

/* Chooses the lines of log that best explain why the build or test failed.
 *
 * log is len bytes of captured output: it need not be NUL-terminated and may
 * hold any bytes. diags, which may be NULL or empty, is what diag_extract()
 * found in the same bytes; its error and critical diagnostics from a known
 * tool (not "generic") are the strongest evidence. Otherwise lines are
 * scored by the wording of failure across ecosystems (error, FAILED, fatal,
 * exception names, Traceback, panic, assertions, expected/actual, non-zero
 * exit statuses, npm ERR!, [ERROR], BUILD FAILURE...), weighted by where
 * they are: in the section of a CI command that failed, late in the log, and
 * not in the boilerplate a CI service prints after the failing command.
 * The best regions are grown into whole blocks (a stack trace or indented
 * block stays with its error line) and the rest of the budget is filled
 * with the lines that follow and precede them.
 *
 * max_lines is the budget (0 means EXCERPT_DEFAULT_LINES; above
 * EXCERPT_MAX_LINES it is lowered to that); the excerpt never holds more
 * lines, and holds all of them when the log is that short.
 *
 * On success returns 0 and fills *out; release it with excerpt_release().
 * Returns CAIRN_E_TOOBIG when len is over DIAG_MAX_LOG and CAIRN_E_INVALID
 * when out is NULL or log is NULL with len > 0; *out (when not NULL) is
 * empty, with method "log", after any failure. Never blocks. */
int excerpt_select(const char *log, size_t len, const struct diag_list *diags, size_t max_lines,
                   struct excerpt *out);

/* Frees the lines and leaves ex empty (method "log"); safe to call twice
 * and on a zeroed struct. */
void excerpt_release(struct excerpt *ex);

#endif
