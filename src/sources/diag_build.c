/* Diagnostics from build tools. make: "make[N]: *** [Makefile:7: target]
 * Error 1", "No rule to make target", make's warnings and Makefile:N: errors.
 * ninja: "FAILED: target" with the failed command as a note, "ninja:
 * error|warning: ...". cmake: "CMake Error|Warning (dev)|Deprecation ... at
 * file:line (cmd):" with its indented message. ctest: "N/M Test #K: name
 * ...***Failed" with the test's output (--output-on-failure) as notes, and
 * "The following tests FAILED:". */
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

size_t diag_parse_ctest(struct diag_ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s), *p = t, *name, *st;
	char msg[DIAG_MAX_TEXT + 1];
	size_t nn, k, m;
	int idx;

	if (has_prefix(s, "Test project ")) {
		c->ctest_seen = true;
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
	if (c->ctest_seen &&
	    (has_prefix(s, "Errors while running CTest") || has_prefix(t, "Start ") ||
	     has_prefix(s, "Total Test time") || (is_digit(*s) && strstr(s, "% tests passed"))))
		return 1;
	/* "2/3 Test #2: fails ....................***Failed    0.00 sec" */
	if (parse_num(&p) < 0 || *p++ != '/' || parse_num(&p) < 0)
		return 0;
	p = skip_ws(p);
	if (!has_prefix(p, "Test "))
		return 0;
	p = skip_ws(p + 5);
	if (*p++ != '#' || parse_num(&p) < 0 || !has_prefix(p, ": "))
		return 0;
	c->ctest_seen = true;
	name = p + 2;
	nn = strcspn(name, " ");
	if (!(st = strstr(name, "***")))
		return 1;
	st += 3;
	size_t sn = 0;
	while (st[sn] && !(st[sn] == ' ' && st[sn + 1] == ' '))
		sn++;
	m = diag_named(msg, sizeof msg, name, nn, st, sn);
	idx = diag_add(c, "ctest", NULL, 0, 0, 0, SEV_ERROR, msg, m, i);
	diag_set_key(c, idx, name, nn);
	/* --output-on-failure: the test's output follows. */
	for (k = i + 1; k < c->n; k++) {
		const char *u = c->l[k].s, *q = skip_ws(u);
		if (has_prefix(q, "Start ") ||
		    (is_digit(*q) && strstr(q, " Test ") && strstr(q, "#")) ||
		    (is_digit(*u) && strstr(u, "% tests passed")) ||
		    has_prefix(u, "The following tests"))
			break;
		diag_note_line(c, idx, k, false);
	}
	diag_span(c, idx, k);
	return k - i;
}
