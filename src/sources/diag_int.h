/* Internals of the diagnostics extractor, shared by src/sources/diag.c (the
 * driver: the cleaned lines, the list being built, the parser table) and the
 * parsers, one file per tool family:
 *
 *   diag_cc.c       gcc, clang and the linker (ld, lld, mold, collect2)
 *   diag_build.c    make, ninja, cmake, ctest and automake's test harness
 *   diag_jvm.c      javac and maven (with surefire)
 *   diag_rust.c     rustc, cargo and cargo test
 *   diag_go.c       go build and go test
 *   diag_py.c       pytest and Python tracebacks
 *   diag_js.c       node --test (TAP and spec reporters) and jest
 *   diag_tcl.c      Tcl test suites run by redis-style harnesses (runtest)
 *   diag_generic.c  the fallback for logs nothing else recognised
 *
 * A parser is called as fn(c, i) for log line i. It returns 0 when the line
 * is not its own, or how many lines (>= 1) it claimed, starting at i; it adds
 * what it found with diag_add() and diag_note*(), and marks with
 * diag_benign() a line it knows says all is well whatever its words (a
 * passing test named "errors are counted"), which the generic fallback then
 * never looks at. Nothing here is for use outside these files. */
#ifndef CAIRN_DIAG_INT_H
#define CAIRN_DIAG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "sources/diag.h"

/* A name a test runner gives a failing test is kept to this many bytes. */
#define DIAG_NAME_MAX 255

/* What diag_add() returns when nothing was added; a parser may keep
 * DIAG_DROPPED instead, to remember that its last diagnostic was refused (so
 * that the lines belonging to it are swallowed, not misattributed). Every
 * helper taking an index ignores both. */
enum { DIAG_NONE = -1, DIAG_DROPPED = -2 };

struct diag_line {
	const char *s; /* cleaned, NUL-terminated */
	size_t n;
};

struct diag_meta;     /* diag.c's bookkeeping per diagnostic */
struct diag_deferred; /* diag.c's "test X failed" records */

struct diag_ctx {
	/* The cleaned log: c->l[0..n), read-only for the parsers. */
	char *buf;
	struct diag_line *l;
	size_t n;

	/* The list being built. Parsers may change a diagnostic's place
	 * (then call diag_rehash()) but add and remove only through diag.c. */
	struct diag *v;
	struct diag_meta *m;
	size_t nv, cap, live, made;
	size_t text; /* bytes of text held, against DIAG_MAX_TOTAL */

	/* Hints from the command line and from a first look at the log. */
	bool clang_hint, rust_hint, go_hint, node_hint;
	/* The log has automake's test summary ("# TOTAL: N"): its "FAIL: x"
	 * lines are test results, not Python unittest's. */
	bool automake_hint;

	/* gcc/clang: context lines [pend_a, pend_b) waiting for the diagnostic
	 * they introduce; the last diagnostic and the line after its block. */
	size_t pend_a, pend_b;
	int cc_last;
	size_t cc_end;

	/* ld: the "in function" line, valid while ld lines follow each other. */
	size_t ld_ctx, ld_end;
	bool ld_has_ctx;

	bool javac_seen, maven_summary;
	bool go_seen;
	char go_test[DIAG_NAME_MAX + 1];
	bool rust_tests;
	int py_section; /* 0 other, 1 failures/errors, 2 short summary, 3 warnings */
	bool py_seen;
	bool tap_seen, jest_seen, ctest_seen;
	char jest_file[DIAG_NAME_MAX + 1];
	bool tcl_seen, tcl_timeout;

	/* benign[i]: a parser knows line i reports no failure (NULL until
	 * one says so; see diag_benign()). */
	bool *benign;

	struct diag_deferred *def;
	size_t ndef;
};

/* ---- small string helpers ----------------------------------------------- */

static inline bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static inline bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static inline bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static inline bool ends_with_n(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static inline bool ends_with(const char *s, const char *suf)
{
	return ends_with_n(s, strlen(s), suf);
}

static inline size_t indent_of(const char *s)
{
	return strspn(s, " \t");
}

static inline const char *skip_ws(const char *s)
{
	return s + strspn(s, " \t");
}

static inline bool is_blank(const char *s)
{
	return *skip_ws(s) == '\0';
}

/* Length of s without trailing blanks. */
static inline size_t trimmed_len(const char *s, size_t n)
{
	while (n > 0 && is_space(s[n - 1]))
		n--;
	return n;
}

/* Reads 1..9 digits at *pp; returns the number and advances, or -1. */
static inline int parse_num(const char **pp)
{
	const char *p = *pp;
	int v = 0, k = 0;

	while (is_digit(*p)) {
		if (++k > 9)
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	if (k == 0)
		return -1;
	*pp = p;
	return v;
}

static inline const char *base_name(const char *s, size_t n, size_t *blen)
{
	const char *b = s;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/')
			b = s + i + 1;
	*blen = n - (size_t)(b - s);
	return b;
}

static inline bool name_is(const char *s, size_t n, const char *name)
{
	return n == strlen(name) && memcmp(s, name, n) == 0;
}

/* The length snprintf wrote into a buffer of cap bytes. */
static inline size_t clampw(int w, size_t cap)
{
	return w < 0 ? 0 : (size_t)w < cap ? (size_t)w : cap - 1;
}

/* Copies at most cap bytes of s[0..n) into a fresh string, keeping valid
 * UTF-8 whole, turning each invalid byte into '?' and tabs into spaces, and
 * cutting only between characters. */
char *diag_text_dup(const char *s, size_t n, size_t cap);

/* Formats "<name>: <text>" (how test failures are worded) into buf; returns
 * its length. */
size_t diag_named(char *buf, size_t cap, const char *name, size_t nn, const char *text, size_t tn);

/* ---- building the list (diag.c) ----------------------------------------- */

/* Adds a diagnostic starting at log line at; returns its index, or DIAG_NONE
 * when it repeats one already kept or a cap is reached. */
int diag_add(struct diag_ctx *c, const char *tool, const char *file, size_t flen, int line, int col,
	     enum event_severity sev, const char *msg, size_t mlen, size_t at);
int diag_add_s(struct diag_ctx *c, const char *tool, const char *file, size_t flen, int line,
	       int col, enum event_severity sev, const char *msg, size_t at);

/* Adds a note to diagnostic idx; keep_indent keeps leading blanks, which
 * caret lines need to point anywhere. */
void diag_note_n(struct diag_ctx *c, int idx, const char *s, size_t n, bool keep_indent);
void diag_note(struct diag_ctx *c, int idx, const char *s);
/* Adds log line i as a note. */
void diag_note_line(struct diag_ctx *c, int idx, size_t i, bool keep_indent);
/* Adds line k as a note with base columns of indentation taken off, so a
 * diff keeps its shape. */
void diag_note_dedent(struct diag_ctx *c, int idx, size_t k, size_t base);

/* Marks log line i as one that reports no failure, such as a passing
 * test's line: the generic fallback skips it. */
void diag_benign(struct diag_ctx *c, size_t i);

/* Makes diagnostic idx span log lines up to (not including) end. */
void diag_span(struct diag_ctx *c, int idx, size_t end);

/* Must follow a change to the file, line or column of diagnostic idx (which
 * must be a real index): duplicates are found by a hash of them. */
void diag_rehash(struct diag_ctx *c, int idx);

/* Test runners: a diagnostic can carry the key of the test it is about. */
void diag_set_key(struct diag_ctx *c, int idx, const char *key, size_t n);
/* The live diagnostic of tool about key, or DIAG_NONE. */
int diag_find_key(struct diag_ctx *c, const char *tool, const char *key, size_t n);
/* Drops the recent diagnostics of tool about key: a go test printed them
 * with t.Log and then passed. */
void diag_drop_key(struct diag_ctx *c, const char *tool, const char *key, size_t n);
/* Replaces the message of diagnostic idx (a real index; when pytest's
 * summary names the test in full). */
void diag_set_message(struct diag_ctx *c, int idx, const char *msg, size_t n);
/* Remembers "test key of tool failed" at log line; it is reported at the end
 * only if nothing more specific was found for that test or its subtests.
 * tool must be a string constant. */
void diag_defer_fail(struct diag_ctx *c, const char *tool, const char *key, size_t n, size_t line);

/* ---- places and words several families share (diag.c) ------------------- */

struct diag_loc {
	const char *file;
	size_t flen;
	int line, col;
	const char *rest; /* after the ':' that ends the place */
};

/* Parses "FILE:LINE[:COL]:" at the start of s (FILE without blanks), or,
 * with at_end, "FILE:LINE[:COL]" followed only by blanks. */
bool diag_parse_loc(const char *s, bool at_end, struct diag_loc *lc);

/* Parses "...PATH:LINE:COL" or "...PATH:LINE" at the end of s[0..n) (as in a
 * stack frame); the path starts after the last blank or '('. */
bool diag_parse_tail_loc(const char *s, size_t n, struct diag_loc *lc);
/* The ":LINE" or ":LINE:COL" that ends s[0..*end): sets lc->line and
 * lc->col (0 without one) and moves *end back to where the numbers start
 * (the colon before them). False if s[0..*end) ends with no such number. */
bool diag_loc_numbers(const char *s, size_t *end, struct diag_loc *lc);

static inline bool loc_ext(const struct diag_loc *lc, const char *ext)
{
	return ends_with_n(lc->file, lc->flen, ext);
}

/* "error: ", "fatal error: ", "warning: ", "note: ", "remark: " at the start
 * of s (as gcc, clang, ld and javac print them): sets *sev and returns what
 * follows, or NULL. */
const char *diag_severity_word(const char *s, enum event_severity *sev);

/* A caret line: only blanks, '^' and '~', with at least one mark. */
bool diag_is_caret(const char *s);

/* Makefile, makefile, GNUmakefile, *.mk, *.make. */
bool diag_is_makefile(const char *f, size_t n);

/* ---- the parsers, in the files named above ------------------------------ */

/* diag_cc.c */
size_t diag_parse_cc(struct diag_ctx *c, size_t i);
size_t diag_parse_ld(struct diag_ctx *c, size_t i);
/* clang's "1 error generated.": the driver looks for it to tell clang from
 * gcc before parsing. */
bool diag_is_generated_line(const char *s, size_t n);

/* diag_build.c */
size_t diag_parse_make(struct diag_ctx *c, size_t i);
size_t diag_parse_ninja(struct diag_ctx *c, size_t i);
size_t diag_parse_cmake(struct diag_ctx *c, size_t i);
size_t diag_parse_ctest(struct diag_ctx *c, size_t i);
size_t diag_parse_automake(struct diag_ctx *c, size_t i);

/* diag_jvm.c */
size_t diag_parse_javac(struct diag_ctx *c, size_t i);
size_t diag_parse_maven(struct diag_ctx *c, size_t i);

/* diag_rust.c */
size_t diag_parse_rust(struct diag_ctx *c, size_t i);
size_t diag_parse_cargo_test(struct diag_ctx *c, size_t i);

/* diag_go.c */
size_t diag_parse_go(struct diag_ctx *c, size_t i);
size_t diag_parse_gotest(struct diag_ctx *c, size_t i);

/* diag_py.c */
size_t diag_parse_pytest(struct diag_ctx *c, size_t i);
size_t diag_parse_pytrace(struct diag_ctx *c, size_t i);

/* diag_js.c */
size_t diag_parse_node_tap(struct diag_ctx *c, size_t i);
size_t diag_parse_node_spec(struct diag_ctx *c, size_t i);
size_t diag_parse_jest(struct diag_ctx *c, size_t i);

/* diag_tcl.c */
size_t diag_parse_runtest(struct diag_ctx *c, size_t i);

/* diag_generic.c: run alone, and only when nothing else found anything. */
size_t diag_parse_generic(struct diag_ctx *c, size_t i);

#endif
