/* Extraction of structured diagnostics from captured build and test output:
 * the driver. The log is first cleaned into NUL-terminated lines (ANSI
 * escapes and carriage-return overwrites removed, each line cut at
 * DIAG_MAX_LINE); then a table of line parsers runs over it: at each line the
 * first parser that recognises it claims it and the lines that belong with
 * it, so every line is looked at a bounded number of times. The parsers live
 * in one file per tool family (diag_int.h lists them) and keep small pieces
 * of state in struct diag_ctx (the "In function" context gcc printed just
 * before, the go test being run). This file also holds the list they build
 * (caps, duplicates, test keys), the helpers several families share, and
 * diag_detect_runner(). See diag.h for what each parser recognises. */
#include "sources/diag_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"

/* Deferred "test X failed" records (see diag_defer_fail()). */
#define MAX_DEFERRED DIAG_MAX
/* A go test's t.Log lines are dropped when the test passes; only this many
 * recent diagnostics are searched for them, so a long passing run stays
 * linear. */
#define DROP_WINDOW 64

/* Bookkeeping per diagnostic that is not part of struct diag. */
struct diag_meta {
	uint64_t hash; /* of tool, place, severity and message: finds duplicates */
	char *key;     /* the test it is about, for merging; may be NULL */
	size_t order;  /* creation order, the tie-break when sorting */
	size_t bytes;  /* text charged to the list's budget */
	bool dead;     /* dropped after the fact (a go test that passed) */
};

/* "Test X failed" lines seen before any detail: turned into diagnostics at
 * the end for the tests that got none of their own. */
struct diag_deferred {
	const char *tool;
	char *key;
	size_t line;
};

/* ---- text and hashing --------------------------------------------------- */

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

char *diag_text_dup(const char *s, size_t n, size_t cap)
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

static void push_line(struct diag_ctx *c, size_t *cap, char *s, size_t n)
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
static void split_lines(struct diag_ctx *c, const char *log, size_t len)
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

int diag_add(struct diag_ctx *c, const char *tool, const char *file, size_t flen, int line, int col,
	     enum event_severity sev, const char *msg, size_t mlen, size_t at)
{
	struct diag d = {0};
	size_t bytes;

	if (c->live >= DIAG_MAX || c->text >= DIAG_MAX_TOTAL || c->nv >= 4 * DIAG_MAX)
		return DIAG_NONE;
	mlen = trimmed_len(msg, mlen);
	while (mlen > 0 && is_space(*msg))
		msg++, mlen--;
	d.tool = xstrdup(tool);
	d.file = file && flen ? diag_text_dup(file, flen, DIAG_MAX_TEXT) : NULL;
	d.line = line > 0 ? line : 0;
	d.col = col > 0 && d.line ? col : 0;
	d.severity = sev;
	d.message = mlen ? diag_text_dup(msg, mlen, DIAG_MAX_TEXT) : xstrdup("(no message)");
	d.log_line = at;
	d.log_lines = 1;

	uint64_t h = diag_hash(&d);
	for (size_t k = 0; k < c->nv; k++) {
		if (!c->m[k].dead && c->m[k].hash == h && same_diag(&c->v[k], &d)) {
			free(d.tool);
			free(d.file);
			free(d.message);
			return DIAG_NONE;
		}
	}
	bytes = strlen(d.tool) + strlen(d.message) + (d.file ? strlen(d.file) : 0) + 3;
	if (c->text + bytes > DIAG_MAX_TOTAL) {
		free(d.tool);
		free(d.file);
		free(d.message);
		return DIAG_NONE;
	}
	if (c->nv == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
		c->m = xreallocarray(c->m, c->cap, sizeof *c->m);
	}
	c->text += bytes;
	c->v[c->nv] = d;
	c->m[c->nv] = (struct diag_meta){.hash = h, .order = c->made++, .bytes = bytes};
	c->live++;
	return (int)c->nv++;
}

int diag_add_s(struct diag_ctx *c, const char *tool, const char *file, size_t flen, int line,
	       int col, enum event_severity sev, const char *msg, size_t at)
{
	return diag_add(c, tool, file, flen, line, col, sev, msg, strlen(msg), at);
}

void diag_note_n(struct diag_ctx *c, int idx, const char *s, size_t n, bool keep_indent)
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
	t = diag_text_dup(s, n, DIAG_MAX_TEXT);
	bytes = strlen(t) + 1 + sizeof(char *);
	if (c->text + bytes > DIAG_MAX_TOTAL) {
		free(t);
		return;
	}
	if ((d->n_notes & (d->n_notes - 1)) == 0) {
		/* Grow when full: at 0, 1, 2, 4, 8, ... notes. */
		size_t want = d->n_notes ? d->n_notes * 2 : 1;
		d->notes = xreallocarray(d->notes, want, sizeof *d->notes);
	}
	d->notes[d->n_notes++] = t;
	c->text += bytes;
	c->m[idx].bytes += bytes;
}

void diag_note(struct diag_ctx *c, int idx, const char *s)
{
	diag_note_n(c, idx, s, strlen(s), false);
}

void diag_note_line(struct diag_ctx *c, int idx, size_t i, bool keep_indent)
{
	diag_note_n(c, idx, c->l[i].s, c->l[i].n, keep_indent);
}

void diag_note_dedent(struct diag_ctx *c, int idx, size_t k, size_t base)
{
	size_t ind = indent_of(c->l[k].s), cut = ind < base ? ind : base;
	diag_note_n(c, idx, c->l[k].s + cut, c->l[k].n - cut, true);
}

void diag_benign(struct diag_ctx *c, size_t i)
{
	if (!c->benign)
		c->benign = xcalloc(c->n, sizeof *c->benign);
	c->benign[i] = true;
}

void diag_span(struct diag_ctx *c, int idx, size_t end)
{
	if (idx >= 0 && end > c->v[idx].log_line)
		c->v[idx].log_lines = end - c->v[idx].log_line;
}

void diag_set_key(struct diag_ctx *c, int idx, const char *key, size_t n)
{
	if (idx < 0 || n == 0)
		return;
	free(c->m[idx].key);
	c->m[idx].key = xstrndup(key, n < DIAG_NAME_MAX ? n : DIAG_NAME_MAX);
}

int diag_find_key(struct diag_ctx *c, const char *tool, const char *key, size_t n)
{
	if (n > DIAG_NAME_MAX)
		n = DIAG_NAME_MAX;
	for (size_t k = c->nv; k-- > 0;) {
		const char *mk = c->m[k].key;
		if (!c->m[k].dead && mk && strlen(mk) == n && memcmp(mk, key, n) == 0 &&
		    strcmp(c->v[k].tool, tool) == 0)
			return (int)k;
	}
	return DIAG_NONE;
}

/* True if tool has a live diagnostic about key or one of its subtests
 * ("key/..."). */
static bool has_key_or_child(struct diag_ctx *c, const char *tool, const char *key)
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

void diag_drop_key(struct diag_ctx *c, const char *tool, const char *key, size_t n)
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
		c->m[k] = (struct diag_meta){.dead = true};
		if (k + 1 == c->nv)
			c->nv--;
		if (c->cc_last == (int)k)
			c->cc_last = DIAG_NONE;
	}
}

void diag_set_message(struct diag_ctx *c, int idx, const char *msg, size_t n)
{
	struct diag *d = &c->v[idx];
	char *t = diag_text_dup(msg, n, DIAG_MAX_TEXT);
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

void diag_rehash(struct diag_ctx *c, int idx)
{
	c->m[idx].hash = diag_hash(&c->v[idx]);
}

void diag_defer_fail(struct diag_ctx *c, const char *tool, const char *key, size_t n, size_t line)
{
	if (c->ndef >= MAX_DEFERRED || n == 0)
		return;
	if (c->ndef == 0 || (c->ndef & (c->ndef - 1)) == 0) {
		size_t want = c->ndef ? c->ndef * 2 : 1;
		c->def = xreallocarray(c->def, want, sizeof *c->def);
	}
	c->def[c->ndef].tool = tool;
	c->def[c->ndef].key = xstrndup(key, n < DIAG_NAME_MAX ? n : DIAG_NAME_MAX);
	c->def[c->ndef].line = line;
	c->ndef++;
}

size_t diag_named(char *buf, size_t cap, const char *name, size_t nn, const char *text, size_t tn)
{
	return clampw(snprintf(buf, cap, "%.*s: %.*s", (int)(nn > cap ? cap : nn), name,
			       (int)(tn > cap ? cap : tn), text),
		      cap);
}

/* ---- places and words several tool families share ----------------------- */

bool diag_parse_loc(const char *s, bool at_end, struct diag_loc *lc)
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

bool diag_loc_numbers(const char *s, size_t *end, struct diag_loc *lc)
{
	size_t e = *end;
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
	if (k == 0)
		return false;
	lc->line = k == 2 ? nums[1] : nums[0];
	lc->col = k == 2 ? nums[0] : 0;
	*end = e;
	return true;
}

bool diag_parse_tail_loc(const char *s, size_t n, struct diag_loc *lc)
{
	size_t e = n;
	if (!diag_loc_numbers(s, &e, lc))
		return false;
	size_t b = e;
	while (b > 0 && !is_space(s[b - 1]) && s[b - 1] != '(')
		b--;
	if (b == e)
		return false;
	lc->file = s + b;
	lc->flen = e - b;
	lc->rest = s + n;
	return true;
}

const char *diag_severity_word(const char *s, enum event_severity *sev)
{
	static const struct {
		const char *w;
		enum event_severity sev;
	} words[] = {
		{"fatal error: ", SEV_CRITICAL}, {"error: ", SEV_ERROR},
		{"warning: ", SEV_WARNING},      {"note: ", SEV_NOTICE},
		{"remark: ", SEV_NOTICE},
	};
	for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
		if (has_prefix(s, words[k].w)) {
			*sev = words[k].sev;
			return s + strlen(words[k].w);
		}
	}
	return NULL;
}

bool diag_is_caret(const char *s)
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

bool diag_is_makefile(const char *f, size_t n)
{
	size_t bn;
	const char *b = base_name(f, n, &bn);
	return name_is(b, bn, "Makefile") || name_is(b, bn, "makefile") ||
	       name_is(b, bn, "GNUmakefile") || ends_with_n(f, n, ".mk") ||
	       ends_with_n(f, n, ".make");
}

/* ---- driving the parsers ------------------------------------------------ */

typedef size_t (*parse_fn)(struct diag_ctx *c, size_t i);

/* At each line the parsers are tried in this order, after those the command
 * names: the first that claims the line wins. */
static const struct parser {
	const char *hints; /* command words that make it go first */
	parse_fn fn;
} parsers[] = {
	{" cmake ", diag_parse_cmake},
	{" ninja cmake ", diag_parse_ninja},
	{" make gmake ", diag_parse_make},
	{" mvn mvnw mvnd ", diag_parse_maven},
	{" ld ", diag_parse_ld},
	{" javac ", diag_parse_javac},
	{" gcc cc clang g++ c++ clang++ ", diag_parse_cc},
	{" cargo rustc ", diag_parse_rust},
	{" cargo ", diag_parse_cargo_test},
	{" go ", diag_parse_gotest},
	{" go ", diag_parse_go},
	{" pytest py.test pytest-3 ", diag_parse_pytest},
	{" python python3 ", diag_parse_pytrace},
	{" node ", diag_parse_node_tap},
	{" node ", diag_parse_node_spec},
	{" jest npx ", diag_parse_jest},
	{" ctest ", diag_parse_ctest},
	{" make gmake ", diag_parse_automake},
	{" runtest tclsh ", diag_parse_runtest},
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
	struct diag_ctx *c;
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
static void run(struct diag_ctx *c, const parse_fn *fns, size_t nfns)
{
	size_t i = 0;
	while (i < c->n && c->live < DIAG_MAX && c->text < DIAG_MAX_TOTAL) {
		size_t used = 0;
		for (size_t k = 0; k < nfns && !used; k++)
			used = fns[k](c, i);
		i += used ? used : 1;
	}
}

/* The generic fallback over the lines no parser vouched for. */
static void run_generic(struct diag_ctx *c)
{
	for (size_t i = 0; i < c->n && c->live < DIAG_MAX && c->text < DIAG_MAX_TOTAL; i++)
		if (!c->benign || !c->benign[i])
			diag_parse_generic(c, i);
}

static int cmp_diag(const void *a, const void *b, void *arg)
{
	const struct diag_ctx *c = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (c->v[x].log_line != c->v[y].log_line)
		return c->v[x].log_line < c->v[y].log_line ? -1 : 1;
	return c->m[x].order < c->m[y].order ? -1 : c->m[x].order > c->m[y].order;
}

/* Reports deferred failures, drops dead entries, sorts by log line, and
 * hands the diagnostics to out. */
static void finish(struct diag_ctx *c, struct diag_list *out)
{
	size_t *ix, n = 0;
	struct diag *v;

	for (size_t k = 0; k < c->ndef; k++) {
		struct diag_deferred *d = &c->def[k];
		char msg[DIAG_MAX_TEXT + 1];
		if (!has_key_or_child(c, d->tool, d->key)) {
			size_t m =
				clampw(snprintf(msg, sizeof msg, "%s failed", d->key), sizeof msg);
			int idx = diag_add(c, d->tool, NULL, 0, 0, 0, SEV_ERROR, msg, m, d->line);
			diag_set_key(c, idx, d->key, strlen(d->key));
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
	struct diag_ctx c = {.cc_last = DIAG_NONE};
	struct hint_state h = {.c = &c};
	parse_fn order[NPARSERS];
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
		if (diag_is_generated_line(c.l[k].s, c.l[k].n))
			c.clang_hint = true;
	for (size_t k = c.n; k-- > 0 && !c.automake_hint;)
		if (has_prefix(c.l[k].s, "# TOTAL: "))
			c.automake_hint = true;

	/* Parsers the command names go first; the rest keep table order. */
	for (size_t k = 0; k < NPARSERS; k++)
		if (h.prefer[k])
			order[no++] = parsers[k].fn;
	for (size_t k = 0; k < NPARSERS; k++)
		if (!h.prefer[k])
			order[no++] = parsers[k].fn;
	run(&c, order, no);
	if (c.live == 0 && c.ndef == 0)
		run_generic(&c);

	finish(&c, out);
	free(c.benign);
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
		else if (!strcmp(r->argv0, "runtest"))
			r->found = "runtest";
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
	/* tclsh tests/test_helper.tcl: what redis's ./runtest runs. */
	if (!strncmp(r->argv0, "tclsh", 5) && r->pos == 1 && name_is(w, n, "test_helper.tcl"))
		r->found = "runtest";
	else if (!strcmp(r->argv0, "go") && r->pos == 1 && name_is(raw, rn, "test"))
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

/* Calls fn(arg, word, n) for each word of a command line, without quotes
 * around it, and fn(arg, NULL, 0) where a new command starts (after &&, ||,
 * | or ;), for at most 256 words; stops early when fn returns true. */
static void command_scan(const char *cmd, bool (*fn)(void *arg, const char *w, size_t n), void *arg)
{
	const char *p = cmd;

	for (int k = 0; *p && k < 256; k++) {
		p = skip_ws(p);
		size_t n = strcspn(p, " \t");
		if (n == 0)
			break;
		bool end = false;
		size_t wn = n;
		if (wn > 0 && p[wn - 1] == ';')
			wn--, end = true;
		if (name_is(p, n, "&&") || name_is(p, n, "||") || name_is(p, n, "|") ||
		    name_is(p, n, ";")) {
			if (fn(arg, NULL, 0))
				return;
		} else if (wn > 0) {
			/* Quotes around a word do not change what it names. */
			const char *q = p;
			size_t qn = wn;
			if (qn >= 2 && (q[0] == '\'' || q[0] == '"') && q[qn - 1] == q[0])
				q++, qn -= 2;
			if (qn > 0 && fn(arg, q, qn))
				return;
		}
		if (end && fn(arg, NULL, 0))
			return;
		p += n;
	}
}

static bool runner_scan(void *arg, const char *q, size_t qn)
{
	struct runner_state *r = arg;
	size_t bn;
	const char *b;

	if (!q) {
		if (r->found)
			return true;
		memset(r, 0, sizeof *r);
		return false;
	}
	b = base_name(q, qn, &bn);
	if (r->python && !r->argv0[0] && name_is(q, qn, "-m")) {
		r->python_m = true;
		r->python = false;
	} else {
		runner_word(r, q, qn, b, bn);
	}
	return false;
}

static const char *runner_from_command(const char *cmd)
{
	struct runner_state r = {0};
	command_scan(cmd, runner_scan, &r);
	return r.found;
}

/* ---- commands that run a project's tests -------------------------------- */

/* Lower-cased components of w[0..n) split at any of seps, into out (at most
 * max, each at most 15 bytes; longer ones are left empty). */
static size_t word_parts(const char *w, size_t n, const char *seps, char out[][16], size_t max)
{
	size_t k = 0, len = 0;
	for (size_t i = 0; i <= n && k < max; i++) {
		if (i == n || strchr(seps, w[i])) {
			out[k][len < 16 ? len : 0] = '\0';
			k++;
			len = 0;
			continue;
		}
		if (len < 15)
			out[k][len] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
		len++;
	}
	return k;
}

static bool part_is(const char *p, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(p, *set))
			return true;
	return false;
}

/* A make or npm target that runs tests: test, tests, check, test:unit,
 * check-TESTS, unit-test, integration-tests (not fmt-check). */
static bool test_target(const char *w, size_t n)
{
	static const char *const first[] = {"test",      "tests",   "check",    "unittest",
					    "unittests", "runtest", "runtests", NULL};
	static const char *const last[] = {"test", "tests", NULL};
	char parts[8][16];
	size_t k = word_parts(w, n, "-_:./", parts, 8);
	return k > 0 && (part_is(parts[0], first) || part_is(parts[k - 1], last));
}

/* A script that runs tests: test.sh, run-tests.sh, run_tests.py,
 * runtests, ci-test.sh (the base name's parts, extension dropped). */
static bool test_script(const char *w, size_t n)
{
	static const char *const names[] = {"test", "tests", "check", "runtest", "runtests", NULL};
	char parts[8][16];
	size_t bn, k;
	const char *b = base_name(w, n, &bn);
	const char *dot = memrchr(b, '.', bn);
	if (dot && dot > b)
		bn = (size_t)(dot - b);
	k = word_parts(b, bn, "-_.", parts, 8);
	for (size_t i = 0; i < k; i++)
		if (part_is(parts[i], names))
			return true;
	return false;
}

struct wrapper_state {
	char argv0[32];
	int pos;          /* arguments seen after argv0 */
	bool script_next; /* argv0 runs a script: the next plain word names it */
	bool target_next; /* after npm run, cmake --target: the next word is a target */
	bool found;
};

static bool wrapper_scan(void *arg, const char *w, size_t n)
{
	static const char *const wrappers[] = {"env",     "time",    "sudo",   "nice",   "nohup",
					       "exec",    "command", "stdbuf", "ionice", "xvfb-run",
					       "timeout", "uv",      "poetry", "pipenv", "hatch",
					       "pdm",     "rye",     "bundle", NULL};
	static const char *const builders[] = {"make", "gmake",  "bmake", "ninja", "samu", "just",
					       "rake", "invoke", "mage",  "task",  NULL};
	static const char *const scripts[] = {"npm", "yarn", "pnpm", "bun", NULL};
	static const char *const shells[] = {"sh",   "bash", "zsh",  "dash", "ksh",
					     "perl", "ruby", "node", "pwsh", NULL};
	struct wrapper_state *st = arg;
	const char *a0 = st->argv0, *b;
	size_t bn;

	if (!w) {
		if (st->found)
			return true;
		memset(st, 0, sizeof *st);
		return false;
	}
	b = base_name(w, n, &bn);
	if (!a0[0]) {
		if (is_assignment(w, n) || w[0] == '-' || is_digit(w[0]) ||
		    word_in(b, bn, wrappers) || name_is(w, n, "run"))
			return false;
		snprintf(st->argv0, sizeof st->argv0, "%.*s", (int)(bn < 31 ? bn : 31), b);
		if (word_in(b, bn, shells) || (bn >= 6 && !memcmp(b, "python", 6)) ||
		    (bn >= 5 && !memcmp(b, "tclsh", 5)))
			st->script_next = true;
		else if (name_is(b, bn, "tox") || name_is(b, bn, "nox") || test_script(w, n))
			st->found = true;
		return st->found;
	}
	if (w[0] == '-' || is_assignment(w, n)) {
		/* cmake --build build --target test, -t test, --target=test. */
		if (!strcmp(a0, "cmake") && (name_is(w, n, "--target") || name_is(w, n, "-t")))
			st->target_next = true;
		else if (!strcmp(a0, "cmake") && n > 9 && !memcmp(w, "--target=", 9))
			st->found = test_target(w + 9, n - 9);
		return st->found;
	}
	st->pos++;
	if (st->script_next) {
		st->script_next = false;
		st->found = test_script(w, n);
	} else if (st->target_next) {
		st->target_next = false;
		st->found = test_target(w, n);
	} else if (word_in(a0, strlen(a0), builders)) {
		st->found = test_target(w, n);
	} else if (word_in(a0, strlen(a0), scripts) && st->pos == 1) {
		if (name_is(w, n, "run") || name_is(w, n, "run-script"))
			st->target_next = true;
		else
			st->found = name_is(w, n, "t") || test_target(w, n);
	} else if (!strcmp(a0, "meson") && st->pos == 1) {
		st->found = name_is(w, n, "test");
	}
	return st->found;
}

bool diag_is_test_wrapper(const char *command)
{
	struct wrapper_state st = {0};
	if (!command || diag_detect_runner(command, NULL, 0))
		return false;
	command_scan(command, wrapper_scan, &st);
	return st.found;
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
	if (window_has(log, len, "\n# TOTAL: ") && window_has(log, len, "Testsuite summary"))
		return "automake";
	/* Other TAP: a plan and results (prove -v, automake's TAP driver), or
	 * prove's summary. */
	if ((window_has(log, len, "\n1..") && window_has(log, len, "\nnot ok ")) ||
	    (window_has(log, len, "\nFiles=") && window_has(log, len, "\nResult: ")))
		return "tap";
	/* A redis-style Tcl harness: "[ok]: " and "[err]: " lines, coloured on
	 * an xterm ("[\e[0;32;49mok\e[0m]: "). */
	if (window_has(log, len, "\n[ok]: ") || window_has(log, len, "\n[err]: ") ||
	    window_has(log, len, "ok\x1b[0m]: ") || window_has(log, len, "err\x1b[0m]: ") ||
	    window_has(log, len, "[exception]: Executing test client"))
		return "runtest";
	return NULL;
}

const char *diag_detect_runner(const char *command, const char *log, size_t len)
{
	const char *r = command ? runner_from_command(command) : NULL;
	if (r)
		return r;
	return log ? runner_from_log(log, len) : NULL;
}
