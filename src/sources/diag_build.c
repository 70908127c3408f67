/* Diagnostics from build tools. make: "make[N]: *** [Makefile:7: target]
 * Error 1", "No rule to make target", make's warnings and Makefile:N: errors.
 * ninja: "FAILED: target" with the failed command as a note, "ninja:
 * error|warning: ...". cmake: "CMake Error|Warning (dev)|Deprecation ... at
 * file:line (cmd):" with its indented message. ctest: "N/M Test #K: name
 * ...***Failed|Timeout|Exception: SegFault|Not Run" with what ctest adds
 * (a regular expression not found, the executable not found) in the message,
 * the test's output as notes (--output-on-failure after the line, -V's "K: "
 * lines before it) and the first file:line in it as the place; "The
 * following tests FAILED:" for tests not seen before. Passed, skipped and
 * disabled tests are benign. automake's test harness (make check), in a log
 * with its "# TOTAL:" summary: "FAIL: x", "ERROR: x", "XPASS: x", with the
 * test's output from test-suite.log as notes when VERBOSE=1 printed it;
 * PASS, SKIP and XFAIL are benign. */
#include "sources/diag_int.h"

#include <stdio.h>
#include <string.h>

/* ---- make --------------------------------------------------------------- */

/* "make: ", "make[2]: ", "gmake[1]: ": returns what follows, or NULL. */
static const char *make_prefix(const char *s)
{
	size_t k = strcspn(s, "[: "), bn;
	const char *b = base_name(s, k, &bn), *p = s + k;

	if (!(name_is(b, bn, "make") || name_is(b, bn, "gmake") || name_is(b, bn, "mingw32-make") ||
	      name_is(b, bn, "bmake")))
		return NULL;
	if (*p == '[') {
		p++;
		if (parse_num(&p) < 0 || *p != ']')
			return NULL;
		p++;
	}
	return has_prefix(p, ": ") ? p + 2 : NULL;
}

/* "*** [Makefile:7: main.o] Error 1" and the like, after the "*** ". */
static void make_error(struct diag_ctx *c, size_t i, const char *p)
{
	char buf[DIAG_MAX_LINE + 1], msg[DIAG_MAX_TEXT + 1];
	const char *file = NULL, *close;
	size_t flen = 0, n = strlen(p);
	int line = 0;

	if (ends_with(p, "  Stop."))
		n -= 7;
	if (*p == '[' && (close = strstr(p, "] ")) != NULL) {
		size_t in = (size_t)(close - p - 1);
		struct diag_loc lc;
		const char *target = buf;
		memcpy(buf, p + 1, in);
		buf[in] = '\0';
		if (diag_parse_loc(buf, false, &lc)) {
			file = lc.file;
			flen = lc.flen;
			line = lc.line;
			target = skip_ws(lc.rest);
		}
		size_t used = (size_t)(close + 2 - p);
		size_t m = diag_named(msg, sizeof msg, target, strlen(target), close + 2,
				      n > used ? n - used : 0);
		diag_add(c, "make", file, flen, line, 0, SEV_ERROR, msg, m, i);
		return;
	}
	diag_add(c, "make", NULL, 0, 0, 0, SEV_ERROR, p, n, i);
}

size_t diag_parse_make(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *p = make_prefix(s);
	struct diag_loc lc;

	if (p) {
		if (has_prefix(p, "*** ")) {
			make_error(c, i, p + 4);
			return 1;
		}
		if (has_prefix(p, "warning: ")) {
			diag_add_s(c, "make", NULL, 0, 0, 0, SEV_WARNING, p + 9, i);
			return 1;
		}
		if (has_prefix(p, "Entering directory") || has_prefix(p, "Leaving directory") ||
		    has_prefix(p, "Nothing to be done") || strstr(p, " is up to date.") ||
		    (has_prefix(p, "Target ") && strstr(p, " not remade because of errors")))
			return 1;
		return 0;
	}
	if (diag_parse_loc(s, false, &lc) && diag_is_makefile(lc.file, lc.flen)) {
		enum event_severity sev = SEV_ERROR;
		const char *m = lc.rest;
		size_t n;
		if (has_prefix(m, " *** ")) {
			m += 5;
		} else if (has_prefix(m, " warning: ")) {
			m += 10;
			sev = SEV_WARNING;
		} else {
			return 0;
		}
		n = strlen(m);
		if (ends_with(m, "  Stop."))
			n -= 7;
		diag_add(c, "make", lc.file, lc.flen, lc.line, 0, sev, m, n, i);
		return 1;
	}
	return 0;
}

/* ---- ninja -------------------------------------------------------------- */

size_t diag_parse_ninja(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *p;
	int idx;

	if (has_prefix(s, "FAILED: ")) {
		p = s + 8;
		if (has_prefix(p, "[code=") && (p = strstr(p, "] ")) != NULL)
			p += 2;
		else
			p = s + 8;
		char msg[DIAG_MAX_TEXT + 1];
		size_t m = clampw(snprintf(msg, sizeof msg, "FAILED: %s", p), sizeof msg);
		idx = diag_add(c, "ninja", NULL, 0, 0, 0, SEV_ERROR, msg, m, i);
		/* Ninja prints the failed command on the next line. */
		if (i + 1 < c->n && !is_blank(c->l[i + 1].s)) {
			diag_note_line(c, idx, i + 1, false);
			diag_span(c, idx, i + 2);
			return 2;
		}
		return 1;
	}
	if (!has_prefix(s, "ninja: "))
		return 0;
	p = s + 7;
	if (has_prefix(p, "error: ")) {
		diag_add_s(c, "ninja", NULL, 0, 0, 0, SEV_ERROR, p + 7, i);
		return 1;
	}
	if (has_prefix(p, "warning: ")) {
		diag_add_s(c, "ninja", NULL, 0, 0, 0, SEV_WARNING, p + 9, i);
		return 1;
	}
	if (has_prefix(p, "build stopped") || has_prefix(p, "Entering directory") ||
	    has_prefix(p, "no work to do"))
		return 1;
	return 0;
}

/* ---- cmake -------------------------------------------------------------- */

size_t diag_parse_cmake(struct diag_ctx *c, size_t i)
{
	static const struct {
		const char *w;
		enum event_severity sev;
	} kinds[] = {
		{"Deprecation Error", SEV_ERROR}, {"Deprecation Warning", SEV_WARNING},
		{"Warning (dev)", SEV_WARNING},   {"Error", SEV_ERROR},
		{"Warning", SEV_WARNING},
	};
	const char *s = c->l[i].s, *p, *file = NULL, *text = NULL;
	enum event_severity sev = SEV_ERROR;
	size_t flen = 0, k, j, kind;
	int line = 0, idx;
	char msg[DIAG_MAX_TEXT + 1] = "";
	size_t mlen = 0;

	if (has_prefix(s, "-- Configuring incomplete") ||
	    has_prefix(s, "CMake Generate step failed"))
		return 1;
	if (!has_prefix(s, "CMake "))
		return 0;
	p = s + 6;
	for (kind = 0; kind < sizeof kinds / sizeof kinds[0]; kind++)
		if (has_prefix(p, kinds[kind].w))
			break;
	if (kind == sizeof kinds / sizeof kinds[0])
		return 0;
	sev = kinds[kind].sev;
	p += strlen(kinds[kind].w);
	if (has_prefix(p, " at ") || has_prefix(p, " in ")) {
		bool at = p[1] == 'a';
		const char *f = p + 4, *q;
		if (!ends_with(s, ":"))
			return 0;
		file = f;
		flen = strlen(f) - 1;
		if (at) {
			/* "CMakeLists.txt:3 (message):" */
			for (q = f; *q; q++) {
				const char *r = q + 1;
				if (*q != ':' || !is_digit(q[1]))
					continue;
				int ln = parse_num(&r);
				if (ln >= 0 && (has_prefix(r, " (") || *r == ':')) {
					line = ln;
					flen = (size_t)(q - f);
					break;
				}
			}
		}
	} else if (*p == ':') {
		text = skip_ws(p + 1);
	} else {
		return 0;
	}

	/* The message is the indented block below, up to the next line that
	 * starts in column 0 (cmake's own "Call Stack" line belongs to it). */
	for (j = i + 1; j < c->n; j++) {
		const char *t = c->l[j].s;
		if (!is_blank(t) && !is_space(t[0]) &&
		    !has_prefix(t, "Call Stack (most recent call first):"))
			break;
	}
	k = i + 1;
	if (!text || !*text) {
		/* First paragraph, joined: cmake wraps long messages. */
		while (k < j && is_blank(c->l[k].s))
			k++;
		for (; k < j && !is_blank(c->l[k].s); k++) {
			const char *t = skip_ws(c->l[k].s);
			int w = snprintf(msg + mlen, sizeof msg - mlen, "%s%s", mlen ? " " : "", t);
			if (w < 0 || (size_t)w >= sizeof msg - mlen) {
				mlen = sizeof msg - 1;
				continue;
			}
			mlen += (size_t)w;
		}
		text = msg;
	} else {
		mlen = strlen(text);
	}
	idx = diag_add(c, "cmake", file, flen, line, 0, sev, text, mlen, i);
	for (; k < j; k++)
		if (!is_blank(c->l[k].s))
			diag_note_line(c, idx, k, false);
	diag_span(c, idx, j);
	return j - i;
}

/* ---- ctest -------------------------------------------------------------- */

/* Lines looked back over for a failed test's verbose output (ctest -V) or
 * the reason it did not run, and forward over for its output
 * (--output-on-failure). */
#define CTEST_BACK 256
#define CTEST_FORWARD 2000

/* "3: " before a line of test #3's output under ctest -V: returns what
 * follows, or NULL. */
static const char *ctest_verbose(const char *s, int num)
{
	const char *p = s;
	if (parse_num(&p) != num || !has_prefix(p, ": "))
		return NULL;
	p += 2;
	/* ctest's own lines about the test, not its output. */
	if (has_prefix(p, "Test command: ") || has_prefix(p, "Working Directory: ") ||
	    has_prefix(p, "Test timeout computed to be: ") ||
	    has_prefix(p, "Environment variables:"))
		return NULL;
	return p;
}

/* The first "file.ext:LINE[:COL]: ..." in a test's output: where it failed,
 * as assertion macros (cmocka, gtest, Unity, check, assert()) print it. */
static void ctest_place(const char *t, struct diag_loc *where, bool *have)
{
	struct diag_loc lc;
	t = skip_ws(t);
	if (*have || !diag_parse_loc(t, false, &lc) || !memchr(lc.file, '.', lc.flen) ||
	    is_blank(lc.rest))
		return;
	*where = lc;
	*have = true;
}

/* A test's result line "2/3 Test #2: name ....***Failed  why  0.00 sec"
 * at log line i, from the number (p at "#2: "). */
static size_t ctest_result(struct diag_ctx *c, size_t i, const char *p)
{
	const char *name, *st, *why;
	char msg[DIAG_MAX_TEXT + 1];
	struct diag_loc where = {0};
	bool have = false;
	size_t nn, sn, wn, m, k, back, end;
	int num, idx;

	p++;
	if ((num = parse_num(&p)) < 0 || !has_prefix(p, ": "))
		return 0;
	c->ctest_seen = true;
	name = p + 2;
	nn = strcspn(name, " ");
	if (!(st = strstr(name, "***"))) {
		/* "   Passed": whatever the test's name says. */
		diag_benign(c, i);
		return 1;
	}
	st += 3;
	for (sn = 0; st[sn] && !(st[sn] == ' ' && st[sn + 1] == ' '); sn++)
		;
	/* Not failures: SKIP_RETURN_CODE and DISABLED. */
	if (has_prefix(st, "Skipped") || has_prefix(st, "Not Run (Disabled)")) {
		diag_benign(c, i);
		return 1;
	}
	/* What ctest says after the status ("Required regular expression not
	 * found. Regex=[...]"), without the time that ends the line. */
	why = skip_ws(st + sn);
	wn = trimmed_len(why, strlen(why));
	if (ends_with_n(why, wn, " sec")) {
		size_t e = wn - 4;
		while (e > 0 && (is_digit(why[e - 1]) || why[e - 1] == '.'))
			e--;
		wn = trimmed_len(why, e);
	}

	/* Back to "Start N: name": the test's -V output ("N: ...") and why it
	 * could not run ("Could not find executable ..."). */
	for (back = i; back > 0 && i - back < CTEST_BACK; back--) {
		const char *u = skip_ws(c->l[back - 1].s), *q = u;
		if (has_prefix(u, "Start ") && (q = skip_ws(u + 6), parse_num(&q) == num) &&
		    *q == ':')
			break;
	}
	if (back == 0 || i - back >= CTEST_BACK)
		back = i;
	for (k = back; k < i; k++) {
		const char *t = ctest_verbose(c->l[k].s, num);
		if (t)
			ctest_place(t, &where, &have);
	}
	/* --output-on-failure: the test's output follows. ("test 4" is how
	 * ctest -V starts the next test.) */
	for (end = i + 1; end < c->n && end < i + 1 + CTEST_FORWARD; end++) {
		const char *u = c->l[end].s, *q = skip_ws(u);
		if (has_prefix(q, "Start ") ||
		    (is_digit(*q) && strstr(q, " Test ") && strstr(q, "#")) ||
		    (is_digit(*u) && strstr(u, "% tests passed")) ||
		    has_prefix(u, "The following tests") ||
		    (has_prefix(u, "test ") && (q = u + 5, parse_num(&q) >= 0) && *q == '\0'))
			break;
		ctest_place(u, &where, &have);
	}

	if (wn > 0) {
		char st2[DIAG_MAX_TEXT + 1];
		size_t s2 =
			clampw(snprintf(st2, sizeof st2, "%.*s: %.*s", (int)sn, st, (int)wn, why),
			       sizeof st2);
		m = diag_named(msg, sizeof msg, name, nn, st2, s2);
	} else {
		m = diag_named(msg, sizeof msg, name, nn, st, sn);
	}
	for (k = back; k < i && has_prefix(st, "Not Run"); k++) {
		const char *u = c->l[k].s;
		if (has_prefix(u, "Could not find executable ") ||
		    has_prefix(u, "Unable to find executable")) {
			m = clampw(snprintf(msg + m, sizeof msg - m, " (%s)", u), sizeof msg - m) +
			    m;
			break;
		}
	}
	idx = diag_add(c, "ctest", have ? where.file : NULL, have ? where.flen : 0,
		       have ? where.line : 0, have ? where.col : 0, SEV_ERROR, msg, m, i);
	diag_set_key(c, idx, name, nn);
	for (k = back; k < i; k++) {
		const char *t = ctest_verbose(c->l[k].s, num);
		if (t)
			diag_note(c, idx, t);
	}
	for (k = i + 1; k < end; k++) {
		/* The end of a status that ran over a line ("Regex=[^ok" then
		 * "]  0.01 sec") is not the test's output. */
		const char *u = c->l[k].s, *gap = strstr(u, "  ");
		if (k == i + 1 && wn > 0 && gap && gap - u < 16 && ends_with(u, " sec"))
			continue;
		diag_note_line(c, idx, k, false);
	}
	diag_span(c, idx, end);
	return end - i;
}

size_t diag_parse_ctest(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s), *p = t, *name;
	char msg[DIAG_MAX_TEXT + 1];
	size_t nn, k, m;
	int idx;

	if (has_prefix(s, "Test project ")) {
		c->ctest_seen = true;
		diag_benign(c, i);
		return 1;
	}
	if (has_prefix(s, "The following tests FAILED:")) {
		c->ctest_seen = true;
		for (k = i + 1; k < c->n; k++) {
			const char *u = skip_ws(c->l[k].s), *dash = strstr(u, " - "), *o;
			if (!is_digit(*u) || !dash)
				break;
			name = dash + 3;
			o = strrchr(name, '(');
			nn = o && o > name ? (size_t)(o - 1 - name) : strlen(name);
			if (diag_find_key(c, "ctest", name, nn) >= 0)
				continue;
			const char *why = o ? o + 1 : "Failed";
			m = diag_named(msg, sizeof msg, name, nn, why, strcspn(why, ")"));
			idx = diag_add(c, "ctest", NULL, 0, 0, 0, SEV_ERROR, msg, m, k);
			diag_set_key(c, idx, name, nn);
		}
		return k - i;
	}
	/* Skipped and disabled tests: not failures. */
	if (has_prefix(s, "The following tests did not run:")) {
		c->ctest_seen = true;
		diag_benign(c, i);
		for (k = i + 1; k < c->n; k++) {
			const char *u = skip_ws(c->l[k].s);
			if (!is_digit(*u) || !strstr(u, " - "))
				break;
			diag_benign(c, k);
		}
		return k - i;
	}
	if (c->ctest_seen && has_prefix(s, "Errors while running CTest"))
		return 1;
	/* Progress and totals ("0 tests failed out of 3"): never a failure. */
	if (c->ctest_seen && (has_prefix(t, "Start ") || has_prefix(s, "Total Test time") ||
			      (is_digit(*s) && strstr(s, "% tests passed")))) {
		diag_benign(c, i);
		return 1;
	}
	/* "2/3 Test #2: fails ....................***Failed    0.00 sec" */
	if (parse_num(&p) < 0 || *p++ != '/' || parse_num(&p) < 0)
		return 0;
	p = skip_ws(p);
	if (!has_prefix(p, "Test "))
		return 0;
	p = skip_ws(p + 5);
	if (*p != '#')
		return 0;
	return ctest_result(c, i, p);
}

/* ---- automake's test harness (make check) ------------------------------- */

/* The result word of "FAIL: name" and the like, how bad it is, and whether
 * it is a failure at all. */
static const struct am_result {
	const char *word;
	const char *says; /* what the message adds after the word */
	bool failed;
} am_results[] = {
	{"FAIL", "", true},
	{"ERROR", " (a hard error: exit status 99 or the test could not run)", true},
	{"XPASS", " (passed, but was expected to fail)", true},
	{"PASS", "", false},
	{"SKIP", "", false},
	{"XFAIL", "", false},
};

/* "FAIL: name" at the start of s: the result and the name, or NULL. */
static const struct am_result *am_result(const char *s, const char **name)
{
	for (size_t k = 0; k < sizeof am_results / sizeof am_results[0]; k++) {
		size_t n = strlen(am_results[k].word);
		if (!strncmp(s, am_results[k].word, n) && s[n] == ':' && s[n + 1] == ' ' &&
		    s[n + 2] && !is_space(s[n + 2])) {
			*name = s + n + 2;
			return &am_results[k];
		}
	}
	return NULL;
}

/* Line k underlines line k - 1, as test-suite.log's headings are (printed
 * with VERBOSE=1): as many '=' as the heading has bytes (the summary's rule
 * lines are longer). */
static bool am_underline(struct diag_ctx *c, size_t k)
{
	const char *s = c->l[k].s;
	return k > 0 && s[0] == '=' && s[strspn(s, "=")] == '\0' && c->l[k].n == c->l[k - 1].n;
}

/* A failed test's diagnostic ("parse.sh: FAIL"), at log line i. */
static int am_add(struct diag_ctx *c, const struct am_result *r, const char *name, size_t nn,
		  size_t i)
{
	char msg[DIAG_MAX_TEXT + 1];
	size_t m, bn;
	int idx;

	m = clampw(snprintf(msg, sizeof msg, "%.*s: %s%s",
			    (int)(nn > DIAG_NAME_MAX ? DIAG_NAME_MAX : nn), name, r->word, r->says),
		   sizeof msg);
	/* A test script (tests/parse.sh) is a file of the project; a test
	 * program's name (test_parse) is not taken for one. */
	const char *b = base_name(name, nn, &bn);
	bool file = memchr(b, '.', bn) != NULL;
	idx = diag_add(c, "automake", file ? name : NULL, file ? nn : 0, 0, 0, SEV_ERROR, msg, m,
		       i);
	diag_set_key(c, idx, name, nn);
	return idx;
}

size_t diag_parse_automake(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *name;
	const struct am_result *r;
	size_t nn, k;
	int idx;

	if (!c->automake_hint)
		return 0;
	/* The summary: "# TOTAL: 6", "# FAIL:  1", "See ./test-suite.log". */
	if ((s[0] == '#' && s[1] == ' ' && strchr(s, ':')) || has_prefix(s, "Testsuite summary") ||
	    has_prefix(s, "See ./") || has_prefix(s, ".. contents::")) {
		diag_benign(c, i);
		return 1;
	}
	if (!(r = am_result(s, &name)))
		return 0;
	nn = trimmed_len(name, strlen(name));
	if (!r->failed)
		diag_benign(c, i);
	if (i + 1 < c->n && am_underline(c, i + 1)) {
		/* test-suite.log's section for a test (make check VERBOSE=1):
		 * its output, up to the next section or the summary's rule. */
		bool own = false;
		idx = diag_find_key(c, "automake", name, nn);
		if (r->failed && idx < 0)
			idx = am_add(c, r, name, nn, i), own = true;
		for (k = i + 2; k < c->n && k < i + 2 + 2000; k++) {
			const char *u = c->l[k].s;
			if ((u[0] == '=' && u[strspn(u, "=")] == '\0') ||
			    (k + 1 < c->n && am_underline(c, k + 1)))
				break;
			if (!r->failed)
				diag_benign(c, k);
			else
				diag_note_line(c, idx, k, false);
		}
		if (own)
			diag_span(c, idx, k);
		return k - i;
	}
	if (r->failed && diag_find_key(c, "automake", name, nn) < 0) {
		idx = am_add(c, r, name, nn, i);
		diag_note(c, idx, "its output is in its .log file and in test-suite.log");
	}
	return 1;
}
