/* Diagnostics from Tcl test suites run by redis-style harnesses (redis's
 * ./runtest, tests/test_helper.tcl, and its forks). The test server prints
 * one line per test: "[ok]: NAME (N ms)", "[skip]: NAME", "[ignore]: NAME:
 * why" (nothing to report), and for a failure "[err]: NAME in FILE" with the
 * reason on the lines below (an assertion's "Expected ... (context: ...)",
 * or with --durable a Tcl error and its stack). "[exception]: ..." is a Tcl
 * error that stopped the test client; its stack names the test and the file
 * and line where it was raised. "[TIMEOUT]: clients state report follows."
 * is followed by each client's state ("sock1 => (IN PROGRESS) NAME"). At the
 * end, "!!! WARNING The following tests failed:" repeats each failure as
 * "*** [err]: ..." (used only for a failure whose own line was lost, as when
 * the middle of a long log was cut). A passing test's line, and the
 * harness's own lines, are marked benign (diag_benign()): never reported,
 * whatever words a test's name holds. */
#include "sources/diag_int.h"

#include <stdio.h>
#include <string.h>

/* Lines of a failure's reason or an exception's stack looked at. */
#define TCL_MAX_BLOCK 200

/* "[TAG]: " at the start of s: returns what follows, or NULL. */
static const char *tcl_tag(const char *s, const char *tag)
{
	size_t n = strlen(tag);
	if (s[0] != '[' || strncmp(s + 1, tag, n) != 0 || strncmp(s + 1 + n, "]: ", 3) != 0)
		return NULL;
	return s + n + 4;
}

/* "[3/42 done]: unit/type/set (5 seconds)". */
static bool tcl_is_progress(const char *s)
{
	const char *p = s + 1;
	if (s[0] != '[' || parse_num(&p) < 0 || *p++ != '/' || parse_num(&p) < 0)
		return false;
	return has_prefix(p, " done]: ");
}

/* A line the harness itself prints: it ends a failure's reason. */
static bool tcl_is_harness(const char *s)
{
	static const char *const tags[] = {"ok",        "err",     "skip",  "ignore",
					   "exception", "TIMEOUT", "ready", NULL};
	if (s[0] == '[') {
		for (const char *const *t = tags; *t; t++)
			if (tcl_tag(s, *t))
				return true;
		return tcl_is_progress(s);
	}
	/* A build tool's own line after the run: make's "*** [test] Error 1". */
	if (has_prefix(s, "make: ") || has_prefix(s, "make[") || has_prefix(s, "gmake"))
		return true;
	return has_prefix(s, "*** [") || has_prefix(s, "Testing ") || has_prefix(s, "Cleanup: ") ||
	       has_prefix(s, "!!! WARNING") || has_prefix(s, "Killing still running ") ||
	       has_prefix(s, "Execution time of different units:") ||
	       strcmp(skip_ws(s), "The End") == 0;
}

/* Splits "NAME in FILE" at the last " in " followed by a word without
 * blanks (test names may say "in" themselves). */
static void tcl_name_file(const char *d, size_t n, size_t *nn, const char **file, size_t *flen)
{
	*nn = n;
	*file = NULL;
	*flen = 0;
	for (size_t k = n; k-- > 0;) {
		if (k + 4 > n || memcmp(d + k, " in ", 4) != 0)
			continue;
		const char *f = d + k + 4;
		size_t fl = n - k - 4;
		if (fl > 0 && !memchr(f, ' ', fl) && !memchr(f, '\t', fl)) {
			*nn = k;
			*file = f;
			*flen = fl;
		}
		return;
	}
}

/* An assertion's reason ends with "(context: type source line N file F
 * cmd {...} proc ::test)" ([info frame] of the failed call): cut it off
 * into *ctx, and when it names the test's file, take its line. */
static size_t tcl_reason(const char *r, size_t rn, const char *file, size_t flen, int *line,
			 const char **ctx, size_t *cn)
{
	const char *p = memmem(r, rn, " (context: ", 11);
	*ctx = NULL;
	*cn = 0;
	if (!p)
		return rn;
	*ctx = p + 1;
	*cn = rn - (size_t)(p + 1 - r);
	const char *q = p + 11, *end = r + rn;
	if ((size_t)(end - q) > 17 && has_prefix(q, "type source line ")) {
		q += 17;
		int ln = parse_num(&q);
		if (ln > 0 && has_prefix(q, " file ") && file) {
			const char *f = q + 6;
			size_t fl = strcspn(f, " )");
			/* The frame has the full path; the test line the one
			 * relative to the project. */
			if (f + fl <= end && fl >= flen && memcmp(f + fl - flen, file, flen) == 0 &&
			    (fl == flen || f[fl - flen - 1] == '/'))
				*line = ln;
		}
	}
	return (size_t)(p - r);
}

/* "[err]: NAME in FILE" (after "[err]: ", at log line i) and the reason
 * lines below it; returns the lines used. */
static size_t tcl_err(struct diag_ctx *c, size_t i, const char *d)
{
	char msg[DIAG_MAX_TEXT + 1];
	const char *file, *ctx = NULL;
	size_t dn = trimmed_len(d, strlen(d)), nn, flen, cn = 0, k = i + 1, m;
	int line = 0, idx;

	tcl_name_file(d, dn, &nn, &file, &flen);
	/* The reason: the lines the harness printed with the test's name, up
	 * to its next line of its own or a blank one. */
	size_t end = i + 1;
	while (end < c->n && end < i + 1 + TCL_MAX_BLOCK && !is_blank(c->l[end].s) &&
	       !tcl_is_harness(c->l[end].s))
		end++;
	if (diag_find_key(c, "runtest", d, dn) >= 0)
		return end - i;
	if (k < end) {
		const char *r = skip_ws(c->l[k].s);
		size_t rn = trimmed_len(r, strlen(r));
		/* With --durable, a Tcl error that is not an assertion loses its
		 * first 10 characters (where "assertion:" would be); the error
		 * itself opens the stack on the next line. */
		if (k + 1 < end) {
			const char *e = c->l[k + 1].s;
			size_t en = trimmed_len(e, c->l[k + 1].n);
			if (rn > 0 && en == rn + 10 && memcmp(e + 10, r, rn) == 0) {
				r = e;
				rn = en;
				k++;
			}
		}
		rn = tcl_reason(r, rn, file, flen, &line, &ctx, &cn);
		m = diag_named(msg, sizeof msg, d, nn, r, rn);
		k++;
	} else {
		m = clampw(snprintf(msg, sizeof msg, "%.*s failed",
				    (int)(nn > DIAG_NAME_MAX ? DIAG_NAME_MAX : nn), d),
			   sizeof msg);
	}
	idx = diag_add(c, "runtest", file, flen, line, 0, SEV_ERROR, msg, m, i);
	diag_set_key(c, idx, d, dn);
	if (ctx)
		diag_note_n(c, idx, ctx, cn, false);
	for (; k < end; k++)
		diag_note_line(c, idx, k, true);
	diag_span(c, idx, end);
	return end - i;
}

/* The name in an errorInfo line `"test {NAME} {` or `"test "NAME" {`. */
static bool tcl_test_frame(const char *s, const char **name, size_t *nn)
{
	const char *p;
	if (!has_prefix(s, "\"test "))
		return false;
	p = s + 6;
	if (*p == '{' || *p == '"') {
		const char *q = strchr(p + 1, *p == '{' ? '}' : '"');
		if (!q)
			return false;
		*name = p + 1;
		*nn = (size_t)(q - p - 1);
	} else {
		*name = p;
		*nn = strcspn(p, " ");
	}
	return *nn > 0;
}

/* `    (file "tests/unit/x.tcl" line 12)` and `    ("uplevel" body line 3)`. */
static bool tcl_file_frame(const char *s, const char **file, size_t *flen, int *line)
{
	const char *p = skip_ws(s), *q, *r;
	int n;
	if (!has_prefix(p, "(file \""))
		return false;
	p += 7;
	if (!(q = strchr(p, '"')) || q == p || !has_prefix(q, "\" line "))
		return false;
	r = q + 7;
	if ((n = parse_num(&r)) <= 0)
		return false;
	*file = p;
	*flen = (size_t)(q - p);
	*line = n;
	return true;
}

static int tcl_body_line(const char *s)
{
	const char *p = skip_ws(s);
	if (!has_prefix(p, "(\"uplevel\" body line "))
		return 0;
	p += 21;
	int n = parse_num(&p);
	return n > 0 && *p == ')' ? n : 0;
}

/* "[exception]: ..." (what follows at d, log line i) and the Tcl stack
 * below it. The stack is read innermost first: the first `"test ...`
 * command names the test, and the first file frame gives the line of the
 * file's top-level command, to which each literal body evaluated on the
 * way in ("uplevel" body line N) adds N - 1: where the error was raised. */
static size_t tcl_exception(struct diag_ctx *c, size_t i, const char *d)
{
	char msg[DIAG_MAX_TEXT + 1];
	const char *name = NULL, *file = NULL, *st;
	size_t nn = 0, flen = 0, dn, k, m;
	int line = 0, offset = 0, idx;

	if (has_prefix(d, "Executing test client: "))
		d += 23;
	dn = trimmed_len(d, strlen(d));
	if (dn > 0 && d[dn - 1] == '.')
		dn--;
	for (k = i + 1; k < c->n && k < i + 1 + TCL_MAX_BLOCK && !tcl_is_harness(c->l[k].s); k++) {
		const char *s = c->l[k].s;
		int bl;
		if (file)
			continue;
		if (!name && tcl_test_frame(s, &name, &nn))
			continue;
		if ((bl = tcl_body_line(s)) > 0 && offset < 1000000)
			offset += bl - 1;
		else if (tcl_file_frame(s, &file, &flen, &line))
			line += offset;
	}
	/* "Test client sock1 exited unexpectedly -- last client state:
	 * (IN PROGRESS) NAME": it died (a crash, the OOM killer). */
	if (!name && (st = strstr(d, "exited unexpectedly")) != NULL &&
	    (st = strstr(st, "(IN PROGRESS) ")) != NULL && st + 14 < d + dn) {
		name = st + 14;
		nn = (size_t)(d + dn - name);
		d = "test client exited unexpectedly";
		dn = strlen(d);
	}
	if (name)
		m = diag_named(msg, sizeof msg, name, nn, d, dn);
	else
		m = clampw(snprintf(msg, sizeof msg, "%.*s",
				    (int)(dn > DIAG_MAX_TEXT ? DIAG_MAX_TEXT : dn), d),
			   sizeof msg);
	idx = diag_add(c, "runtest", file, flen, line, 0, SEV_ERROR, msg, m, i);
	if (name)
		diag_set_key(c, idx, name, nn);
	for (size_t j = i + 1; j < k; j++)
		diag_note_line(c, idx, j, true);
	diag_span(c, idx, k);
	return k - i;
}

/* "[TIMEOUT]: clients state report follows." and the states below it: each
 * test in progress timed out. */
static size_t tcl_timeout(struct diag_ctx *c, size_t i)
{
	char msg[DIAG_MAX_TEXT + 1];
	size_t k, m;
	int idx, first = DIAG_NONE;

	for (k = i + 1; k < c->n && k < i + 1 + TCL_MAX_BLOCK; k++) {
		const char *s = c->l[k].s, *st = strstr(s, " => ");
		if (!st || tcl_is_harness(s))
			break;
		st += 4;
		if (!has_prefix(st, "(IN PROGRESS) "))
			continue;
		st += 14;
		m = diag_named(msg, sizeof msg, st, strlen(st), "timed out", 9);
		idx = diag_add(c, "runtest", NULL, 0, 0, 0, SEV_ERROR, msg, m, k);
		diag_set_key(c, idx, st, strlen(st));
		diag_note_line(c, idx, i, false);
		if (first == DIAG_NONE)
			first = idx;
	}
	if (first == DIAG_NONE) {
		idx = diag_add_s(c, "runtest", NULL, 0, 0, 0, SEV_ERROR,
				 "test run timed out: clients state report follows", i);
		for (size_t j = i + 1; j < k; j++)
			diag_note_line(c, idx, j, false);
		diag_span(c, idx, k);
	}
	c->tcl_timeout = true;
	return k - i;
}

size_t diag_parse_runtest(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *d;

	if ((d = tcl_tag(s, "ok")) || (d = tcl_tag(s, "skip")) || (d = tcl_tag(s, "ignore")) ||
	    tcl_is_progress(s)) {
		c->tcl_seen = true;
		diag_benign(c, i);
		return 1;
	}
	if ((d = tcl_tag(s, "err"))) {
		c->tcl_seen = true;
		return tcl_err(c, i, d);
	}
	if ((d = tcl_tag(s, "exception"))) {
		c->tcl_seen = true;
		return tcl_exception(c, i, d);
	}
	if (tcl_tag(s, "TIMEOUT")) {
		c->tcl_seen = true;
		return tcl_timeout(c, i);
	}
	if (!c->tcl_seen)
		return 0;
	/* The summary at the end repeats every failure. */
	if (has_prefix(s, "*** ")) {
		if ((d = tcl_tag(s + 4, "err")))
			return tcl_err(c, i, d);
		if (tcl_tag(s + 4, "TIMEOUT")) {
			if (!c->tcl_timeout)
				return tcl_timeout(c, i);
			return 1;
		}
		return 0;
	}
	if (has_prefix(s, "!!! WARNING"))
		return 1;
	if (has_prefix(s, "Killing still running ")) {
		diag_benign(c, i);
		return 1;
	}
	/* "  5 seconds - unit/type/set" under "Execution time". */
	const char *p = skip_ws(s);
	if ((p != s && parse_num(&p) >= 0 && has_prefix(p, " seconds - ")) || tcl_tag(s, "ready") ||
	    has_prefix(s, "Testing ") || has_prefix(s, "Execution time of different units:") ||
	    has_prefix(s, "Cleanup: ") || strcmp(skip_ws(s), "The End") == 0 ||
	    strstr(s, "All tests passed without errors!")) {
		diag_benign(c, i);
		return 1;
	}
	return 0;
}
