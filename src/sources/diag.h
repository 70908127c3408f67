/* Structured diagnostics (file, line, severity, message, notes) extracted
 * from the captured output of a build or test command, for the runner's
 * build.* and test.* events. Pure: no I/O, no globals; any thread may call
 * any function here on distinct lists.
 *
 * What is recognised, and the "tool" each diagnostic is given:
 *
 *   tool          from
 *   gcc, clang    file:line:col: error|warning|note|fatal error: msg, with
 *                 "In function"/"In file included from" context, source and
 *                 caret lines and following note: lines kept as notes
 *   make          make[N]: *** [Makefile:7: target] Error 1, No rule to make...
 *   ninja         FAILED: target (+ the command as a note), ninja: error: ...
 *   cmake         CMake Error|Warning at file:line (cmd): + indented message
 *   ld            undefined reference / multiple definition (with the
 *                 "in function" context), ld: warning/error lines, collect2,
 *                 clang's "linker command failed"
 *   javac         File.java:3: error: msg (column taken from the caret line)
 *   maven         [ERROR] /path/File.java:[3,5] msg, surefire failures and
 *                 the "Tests run:" total, "Failed to execute goal", other
 *                 [ERROR]/[WARNING] lines that are not boilerplate
 *   rustc, cargo  error[E0308]: msg / warning: msg with  --> file:line:col
 *   cargo test    panicked at file:line:col, test ... FAILED, test result:
 *   go, go test   ./x.go:1:2: msg; --- FAIL: TestX with its x_test.go:NN:
 *                 lines; panics (location from the goroutine trace)
 *   pytest        FAILURES/ERRORS sections (E lines, file:line: Error),
 *                 the short test summary, the warnings summary
 *   python        Traceback (most recent call last): ... Exception: msg
 *   node --test   TAP (not ok N - name + YAML error/location/stack) and the
 *                 spec reporter (✖ name + error + stack)
 *   jest          ● Suite › test, the message, "at ... (file:line:col)"
 *   ctest         N/M Test #K: name ...***Failed|Timeout|Exception|Not Run
 *                 with the test's output (after the line, or ctest -V's
 *                 "K: " lines before it; its first file:line places it),
 *                 The following tests FAILED (skipped/disabled: nothing)
 *   automake      make check's test harness (in a log with its "# TOTAL:"
 *                 summary): FAIL: x, ERROR: x, XPASS: x, with the test's
 *                 output as notes when VERBOSE=1 printed test-suite.log
 *   runtest       redis-style Tcl suites: [err]: NAME in FILE + the reason,
 *                 [exception]: (test, file and line from the Tcl stack),
 *                 [TIMEOUT]:, the final "*** [err]" summary; [ok]: nothing
 *   generic       only when nothing above matched: lines that say error,
 *                 fatal, failed, exception, panic... with file:line if any,
 *                 except lines a parser knows report no failure (a passing
 *                 test's line, whatever its name says)
 *
 * ANSI escape sequences (colours, OSC 8 hyperlinks) and carriage-return
 * progress lines are removed before matching. Everything is bounded: at most
 * DIAG_MAX diagnostics, DIAG_MAX_NOTES notes each, DIAG_MAX_TEXT bytes per
 * message or note (cut at a UTF-8 boundary; invalid UTF-8 becomes '?'),
 * DIAG_MAX_TOTAL bytes of text per list, DIAG_MAX_LINE bytes looked at per
 * log line; work is linear in the size of the log. */
#ifndef CAIRN_DIAG_H
#define CAIRN_DIAG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "event/envelope.h"

enum {
	DIAG_MAX = 1000,          /* diagnostics kept per log */
	DIAG_MAX_NOTES = 32,      /* notes kept per diagnostic */
	DIAG_MAX_TEXT = 1024,     /* bytes in one message or note, NUL excluded */
	DIAG_MAX_LINE = 4096,     /* bytes of one log line that are looked at */
	DIAG_MAX_TOTAL = 4 << 20, /* bytes of text held by one list */
};

/* Logs above this size are refused (the runner keeps a capped copy). */
#define DIAG_MAX_LOG ((size_t)256 << 20)

/* One diagnostic. All strings are owned by the list that holds it. */
struct diag {
	/* A name from the table above; never NULL. */
	char *tool;
	/* As the tool printed it (may be relative); NULL if unknown. */
	char *file;
	/* 1-based; 0 if unknown. */
	int line, col;
	/* SEV_ERROR, SEV_WARNING, SEV_NOTICE (a note with nothing before it
	 * to belong to) or SEV_CRITICAL (a "fatal error" or "fatal:"). */
	enum event_severity severity;
	/* One line; for a test failure "<test>: <failure>". Never NULL. */
	char *message;
	/* Related lines: context ("In function"), source and caret lines,
	 * note: lines, assertion details, the frame that was chosen. */
	char **notes;
	size_t n_notes;
	/* 0-based index of the log line where it starts, and how many log
	 * lines it spans (>= 1). */
	size_t log_line;
	size_t log_lines;
};

/* Diagnostics in the order they start in the log. */
struct diag_list {
	struct diag *v;
	size_t n;
};

/* Extracts the diagnostics from len bytes of captured output (need not be
 * NUL-terminated; may hold NUL bytes and any encoding). command, which may be
 * NULL, is the command line that was run: it decides which parsers are tried
 * first and names ambiguous output (gcc or clang, cargo's own errors), but
 * output is never attributed to a tool on its say-so alone.
 *
 * On success returns 0 and fills *out (release it with diag_list_release();
 * a log with nothing recognised gives an empty list). Returns
 * CAIRN_E_TOOBIG for a log over DIAG_MAX_LOG and CAIRN_E_INVALID when log is
 * NULL with len > 0 or out is NULL; *out is empty after any failure. Exact
 * duplicates (same tool, place, severity and message, as when maven repeats
 * the compiler's errors) are kept once. */
int diag_extract(const char *log, size_t len, const char *command, struct diag_list *out);

/* Builds the JSON array for an event's "diagnostics": at most max objects
 * {tool, file (null if unknown), line, col, severity (event severity name),
 * message, notes (array of strings), log_line}. Returns a new reference;
 * l is not modified. */
json_t *diag_list_to_json(const struct diag_list *l, size_t max);

/* Frees everything the list holds and leaves it empty; safe to call twice. */
void diag_list_release(struct diag_list *l);

/* Names the test runner that produced a run, so the runner can emit test.*
 * instead of build.* events: "pytest", "go test", "cargo test",
 * "node --test", "jest", "maven surefire", "ctest", "runtest" (redis-style
 * Tcl suites), "automake" (make check's harness) and "tap" (other TAP:
 * prove; these two only from the output), or NULL for anything else. The command (may be NULL; the
 * first runner among commands joined with && ; || or | counts, after env assignments and wrappers
 * such as env, time, npx, "python -m", "uv run") decides when it names one; otherwise the output
 * (may be NULL; only its first and last MiB are read) is searched for each runner's banner or
 * summary. Returns a static string. */
const char *diag_detect_runner(const char *command, const char *log, size_t len);

/* True when the command (may be NULL) runs a project's tests through a
 * build tool or a script rather than naming a runner diag_detect_runner()
 * knows: make test, make check, ninja test, cmake --build . --target test,
 * npm test, npm run test:unit, meson test, tox, ./run-tests.sh,
 * python3 runtests.py (any of the commands joined with && ; || or |, after
 * env assignments and wrappers such as env and time). What ran is then
 * told by the output: diag_detect_runner(command, log, len). */
bool diag_is_test_wrapper(const char *command);

#endif
