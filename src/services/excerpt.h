/* The excerpt that explains a failure: at most a few dozen lines of a build
 * or test log, chosen for the triage report, from the structured
 * diagnostics where there are any, from the log's own wording and, in a CI
 * log, a line model learned from labelled CI logs (its weights are compiled
 * in). No I/O; the only shared state is an index of constant tables, built
 * once under pthread_once. Any thread may call any function here on distinct
 * excerpts. See docs/excerpt.md for how lines are chosen and how the choice
 * is measured.
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
 * fixed (about 2 MiB at most), whatever the log holds; in one run on a
 * shared machine, 11-16 ms for a MiB of CI log (1.6 to 2.3 times the rules
 * alone), 11-16 ms for a MiB of plain or error lines (docs/excerpt.md). */
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
	/* Static: "diagnostics" when the region shown first is an error
	 * diagnostic diag_extract() found, "log" when it was found from the
	 * log's own wording (or, with nothing that looks like trouble, is the
	 * end of the log). */
	const char *method;
};

/* Chooses the lines of log that best explain why the build or test failed.
 *
 * log is len bytes of captured output: it need not be NUL-terminated and may
 * hold any bytes. diags, which may be NULL or empty, is what diag_extract()
 * found in the same bytes; its error and critical diagnostics from a known
 * tool (not "generic") are the strongest evidence, the first of them most.
 * Besides, lines are scored by the wording of failure across ecosystems
 * (error, FAILED, fatal, exception names, Traceback, panic, assertions,
 * expected/actual, npm ERR!, [ERROR], a test runner's verdict, a file:line
 * place), while lines that only say that a step failed ("BUILD FAILURE",
 * "make: *** ... Error 1", "exited with 1", a tally of test results) and
 * help text are held down; the last words a failing command printed count
 * too. Each region is weighted by where it stands: in the output of a CI
 * command that failed (the last one most), of one that passed, in the
 * boilerplate a CI service prints after the build, or, without CI markers,
 * how late in the log. Where the best region is a diagnostic, or the log
 * has no CI markers (Travis CI, GitHub Actions, GitLab CI), the best regions
 * are grown into whole blocks (a stack trace or indented block stays with
 * its error line, a few lines of context come before). In other CI logs a
 * line model scores every line from its words and its neighbours', the
 * rules' reading and where it stands among the markers, and runs of lines
 * grow greedily around the best lines of the failing command's output. The
 * rest of the budget is filled with the lines around them.
 *
 * max_lines is the budget (0 means EXCERPT_DEFAULT_LINES; above
 * EXCERPT_MAX_LINES it is lowered to that): the excerpt holds
 * min(max_lines, total_lines) lines, except when the best region is an
 * error diagnostic: then the excerpt holds the regions of diagnostics (and
 * of what else scores enough) only, at least one line and at most
 * max_lines, as padding them would bury them.
 *
 * On success returns 0 and fills *out; release it with excerpt_release().
 * Returns CAIRN_E_TOOBIG when len is over DIAG_MAX_LOG and CAIRN_E_INVALID
 * when out is NULL or log is NULL with len > 0; *out (when not NULL) is
 * empty, with method "log", after any failure. Does not block (beyond the
 * first call building the table index). */
int excerpt_select(const char *log, size_t len, const struct diag_list *diags, size_t max_lines,
		   struct excerpt *out);

/* Frees the lines and leaves ex empty (method "log"); safe to call twice
 * and on a zeroed struct. */
void excerpt_release(struct excerpt *ex);

#endif
