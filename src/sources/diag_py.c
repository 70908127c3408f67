/* Diagnostics from Python. pytest: the FAILURES and ERRORS sections (one
 * diagnostic per test: its E lines, placed at the last "file:line:" of the
 * section), --tb=line output, the short test summary (which names tests in
 * full, or adds those without a section) and the warnings summary. Python
 * tracebacks: "Traceback (most recent call last):" to the exception line,
 * placed at the innermost frame outside the standard library and installed
 * packages (or at the innermost frame, when all are inside them). */
#include "sources/diag_int.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Frames of a Python traceback kept as notes (the innermost ones). */
#define TRACE_NOTES 16

/* ---- pytest ------------------------------------------------------------- */

/* "==== title ====" : returns the title (into buf), or NULL. */
static const char *banner(const char *s, size_t n, char *buf, size_t cap)
{
	size_t a = 0, b = n;

	if (n < 7 || s[0] != '=' || s[n - 1] != '=')
		return NULL;
	while (a < n && (s[a] == '=' || s[a] == ' '))
		a++;
	while (b > a && (s[b - 1] == '=' || s[b - 1] == ' '))
		b--;
	snprintf(buf, cap, "%.*s", (int)(b - a), s + a);
	return buf;
}

/* Turns a pytest node id (path::Class::test[param]) or a section title
 * ("ERROR at setup of test_x", "Class.test") into the key both share. */
static size_t pytest_key(const char *s, size_t n, char *out, size_t cap)
{
	static const char *const pre[] = {"ERROR at setup of ", "ERROR at teardown of ",
					  "ERROR collecting "};
	const char *sep = memmem(s, n, "::", 2);
	size_t o = 0;

	for (size_t k = 0; k < sizeof pre / sizeof pre[0]; k++) {
		size_t pl = strlen(pre[k]);
		if (n > pl && memcmp(s, pre[k], pl) == 0) {
			s += pl;
			n -= pl;
			break;
		}
	}
	if (sep) {
		n -= (size_t)(sep + 2 - s);
		s = sep + 2;
	}
	for (size_t k = 0; k < n && o + 1 < cap; k++) {
		if (s[k] == ':' && k + 1 < n && s[k + 1] == ':') {
			out[o++] = '.';
			k++;
		} else {
			out[o++] = s[k];
		}
	}
	out[o] = '\0';
	return o;
}

/* One test's section under FAILURES or ERRORS, from its "____ name ____"
 * title to the next title. */
static size_t pytest_block(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s;
	size_t n = c->l[i].n, a = 0, b = n, j, k, keyn;
	char key[DIAG_NAME_MAX + 1], msg[DIAG_MAX_TEXT + 1];
	const char *etext = NULL, *first = NULL;
	size_t elen = 0, last = SIZE_MAX, m;
	struct diag_loc lc, lastloc = {0};
	int idx;

	while (a < n && (s[a] == '_' || s[a] == ' '))
		a++;
	while (b > a && (s[b - 1] == '_' || s[b - 1] == ' '))
		b--;
	keyn = pytest_key(s + a, b - a, key, sizeof key);
	for (j = i + 1; j < c->n; j++) {
		const char *t = c->l[j].s;
		if (has_prefix(t, "__") || (t[0] == '=' && ends_with(t, "=")))
			break;
		if (!etext && (has_prefix(t, "E ") || !strcmp(t, "E"))) {
			etext = skip_ws(t + 1);
			elen = strlen(etext);
		}
		if (!first && !is_blank(t))
			first = t;
		if (t[0] != '>' && !has_prefix(t, "E ") && diag_parse_loc(t, false, &lc)) {
			last = j;
			lastloc = lc;
		}
	}
	if (!etext && last != SIZE_MAX && !is_blank(lastloc.rest)) {
		etext = skip_ws(lastloc.rest);
		elen = strlen(etext);
	}
	if (!etext) {
		etext = first ? skip_ws(first) : "failed";
		elen = strlen(etext);
	}
	m = diag_named(msg, sizeof msg, key, keyn, etext, elen);
	idx = diag_add(c, "pytest", lastloc.file, lastloc.flen, lastloc.line, 0, SEV_ERROR, msg, m,
		       i);
	diag_set_key(c, idx, key, keyn);
	bool skipped_first = false;
	for (k = i + 1; k < j; k++) {
		const char *t = c->l[k].s;
		if (has_prefix(t, "E ")) {
			if (!skipped_first && skip_ws(t + 1) == etext) {
				skipped_first = true;
				continue;
			}
			diag_note_n(c, idx, t + 1, c->l[k].n - 1, false);
		} else if (k != last && t[0] != '>' && diag_parse_loc(t, false, &lc)) {
			diag_note_line(c, idx, k, false);
		}
	}
	diag_span(c, idx, j);
	return j - i;
}

size_t diag_parse_pytest(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *title;
	char buf[128], key[DIAG_NAME_MAX + 1], msg[DIAG_MAX_TEXT + 1];
	struct diag_loc lc;
	int idx;

	if ((title = banner(s, c->l[i].n, buf, sizeof buf)) != NULL) {
		int sec = 0;
		if (!strcmp(title, "FAILURES") || !strcmp(title, "ERRORS"))
			sec = 1;
		else if (!strcmp(title, "short test summary info"))
			sec = 2;
		else if (!strcmp(title, "warnings summary"))
			sec = 3;
		else if (!strcmp(title, "test session starts"))
			c->py_seen = true;
		if (sec)
			c->py_seen = true;
		c->py_section = sec;
		return c->py_seen ? 1 : 0;
	}
	if (c->py_seen && s[0] == '!' && ends_with(s, "!"))
		return 1;
	switch (c->py_section) {
	case 1:
		if (has_prefix(s, "__") && ends_with(s, "_"))
			return pytest_block(c, i);
		/* --tb=line: "/path/test_x.py:5: assert 4 == 3" */
		if (diag_parse_loc(s, false, &lc) && loc_ext(&lc, ".py") && !is_blank(lc.rest)) {
			diag_add_s(c, "pytest", lc.file, lc.flen, lc.line, 0, SEV_ERROR, lc.rest,
				   i);
			return 1;
		}
		return 0;
	case 2: {
		const char *id;
		if (has_prefix(s, "FAILED "))
			id = s + 7;
		else if (has_prefix(s, "ERROR "))
			id = s + 6;
		else
			return 0;
		const char *dash = strstr(id, " - ");
		size_t idn = dash ? (size_t)(dash - id) : strlen(id);
		size_t keyn = pytest_key(id, idn, key, sizeof key);
		const char *why = dash ? dash + 3 : "failed";
		idx = diag_find_key(c, "pytest", key, keyn);
		if (idx >= 0) {
			/* Name the test in full: "test_x.py::test_a: ..." */
			const char *old = c->v[idx].message;
			if (strncmp(old, key, keyn) == 0 && old[keyn] == ':' &&
			    old[keyn + 1] == ' ' && idn != keyn) {
				size_t m = diag_named(msg, sizeof msg, id, idn, old + keyn + 2,
						      strlen(old + keyn + 2));
				diag_set_message(c, idx, msg, m);
			}
			return 1;
		}
		const char *sep = memmem(id, idn, "::", 2);
		size_t m = diag_named(msg, sizeof msg, id, idn, why, strlen(why));
		idx = diag_add(c, "pytest", id, sep ? (size_t)(sep - id) : idn, 0, 0, SEV_ERROR,
			       msg, m, i);
		diag_set_key(c, idx, key, keyn);
		return 1;
	}
	case 3:
		if (is_space(s[0]) && diag_parse_loc(skip_ws(s), false, &lc) &&
		    !is_blank(lc.rest)) {
			size_t k, ind = indent_of(s);
			idx = diag_add_s(c, "pytest", lc.file, lc.flen, lc.line, 0, SEV_WARNING,
					 lc.rest, i);
			for (k = i + 1;
			     k < c->n && indent_of(c->l[k].s) > ind && !is_blank(c->l[k].s); k++)
				diag_note_line(c, idx, k, false);
			diag_span(c, idx, k);
			return k - i;
		}
		return 0;
	default: return 0;
	}
}

/* ---- Python tracebacks -------------------------------------------------- */

static bool stdlib_path(const char *f, size_t n)
{
	return memmem(f, n, "/lib/python", 11) || memmem(f, n, "site-packages", 13) ||
	       memmem(f, n, "dist-packages", 13) || (n > 0 && f[0] == '<');
}

size_t diag_parse_pytrace(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s;
	size_t ind = indent_of(s), j, frames[TRACE_NOTES], nf = 0, total = 0;
	const char *file = NULL;
	size_t flen = 0;
	int line = 0, idx;
	bool user = false;

	if (strcmp(s + ind, "Traceback (most recent call last):") != 0)
		return 0;
	for (j = i + 1; j < c->n; j++) {
		const char *t = c->l[j].s;
		if (!is_blank(t) && indent_of(t) <= ind)
			break;
		t = skip_ws(t);
		if (has_prefix(t, "File \"")) {
			const char *f = t + 6, *q = strstr(f, "\", line ");
			if (!q)
				continue;
			const char *r = q + 8;
			int ln = parse_num(&r);
			frames[total++ % TRACE_NOTES] = j;
			nf = total < TRACE_NOTES ? total : TRACE_NOTES;
			bool u = !stdlib_path(f, (size_t)(q - f));
			if (ln > 0 && (u || !user)) {
				file = f;
				flen = (size_t)(q - f);
				line = ln;
				user = user || u;
			}
		}
	}
	if (j >= c->n)
		return j - i;
	idx = diag_add_s(c, "python", file, flen, line, 0, SEV_ERROR, c->l[j].s, i);
	for (size_t k = total - nf; k < total; k++)
		diag_note_line(c, idx, frames[k % TRACE_NOTES], false);
	diag_span(c, idx, j + 1);
	return j + 1 - i;
}
