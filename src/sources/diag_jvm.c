/* Diagnostics from the JVM toolchain. javac: "File.java:3: error: msg" with
 * the source and caret lines (the caret gives the column). maven:
 * "[ERROR] /path/File.java:[3,5] msg", surefire test failures (the exception
 * and the frame in the test's own class) and the "Tests run:" totals, the
 * "Failures:"/"Errors:" summary, and any other [ERROR]/[WARNING] line that is
 * not maven's boilerplate. */
#include "sources/diag_int.h"

#include <stdio.h>
#include <string.h>

/* ---- javac -------------------------------------------------------------- */

size_t diag_parse_javac(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *msg;
	enum event_severity sev;
	struct diag_loc lc;
	size_t k;
	int idx;

	if (c->javac_seen) {
		const char *p = s;
		if (is_digit(*p) && parse_num(&p) >= 0 &&
		    (!strcmp(p, " error") || !strcmp(p, " errors") || !strcmp(p, " warning") ||
		     !strcmp(p, " warnings")))
			return 1;
		if (has_prefix(s, "Note: "))
			return 1;
	}
	if (!diag_parse_loc(s, false, &lc) || !loc_ext(&lc, ".java") || *lc.rest != ' ' ||
	    !(msg = diag_severity_word(lc.rest + 1, &sev)))
		return 0;
	c->javac_seen = true;
	idx = diag_add_s(c, "javac", lc.file, lc.flen, lc.line, 0, sev, msg, i);
	for (k = i + 1; k < c->n && is_space(c->l[k].s[0]) && !is_blank(c->l[k].s); k++) {
		const char *t = c->l[k].s;
		bool caret = diag_is_caret(t);
		diag_note_line(c, idx, k, caret || k == i + 1);
		const char *cp = caret ? strchr(t, '^') : NULL;
		if (cp && idx >= 0 && c->v[idx].col == 0 && lc.line > 0) {
			/* javac gives no column; its caret does (a "~~~" line
			 * counts as a caret line but has no '^' to place it). */
			c->v[idx].col = (int)(cp - t) + 1;
			diag_rehash(c, idx);
		}
	}
	diag_span(c, idx, k);
	return k - i;
}

/* ---- maven -------------------------------------------------------------- */

/* "/path/App.java:[5,24] msg" */
static bool maven_place(const char *p, struct diag_loc *lc)
{
	const char *q = strstr(p, ":[");
	const char *r;
	int line, col;

	if (!q || q == p)
		return false;
	r = q + 2;
	if ((line = parse_num(&r)) < 0 || *r++ != ',' || (col = parse_num(&r)) < 0 || *r++ != ']')
		return false;
	lc->file = p;
	lc->flen = (size_t)(q - p);
	lc->line = line;
	lc->col = col;
	lc->rest = skip_ws(r);
	return true;
}

static bool maven_boilerplate(const char *p)
{
	static const char *const noise[] = {
		"-> [Help",
		"To see the full stack trace",
		"Re-run Maven using",
		"For more information about the errors",
		"[Help ",
		"Please refer to ",
		"COMPILATION ERROR",
		"COMPILATION WARNING",
		"There are test failures",
		"After correcting the problems",
		"Crash detected",
	};
	if (is_blank(p))
		return true;
	for (size_t k = 0; k < sizeof noise / sizeof noise[0]; k++)
		if (has_prefix(p, noise[k]))
			return true;
	return false;
}

/* A surefire failure: "[ERROR] addsTwoNumbers(demo.AppTest)  Time elapsed:
 * 0.008 s  <<< FAILURE!" (surefire 2) or "[ERROR] demo.AppTest.adds --
 * Time elapsed: ..." (surefire 3), then the exception and its frames. */
static size_t maven_test(struct diag_ctx *c, size_t i, const char *p)
{
	char key[DIAG_NAME_MAX + 1], cls[DIAG_NAME_MAX + 1], msg[DIAG_MAX_TEXT + 1];
	const char *e = strstr(p, "  Time elapsed");
	const char *open, *method, *klass;
	size_t mn, kn, j, m;
	struct diag_loc best = {0};
	bool found = false;
	int idx;

	if (!e)
		e = strstr(p, " -- Time elapsed");
	if (!e)
		e = strstr(p, " <<< ");
	if (!e)
		return 0;
	open = memchr(p, '(', (size_t)(e - p));
	if (open && e[-1] == ')') {
		method = p;
		mn = (size_t)(open - p);
		klass = open + 1;
		kn = (size_t)(e - 1 - klass);
	} else {
		const char *dot = NULL;
		for (const char *q = p; q < e; q++)
			if (*q == '.')
				dot = q;
		if (!dot)
			return 0;
		klass = p;
		kn = (size_t)(dot - p);
		method = dot + 1;
		mn = (size_t)(e - method);
	}
	/* Key on the simple class name, as the summary lines print it. */
	const char *kend = klass + kn;
	for (const char *q = klass; q < kend; q++)
		if (*q == '.')
			klass = q + 1;
	kn = (size_t)(kend - klass);
	snprintf(cls, sizeof cls, "%.*s.java", (int)(kn < 200 ? kn : 200), klass);
	size_t klen = clampw(snprintf(key, sizeof key, "%.*s.%.*s", (int)(kn < 120 ? kn : 120),
				      klass, (int)(mn < 120 ? mn : 120), method),
			     sizeof key);

	for (j = i + 1; j < c->n; j++) {
		const char *t = c->l[j].s;
		if (is_blank(t) || t[0] == '[')
			break;
	}
	const char *first = i + 1 < j ? c->l[i + 1].s : "failed";
	m = diag_named(msg, sizeof msg, key, klen, first, strlen(first));
	for (size_t k = i + 1; k < j && !found; k++) {
		const char *t = skip_ws(c->l[k].s), *q;
		struct diag_loc lc;
		if (!has_prefix(t, "at ") || !(q = strrchr(t, '(')))
			continue;
		if (diag_parse_tail_loc(q + 1, strlen(q + 1) - (ends_with(q, ")") ? 1 : 0), &lc) &&
		    ends_with_n(lc.file, lc.flen, ".java")) {
			if (!best.file)
				best = lc;
			if (name_is(lc.file, lc.flen, cls))
				best = lc, found = true;
		}
	}
	idx = diag_add(c, "maven", best.file, best.flen, best.line, 0, SEV_ERROR, msg, m, i);
	diag_set_key(c, idx, key, klen);
	for (size_t k = i + 2; k < j; k++)
		diag_note_line(c, idx, k, false);
	diag_span(c, idx, j);
	return j - i;
}

size_t diag_parse_maven(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *p;
	enum event_severity sev;
	struct diag_loc lc;
	size_t k;
	int idx;

	if (has_prefix(s, "[ERROR] ") || !strcmp(s, "[ERROR]")) {
		sev = SEV_ERROR;
		p = s + (s[7] ? 8 : 7);
	} else if (has_prefix(s, "[WARNING] ") || !strcmp(s, "[WARNING]")) {
		sev = SEV_WARNING;
		p = s + (s[9] ? 10 : 9);
	} else {
		c->maven_summary = false;
		return 0;
	}
	if (c->maven_summary && has_prefix(p, "  ") && sev == SEV_ERROR) {
		/* "[ERROR]   AppTest.addsTwoNumbers:10 expected:<3> but was:<4>" */
		const char *t = skip_ws(p);
		size_t kn = strcspn(t, ": ");
		const char *r = t + kn;
		if (diag_find_key(c, "maven", t, kn) >= 0)
			return 1;
		if (*r == ':')
			r += 1 + strspn(r + 1, "0123456789");
		char msg[DIAG_MAX_TEXT + 1];
		const char *why = skip_ws(r);
		size_t m = diag_named(msg, sizeof msg, t, kn, *why ? why : "failed",
				      *why ? strlen(why) : 6);
		idx = diag_add(c, "maven", NULL, 0, 0, 0, SEV_ERROR, msg, m, i);
		diag_set_key(c, idx, t, kn);
		return 1;
	}
	c->maven_summary = false;
	if (maven_place(p, &lc)) {
		idx = diag_add_s(c, "maven", lc.file, lc.flen, lc.line, lc.col, sev, lc.rest, i);
		for (k = i + 1; k < c->n; k++) {
			const char *t = c->l[k].s;
			if (is_space(t[0]) && !is_blank(t))
				diag_note_line(c, idx, k, false);
			else if (has_prefix(t, "[ERROR]   ") || has_prefix(t, "[WARNING]   "))
				diag_note_n(c, idx, t + (t[1] == 'E' ? 8 : 10),
					    c->l[k].n - (t[1] == 'E' ? 8 : 10), false);
			else
				break;
		}
		diag_span(c, idx, k);
		return k - i;
	}
	if (strstr(p, "<<< FAILURE!") || strstr(p, "<<< ERROR!")) {
		size_t used = has_prefix(p, "Tests run: ") ? 0 : maven_test(c, i, p);
		return used ? used : 1;
	}
	if (has_prefix(p, "Tests run: ")) {
		diag_add_s(c, "maven", NULL, 0, 0, 0, sev, p, i);
		return 1;
	}
	if (!strncmp(p, "Failures:", 9) || !strncmp(p, "Errors:", 7) || !strncmp(p, "Flakes:", 7)) {
		c->maven_summary = is_blank(strchr(p, ':') + 1);
		return 1;
	}
	if (maven_boilerplate(p) || has_prefix(p, "  "))
		return 1;
	diag_add_s(c, "maven", NULL, 0, 0, 0, sev, p, i);
	return 1;
}
