/* Diagnostics from JavaScript test runners. node --test: TAP ("not ok N -
 * name" and its YAML block: error, location, stack) and the spec reporter
 * ("✖ name" with the error and stack under it); other TAP producers give
 * tool "tap". jest: "● Suite › test" with the message under it, placed at
 * the first "at ... (file:line:col)" frame outside node_modules, Babel's
 * syntax error position, or the test file. */
#include "sources/diag_int.h"

#include <stdio.h>
#include <string.h>

/* The "✖" and "●" that node's spec reporter and jest print before a failure. */
#define CROSS "\xe2\x9c\x96"
#define BULLET "\xe2\x97\x8f"

/* A stack frame ("at f (path:1:2)", "f (path:1:2)", "at path:1:2") that
 * points into the user's code rather than the runtime or node_modules. */
static bool user_frame(const char *s, struct diag_loc *lc)
{
	const char *t = skip_ws(s);
	size_t n = trimmed_len(t, strlen(t));

	if (n >= 3 && has_prefix(t, "at "))
		t += 3, n -= 3;
	if (n > 0 && t[n - 1] == ')')
		n--;
	if (!diag_parse_tail_loc(t, n, lc))
		return false;
	if (has_prefix(lc->file, "node:") || has_prefix(lc->file, "internal/") ||
	    memmem(lc->file, lc->flen, "node_modules", 12) || lc->file[0] == '<')
		return false;
	if (has_prefix(lc->file, "file://")) {
		lc->file += 7;
		lc->flen -= 7;
	}
	return lc->flen > 0;
}

/* ---- node --test -------------------------------------------------------- */

/* Strips YAML quoting from a scalar: 'it''s' and "a\"b" (simply). */
static size_t yaml_scalar(const char *s, char *out, size_t cap)
{
	size_t n = trimmed_len(s, strlen(s)), o = 0;
	char q = n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0] ? s[0] : 0;

	if (q) {
		s++;
		n -= 2;
	}
	for (size_t k = 0; k < n && o + 1 < cap; k++) {
		if (q == '\'' && s[k] == '\'' && k + 1 < n && s[k + 1] == '\'')
			k++;
		else if (q == '"' && s[k] == '\\' && k + 1 < n)
			k++;
		out[o++] = s[k];
	}
	out[o] = '\0';
	return o;
}

/* "not ok 3 - name" and its YAML block. */
size_t diag_parse_node_tap(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s), *name;
	size_t ind = indent_of(s), j, k, yind, nn;
	char errname[128] = "", first[DIAG_MAX_TEXT + 1] = "", loc[DIAG_MAX_LINE + 1] = "";
	char msg[DIAG_MAX_TEXT + 1], text[DIAG_MAX_TEXT + 1];
	size_t err_a = 0, err_b = 0;
	struct diag_loc where = {0}, lc;
	bool parent = false, got = false;
	int idx;

	if (has_prefix(t, "# Subtest: ")) {
		c->tap_seen = true;
		return 1;
	}
	if (!has_prefix(t, "not ok "))
		return 0;
	name = t + 7;
	name += strspn(name, "0123456789");
	if (has_prefix(name, " - "))
		name += 3;
	else
		name = skip_ws(name);
	nn = strlen(name);
	if (strstr(name, " # SKIP") || strstr(name, " # TODO") || strstr(name, " # skip") ||
	    strstr(name, " # todo"))
		return 1;
	j = i + 1;
	if (j < c->n && !strcmp(skip_ws(c->l[j].s), "---") && indent_of(c->l[j].s) > ind) {
		yind = indent_of(c->l[j].s);
		for (j++; j < c->n; j++) {
			const char *u = c->l[j].s, *v = u + yind;
			if (!strcmp(skip_ws(u), "...") && indent_of(u) == yind) {
				j++;
				break;
			}
			if (indent_of(u) < yind && !is_blank(u))
				break;
			if (indent_of(u) != yind)
				continue;
			if (has_prefix(v, "failureType: ") && strstr(v, "subtestsFailed"))
				parent = true;
			else if (has_prefix(v, "location: "))
				yaml_scalar(v + 10, loc, sizeof loc);
			else if (has_prefix(v, "name: "))
				yaml_scalar(v + 6, errname, sizeof errname);
			else if (has_prefix(v, "error: ")) {
				const char *e = v + 7;
				if (e[0] == '|' || e[0] == '>') {
					err_a = j + 1;
					for (err_b = err_a;
					     err_b < c->n && (indent_of(c->l[err_b].s) > yind ||
							      is_blank(c->l[err_b].s));
					     err_b++)
						if (!first[0] && !is_blank(c->l[err_b].s))
							snprintf(first, sizeof first, "%s",
								 skip_ws(c->l[err_b].s));
				} else {
					yaml_scalar(e, first, sizeof first);
				}
			} else if (has_prefix(v, "stack: ")) {
				for (k = j + 1; k < c->n && indent_of(c->l[k].s) > yind; k++)
					if (!got && user_frame(c->l[k].s, &where))
						got = true;
			}
		}
	}
	if (parent)
		return j - i;
	if (!got && loc[0] && diag_parse_tail_loc(loc, strlen(loc), &lc))
		where = lc, got = true;
	size_t tl = errname[0]
			    ? clampw(snprintf(text, sizeof text, "%s: %s", errname,
					      first[0] ? first : "failed"),
				     sizeof text)
			    : clampw(snprintf(text, sizeof text, "%s", first[0] ? first : "failed"),
				     sizeof text);
	size_t m = diag_named(msg, sizeof msg, name, nn, text, tl);
	idx = diag_add(c, c->tap_seen || c->node_hint ? "node --test" : "tap",
		       got ? where.file : NULL, got ? where.flen : 0, where.line, where.col,
		       SEV_ERROR, msg, m, i);
	diag_set_key(c, idx, name, nn);
	bool skipped = false;
	size_t base = 0;
	for (k = err_a; k < err_b; k++) {
		if (is_blank(c->l[k].s))
			continue;
		if (!skipped) {
			skipped = true;
			base = indent_of(c->l[k].s);
			continue;
		}
		diag_note_dedent(c, idx, k, base);
	}
	diag_span(c, idx, j);
	return j - i;
}

/* A failure block under a title line ("✖ name (1ms)", "● Suite › test"):
 * the lines indented deeper than the title. Fills the header (first line),
 * notes (up to the stack) and the first user frame; returns the block end. */
static size_t failure_block(struct diag_ctx *c, size_t i, size_t ind, const char **header,
			    struct diag_loc *where, bool *got, size_t *notes_a, size_t *notes_b)
{
	size_t j;
	bool stack = false;

	*header = NULL;
	*got = false;
	*notes_a = *notes_b = 0;
	for (j = i + 1; j < c->n; j++) {
		const char *t = c->l[j].s;
		if (!is_blank(t) && indent_of(t) <= ind)
			break;
		if (is_blank(t))
			continue;
		t = skip_ws(t);
		if (!*header) {
			*header = t;
			*notes_a = *notes_b = j + 1;
			continue;
		}
		if (has_prefix(t, "at ")) {
			/* Notes stop at the stack; what follows it is an
			 * object dump. */
			stack = true;
			if (!*got && user_frame(t, where))
				*got = true;
			continue;
		}
		if (!stack)
			*notes_b = j + 1;
	}
	/* Trailing blank lines belong to the next block's spacing. */
	while (j > i + 1 && is_blank(c->l[j - 1].s))
		j--;
	return j;
}

/* Code frames jest prints ("  5 |", "> 5 |", "    |   ^") are not notes. */
static bool is_code_frame(const char *t)
{
	t = skip_ws(t);
	if (*t == '>')
		t = skip_ws(t + 1);
	t += strspn(t, "0123456789");
	t = skip_ws(t);
	return *t == '|';
}

static void block_notes(struct diag_ctx *c, int idx, size_t a, size_t b, size_t base)
{
	for (size_t k = a; k < b; k++) {
		const char *t = skip_ws(c->l[k].s);
		if (is_blank(t) || is_code_frame(t) || has_prefix(t, "at "))
			continue;
		diag_note_dedent(c, idx, k, base);
	}
}

size_t diag_parse_node_spec(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s), *name, *header;
	size_t ind = indent_of(s), j, nn, a, b;
	char msg[DIAG_MAX_TEXT + 1];
	struct diag_loc where = {0};
	bool got;
	int idx;

	if (!has_prefix(t, CROSS " "))
		return 0;
	name = t + strlen(CROSS) + 1;
	if (!strcmp(name, "failing tests:"))
		return 1;
	nn = strlen(name);
	/* Drop the " (3.08ms)" duration. */
	if (nn > 3 && ends_with(name, "ms)")) {
		const char *o = NULL;
		for (const char *q = name; q < name + nn; q++)
			if (*q == '(')
				o = q;
		if (o && o > name && o[-1] == ' ')
			nn = (size_t)(o - 1 - name);
	}
	j = failure_block(c, i, ind, &header, &where, &got, &a, &b);
	if (!header || diag_find_key(c, "node --test", name, nn) >= 0)
		return j - i;
	size_t m = diag_named(msg, sizeof msg, name, nn, header, strlen(header));
	idx = diag_add(c, "node --test", got ? where.file : NULL, got ? where.flen : 0, where.line,
		       where.col, SEV_ERROR, msg, m, i);
	diag_set_key(c, idx, name, nn);
	block_notes(c, idx, a, b, (size_t)(header - c->l[a - 1].s));
	diag_span(c, idx, j);
	return j - i;
}

/* ---- jest --------------------------------------------------------------- */

/* Babel's "SyntaxError: /path/x.test.js: Unexpected token (1:10)". */
static bool babel_place(const char *t, struct diag_loc *lc)
{
	const char *p = strstr(t, "Error: "), *q, *r;
	int line, col;

	if (!p || !ends_with(t, ")"))
		return false;
	p += 7;
	if (!(q = strstr(p, ": ")) || memchr(p, ' ', (size_t)(q - p)) || !(r = strrchr(q, '(')))
		return false;
	r++;
	if ((line = parse_num(&r)) < 0 || *r++ != ':' || (col = parse_num(&r)) < 0 || *r != ')')
		return false;
	lc->file = p;
	lc->flen = (size_t)(q - p);
	lc->line = line;
	lc->col = col;
	return true;
}

size_t diag_parse_jest(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s), *title, *header;
	size_t ind = indent_of(s), j, tn, a, b;
	char msg[DIAG_MAX_TEXT + 1], key[2 * DIAG_NAME_MAX + 2];
	struct diag_loc where = {0};
	bool got;
	int idx;

	if ((has_prefix(s, "FAIL ") || has_prefix(s, "PASS ")) && !is_blank(s + 5)) {
		const char *f = skip_ws(s + 5);
		snprintf(c->jest_file, sizeof c->jest_file, "%.*s", (int)strcspn(f, " "), f);
		c->jest_seen = true;
		return 1;
	}
	if (c->jest_seen && (has_prefix(s, "Test Suites: ") || has_prefix(s, "Tests: ") ||
			     has_prefix(s, "Snapshots: ") || has_prefix(s, "Time: ") ||
			     has_prefix(s, "Ran all test suites")))
		return 1;
	if (!has_prefix(t, BULLET " "))
		return 0;
	title = t + strlen(BULLET) + 1;
	tn = strlen(title);
	j = failure_block(c, i, ind, &header, &where, &got, &a, &b);
	if (has_prefix(title, "Console") || !header)
		return j - i;
	if (!got) {
		for (size_t k = i + 1; k < j && !got; k++)
			if (babel_place(skip_ws(c->l[k].s), &where))
				got = true;
	}
	if (!got && c->jest_file[0]) {
		where = (struct diag_loc){.file = c->jest_file, .flen = strlen(c->jest_file)};
		got = true;
	}
	size_t kn = clampw(snprintf(key, sizeof key, "%s\x1f%.*s", c->jest_file,
				    (int)(tn > DIAG_NAME_MAX ? DIAG_NAME_MAX : tn), title),
			   sizeof key);
	if (diag_find_key(c, "jest", key, kn) >= 0)
		return j - i;
	size_t m = diag_named(msg, sizeof msg, title, tn, header, strlen(header));
	idx = diag_add(c, "jest", got ? where.file : NULL, got ? where.flen : 0, where.line,
		       where.col, SEV_ERROR, msg, m, i);
	diag_set_key(c, idx, key, kn);
	block_notes(c, idx, a, b, (size_t)(header - c->l[a - 1].s));
	diag_span(c, idx, j);
	return j - i;
}
