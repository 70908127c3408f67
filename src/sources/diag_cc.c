/* Diagnostics from C and C++ compilers and linkers. gcc and clang:
 * "file:line:col: error|warning|note|fatal error: msg" (paths with blanks
 * too), with the "In file included from"/"In function" context before it and
 * the source, caret and fix-it lines after it as notes; a note: line joins
 * the diagnostic before it; the driver's own "gcc: error: ..." lines. The
 * linker (tool "ld"): undefined reference, multiple definition and
 * relocation errors with their "in function" context, "ld: warning/error"
 * lines from ld, lld and mold (lld's ">>> referenced by" giving the place),
 * collect2's summary and clang's "linker command failed". */
#include "sources/diag_int.h"

#include <string.h>

/* ---- gcc and clang ------------------------------------------------------ */

/* gcc's source lines "  12 | code" and caret lines "     |   ^~~". */
static bool is_gutter(const char *s)
{
	s += strspn(s, " ");
	s += strspn(s, "0123456789+");
	s += strspn(s, " ");
	return *s == '|';
}

/* "                 from foo.h:3," after "In file included from". */
static bool is_from_line(const char *s)
{
	size_t k = indent_of(s);
	return k > 0 && has_prefix(s + k, "from ") && (ends_with(s, ",") || ends_with(s, ":"));
}

/* "main.c: In function 'main':", "util.h: At top level:". */
static bool is_scope_line(const char *s)
{
	const char *p = strstr(s, ": ");
	if (!p || p == s || memchr(s, ' ', (size_t)(p - s)) || !ends_with(s, ":"))
		return false;
	p += 2;
	return has_prefix(p, "In ") || has_prefix(p, "At top level:") ||
	       has_prefix(p, "At global scope:");
}

/* clang's "1 error generated.", "2 warnings and 2 errors generated." */
bool diag_is_generated_line(const char *s, size_t n)
{
	return is_digit(*s) && ends_with_n(s, n, " generated.") &&
	       (strstr(s, " error") || strstr(s, " warning"));
}

/* The compiler driver or collect2 speaking: "gcc: error: x.c: No such
 * file", "cc1: fatal error: ...", "collect2: error: ld returned 1 exit
 * status", "clang: error: linker command failed ...". */
static const char *driver_tool(const char *s, const char **after)
{
	const char *p = strstr(s, ": ");
	size_t bn;
	const char *b;

	if (!p || p == s || memchr(s, ' ', (size_t)(p - s)))
		return NULL;
	b = base_name(s, (size_t)(p - s), &bn);
	*after = p + 2;
	if (name_is(b, bn, "collect2"))
		return "ld";
	if (bn >= 5 && memcmp(b, "clang", 5) == 0)
		return "clang";
	if (name_is(b, bn, "cc") || name_is(b, bn, "c++") || name_is(b, bn, "cc1") ||
	    name_is(b, bn, "cc1plus") || memmem(b, bn, "gcc", 3) || memmem(b, bn, "g++", 3))
		return "gcc";
	return NULL;
}

/* "/home/u/My Project/a.c:3:5: error: ..." : a place whose path has blanks,
 * found from the severity word back. */
static bool cc_spaced_loc(const char *s, struct diag_loc *lc)
{
	static const char *const marks[] = {
		": error: ", ": warning: ", ": note: ", ": fatal error: "};
	const char *m = NULL;

	if (is_space(*s))
		return false;
	for (size_t k = 0; k < sizeof marks / sizeof marks[0] && !m; k++)
		m = strstr(s, marks[k]);
	if (!m)
		return false;
	size_t e = (size_t)(m - s);
	struct diag_loc n;
	if (!diag_loc_numbers(s, &e, &n) || e == 0)
		return false;
	lc->file = s;
	lc->flen = e;
	lc->line = n.line;
	lc->col = n.col;
	lc->rest = m + 1;
	return true;
}

/* Source and caret lines after a compiler diagnostic, added as notes to
 * idx; returns how many lines they take. clang prints the source line as
 * it is (no gutter), so it is recognised by the caret line under it. */
static size_t cc_follow(struct diag_ctx *c, size_t j, int idx)
{
	size_t k = j;
	bool after = false;
	struct diag_loc lc;

	while (k < c->n) {
		const char *s = c->l[k].s;
		if (is_gutter(s) || diag_is_caret(s)) {
			after = true;
		} else if (k + 1 < c->n && diag_is_caret(c->l[k + 1].s) && !is_blank(s) &&
			   !diag_parse_loc(s, false, &lc) && !is_scope_line(s)) {
			diag_note_line(c, idx, k, true);
			k++;
			after = true;
		} else if (!(after && is_space(s[0]) && !is_blank(s) && !is_from_line(s))) {
			break;
		}
		diag_note_line(c, idx, k, true);
		k++;
	}
	return k - j;
}

/* gcc and clang print the same shape; clang says "N errors generated."
 * (seen in a first pass over the log) or the command names it. */
static const char *cc_tool(const struct diag_ctx *c)
{
	return c->clang_hint ? "clang" : "gcc";
}

size_t diag_parse_cc(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *msg, *after;
	const char *tool;
	enum event_severity sev;
	struct diag_loc lc;
	bool ctx_adj;
	int idx;
	size_t k;

	if (has_prefix(s, "In file included from ") || (c->pend_b == i && is_from_line(s)) ||
	    is_scope_line(s)) {
		if (c->pend_b != i || c->pend_a >= c->pend_b)
			c->pend_a = i;
		c->pend_b = i + 1;
		return 1;
	}
	if (diag_is_generated_line(s, c->l[i].n) || strcmp(s, "compilation terminated.") == 0)
		return 1;
	if ((tool = driver_tool(s, &after)) && (msg = diag_severity_word(after, &sev))) {
		if (strstr(msg, "linker command failed"))
			tool = "ld";
		idx = diag_add_s(c, tool, NULL, 0, 0, 0, sev, msg, i);
		c->cc_last = idx >= 0 ? idx : DIAG_DROPPED;
		c->cc_end = i + 1;
		return 1;
	}
	if (!(diag_parse_loc(s, false, &lc) || cc_spaced_loc(s, &lc)) || loc_ext(&lc, ".java") ||
	    loc_ext(&lc, ".go") || loc_ext(&lc, ".py") || diag_is_makefile(lc.file, lc.flen) ||
	    *lc.rest != ' ')
		return 0;
	if (!(msg = diag_severity_word(lc.rest + 1, &sev)))
		return 0;

	ctx_adj = c->pend_b == i && c->pend_a < c->pend_b;
	if (sev == SEV_NOTICE && c->cc_last != DIAG_NONE &&
	    (c->cc_end == i || (ctx_adj && c->cc_end == c->pend_a))) {
		/* A note belongs to the diagnostic just before it. */
		idx = c->cc_last;
		if (ctx_adj)
			for (k = c->pend_a; k < c->pend_b; k++)
				diag_note_line(c, idx, k, false);
		diag_note_line(c, idx, i, false);
		k = cc_follow(c, i + 1, idx);
		c->cc_end = i + 1 + k;
		diag_span(c, idx, c->cc_end);
		c->pend_a = c->pend_b = 0;
		return 1 + k;
	}
	tool = cc_tool(c);
	idx = diag_add_s(c, tool, lc.file, lc.flen, lc.line, lc.col, sev, msg,
			 ctx_adj ? c->pend_a : i);
	if (ctx_adj)
		for (k = c->pend_a; k < c->pend_b; k++)
			diag_note_line(c, idx, k, false);
	k = cc_follow(c, i + 1, idx);
	c->cc_last = idx >= 0 ? idx : DIAG_DROPPED;
	c->cc_end = i + 1 + k;
	diag_span(c, idx, c->cc_end);
	c->pend_a = c->pend_b = 0;
	return 1 + k;
}

/* ---- the linker --------------------------------------------------------- */

/* "/usr/bin/ld: ", "ld.lld: ", "x86_64-linux-gnu-ld: ", "mold: ": returns
 * what follows, or NULL. */
static const char *ld_prefix(const char *s)
{
	const char *p = strstr(s, ": ");
	const char *b;
	size_t bn;

	if (!p || p == s || memchr(s, ' ', (size_t)(p - s)))
		return NULL;
	b = base_name(s, (size_t)(p - s), &bn);
	if (name_is(b, bn, "ld") || ends_with_n(b, bn, "-ld") || (bn > 3 && !memcmp(b, "ld.", 3)) ||
	    name_is(b, bn, "lld") || name_is(b, bn, "ld64.lld") || name_is(b, bn, "mold"))
		return p + 2;
	return NULL;
}

/* The place in front of an ld message: "main.c:6", "main.c:(.text+0xa)",
 * "b.o:/src/b.c:1", "main.o". */
static void ld_place(const char *s, size_t n, const char **file, size_t *flen, int *line)
{
	const char *p;
	size_t e = n;

	*line = 0;
	if (n > 0 && s[n - 1] == ')' && (p = memmem(s, n, ":(", 2))) {
		e = (size_t)(p - s);
	} else {
		size_t d = n;
		while (d > 0 && is_digit(s[d - 1]))
			d--;
		if (d < n && d > 0 && s[d - 1] == ':' && n - d <= 9) {
			const char *q = s + d;
			*line = parse_num(&q);
			e = d - 1;
		}
	}
	/* "obj.o:/src/b.c" names the object, then the source: keep the source. */
	p = s;
	for (size_t k = 0; k < e; k++)
		if (s[k] == ':')
			p = s + k + 1;
	*file = p;
	*flen = e - (size_t)(p - s);
}

static size_t ld_follow(struct diag_ctx *c, size_t i, int idx)
{
	size_t k = i + 1;
	while (k < c->n && has_prefix(c->l[k].s, ">>> ")) {
		diag_note_line(c, idx, k, false);
		k++;
	}
	return k - i;
}

size_t diag_parse_ld(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *body, *m, *file, *after, *msg;
	bool prefixed, in_run = c->ld_end == i && c->ld_has_ctx;
	enum event_severity sev = SEV_ERROR;
	size_t flen, n;
	int line, idx;

	if (has_prefix(s, "collect2: ") || has_prefix(s, "collect2.exe: ")) {
		if (!driver_tool(s, &after) || !(msg = diag_severity_word(after, &sev)))
			return 0;
		diag_add_s(c, "ld", NULL, 0, 0, 0, sev, msg, i);
		return 1;
	}
	if (driver_tool(s, &after) && (msg = diag_severity_word(after, &sev)) &&
	    has_prefix(msg, "linker command failed")) {
		diag_add_s(c, "ld", NULL, 0, 0, 0, sev, msg, i);
		return 1;
	}
	body = ld_prefix(s);
	prefixed = body != NULL;
	if (!body)
		body = s;
	if (prefixed && strstr(body, "in function `") && ends_with(body, "':")) {
		c->ld_ctx = i;
		c->ld_has_ctx = true;
		c->ld_end = i + 1;
		return 1;
	}
	if ((m = strstr(body, ": undefined reference to ")) ||
	    (m = strstr(body, ": multiple definition of ")) ||
	    (m = strstr(body, ": relocation truncated to fit: "))) {
		const char *semi;
		ld_place(body, (size_t)(m - body), &file, &flen, &line);
		m += 2;
		semi = strstr(m, "; ");
		idx = diag_add(c, "ld", file, flen, line, 0, SEV_ERROR, m,
			       semi ? (size_t)(semi - m) : strlen(m), i);
		if (in_run)
			diag_note_line(c, idx, c->ld_ctx, false);
		if (semi)
			diag_note(c, idx, semi + 2);
		c->ld_end = i + 1;
		return 1;
	}
	if (!prefixed)
		return 0;
	c->ld_has_ctx = in_run;
	c->ld_end = i + 1;
	file = NULL;
	flen = 0;
	line = 0;
	if ((msg = diag_severity_word(body, &sev)) == NULL) {
		/* "main.o: warning: relocation against ..." */
		const char *p = strstr(body, ": ");
		if (p && !memchr(body, ' ', (size_t)(p - body)) &&
		    (msg = diag_severity_word(p + 2, &sev))) {
			ld_place(body, (size_t)(p - body), &file, &flen, &line);
		} else {
			msg = body;
			sev = SEV_ERROR;
		}
	}
	if (sev == SEV_NOTICE)
		return 1;
	idx = diag_add_s(c, "ld", file, flen, line, 0, sev, msg, i);
	n = ld_follow(c, i, idx);
	/* lld: ">>> referenced by main.c:6" says where. */
	if (idx >= 0 && !c->v[idx].file && n > 1) {
		const char *r = strstr(c->l[i + 1].s, "referenced by ");
		struct diag_loc lc;
		if (r && diag_parse_loc(r + 14, true, &lc)) {
			c->v[idx].file = diag_text_dup(lc.file, lc.flen, DIAG_MAX_TEXT);
			c->v[idx].line = lc.line;
			diag_rehash(c, idx);
		}
	}
	diag_span(c, idx, i + n);
	c->ld_end = i + n;
	return n;
}
