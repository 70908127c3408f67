/* Extraction of structured diagnostics from captured build and test output.
 * The log is first cleaned into NUL-terminated lines (ANSI escapes and
 * carriage-return overwrites removed, each line cut at DIAG_MAX_LINE); then a
 * table of line parsers runs over it: at each line the first parser that
 * recognises it claims it and the lines that belong with it, so every line
 * is looked at a bounded number of times. Parsers keep small pieces of state
 * in struct ctx (the "In function" context gcc printed just before, the go
 * test being run). See diag.h for what each parser recognises. */
#include "sources/diag.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/xalloc.h"

/* The "✖", "●" and "›" that node's spec reporter and jest print. */
#define CROSS "\xe2\x9c\x96"
#define BULLET "\xe2\x97\x8f"

/* A name a test runner gives a failing test is kept to this many bytes. */
#define NAME_MAX_LEN 255
/* Frames of a Python traceback kept as notes (the innermost ones). */
#define TRACE_NOTES 16
/* Deferred "test X failed" records (see defer_fail()). */
#define MAX_DEFERRED DIAG_MAX
/* A go test's t.Log lines are dropped when the test passes; only this many
 * recent diagnostics are searched for them, so a long passing run stays
 * linear. */
#define DROP_WINDOW 64

struct line {
	const char *s; /* cleaned, NUL-terminated */
	size_t n;
};

/* Bookkeeping per diagnostic that is not part of struct diag. */
struct meta {
	uint64_t hash; /* of tool, place, severity and message: finds duplicates */
	char *key;     /* the test it is about, for merging; may be NULL */
	size_t order;  /* creation order, the tie-break when sorting */
	size_t bytes;  /* text charged to the list's budget */
	bool dead;     /* dropped after the fact (a go test that passed) */
};

/* "Test X failed" lines seen before any detail: turned into diagnostics at
 * the end for the tests that got none of their own. */
struct deferred {
	const char *tool;
	char *key;
	size_t line;
};

enum { NONE = -1, DROPPED = -2 };

struct ctx {
	char *buf;
	struct line *l;
	size_t n;

	struct diag *v;
	struct meta *m;
	size_t nv, cap, live, made;
	size_t text; /* bytes of text held, against DIAG_MAX_TOTAL */

	/* Hints from the command line and from a first look at the log. */
	bool clang_hint, rust_hint, go_hint, node_hint;

	/* gcc/clang: context lines [pend_a, pend_b) waiting for the diagnostic
	 * they introduce; the last diagnostic and the line after its block. */
	size_t pend_a, pend_b;
	int cc_last;
	size_t cc_end;

	/* ld: the "in function" line, valid while ld lines follow each other. */
	size_t ld_ctx, ld_end;
	bool ld_has_ctx;

	bool javac_seen, maven_seen, maven_summary;
	bool go_seen;
	char go_test[NAME_MAX_LEN + 1];
	bool rust_tests;
	char rust_test[NAME_MAX_LEN + 1];
	int py_section; /* 0 other, 1 failures/errors, 2 short summary, 3 warnings */
	bool py_seen;
	bool tap_seen, jest_seen, ctest_seen;
	char jest_file[NAME_MAX_LEN + 1];

	struct deferred *def;
	size_t ndef;
};

/* ---- small string helpers ---------------------------------------------- */

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static bool ends_with_n(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static bool ends_with(const char *s, const char *suf)
{
	return ends_with_n(s, strlen(s), suf);
}

static size_t indent_of(const char *s)
{
	return strspn(s, " \t");
}

static const char *skip_ws(const char *s)
{
	return s + strspn(s, " \t");
}

static bool is_blank(const char *s)
{
	return *skip_ws(s) == '\0';
}

/* Length of s without trailing blanks. */
static size_t trimmed_len(const char *s, size_t n)
{
	while (n > 0 && is_space(s[n - 1]))
		n--;
	return n;
}

/* Reads 1..9 digits at *pp; returns the number and advances, or -1. */
static int parse_num(const char **pp)
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

static const char *base_name(const char *s, size_t n, size_t *blen)
{
	const char *b = s;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/')
			b = s + i + 1;
	*blen = n - (size_t)(b - s);
	return b;
}

static bool name_is(const char *s, size_t n, const char *name)
{
	return n == strlen(name) && memcmp(s, name, n) == 0;
}

/* Copies at most cap bytes of s[0..n) into a fresh string, keeping valid
 * UTF-8 whole, turning each invalid byte into '?' and tabs into spaces, and
 * cutting only between characters. */
static char *text_dup(const char *s, size_t n, size_t cap)
{
	char *out = xmalloc((n < cap ? n : cap) + 1);
	size_t o = 0, i = 0;

	while (i < n) {
		unsigned char b = (unsigned char)s[i];
		size_t k = 1;
		bool ok = true;

		if (b < 0x80) {
			k = 1;
		} else if (b >= 0xc2 && b <= 0xdf) {
			k = 2;
		} else if (b >= 0xe0 && b <= 0xef) {
			k = 3;
		} else if (b >= 0xf0 && b <= 0xf4) {
			k = 4;
		} else {
			ok = false;
		}
		if (ok && i + k > n)
			ok = false;
		for (size_t j = 1; ok && j < k; j++) {
			unsigned char cb = (unsigned char)s[i + j];
			if ((cb & 0xc0) != 0x80)
				ok = false;
			else if (j == 1 && ((b == 0xe0 && cb < 0xa0) || (b == 0xed && cb > 0x9f) ||
			                    (b == 0xf0 && cb < 0x90) || (b == 0xf4 && cb > 0x8f)))
				ok = false;
		}
		if (!ok)
			k = 1;
		if (o + k > cap)
			break;
		if (!ok || b == 0)
			out[o++] = '?';
		else if (b == '\t')
			out[o++] = ' ';
		else
			memcpy(out + o, s + i, k), o += k;
		i += k;
	}
	out[o] = '\0';
	return out;
}

/* The length snprintf wrote into a buffer of cap bytes. */
static size_t clampw(int w, size_t cap)
{
	return w < 0 ? 0 : (size_t)w < cap ? (size_t)w : cap - 1;
}

static uint64_t fnv(uint64_t h, const char *s)
{
	if (!s)
		return h * 1099511628211u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return (h ^ 0xff) * 1099511628211u;
}

static uint64_t diag_hash(const struct diag *d)
{
	uint64_t h = 14695981039346656037u;
	h = fnv(h, d->tool);
	h = fnv(h, d->file);
	h = (h ^ (uint64_t)(unsigned)d->line) * 1099511628211u;
	h = (h ^ (uint64_t)(unsigned)d->col) * 1099511628211u;
	h = (h ^ (uint64_t)d->severity) * 1099511628211u;
	return fnv(h, d->message);
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool same_diag(const struct diag *a, const struct diag *b)
{
	return a->line == b->line && a->col == b->col && a->severity == b->severity &&
	       str_eq(a->tool, b->tool) && str_eq(a->file, b->file) &&
	       str_eq(a->message, b->message);
}

/* ---- cleaning the log into lines ---------------------------------------- */

/* Skips the escape sequence starting at log[i] (an ESC); returns the index
 * after it. An unterminated sequence never swallows a newline. */
static size_t skip_escape(const char *log, size_t len, size_t i)
{
	size_t j = i + 1;
	unsigned char b;

	if (j >= len)
		return len;
	b = (unsigned char)log[j];
	if (b == '[') {
		j++;
		while (j < len && (unsigned char)log[j] >= 0x30 && (unsigned char)log[j] <= 0x3f)
			j++;
		while (j < len && (unsigned char)log[j] >= 0x20 && (unsigned char)log[j] <= 0x2f)
			j++;
		if (j < len && (unsigned char)log[j] >= 0x40 && (unsigned char)log[j] <= 0x7e)
			return j + 1;
		return j;
	}
	if (b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_') {
		/* OSC (hyperlinks, titles) and other strings end at BEL or ST. */
		for (j++; j < len; j++) {
			if (log[j] == '\a')
				return j + 1;
			if (log[j] == 0x1b && j + 1 < len && log[j + 1] == '\\')
				return j + 2;
			if (log[j] == '\n')
				return j;
		}
		return len;
	}
	if (b == '\n')
		return j;
	if (strchr("()*+-./#%", b) && b != 0) {
		/* Character set designation: one more byte. */
		if (j + 1 < len && log[j + 1] != '\n')
			return j + 2;
		return j + 1;
	}
	return j + 1;
}

static void push_line(struct ctx *c, size_t *cap, char *s, size_t n)
{
	if (c->n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		c->l = xreallocarray(c->l, *cap, sizeof *c->l);
	}
	s[n] = '\0';
	c->l[c->n].s = s;
	c->l[c->n].n = n;
	c->n++;
}

/* Cleans the log into c->buf and c->l. The cleaned text is never longer
 * than the input, and each '\n' becomes the line's NUL, so len + 1 bytes
 * always suffice. */
static void split_lines(struct ctx *c, const char *log, size_t len)
{
	size_t cap = 0, i = 0;
	char *o, *ls;
	bool open = false;

	c->buf = xmalloc(len + 1);
	o = ls = c->buf;
	while (i < len) {
		unsigned char b = (unsigned char)log[i];

		if (b == '\n') {
			push_line(c, &cap, ls, (size_t)(o - ls));
			ls = ++o;
			open = false;
			i++;
			continue;
		}
		open = true;
		if (b == 0x1b) {
			i = skip_escape(log, len, i);
			continue;
		}
		if (b == '\r') {
			size_t j = i + 1;
			while (j < len && log[j] == '\r')
				j++;
			/* "\r\n" ends a line; a lone "\r" starts it over, as
			 * a terminal shows a progress line. */
			if (j < len && log[j] != '\n')
				o = ls;
			i = j;
			continue;
		}
		i++;
		if (b < 0x20 && b != '\t')
			continue;
		if (b == 0x7f)
			continue;
		if ((size_t)(o - ls) < DIAG_MAX_LINE)
			*o++ = (char)b;
	}
	if (open)
		push_line(c, &cap, ls, (size_t)(o - ls));
}

/* ---- building the list -------------------------------------------------- */

/* Adds a diagnostic starting at log line at; returns its index, or NONE
 * when it repeats one already kept or a cap is reached. */
static int add(struct ctx *c, const char *tool, const char *file, size_t flen, int line, int col,
               enum event_severity sev, const char *msg, size_t mlen, size_t at)
{
	struct diag d = {0};
	size_t bytes;

	if (c->live >= DIAG_MAX || c->text >= DIAG_MAX_TOTAL || c->nv >= 4 * DIAG_MAX)
		return NONE;
	mlen = trimmed_len(msg, mlen);
	while (mlen > 0 && is_space(*msg))
		msg++, mlen--;
	d.tool = xstrdup(tool);
	d.file = file && flen ? text_dup(file, flen, DIAG_MAX_TEXT) : NULL;
	d.line = line > 0 ? line : 0;
	d.col = col > 0 && d.line ? col : 0;
	d.severity = sev;
	d.message = mlen ? text_dup(msg, mlen, DIAG_MAX_TEXT) : xstrdup("(no message)");
	d.log_line = at;
	d.log_lines = 1;

	uint64_t h = diag_hash(&d);
	for (size_t k = 0; k < c->nv; k++) {
		if (!c->m[k].dead && c->m[k].hash == h && same_diag(&c->v[k], &d)) {
			free(d.tool);
			free(d.file);
			free(d.message);
			return NONE;
		}
	}
	bytes = strlen(d.tool) + strlen(d.message) + (d.file ? strlen(d.file) : 0) + 3;
	if (c->text + bytes > DIAG_MAX_TOTAL) {
		free(d.tool);
		free(d.file);
		free(d.message);
		return NONE;
	}
	if (c->nv == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
		c->m = xreallocarray(c->m, c->cap, sizeof *c->m);
	}
	c->text += bytes;
	c->v[c->nv] = d;
	c->m[c->nv] = (struct meta){.hash = h, .order = c->made++, .bytes = bytes};
	c->live++;
	return (int)c->nv++;
}

static int add_s(struct ctx *c, const char *tool, const char *file, size_t flen, int line, int col,
                 enum event_severity sev, const char *msg, size_t at)
{
	return add(c, tool, file, flen, line, col, sev, msg, strlen(msg), at);
}

/* Adds a note to diagnostic idx (ignored for NONE/DROPPED); keep_indent
 * keeps leading blanks, which caret lines need to point anywhere. */
static void note_n(struct ctx *c, int idx, const char *s, size_t n, bool keep_indent)
{
	struct diag *d;
	char *t;
	size_t bytes;

	if (idx < 0)
		return;
	d = &c->v[idx];
	if (d->n_notes >= DIAG_MAX_NOTES || c->text >= DIAG_MAX_TOTAL)
		return;
	n = trimmed_len(s, n);
	if (!keep_indent)
		while (n > 0 && is_space(*s))
			s++, n--;
	if (n == 0)
		return;
	t = text_dup(s, n, DIAG_MAX_TEXT);
	bytes = strlen(t) + 1 + sizeof(char *);
	if (c->text + bytes > DIAG_MAX_TOTAL) {
		free(t);
		return;
	}
	if ((d->n_notes & (d->n_notes - 1)) == 0 || d->n_notes == 0) {
		/* Grow at 1, 2, 4, 8, ...: powers of two. */
		size_t want = d->n_notes ? d->n_notes * 2 : 1;
		d->notes = xreallocarray(d->notes, want, sizeof *d->notes);
	}
	d->notes[d->n_notes++] = t;
	c->text += bytes;
	c->m[idx].bytes += bytes;
}

static void note(struct ctx *c, int idx, const char *s)
{
	note_n(c, idx, s, strlen(s), false);
}

static void note_line(struct ctx *c, int idx, size_t i, bool keep_indent)
{
	note_n(c, idx, c->l[i].s, c->l[i].n, keep_indent);
}

/* Adds line k as a note with base columns of indentation taken off, so a
 * diff keeps its shape. */
static void note_dedent(struct ctx *c, int idx, size_t k, size_t base)
{
	size_t ind = indent_of(c->l[k].s), cut = ind < base ? ind : base;
	note_n(c, idx, c->l[k].s + cut, c->l[k].n - cut, true);
}

/* Makes diagnostic idx span log lines up to (not including) end. */
static void span(struct ctx *c, int idx, size_t end)
{
	if (idx >= 0 && end > c->v[idx].log_line)
		c->v[idx].log_lines = end - c->v[idx].log_line;
}

static void set_key(struct ctx *c, int idx, const char *key, size_t n)
{
	if (idx < 0 || n == 0)
		return;
	free(c->m[idx].key);
	c->m[idx].key = xstrndup(key, n < NAME_MAX_LEN ? n : NAME_MAX_LEN);
}

/* The live diagnostic of tool about key, or NONE. */
static int find_key(struct ctx *c, const char *tool, const char *key, size_t n)
{
	if (n > NAME_MAX_LEN)
		n = NAME_MAX_LEN;
	for (size_t k = c->nv; k-- > 0;) {
		const char *mk = c->m[k].key;
		if (!c->m[k].dead && mk && strlen(mk) == n && memcmp(mk, key, n) == 0 &&
		    strcmp(c->v[k].tool, tool) == 0)
			return (int)k;
	}
	return NONE;
}

/* True if tool has a live diagnostic about key or one of its subtests
 * ("key/..."). */
static bool has_key_or_child(struct ctx *c, const char *tool, const char *key)
{
	size_t n = strlen(key);
	for (size_t k = 0; k < c->nv; k++) {
		const char *mk = c->m[k].key;
		if (c->m[k].dead || !mk || strcmp(c->v[k].tool, tool) != 0)
			continue;
		if (strncmp(mk, key, n) == 0 && (mk[n] == '\0' || mk[n] == '/'))
			return true;
	}
	return false;
}

static void diag_free(struct diag *d)
{
	free(d->tool);
	free(d->file);
	free(d->message);
	for (size_t k = 0; k < d->n_notes; k++)
		free(d->notes[k]);
	free(d->notes);
	memset(d, 0, sizeof *d);
}

/* Drops the recent diagnostics of tool about key: a go test printed them
 * with t.Log and then passed. */
static void drop_key(struct ctx *c, const char *tool, const char *key, size_t n)
{
	size_t stop = c->nv > DROP_WINDOW ? c->nv - DROP_WINDOW : 0;

	for (size_t k = c->nv; k-- > stop;) {
		const char *mk = c->m[k].key;
		if (c->m[k].dead || !mk || strlen(mk) != n || memcmp(mk, key, n) != 0 ||
		    strcmp(c->v[k].tool, tool) != 0)
			continue;
		c->text -= c->m[k].bytes;
		c->live--;
		free(c->m[k].key);
		diag_free(&c->v[k]);
		c->m[k] = (struct meta){.dead = true};
		if (k + 1 == c->nv)
			c->nv--;
		if (c->cc_last == (int)k)
			c->cc_last = NONE;
	}
}

/* Replaces the message of diagnostic idx (when pytest's summary names the
 * test in full). */
static void set_message(struct ctx *c, int idx, const char *msg, size_t n)
{
	struct diag *d = &c->v[idx];
	char *t = text_dup(msg, n, DIAG_MAX_TEXT);
	size_t old = strlen(d->message), now = strlen(t);

	if (now > old && c->text + (now - old) > DIAG_MAX_TOTAL) {
		free(t);
		return;
	}
	c->text = c->text - old + now;
	c->m[idx].bytes = c->m[idx].bytes - old + now;
	free(d->message);
	d->message = t;
	c->m[idx].hash = diag_hash(d);
}

/* Remembers "test key of tool failed" at log line; finish() reports it if
 * nothing more specific was found for that test. */
static void defer_fail(struct ctx *c, const char *tool, const char *key, size_t n, size_t line)
{
	if (c->ndef >= MAX_DEFERRED || n == 0)
		return;
	if (c->ndef == 0 || (c->ndef & (c->ndef - 1)) == 0) {
		size_t want = c->ndef ? c->ndef * 2 : 1;
		c->def = xreallocarray(c->def, want, sizeof *c->def);
	}
	c->def[c->ndef].tool = tool;
	c->def[c->ndef].key = xstrndup(key, n < NAME_MAX_LEN ? n : NAME_MAX_LEN);
	c->def[c->ndef].line = line;
	c->ndef++;
}

/* Formats "<name>: <text>" (how test failures are worded) into buf. */
static size_t named(char *buf, size_t cap, const char *name, size_t nn, const char *text, size_t tn)
{
	return clampw(snprintf(buf, cap, "%.*s: %.*s", (int)(nn > cap ? cap : nn), name,
	                       (int)(tn > cap ? cap : tn), text),
	              cap);
}

/* ---- places ------------------------------------------------------------- */

struct loc {
	const char *file;
	size_t flen;
	int line, col;
	const char *rest; /* after the ':' that ends the place */
};

/* Parses "FILE:LINE[:COL]:" at the start of s (FILE without blanks), or,
 * with at_end, "FILE:LINE[:COL]" followed only by blanks. */
static bool parse_loc(const char *s, bool at_end, struct loc *lc)
{
	if (*s == '\0' || is_space(*s) || *s == ':')
		return false;
	for (const char *p = s; *p && !is_space(*p); p++) {
		const char *q, *r;
		int line, col = 0;

		if (*p != ':' || !is_digit(p[1]))
			continue;
		q = p + 1;
		if ((line = parse_num(&q)) < 0)
			continue;
		if (*q == ':' && is_digit(q[1])) {
			r = q + 1;
			int cv = parse_num(&r);
			if (cv >= 0 && (at_end ? is_blank(r) : *r == ':')) {
				col = cv;
				q = r;
			}
		}
		if (at_end ? !is_blank(q) : *q != ':')
			continue;
		lc->file = s;
		lc->flen = (size_t)(p - s);
		lc->line = line;
		lc->col = col;
		lc->rest = at_end ? q + strlen(q) : q + 1;
		return true;
	}
	return false;
}

static bool loc_ext(const struct loc *lc, const char *ext)
{
	return ends_with_n(lc->file, lc->flen, ext);
}

/* Parses "...PATH:LINE:COL" or "...PATH:LINE" at the end of s[0..n) (as in a
 * stack frame); the path starts after the last blank or '('. */
static bool parse_tail_loc(const char *s, size_t n, struct loc *lc)
{
	size_t e = n, d;
	int nums[2], k = 0;

	while (k < 2) {
		d = e;
		while (d > 0 && is_digit(s[d - 1]))
			d--;
		if (d == e || e - d > 9 || d == 0 || s[d - 1] != ':')
			break;
		const char *p = s + d;
		nums[k++] = parse_num(&p);
		e = d - 1;
	}
	if (k == 0)
		return false;
	size_t b = e;
	while (b > 0 && !is_space(s[b - 1]) && s[b - 1] != '(')
		b--;
	if (b == e)
		return false;
	lc->file = s + b;
	lc->flen = e - b;
	lc->line = k == 2 ? nums[1] : nums[0];
	lc->col = k == 2 ? nums[0] : 0;
	lc->rest = s + n;
	return true;
}

/* A stack frame ("at f (path:1:2)", "f (path:1:2)", "at path:1:2") that
 * points into the user's code rather than the runtime or node_modules. */
static bool user_frame(const char *s, struct loc *lc)
{
	const char *t = skip_ws(s);
	size_t n = trimmed_len(t, strlen(t));

	if (n >= 3 && has_prefix(t, "at "))
		t += 3, n -= 3;
	if (n > 0 && t[n - 1] == ')')
		n--;
	if (!parse_tail_loc(t, n, lc))
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

/* ---- gcc and clang ------------------------------------------------------ */

/* gcc's source lines "  12 | code" and caret lines "     |   ^~~". */
static bool is_gutter(const char *s)
{
	s += strspn(s, " ");
	s += strspn(s, "0123456789+");
	s += strspn(s, " ");
	return *s == '|';
}

static bool is_caret(const char *s)
{
	bool mark = false;
	for (; *s; s++) {
		if (*s == '^' || *s == '~')
			mark = true;
		else if (!is_space(*s))
			return false;
	}
	return mark;
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
static bool is_generated_line(const char *s, size_t n)
{
	return is_digit(*s) && ends_with_n(s, n, " generated.") &&
	       (strstr(s, " error") || strstr(s, " warning"));
}

static const char *severity_word(const char *s, enum event_severity *sev)
{
	static const struct {
		const char *w;
		enum event_severity sev;
	} words[] = {
	    {"fatal error: ", SEV_CRITICAL}, {"error: ", SEV_ERROR},   {"warning: ", SEV_WARNING},
	    {"note: ", SEV_NOTICE},          {"remark: ", SEV_NOTICE},
	};
	for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
		if (has_prefix(s, words[k].w)) {
			*sev = words[k].sev;
			return s + strlen(words[k].w);
		}
	}
	return NULL;
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
static bool cc_spaced_loc(const char *s, struct loc *lc)
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
	int nums[2], k = 0;
	while (k < 2) {
		size_t d = e;
		while (d > 0 && is_digit(s[d - 1]))
			d--;
		if (d == e || e - d > 9 || d == 0 || s[d - 1] != ':')
			break;
		const char *p = s + d;
		nums[k++] = parse_num(&p);
		e = d - 1;
	}
	if (k == 0 || e == 0)
		return false;
	lc->file = s;
	lc->flen = e;
	lc->line = k == 2 ? nums[1] : nums[0];
	lc->col = k == 2 ? nums[0] : 0;
	lc->rest = m + 1;
	return true;
}

static bool is_makefile(const char *f, size_t n)
{
	size_t bn;
	const char *b = base_name(f, n, &bn);
	return name_is(b, bn, "Makefile") || name_is(b, bn, "makefile") ||
	       name_is(b, bn, "GNUmakefile") || ends_with_n(f, n, ".mk") ||
	       ends_with_n(f, n, ".make");
}

/* Source and caret lines after a compiler diagnostic, added as notes to
 * idx; returns how many lines they take. clang prints the source line as
 * it is (no gutter), so it is recognised by the caret line under it. */
static size_t cc_follow(struct ctx *c, size_t j, int idx)
{
	size_t k = j;
	bool after = false;
	struct loc lc;

	while (k < c->n) {
		const char *s = c->l[k].s;
		if (is_gutter(s) || is_caret(s)) {
			after = true;
		} else if (k + 1 < c->n && is_caret(c->l[k + 1].s) && !is_blank(s) &&
		           !parse_loc(s, false, &lc) && !is_scope_line(s)) {
			note_line(c, idx, k, true);
			k++;
			after = true;
		} else if (!(after && is_space(s[0]) && !is_blank(s) && !is_from_line(s))) {
			break;
		}
		note_line(c, idx, k, true);
		k++;
	}
	return k - j;
}

/* gcc and clang print the same shape; clang says "N errors generated."
 * (seen in a first pass over the log) or the command names it. */
static const char *cc_tool(const struct ctx *c)
{
	return c->clang_hint ? "clang" : "gcc";
}

static size_t p_cc(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *msg, *after;
	const char *tool;
	enum event_severity sev;
	struct loc lc;
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
	if (is_generated_line(s, c->l[i].n) || strcmp(s, "compilation terminated.") == 0)
		return 1;
	if ((tool = driver_tool(s, &after)) && (msg = severity_word(after, &sev))) {
		if (strstr(msg, "linker command failed"))
			tool = "ld";
		idx = add_s(c, tool, NULL, 0, 0, 0, sev, msg, i);
		c->cc_last = idx >= 0 ? idx : DROPPED;
		c->cc_end = i + 1;
		return 1;
	}
	if (!(parse_loc(s, false, &lc) || cc_spaced_loc(s, &lc)) || loc_ext(&lc, ".java") ||
	    loc_ext(&lc, ".go") || loc_ext(&lc, ".py") || is_makefile(lc.file, lc.flen) ||
	    *lc.rest != ' ')
		return 0;
	if (!(msg = severity_word(lc.rest + 1, &sev)))
		return 0;

	ctx_adj = c->pend_b == i && c->pend_a < c->pend_b;
	if (sev == SEV_NOTICE && c->cc_last != NONE &&
	    (c->cc_end == i || (ctx_adj && c->cc_end == c->pend_a))) {
		/* A note belongs to the diagnostic just before it. */
		idx = c->cc_last;
		if (ctx_adj)
			for (k = c->pend_a; k < c->pend_b; k++)
				note_line(c, idx, k, false);
		note_line(c, idx, i, false);
		k = cc_follow(c, i + 1, idx);
		c->cc_end = i + 1 + k;
		span(c, idx, c->cc_end);
		c->pend_a = c->pend_b = 0;
		return 1 + k;
	}
	tool = cc_tool(c);
	idx = add_s(c, tool, lc.file, lc.flen, lc.line, lc.col, sev, msg, ctx_adj ? c->pend_a : i);
	if (ctx_adj)
		for (k = c->pend_a; k < c->pend_b; k++)
			note_line(c, idx, k, false);
	k = cc_follow(c, i + 1, idx);
	c->cc_last = idx >= 0 ? idx : DROPPED;
	c->cc_end = i + 1 + k;
	span(c, idx, c->cc_end);
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

static size_t ld_follow(struct ctx *c, size_t i, int idx)
{
	size_t k = i + 1;
	while (k < c->n && has_prefix(c->l[k].s, ">>> ")) {
		note_line(c, idx, k, false);
		k++;
	}
	return k - i;
}

static size_t p_ld(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *body, *m, *file, *after, *msg;
	bool prefixed, in_run = c->ld_end == i && c->ld_has_ctx;
	enum event_severity sev = SEV_ERROR;
	size_t flen, n;

	int line, idx;

	if (has_prefix(s, "collect2: ") || has_prefix(s, "collect2.exe: ")) {
		if (!driver_tool(s, &after) || !(msg = severity_word(after, &sev)))
			return 0;
		add_s(c, "ld", NULL, 0, 0, 0, sev, msg, i);
		return 1;
	}
	if (driver_tool(s, &after) && (msg = severity_word(after, &sev)) &&
	    has_prefix(msg, "linker command failed")) {
		add_s(c, "ld", NULL, 0, 0, 0, sev, msg, i);
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
		idx = add(c, "ld", file, flen, line, 0, SEV_ERROR, m,
		          semi ? (size_t)(semi - m) : strlen(m), i);
		if (in_run)
			note_line(c, idx, c->ld_ctx, false);
		if (semi)
			note(c, idx, semi + 2);
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
	if ((msg = severity_word(body, &sev)) == NULL) {
		/* "main.o: warning: relocation against ..." */
		const char *p = strstr(body, ": ");
		if (p && !memchr(body, ' ', (size_t)(p - body)) &&
		    (msg = severity_word(p + 2, &sev))) {
			ld_place(body, (size_t)(p - body), &file, &flen, &line);
		} else {
			msg = body;
			sev = SEV_ERROR;
		}
	}
	if (sev == SEV_NOTICE)
		return 1;
	idx = add_s(c, "ld", file, flen, line, 0, sev, msg, i);
	n = ld_follow(c, i, idx);
	/* lld: ">>> referenced by main.c:6" says where. */
	if (idx >= 0 && !c->v[idx].file && n > 1) {
		const char *r = strstr(c->l[i + 1].s, "referenced by ");
		struct loc lc;
		if (r && parse_loc(r + 14, true, &lc)) {
			c->v[idx].file = text_dup(lc.file, lc.flen, DIAG_MAX_TEXT);
			c->v[idx].line = lc.line;
			c->m[idx].hash = diag_hash(&c->v[idx]);
		}
	}
	span(c, idx, i + n);
	c->ld_end = i + n;
	return n;
}

/* ---- make, ninja, cmake -------------------------------------------------- */

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
static void make_error(struct ctx *c, size_t i, const char *p)
{
	char buf[DIAG_MAX_LINE + 1], msg[DIAG_MAX_TEXT + 1];
	const char *file = NULL, *close;
	size_t flen = 0, n = strlen(p);
	int line = 0;

	if (ends_with(p, "  Stop."))
		n -= 7;
	if (*p == '[' && (close = strstr(p, "] ")) != NULL) {
		size_t in = (size_t)(close - p - 1);
		struct loc lc;
		const char *target = buf;
		memcpy(buf, p + 1, in);
		buf[in] = '\0';
		if (parse_loc(buf, false, &lc)) {
			file = lc.file;
			flen = lc.flen;
			line = lc.line;
			target = skip_ws(lc.rest);
		}
		size_t used = (size_t)(close + 2 - p);
		size_t m = named(msg, sizeof msg, target, strlen(target), close + 2,
		                 n > used ? n - used : 0);
		add(c, "make", file, flen, line, 0, SEV_ERROR, msg, m, i);
		return;
	}
	add(c, "make", NULL, 0, 0, 0, SEV_ERROR, p, n, i);
}

static size_t p_make(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *p = make_prefix(s);
	struct loc lc;

	if (p) {
		if (has_prefix(p, "*** ")) {
			make_error(c, i, p + 4);
			return 1;
		}
		if (has_prefix(p, "warning: ")) {
			add_s(c, "make", NULL, 0, 0, 0, SEV_WARNING, p + 9, i);
			return 1;
		}
		if (has_prefix(p, "Entering directory") || has_prefix(p, "Leaving directory") ||
		    has_prefix(p, "Nothing to be done") || strstr(p, " is up to date.") ||
		    (has_prefix(p, "Target ") && strstr(p, " not remade because of errors")))
			return 1;
		return 0;
	}
	if (parse_loc(s, false, &lc) && is_makefile(lc.file, lc.flen)) {
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
		add(c, "make", lc.file, lc.flen, lc.line, 0, sev, m, n, i);
		return 1;
	}
	return 0;
}

static size_t p_ninja(struct ctx *c, size_t i)
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
		idx = add(c, "ninja", NULL, 0, 0, 0, SEV_ERROR, msg, m, i);
		/* Ninja prints the failed command on the next line. */
		if (i + 1 < c->n && !is_blank(c->l[i + 1].s)) {
			note_line(c, idx, i + 1, false);
			span(c, idx, i + 2);
			return 2;
		}
		return 1;
	}
	if (!has_prefix(s, "ninja: "))
		return 0;
	p = s + 7;
	if (has_prefix(p, "error: ")) {
		add_s(c, "ninja", NULL, 0, 0, 0, SEV_ERROR, p + 7, i);
		return 1;
	}
	if (has_prefix(p, "warning: ")) {
		add_s(c, "ninja", NULL, 0, 0, 0, SEV_WARNING, p + 9, i);
		return 1;
	}
	if (has_prefix(p, "build stopped") || has_prefix(p, "Entering directory") ||
	    has_prefix(p, "no work to do"))
		return 1;
	return 0;
}

static size_t p_cmake(struct ctx *c, size_t i)
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
	idx = add(c, "cmake", file, flen, line, 0, sev, text, mlen, i);
	for (; k < j; k++)
		if (!is_blank(c->l[k].s))
			note_line(c, idx, k, false);
	span(c, idx, j);
	return j - i;
}

/* ---- javac and maven ---------------------------------------------------- */

static size_t p_javac(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *msg;
	enum event_severity sev;
	struct loc lc;
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
	if (!parse_loc(s, false, &lc) || !loc_ext(&lc, ".java") || *lc.rest != ' ' ||
	    !(msg = severity_word(lc.rest + 1, &sev)))
		return 0;
	c->javac_seen = true;
	idx = add_s(c, "javac", lc.file, lc.flen, lc.line, 0, sev, msg, i);
	for (k = i + 1; k < c->n && is_space(c->l[k].s[0]) && !is_blank(c->l[k].s); k++) {
		const char *t = c->l[k].s;
		bool caret = is_caret(t);
		note_line(c, idx, k, caret || k == i + 1);
		const char *cp = caret ? strchr(t, '^') : NULL;
		if (cp && idx >= 0 && c->v[idx].col == 0 && lc.line > 0) {
			/* javac gives no column; its caret does (a "~~~" line
			 * counts as a caret line but has no '^' to place it). */
			c->v[idx].col = (int)(cp - t) + 1;
			c->m[idx].hash = diag_hash(&c->v[idx]);
		}
	}
	span(c, idx, k);
	return k - i;
}

/* "/path/App.java:[5,24] msg" */
static bool maven_place(const char *p, struct loc *lc)
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
static size_t maven_test(struct ctx *c, size_t i, const char *p)
{
	char key[NAME_MAX_LEN + 1], cls[NAME_MAX_LEN + 1], msg[DIAG_MAX_TEXT + 1];
	const char *e = strstr(p, "  Time elapsed");
	const char *open, *method, *klass;
	size_t mn, kn, j, m;
	struct loc best = {0};
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
	m = named(msg, sizeof msg, key, klen, first, strlen(first));
	for (size_t k = i + 1; k < j && !found; k++) {
		const char *t = skip_ws(c->l[k].s), *q;
		struct loc lc;
		if (!has_prefix(t, "at ") || !(q = strrchr(t, '(')))
			continue;
		if (parse_tail_loc(q + 1, strlen(q + 1) - (ends_with(q, ")") ? 1 : 0), &lc) &&
		    ends_with_n(lc.file, lc.flen, ".java")) {
			if (!best.file)
				best = lc;
			if (name_is(lc.file, lc.flen, cls))
				best = lc, found = true;
		}
	}
	idx = add(c, "maven", best.file, best.flen, best.line, 0, SEV_ERROR, msg, m, i);
	set_key(c, idx, key, klen);
	for (size_t k = i + 2; k < j; k++)
		note_line(c, idx, k, false);
	span(c, idx, j);
	return j - i;
}

static size_t p_maven(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *p;
	enum event_severity sev;
	struct loc lc;
	size_t k;
	int idx;

	if (has_prefix(s, "[ERROR] ") || !strcmp(s, "[ERROR]")) {
		sev = SEV_ERROR;
		p = s + (s[7] ? 8 : 7);
	} else if (has_prefix(s, "[WARNING] ") || !strcmp(s, "[WARNING]")) {
		sev = SEV_WARNING;
		p = s + (s[9] ? 10 : 9);
	} else {
		if (has_prefix(s, "[INFO] "))
			c->maven_seen = true;
		c->maven_summary = false;
		return 0;
	}
	c->maven_seen = true;
	if (c->maven_summary && has_prefix(p, "  ") && sev == SEV_ERROR) {
		/* "[ERROR]   AppTest.addsTwoNumbers:10 expected:<3> but was:<4>" */
		const char *t = skip_ws(p);
		size_t kn = strcspn(t, ": ");
		const char *r = t + kn;
		if (find_key(c, "maven", t, kn) >= 0)
			return 1;
		if (*r == ':')
			r += 1 + strspn(r + 1, "0123456789");
		char msg[DIAG_MAX_TEXT + 1];
		const char *why = skip_ws(r);
		size_t m =
		    named(msg, sizeof msg, t, kn, *why ? why : "failed", *why ? strlen(why) : 6);
		idx = add(c, "maven", NULL, 0, 0, 0, SEV_ERROR, msg, m, i);
		set_key(c, idx, t, kn);
		return 1;
	}
	c->maven_summary = false;
	if (maven_place(p, &lc)) {
		idx = add_s(c, "maven", lc.file, lc.flen, lc.line, lc.col, sev, lc.rest, i);
		for (k = i + 1; k < c->n; k++) {
			const char *t = c->l[k].s;
			if (is_space(t[0]) && !is_blank(t))
				note_line(c, idx, k, false);
			else if (has_prefix(t, "[ERROR]   ") || has_prefix(t, "[WARNING]   "))
				note_n(c, idx, t + (t[1] == 'E' ? 8 : 10),
				       c->l[k].n - (t[1] == 'E' ? 8 : 10), false);
			else
				break;
		}
		span(c, idx, k);
		return k - i;
	}
	if (strstr(p, "<<< FAILURE!") || strstr(p, "<<< ERROR!")) {
		size_t used = has_prefix(p, "Tests run: ") ? 0 : maven_test(c, i, p);
		return used ? used : 1;
	}
	if (has_prefix(p, "Tests run: ")) {
		add_s(c, "maven", NULL, 0, 0, 0, sev, p, i);
		return 1;
	}
	if (!strncmp(p, "Failures:", 9) || !strncmp(p, "Errors:", 7) || !strncmp(p, "Flakes:", 7)) {
		c->maven_summary = is_blank(strchr(p, ':') + 1);
		return 1;
	}
	if (maven_boilerplate(p) || has_prefix(p, "  "))
		return 1;
	add_s(c, "maven", NULL, 0, 0, 0, sev, p, i);
	return 1;
}

/* ---- rustc, cargo, cargo test ------------------------------------------- */

static size_t p_rust(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *p, *code = NULL, *tool;
	enum event_severity sev;
	size_t codelen = 0, k;
	struct loc lc = {0};
	bool have_loc = false;
	char msg[DIAG_MAX_TEXT + 1];
	int idx;

	if (has_prefix(s, "error")) {
		sev = SEV_ERROR;
		p = s + 5;
	} else if (has_prefix(s, "warning")) {
		sev = SEV_WARNING;
		p = s + 7;
	} else {
		if (c->rust_hint && (has_prefix(s, "For more information about") ||
		                     has_prefix(s, "Some errors have detailed explanations")))
			return 1;
		return 0;
	}
	if (*p == '[') {
		code = p + 1;
		codelen = strcspn(code, "]");
		if (code[codelen] != ']')
			return 0;
		p = code + codelen + 1;
	}
	if (!has_prefix(p, ": "))
		return 0;
	p += 2;
	if (i + 1 < c->n) {
		const char *t = skip_ws(c->l[i + 1].s);
		if (has_prefix(t, "--> ") && parse_loc(skip_ws(t + 4), true, &lc))
			have_loc = true;
	}
	if (!have_loc && !code && !c->rust_hint)
		return 0;
	/* Cargo's and rustc's closing summaries repeat what was said. */
	if (has_prefix(p, "aborting due to") || has_prefix(p, "could not compile") ||
	    has_prefix(p, "test failed, to rerun") ||
	    (sev == SEV_WARNING && strstr(p, ") generated ") && strstr(p, " warning")) ||
	    (sev == SEV_WARNING && has_prefix(p, "build failed, waiting for other jobs")))
		return 1;
	tool = have_loc || code ? "rustc" : "cargo";
	size_t m = strlen(p);
	if (code) {
		m = clampw(snprintf(msg, sizeof msg, "%s [%.*s]", p,
		                    (int)(codelen < 64 ? codelen : 64), code),
		           sizeof msg);
		p = msg;
	}
	idx = add(c, tool, lc.file, lc.flen, lc.line, lc.col, sev, p, m, i);
	/* The block runs to the blank line rustc puts after each diagnostic. */
	for (k = i + 1 + (have_loc ? 1 : 0); k < c->n && k - i < 500; k++) {
		const char *t = c->l[k].s;
		if (is_blank(t) ||
		    (!is_space(t[0]) && (has_prefix(t, "error") || has_prefix(t, "warning"))))
			break;
		if (strcmp(skip_ws(t), "|") == 0)
			continue;
		note_line(c, idx, k, true);
	}
	span(c, idx, k);
	return k - i;
}

static size_t p_cargo_test(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *p, *q;
	char msg[DIAG_MAX_TEXT + 1];
	struct loc lc = {0};
	const char *text = NULL;
	size_t tlen = 0, k, n = c->l[i].n;
	int idx;

	if (has_prefix(s, "running ") && (ends_with(s, " tests") || ends_with(s, " test"))) {
		c->rust_tests = true;
		return 1;
	}
	if (n > 17 && has_prefix(s, "---- ") && ends_with(s, " stdout ----")) {
		size_t nn = n - 5 - 12;
		snprintf(c->rust_test, sizeof c->rust_test, "%.*s", (int)nn, s + 5);
		c->rust_tests = true;
		return 1;
	}
	if (c->rust_tests && n > 16 && has_prefix(s, "test ") && ends_with(s, " ... FAILED")) {
		defer_fail(c, "cargo test", s + 5, n - 5 - 11, i);
		return 1;
	}
	if (has_prefix(s, "test result: FAILED")) {
		add_s(c, "cargo test", NULL, 0, 0, 0, SEV_ERROR, s, i);
		return 1;
	}
	if (!has_prefix(s, "thread '") || !(p = strstr(s, " panicked at ")))
		return 0;
	/* thread 'tests::adds' (8337) panicked at src/lib.rs:15:9: */
	const char *name = s + 8;
	size_t nn = strcspn(name, "'");
	p += 13;
	k = i + 1;
	if (*p == '\'') {
		/* Before Rust 1.73: panicked at 'msg', src/lib.rs:15:9 */
		text = p + 1;
		q = strstr(text, "', ");
		if (!q)
			return 0;
		tlen = (size_t)(q - text);
		parse_loc(q + 3, true, &lc);
	} else {
		if (!parse_loc(p, false, &lc) || !is_blank(lc.rest))
			memset(&lc, 0, sizeof lc);
		if (k < c->n && !is_blank(c->l[k].s)) {
			text = c->l[k].s;
			tlen = c->l[k].n;
			k++;
		}
	}
	const char *tool = c->rust_tests ? "cargo test" : "rust";
	if (!text)
		text = "panicked", tlen = 8;
	size_t m = c->rust_tests ? named(msg, sizeof msg, name, nn, text, tlen)
	                         : clampw(snprintf(msg, sizeof msg, "panicked: %.*s",
	                                           (int)(tlen > 900 ? 900 : tlen), text),
	                                  sizeof msg);
	idx = add(c, tool, lc.file, lc.flen, lc.line, lc.col, SEV_ERROR, msg, m, i);
	set_key(c, idx, name, nn);
	for (; k < c->n; k++) {
		const char *t = c->l[k].s;
		if (is_blank(t) || has_prefix(t, "stack backtrace:") || has_prefix(t, "note: "))
			break;
		note_line(c, idx, k, false);
	}
	span(c, idx, k);
	return k - i;
}

/* ---- go and go test ----------------------------------------------------- */

static size_t p_go(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s;
	struct loc lc;
	size_t k;
	int idx;

	if (!parse_loc(s, false, &lc) || !loc_ext(&lc, ".go") || *lc.rest != ' ')
		return 0;
	idx = add_s(c, "go", lc.file, lc.flen, lc.line, lc.col, SEV_ERROR, lc.rest + 1, i);
	/* Type errors go on over tab-indented "have"/"want" lines. */
	for (k = i + 1; k < c->n && c->l[k].s[0] == '\t'; k++)
		note_line(c, idx, k, false);
	span(c, idx, k);
	return k - i;
}

/* A goroutine trace after "panic: ...": returns where it ends and the
 * first frame outside the runtime and testing packages. */
static size_t go_trace(struct ctx *c, size_t k, int idx, struct loc *where)
{
	size_t limit = k + 2000;
	bool got = false;

	while (k < c->n && k < limit) {
		const char *t = c->l[k].s;
		if (t[0] == '\t') {
			struct loc lc;
			const char *f = t + 1;
			size_t fn = strcspn(f, " ");
			if (!got && parse_tail_loc(f, fn, &lc) &&
			    !memmem(f, fn, "/src/runtime/", 13) &&
			    !memmem(f, fn, "/src/testing/", 13)) {
				*where = lc;
				got = true;
				note_n(c, idx, f, fn, false);
			}
		} else if (!(is_blank(t) || has_prefix(t, "goroutine ") ||
		             has_prefix(t, "created by ") ||
		             (strchr(t, '(') && ends_with(t, ")")) || ends_with(t, "(...)") ||
		             has_prefix(t, "[signal ") || has_prefix(t, "panic: ") ||
		             has_prefix(t, "\tpanic: "))) {
			break;
		}
		k++;
	}
	return k;
}

static size_t p_gotest(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s);
	char msg[DIAG_MAX_TEXT + 1];
	struct loc lc;
	size_t k, ind, m;
	int idx;

	if (has_prefix(s, "=== RUN ") || has_prefix(s, "=== CONT ") ||
	    has_prefix(s, "=== PAUSE ") || has_prefix(s, "=== NAME ")) {
		const char *name = skip_ws(s + 4 + strcspn(s + 4, " "));
		snprintf(c->go_test, sizeof c->go_test, "%s", name);
		c->go_seen = true;
		return 1;
	}
	if (has_prefix(t, "--- FAIL: ") || has_prefix(t, "--- PASS: ") ||
	    has_prefix(t, "--- SKIP: ")) {
		const char *name = t + 10;
		size_t nn = strcspn(name, " ");
		snprintf(c->go_test, sizeof c->go_test, "%.*s",
		         (int)(nn > NAME_MAX_LEN ? NAME_MAX_LEN : nn), name);
		c->go_seen = true;
		if (t[4] == 'F')
			defer_fail(c, "go test", name, nn, i);
		else
			drop_key(c, "go test", name, nn > NAME_MAX_LEN ? NAME_MAX_LEN : nn);
		return 1;
	}
	if (c->go_seen &&
	    (!strcmp(s, "FAIL") || has_prefix(s, "FAIL\t") || has_prefix(s, "ok  \t") ||
	     !strcmp(s, "PASS") || has_prefix(s, "exit status ")))
		return 1;
	if (has_prefix(s, "panic: ")) {
		struct loc where = {0};
		bool trace = false;
		for (k = i + 1; k < c->n && k < i + 4; k++)
			if (has_prefix(c->l[k].s, "goroutine "))
				trace = true;
		if (!trace && !c->go_seen)
			return 0;
		if (c->go_seen && c->go_test[0])
			m = named(msg, sizeof msg, c->go_test, strlen(c->go_test), s, c->l[i].n);
		else
			m = clampw(snprintf(msg, sizeof msg, "%s", s), sizeof msg);
		idx = add(c, c->go_seen ? "go test" : "go", NULL, 0, 0, 0, SEV_ERROR, msg, m, i);
		k = go_trace(c, i + 1, idx, &where);
		if (idx >= 0 && where.file) {
			c->v[idx].file = text_dup(where.file, where.flen, DIAG_MAX_TEXT);
			c->v[idx].line = where.line;
			c->m[idx].hash = diag_hash(&c->v[idx]);
		}
		if (c->go_seen)
			set_key(c, idx, c->go_test, strlen(c->go_test));
		span(c, idx, k);
		return k - i;
	}
	ind = indent_of(s);
	if (ind == 0 || !(c->go_seen || c->go_hint) || !parse_loc(t, false, &lc) ||
	    !loc_ext(&lc, ".go") || lc.col || *lc.rest != ' ')
		return 0;
	/* "    calc_test.go:7: Add(1, 2) = 4, want 3" from t.Errorf. */
	m = c->go_test[0] ? named(msg, sizeof msg, c->go_test, strlen(c->go_test), lc.rest + 1,
	                          strlen(lc.rest + 1))
	                  : clampw(snprintf(msg, sizeof msg, "%s", lc.rest + 1), sizeof msg);
	idx = add(c, "go test", lc.file, lc.flen, lc.line, 0, SEV_ERROR, msg, m, i);
	set_key(c, idx, c->go_test, strlen(c->go_test));
	for (k = i + 1; k < c->n; k++) {
		const char *u = c->l[k].s;
		if (indent_of(u) <= ind || has_prefix(skip_ws(u), "--- ") || has_prefix(u, "=== "))
			break;
		note_line(c, idx, k, false);
	}
	span(c, idx, k);
	return k - i;
}

/* ---- pytest and Python tracebacks --------------------------------------- */

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
static size_t pytest_block(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s;
	size_t n = c->l[i].n, a = 0, b = n, j, k, keyn;
	char key[NAME_MAX_LEN + 1], msg[DIAG_MAX_TEXT + 1];
	const char *etext = NULL, *first = NULL;
	size_t elen = 0, last = SIZE_MAX, m;
	struct loc lc, lastloc = {0};
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
		if (t[0] != '>' && !has_prefix(t, "E ") && parse_loc(t, false, &lc)) {
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
	m = named(msg, sizeof msg, key, keyn, etext, elen);
	idx = add(c, "pytest", lastloc.file, lastloc.flen, lastloc.line, 0, SEV_ERROR, msg, m, i);
	set_key(c, idx, key, keyn);
	bool skipped_first = false;
	for (k = i + 1; k < j; k++) {
		const char *t = c->l[k].s;
		if (has_prefix(t, "E ")) {
			if (!skipped_first && skip_ws(t + 1) == etext) {
				skipped_first = true;
				continue;
			}
			note_n(c, idx, t + 1, c->l[k].n - 1, false);
		} else if (k != last && t[0] != '>' && parse_loc(t, false, &lc)) {
			note_line(c, idx, k, false);
		}
	}
	span(c, idx, j);
	return j - i;
}

static size_t p_pytest(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *title;
	char buf[128], key[NAME_MAX_LEN + 1], msg[DIAG_MAX_TEXT + 1];
	struct loc lc;
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
		if (parse_loc(s, false, &lc) && loc_ext(&lc, ".py") && !is_blank(lc.rest)) {
			add_s(c, "pytest", lc.file, lc.flen, lc.line, 0, SEV_ERROR, lc.rest, i);
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
		idx = find_key(c, "pytest", key, keyn);
		if (idx >= 0) {
			/* Name the test in full: "test_x.py::test_a: ..." */
			const char *old = c->v[idx].message;
			if (strncmp(old, key, keyn) == 0 && old[keyn] == ':' && idn != keyn) {
				size_t m = named(msg, sizeof msg, id, idn, old + keyn + 2,
				                 strlen(old + keyn + 2));
				set_message(c, idx, msg, m);
			}
			return 1;
		}
		const char *sep = memmem(id, idn, "::", 2);
		size_t m = named(msg, sizeof msg, id, idn, why, strlen(why));
		idx = add(c, "pytest", id, sep ? (size_t)(sep - id) : idn, 0, 0, SEV_ERROR, msg, m,
		          i);
		set_key(c, idx, key, keyn);
		return 1;
	}
	case 3:
		if (is_space(s[0]) && parse_loc(skip_ws(s), false, &lc) && !is_blank(lc.rest)) {
			size_t k, ind = indent_of(s);
			idx = add_s(c, "pytest", lc.file, lc.flen, lc.line, 0, SEV_WARNING, lc.rest,
			            i);
			for (k = i + 1;
			     k < c->n && indent_of(c->l[k].s) > ind && !is_blank(c->l[k].s); k++)
				note_line(c, idx, k, false);
			span(c, idx, k);
			return k - i;
		}
		return 0;
	default: return 0;
	}
}

static bool stdlib_path(const char *f, size_t n)
{
	return memmem(f, n, "/lib/python", 11) || memmem(f, n, "site-packages", 13) ||
	       memmem(f, n, "dist-packages", 13) || (n > 0 && f[0] == '<');
}

static size_t p_pytrace(struct ctx *c, size_t i)
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
	idx = add_s(c, "python", file, flen, line, 0, SEV_ERROR, c->l[j].s, i);
	for (size_t k = total - nf; k < total; k++)
		note_line(c, idx, frames[k % TRACE_NOTES], false);
	span(c, idx, j + 1);
	return j + 1 - i;
}

/* ---- node's test runner and jest ---------------------------------------- */

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
static size_t p_node_tap(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s), *name;
	size_t ind = indent_of(s), j, k, yind, nn;
	char errname[128] = "", first[DIAG_MAX_TEXT + 1] = "", loc[DIAG_MAX_LINE + 1] = "";
	char msg[DIAG_MAX_TEXT + 1], text[DIAG_MAX_TEXT + 1];
	size_t err_a = 0, err_b = 0;
	struct loc where = {0}, lc;
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
	if (!got && loc[0] && parse_tail_loc(loc, strlen(loc), &lc))
		where = lc, got = true;
	size_t tl = errname[0]
	                ? clampw(snprintf(text, sizeof text, "%s: %s", errname,
	                                  first[0] ? first : "failed"),
	                         sizeof text)
	                : clampw(snprintf(text, sizeof text, "%s", first[0] ? first : "failed"),
	                         sizeof text);
	size_t m = named(msg, sizeof msg, name, nn, text, tl);
	idx = add(c, c->tap_seen || c->node_hint ? "node --test" : "tap", got ? where.file : NULL,
	          got ? where.flen : 0, where.line, where.col, SEV_ERROR, msg, m, i);
	set_key(c, idx, name, nn);
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
		note_dedent(c, idx, k, base);
	}
	span(c, idx, j);
	return j - i;
}

/* A failure block under a title line ("✖ name (1ms)", "● Suite › test"):
 * the lines indented deeper than the title. Fills the header (first line),
 * notes (up to the stack) and the first user frame; returns the block end. */
static size_t failure_block(struct ctx *c, size_t i, size_t ind, const char **header,
                            struct loc *where, bool *got, size_t *notes_a, size_t *notes_b)
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

static void block_notes(struct ctx *c, int idx, size_t a, size_t b, size_t base)
{
	for (size_t k = a; k < b; k++) {
		const char *t = skip_ws(c->l[k].s);
		if (is_blank(t) || is_code_frame(t) || has_prefix(t, "at "))
			continue;
		note_dedent(c, idx, k, base);
	}
}

static size_t p_node_spec(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s), *name, *header;
	size_t ind = indent_of(s), j, nn, a, b;
	char msg[DIAG_MAX_TEXT + 1];
	struct loc where = {0};
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
	if (!header || find_key(c, "node --test", name, nn) >= 0)
		return j - i;
	size_t m = named(msg, sizeof msg, name, nn, header, strlen(header));
	idx = add(c, "node --test", got ? where.file : NULL, got ? where.flen : 0, where.line,
	          where.col, SEV_ERROR, msg, m, i);
	set_key(c, idx, name, nn);
	block_notes(c, idx, a, b, (size_t)(header - c->l[a - 1].s));
	span(c, idx, j);
	return j - i;
}

/* Babel's "SyntaxError: /path/x.test.js: Unexpected token (1:10)". */
static bool babel_place(const char *t, struct loc *lc)
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

static size_t p_jest(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s), *title, *header;
	size_t ind = indent_of(s), j, tn, a, b;
	char msg[DIAG_MAX_TEXT + 1], key[2 * NAME_MAX_LEN + 2];
	struct loc where = {0};
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
		where = (struct loc){.file = c->jest_file, .flen = strlen(c->jest_file)};
		got = true;
	}
	size_t kn = clampw(snprintf(key, sizeof key, "%s\x1f%.*s", c->jest_file,
	                            (int)(tn > NAME_MAX_LEN ? NAME_MAX_LEN : tn), title),
	                   sizeof key);
	if (find_key(c, "jest", key, kn) >= 0)
		return j - i;
	size_t m = named(msg, sizeof msg, title, tn, header, strlen(header));
	idx = add(c, "jest", got ? where.file : NULL, got ? where.flen : 0, where.line, where.col,
	          SEV_ERROR, msg, m, i);
	set_key(c, idx, key, kn);
	block_notes(c, idx, a, b, (size_t)(header - c->l[a - 1].s));
	span(c, idx, j);
	return j - i;
}

/* ---- ctest -------------------------------------------------------------- */

static size_t p_ctest(struct ctx *c, size_t i)
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
			if (find_key(c, "ctest", name, nn) >= 0)
				continue;
			const char *why = o ? o + 1 : "Failed";
			m = named(msg, sizeof msg, name, nn, why, strcspn(why, ")"));
			idx = add(c, "ctest", NULL, 0, 0, 0, SEV_ERROR, msg, m, k);
			set_key(c, idx, name, nn);
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
	m = named(msg, sizeof msg, name, nn, st, sn);
	idx = add(c, "ctest", NULL, 0, 0, 0, SEV_ERROR, msg, m, i);
	set_key(c, idx, name, nn);
	/* --output-on-failure: the test's output follows. */
	for (k = i + 1; k < c->n; k++) {
		const char *u = c->l[k].s, *q = skip_ws(u);
		if (has_prefix(q, "Start ") ||
		    (is_digit(*q) && strstr(q, " Test ") && strstr(q, "#")) ||
		    (is_digit(*u) && strstr(u, "% tests passed")) ||
		    has_prefix(u, "The following tests"))
			break;
		note_line(c, idx, k, false);
	}
	span(c, idx, k);
	return k - i;
}

/* ---- the generic fallback ----------------------------------------------- */

/* Whether a word is a sign of trouble, and how bad. */
static int trouble_word(const char *w, size_t n, enum event_severity *sev)
{
	static const struct {
		const char *w;
		enum event_severity sev;
	} words[] = {
	    {"error", SEV_ERROR},     {"errors", SEV_ERROR},    {"fatal", SEV_CRITICAL},
	    {"failed", SEV_ERROR},    {"failure", SEV_ERROR},   {"failures", SEV_ERROR},
	    {"fail", SEV_ERROR},      {"exception", SEV_ERROR}, {"traceback", SEV_ERROR},
	    {"panic", SEV_ERROR},     {"panicked", SEV_ERROR},  {"segfault", SEV_CRITICAL},
	    {"aborted", SEV_ERROR},   {"cannot", SEV_ERROR},    {"denied", SEV_ERROR},
	    {"undefined", SEV_ERROR}, {"warning", SEV_WARNING},
	};
	char low[16];

	/* Most words start with a letter none of these start with. */
	if (n < 4 || n >= sizeof low || !strchr("eEfFtTpPsSaAcCdDuUwW", w[0]))
		return 0;
	for (size_t k = 0; k < n; k++)
		low[k] = (char)(w[k] >= 'A' && w[k] <= 'Z' ? w[k] + 32 : w[k]);
	low[n] = '\0';
	for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
		if (!strcmp(low, words[k].w)) {
			*sev = words[k].sev;
			return 1;
		}
	}
	return 0;
}

static bool word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '_' ||
	       ch == '-' || ch == '.' || ch == '/';
}

static size_t p_generic(struct ctx *c, size_t i)
{
	const char *s = c->l[i].s, *t = skip_ws(s), *p = t, *prev = NULL;
	size_t prevn = 0;
	enum event_severity sev = SEV_UNSET, ws;
	struct loc lc = {0};
	bool have = false;

	while (*p) {
		const char *w;
		size_t n;
		if (!word_char(*p) || *p == '.' || *p == '/' || *p == '-') {
			p++;
			continue;
		}
		w = p;
		while (word_char(*p))
			p++;
		n = (size_t)(p - w);
		/* Strip a trailing '.', as in "failed." */
		size_t wn = n;
		while (wn > 0 && w[wn - 1] == '.')
			wn--;
		if (trouble_word(w, wn, &ws)) {
			const char *after = skip_ws(w + wn);
			bool negated = prev && ((prevn == 1 && prev[0] == '0') ||
			                        (prevn == 2 && !strncasecmp(prev, "no", 2)) ||
			                        (prevn == 4 && !strncasecmp(prev, "zero", 4)) ||
			                        (prevn == 7 && !strncasecmp(prev, "without", 7)));
			if ((*after == ':' || *after == '=') && skip_ws(after + 1)[0] == '0' &&
			    !is_digit(skip_ws(after + 1)[1]))
				negated = true;
			if (!negated &&
			    (sev == SEV_UNSET || (sev == SEV_WARNING && ws != SEV_WARNING) ||
			     ws == SEV_CRITICAL))
				sev = ws;
		}
		prev = w;
		prevn = wn;
	}
	if (sev == SEV_UNSET)
		return 0;
	/* Somewhere in the line, a place: "path/x.c:12:" or "x.py:3". */
	for (p = t; *p && !have; p++) {
		if ((p == t || is_space(p[-1]) || p[-1] == '(' || p[-1] == '\'' || p[-1] == '"') &&
		    !is_space(*p)) {
			if (parse_loc(p, false, &lc) || parse_loc(p, true, &lc)) {
				if (memchr(lc.file, '.', lc.flen) || memchr(lc.file, '/', lc.flen))
					have = true;
			}
		}
	}
	add_s(c, "generic", have ? lc.file : NULL, have ? lc.flen : 0, have ? lc.line : 0,
	      have ? lc.col : 0, sev, t, i);
	return 1;
}

/* ---- driving the parsers ------------------------------------------------ */

typedef size_t (*parse_fn)(struct ctx *c, size_t i);

static const struct parser {
	const char *hints; /* command words that make it go first */
	parse_fn fn;
} parsers[] = {
    {" cmake ", p_cmake},
    {" ninja cmake ", p_ninja},
    {" make gmake ", p_make},
    {" mvn mvnw mvnd ", p_maven},
    {" ld ", p_ld},
    {" javac ", p_javac},
    {" gcc cc clang g++ c++ clang++ ", p_cc},
    {" cargo rustc ", p_rust},
    {" cargo ", p_cargo_test},
    {" go ", p_gotest},
    {" go ", p_go},
    {" pytest py.test pytest-3 ", p_pytest},
    {" python python3 ", p_pytrace},
    {" node ", p_node_tap},
    {" node ", p_node_spec},
    {" jest npx ", p_jest},
    {" ctest ", p_ctest},
};

#define NPARSERS (sizeof parsers / sizeof parsers[0])

/* Calls fn(word, len, arg) for the base name of each word of the command. */
static void command_words(const char *cmd, void (*fn)(const char *, size_t, void *), void *arg)
{
	const char *p = cmd;
	for (int k = 0; *p && k < 64; k++) {
		p = skip_ws(p);
		size_t n = strcspn(p, " \t"), bn;
		const char *b;
		if (n == 0)
			break;
		b = base_name(p, n, &bn);
		fn(b, bn, arg);
		p += n;
	}
}

struct hint_state {
	struct ctx *c;
	bool prefer[NPARSERS];
	bool test_word;
	bool cargo;
};

static void hint_word(const char *w, size_t n, void *arg)
{
	struct hint_state *h = arg;
	char pat[72];

	if (n == 0 || n > 64)
		return;
	snprintf(pat, sizeof pat, " %.*s ", (int)n, w);
	for (size_t k = 0; k < NPARSERS; k++)
		if (strstr(parsers[k].hints, pat))
			h->prefer[k] = true;
	if (n >= 5 && !memcmp(w, "clang", 5))
		h->c->clang_hint = true;
	if (name_is(w, n, "cargo") || name_is(w, n, "rustc"))
		h->c->rust_hint = true;
	if (name_is(w, n, "cargo"))
		h->cargo = true;
	if (name_is(w, n, "test") || name_is(w, n, "nextest"))
		h->test_word = true;
	if (name_is(w, n, "go"))
		h->c->go_hint = true;
	if (name_is(w, n, "node"))
		h->c->node_hint = true;
}

/* Runs fns over every line: at each line the first that claims it. */
static void run(struct ctx *c, const parse_fn *fns, size_t nfns)
{
	size_t i = 0;
	while (i < c->n && c->live < DIAG_MAX && c->text < DIAG_MAX_TOTAL) {
		size_t used = 0;
		for (size_t k = 0; k < nfns && !used; k++)
			used = fns[k](c, i);
		i += used ? used : 1;
	}
}

static int cmp_diag(const void *a, const void *b, void *arg)
{
	const struct ctx *c = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (c->v[x].log_line != c->v[y].log_line)
		return c->v[x].log_line < c->v[y].log_line ? -1 : 1;
	return c->m[x].order < c->m[y].order ? -1 : c->m[x].order > c->m[y].order;
}

/* Reports deferred failures, drops dead entries, sorts by log line, and
 * hands the diagnostics to out. */
static void finish(struct ctx *c, struct diag_list *out)
{
	size_t *ix, n = 0;
	struct diag *v;

	for (size_t k = 0; k < c->ndef; k++) {
		struct deferred *d = &c->def[k];
		char msg[DIAG_MAX_TEXT + 1];
		if (!has_key_or_child(c, d->tool, d->key)) {
			size_t m =
			    clampw(snprintf(msg, sizeof msg, "%s failed", d->key), sizeof msg);
			int idx = add(c, d->tool, NULL, 0, 0, 0, SEV_ERROR, msg, m, d->line);
			set_key(c, idx, d->key, strlen(d->key));
		}
		free(d->key);
	}
	free(c->def);
	c->def = NULL;

	ix = xreallocarray(NULL, c->nv ? c->nv : 1, sizeof *ix);
	for (size_t k = 0; k < c->nv; k++) {
		free(c->m[k].key);
		if (!c->m[k].dead)
			ix[n++] = k;
	}
	qsort_r(ix, n, sizeof *ix, cmp_diag, c);
	v = n ? xreallocarray(NULL, n, sizeof *v) : NULL;
	for (size_t k = 0; k < n; k++)
		v[k] = c->v[ix[k]];
	free(ix);
	free(c->v);
	free(c->m);
	c->v = NULL;
	c->m = NULL;
	out->v = v;
	out->n = n;
}

int diag_extract(const char *log, size_t len, const char *command, struct diag_list *out)
{
	struct ctx c = {.cc_last = NONE};
	struct hint_state h = {.c = &c};
	parse_fn order[NPARSERS], generic = p_generic;
	size_t no = 0;

	if (!out)
		return CAIRN_E_INVALID;
	out->v = NULL;
	out->n = 0;
	if (!log && len > 0)
		return CAIRN_E_INVALID;
	if (len > DIAG_MAX_LOG)
		return CAIRN_E_TOOBIG;

	if (command)
		command_words(command, hint_word, &h);
	if (h.cargo && h.test_word)
		c.rust_tests = true;
	split_lines(&c, log ? log : "", len);
	for (size_t k = 0; k < c.n && !c.clang_hint; k++)
		if (is_generated_line(c.l[k].s, c.l[k].n))
			c.clang_hint = true;

	/* Parsers the command names go first; the rest keep table order. */
	for (size_t k = 0; k < NPARSERS; k++)
		if (h.prefer[k])
			order[no++] = parsers[k].fn;
	for (size_t k = 0; k < NPARSERS; k++)
		if (!h.prefer[k])
			order[no++] = parsers[k].fn;
	run(&c, order, no);
	if (c.live == 0 && c.ndef == 0)
		run(&c, &generic, 1);

	finish(&c, out);
	free(c.l);
	free(c.buf);
	return 0;
}

void diag_list_release(struct diag_list *l)
{
	if (!l)
		return;
	for (size_t k = 0; k < l->n; k++)
		diag_free(&l->v[k]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

__attribute__((noreturn)) static void oom(void)
{
	fprintf(stderr, "cairn: out of memory building diagnostics\n");
	abort();
}

static json_t *must(json_t *v)
{
	if (!v)
		oom();
	return v;
}

static void put(json_t *obj, const char *key, json_t *v)
{
	if (json_object_set_new(obj, key, must(v)) < 0)
		oom();
}

json_t *diag_list_to_json(const struct diag_list *l, size_t max)
{
	json_t *arr = must(json_array());

	for (size_t k = 0; l && k < l->n && k < max; k++) {
		const struct diag *d = &l->v[k];
		json_t *o = must(json_object()), *notes = must(json_array());

		put(o, "tool", json_string(d->tool));
		put(o, "file", d->file ? json_string(d->file) : json_null());
		put(o, "line", json_integer(d->line));
		put(o, "col", json_integer(d->col));
		put(o, "severity", json_string(event_severity_name(d->severity)));
		put(o, "message", json_string(d->message));
		for (size_t j = 0; j < d->n_notes; j++)
			if (json_array_append_new(notes, must(json_string(d->notes[j]))) < 0)
				oom();
		put(o, "notes", notes);
		put(o, "log_line", json_integer((json_int_t)d->log_line));
		if (json_array_append_new(arr, o) < 0)
			oom();
	}
	return arr;
}

/* ---- which test runner -------------------------------------------------- */

struct runner_state {
	int pos;        /* words seen in this command, after wrappers */
	bool wrap_next; /* a wrapper that takes a subcommand (uv run) */
	bool python, python_m;
	char argv0[32];
	const char *found;
};

static bool is_assignment(const char *w, size_t n)
{
	size_t k = 0;
	if (n == 0 ||
	    !((w[0] >= 'A' && w[0] <= 'Z') || (w[0] >= 'a' && w[0] <= 'z') || w[0] == '_'))
		return false;
	while (k < n && w[k] != '=' && w[k] != '/')
		k++;
	return k < n && w[k] == '=';
}

static bool word_in(const char *w, size_t n, const char *const *set)
{
	for (; *set; set++)
		if (name_is(w, n, *set))
			return true;
	return false;
}

/* One word of a command; raw is the word as written, w its base name. */
static void runner_word(struct runner_state *r, const char *raw, size_t rn, const char *w, size_t n)
{
	static const char *const wrappers[] = {"env",  "time",    "sudo",   "nice",    "nohup",
	                                       "exec", "command", "stdbuf", "ionice",  "xvfb-run",
	                                       "npx",  "bunx",    "pnpx",   "timeout", NULL};
	static const char *const runners[] = {"uv",     "poetry", "pipenv", "hatch", "pdm", "rye",
	                                      "bundle", "pnpm",   "npm",    "yarn",  "bun", NULL};
	static const char *const subs[] = {"run", "exec", "x", NULL};

	if (r->found)
		return;
	if (r->argv0[0] == '\0') {
		if (is_assignment(raw, rn) || raw[0] == '-' || word_in(w, n, wrappers) ||
		    (r->wrap_next && word_in(w, n, subs)) || (rn > 0 && is_digit(raw[0]))) {
			r->wrap_next = false;
			return;
		}
		if (word_in(w, n, runners)) {
			r->wrap_next = true;
			return;
		}
		if (r->python_m) {
			r->python_m = false;
		} else if (n >= 6 && !memcmp(w, "python", 6)) {
			r->python = true;
			return;
		} else if (r->python) {
			return;
		}
		snprintf(r->argv0, sizeof r->argv0, "%.*s", (int)(n < 31 ? n : 31), w);
		r->pos = 0;
		if (!strcmp(r->argv0, "pytest") || !strcmp(r->argv0, "py.test") ||
		    !strcmp(r->argv0, "pytest-3"))
			r->found = "pytest";
		else if (!strcmp(r->argv0, "jest"))
			r->found = "jest";
		else if (!strcmp(r->argv0, "ctest"))
			r->found = "ctest";
		return;
	}
	/* Arguments of argv0. */
	if (!strcmp(r->argv0, "node") || !strcmp(r->argv0, "nodejs")) {
		if (name_is(raw, rn, "--test"))
			r->found = "node --test";
		return;
	}
	if (raw[0] == '-' || raw[0] == '+')
		return;
	r->pos++;
	if (!strcmp(r->argv0, "go") && r->pos == 1 && name_is(raw, rn, "test"))
		r->found = "go test";
	else if (!strcmp(r->argv0, "cargo") && r->pos == 1 &&
	         (name_is(raw, rn, "test") || name_is(raw, rn, "t") || name_is(raw, rn, "nextest")))
		r->found = "cargo test";
	else if ((!strcmp(r->argv0, "mvn") || !strcmp(r->argv0, "mvnw") ||
	          !strcmp(r->argv0, "mvnd")) &&
	         (name_is(raw, rn, "test") || name_is(raw, rn, "verify") ||
	          name_is(raw, rn, "surefire:test")))
		r->found = "maven surefire";
}

static const char *runner_from_command(const char *cmd)
{
	struct runner_state r = {0};
	const char *p = cmd;

	for (int k = 0; *p && k < 256; k++) {
		p = skip_ws(p);
		size_t n = strcspn(p, " \t"), bn;
		const char *b;
		if (n == 0)
			break;
		bool end = false;
		size_t wn = n;
		if (wn > 0 && p[wn - 1] == ';')
			wn--, end = true;
		if (name_is(p, n, "&&") || name_is(p, n, "||") || name_is(p, n, "|") ||
		    name_is(p, n, ";")) {
			if (r.found)
				return r.found;
			memset(&r, 0, sizeof r);
		} else if (wn > 0) {
			/* Quotes around a word do not change what it names. */
			const char *q = p;
			size_t qn = wn;
			if (qn >= 2 && (q[0] == '\'' || q[0] == '"') && q[qn - 1] == q[0])
				q++, qn -= 2;
			b = base_name(q, qn, &bn);
			if (r.python && !r.argv0[0] && name_is(q, qn, "-m")) {
				r.python_m = true;
				r.python = false;
			} else {
				runner_word(&r, q, qn, b, bn);
			}
		}
		if (end) {
			if (r.found)
				return r.found;
			memset(&r, 0, sizeof r);
		}
		p += n;
	}
	return r.found;
}

static bool window_has(const char *log, size_t len, const char *needle)
{
	const size_t win = (size_t)1 << 20;
	size_t nl = strlen(needle);

	if (len <= 2 * win)
		return memmem(log, len, needle, nl) != NULL;
	return memmem(log, win, needle, nl) || memmem(log + len - win, win, needle, nl);
}

static const char *runner_from_log(const char *log, size_t len)
{
	if (window_has(log, len, "test session starts"))
		return "pytest";
	if (window_has(log, len, " T E S T S"))
		return "maven surefire";
	if (window_has(log, len, "Test Suites: "))
		return "jest";
	if (window_has(log, len, "\ntest result: ") && window_has(log, len, "running "))
		return "cargo test";
	if (window_has(log, len, "# Subtest: ") || window_has(log, len, "\xe2\x84\xb9 tests "))
		return "node --test";
	if (window_has(log, len, "--- FAIL: ") || window_has(log, len, "=== RUN ") ||
	    window_has(log, len, "\nok  \t") || window_has(log, len, "\nFAIL\t"))
		return "go test";
	if (window_has(log, len, "Test project ") && window_has(log, len, "% tests passed"))
		return "ctest";
	return NULL;
}

const char *diag_detect_runner(const char *command, const char *log, size_t len)
{
	const char *r = command ? runner_from_command(command) : NULL;
	if (r)
		return r;
	return log ? runner_from_log(log, len) : NULL;
}
