/* The hint `cairn run` prints under a failed command at a terminal: one line
 * made from the daemon's triage report saying what cairn knows beyond what
 * the command just printed (a known fix, in words; the change that most
 * likely broke it; whether the error was seen before), never the error
 * itself, then a pointer to `cairn why`. Everything here is pure: no I/O,
 * no state; any thread may call it. */
#ifndef CAIRN_RUNHINT_H
#define CAIRN_RUNHINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Describes in words the edit a unified diff makes (a learned fix's diff:
 * `diff --git`, `---`/`+++` and `@@` lines; anything before the first of
 * them is skipped), from a token-level comparison of its changed lines.
 * When the diff changes one block of lines in one file:
 *
 *   one token inserted                 added `;` in a.c
 *   one token removed                  removed `int` in a.c
 *   one token replaced                 `=` → `==` in a.c
 *   one identifier replaced            renamed `prinyf` to `printf` in a.c
 *   an argument inserted or removed    added an argument `n` in a.c
 *   a short span (<= 5 tokens, 24 bytes) inserted, removed or replaced
 *                                      added `+ 1` in a.c, `x` → `(x)` in a.c
 *   one whole line added or removed    added line `#include <stdio.h>` to a.c
 *
 * otherwise by the lines it touches: "changed 3 lines in a.c", "added 2
 * lines to a.c", "removed 1 line from a.c", "changed a.c and 2 more files";
 * "changed a.c" when the diff is cut short (a hunk ends before its @@ counts
 * say), since nothing finer can be trusted then. A last line without its
 * newline counts as whole (a caller whose text may be cut inside a line
 * drops that line first). Tokens are identifiers,
 * numbers, quoted strings, C-family operators (`==`, `->`, `<<=` ...) and
 * single punctuation; blanks separate them and are not compared, so a
 * change of layout only reads "changed layout in a.c".
 *
 * diff is len bytes (need not be NUL-terminated; may be NULL when len is 0).
 * Writes the phrase to out (NUL-terminated, cut at outlen - 1 bytes; at
 * most about 150 bytes plus the file name are ever written). Returns true,
 * or false with out "" when the diff changes nothing it can read. */
bool runhint_fix_phrase(const char *diff, size_t len, char *out, size_t outlen);

/* Fits s on a terminal line of cols columns: a copy of s with control
 * characters (bytes below 0x20, and 0x7f) turned into '?', and when s takes
 * more than cols columns, cut at a UTF-8 character boundary and ended with
 * "…" so that the whole takes exactly cols columns. One column per
 * character (wide East Asian characters are counted as one). cols 0 is
 * taken as 1. Returns a malloc'd string the caller frees. */
char *runhint_fit(const char *s, size_t cols);

/* Makes the hint for report (the data of a triage.report event, as the
 * daemon sends it) on a terminal of cols columns: *line is one line of at
 * most cols columns, starting "cairn: ", without a newline; *pointer says
 * where to read more ("cairn: details: cairn why", naming `cairn kb show N`
 * when there is a known fix). The line never quotes the failure's messages
 * (the command has just printed them): a learned fix, whose title starts
 * with the error it fixed, is described by runhint_fix_phrase() of its diff
 * (else by the file it changed); a fix written by hand by its title. Then
 * the likely change (the report's first suspect), or without a fix whether
 * the error was seen before; for a failure that is not the code's
 * (report.not_code) the report's own sentence. Both strings are malloc'd;
 * the caller frees them. */
void runhint_format(const json_t *report, size_t cols, char **line, char **pointer);

#endif
