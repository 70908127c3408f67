/* The one-line hint under a failed `cairn run`: a learned fix's diff told in
 * words, the line fitted to the terminal (see runhint.h). */
#include "cli/runhint.h"

#include "common/buf.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokens compared per side: a fix worth one phrase is far smaller. */
#define MAX_TOKENS 512
/* The longest token or span quoted in a phrase, and the most tokens a
 * quoted span may have; anything larger is counted in lines instead. */
#define SPAN_MAX 32
#define SPAN_TOKENS 5
/* The longest whole line quoted ("added line `...`"). */
#define LINE_MAX 40
/* The bytes of a fix's body a triage report carries (docs/events.md,
 * "body (first 2 KiB)"). */
#define REPORT_BODY_MAX 2048
/* The changed lines kept from a diff (a learned fix keeps 4 KiB of diff). */
#define TEXT_MAX (16 << 10)

struct tok {
	const char *p;
	size_t n;
};

static const char *const ops3[] = {"<<=", ">>=", "...", "===", "!==", "**=", NULL};
static const char *const ops2[] = {"==", "!=", "<=", ">=", "&&", "||", "++", "--",
				   "->", "<<", ">>", "+=", "-=", "*=", "/=", "%=",
				   "&=", "|=", "^=", "::", "=>", "**", ":=", NULL};

/* Words that are not names: replacing one is not a rename. */
static const char *const keywords[] = {
	"if",     "else",  "for",      "while",  "do",     "return",  "break",   "continue",
	"switch", "case",  "default",  "goto",   "int",    "char",    "float",   "double",
	"long",   "short", "unsigned", "signed", "void",   "bool",    "auto",    "struct",
	"union",  "enum",  "const",    "static", "extern", "typedef", "sizeof",  "inline",
	"def",    "class", "import",   "from",   "in",     "not",     "and",     "or",
	"is",     "None",  "True",     "False",  "null",   "NULL",    "nullptr", "true",
	"false",  "let",   "var",      "fn",     "func",   "mut",     "pub",     "elif",
	"then",   "fi",    "done",     "esac",   "try",    "catch",   "except",  NULL};

static bool word_byte(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* The length of the operator at t (n bytes left): the longest of ops3 and
 * ops2 that matches, else 1. */
static size_t op_len(const char *t, size_t n)
{
	for (size_t i = 0; ops3[i]; i++)
		if (n >= 3 && memcmp(t, ops3[i], 3) == 0)
			return 3;
	for (size_t i = 0; ops2[i]; i++)
		if (n >= 2 && memcmp(t, ops2[i], 2) == 0)
			return 2;
	return 1;
}

/* Splits t[0..n) into tokens (see runhint.h). Returns how many, or
 * MAX_TOKENS + 1 when there are more than v can hold. */
static size_t tokenize(const char *t, size_t n, struct tok *v)
{
	size_t k = 0, i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)t[i];
		if (isspace(c)) {
			i++;
			continue;
		}
		size_t j = i + 1;
		if (isdigit(c)) {
			while (j < n && (word_byte((unsigned char)t[j]) || t[j] == '.'))
				j++;
		} else if (word_byte(c)) {
			while (j < n && word_byte((unsigned char)t[j]))
				j++;
		} else if (c == '"' || c == '\'') {
			while (j < n && t[j] != (char)c && t[j] != '\n')
				j += t[j] == '\\' && j + 1 < n && t[j + 1] != '\n' ? 2 : 1;
			if (j < n && t[j] == (char)c)
				j++;
		} else {
			j = i + op_len(t + i, n - i);
		}
		if (k == MAX_TOKENS)
			return MAX_TOKENS + 1;
		v[k++] = (struct tok){t + i, j - i};
		i = j;
	}
	return k;
}

static bool tok_eq(const struct tok *a, const struct tok *b)
{
	return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

static bool tok_is(const struct tok *a, const char *s)
{
	return a->n == strlen(s) && memcmp(a->p, s, a->n) == 0;
}

/* An identifier that is not a keyword: replacing one is a rename. */
static bool is_name(const struct tok *a)
{
	unsigned char c = (unsigned char)a->p[0];
	if (!word_byte(c) || isdigit(c))
		return false;
	for (size_t i = 0; keywords[i]; i++)
		if (tok_is(a, keywords[i]))
			return false;
	return true;
}

/* The source text from v[0] to v[n-1] as written (blanks inside kept), or
 * false when it spans lines or is too long to quote. */
static bool span(const struct tok *v, size_t n, const char **p, size_t *len)
{
	if (n == 0)
		return false;
	*p = v[0].p;
	*len = (size_t)(v[n - 1].p + v[n - 1].n - v[0].p);
	return *len <= SPAN_MAX && !memchr(*p, '\n', *len);
}

/* What a diff changes: counted over all of it, with the text of its first
 * block of changed lines (a run of '-' and '+' lines) kept. */
struct dsum {
	char file[256];        /* the file of the first change */
	char cur[256];         /* the file of the section being read */
	char minus[256];       /* its `---` name, for a file the diff deletes */
	size_t files;          /* files with changes */
	size_t blocks;         /* blocks of changed lines */
	size_t removed, added; /* changed lines */
	bool truncated;        /* a hunk ended before its counts said */
	bool in_block, changed_cur;
	struct buf rm, ad; /* the first block's removed and added lines */
};

/* Copies a `---`/`+++` name, without git's a/ or b/ prefix. */
static void set_name(char *dst, size_t size, const char *p, size_t n)
{
	if (n >= 2 && (p[0] == 'a' || p[0] == 'b') && p[1] == '/') {
		p += 2;
		n -= 2;
	}
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\t'))
		n--;
	snprintf(dst, size, "%.*s", (int)n, p);
}

/* Parses "@@ -a[,b] +c[,d] @@": sets the line counts b and d. */
static bool hunk_counts(const char *p, size_t n, long *old_n, long *new_n)
{
	char tmp[128];
	snprintf(tmp, sizeof tmp, "%.*s", (int)(n < sizeof tmp - 1 ? n : sizeof tmp - 1), p);
	long a, b = 1, c, d = 1;
	if (sscanf(tmp, "@@ -%ld,%ld +%ld,%ld @@", &a, &b, &c, &d) == 4 ||
	    (b = 1, sscanf(tmp, "@@ -%ld +%ld,%ld @@", &a, &c, &d) == 3) ||
	    (d = 1, sscanf(tmp, "@@ -%ld,%ld +%ld @@", &a, &b, &c) == 3) ||
	    (b = 1, d = 1, sscanf(tmp, "@@ -%ld +%ld @@", &a, &c) == 2)) {
		*old_n = b;
		*new_n = d;
		return b >= 0 && d >= 0;
	}
	return false;
}

static void change_line(struct dsum *s, char sign, const char *p, size_t n)
{
	if (!s->in_block) {
		s->in_block = true;
		s->blocks++;
		if (!s->changed_cur) {
			s->changed_cur = true;
			if (s->files++ == 0)
				snprintf(s->file, sizeof s->file, "%s", s->cur);
		}
	}
	if (sign == '-')
		s->removed++;
	else
		s->added++;
	if (s->blocks != 1)
		return;
	struct buf *b = sign == '-' ? &s->rm : &s->ad;
	/* Lines are joined with '\n'; a block over the cap is only counted. */
	if (buf_add(b, p, n) < 0 || buf_addch(b, '\n') < 0)
		s->truncated = true;
}

static void read_diff(struct dsum *s, const char *diff, size_t len)
{
	long old_left = 0, new_left = 0;
	const char *p = diff, *end = diff + len;
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			e = end; /* a last line without its newline */
		size_t n = (size_t)(e - p);
		const char *next = e < end ? e + 1 : end;
		if (old_left == 0 && new_left == 0) {
			s->in_block = false;
			if (n >= 11 && memcmp(p, "diff --git ", 11) == 0) {
				s->cur[0] = s->minus[0] = '\0';
				s->changed_cur = false;
			} else if (n >= 4 && memcmp(p, "--- ", 4) == 0) {
				set_name(s->minus, sizeof s->minus, p + 4, n - 4);
				s->changed_cur = false;
			} else if (n >= 4 && memcmp(p, "+++ ", 4) == 0) {
				set_name(s->cur, sizeof s->cur, p + 4, n - 4);
				if (strcmp(s->cur, "/dev/null") == 0)
					snprintf(s->cur, sizeof s->cur, "%s", s->minus);
			} else if (n >= 3 && memcmp(p, "@@ ", 3) == 0) {
				if (!hunk_counts(p, n, &old_left, &new_left))
					old_left = new_left = 0;
			}
			p = next;
			continue;
		}
		char c = n ? p[0] : ' ';
		if (c == '\\') { /* "\ No newline at end of file" */
			p = next;
			continue;
		}
		if ((c == ' ' && (old_left == 0 || new_left == 0)) || (c == '-' && old_left == 0) ||
		    (c == '+' && new_left == 0) || (c != ' ' && c != '-' && c != '+')) {
			/* Not what the hunk's counts promised: the rest cannot be
			 * trusted. */
			s->truncated = true;
			return;
		}
		if (c == ' ') {
			s->in_block = false;
			old_left--;
			new_left--;
		} else {
			change_line(s, c, p + 1, n - 1);
			if (c == '-')
				old_left--;
			else
				new_left--;
		}
		p = next;
	}
	if (old_left || new_left)
		s->truncated = true;
}

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/* "changed 3 lines in F", "added 2 lines to F", "removed 1 line from F". */
static void count_phrase(const struct dsum *s, char *out, size_t outlen)
{
	if (s->removed == 0)
		snprintf(out, outlen, "added %zu line%s to %s", s->added, plural(s->added),
			 s->file);
	else if (s->added == 0)
		snprintf(out, outlen, "removed %zu line%s from %s", s->removed, plural(s->removed),
			 s->file);
	else {
		size_t n = s->removed > s->added ? s->removed : s->added;
		snprintf(out, outlen, "changed %zu line%s in %s", n, plural(n), s->file);
	}
}

/* The one line of text t (its '\n' dropped) without the blanks around it,
 * if it is short enough to quote. */
static bool whole_line(const struct buf *t, const char **p, size_t *n)
{
	const char *s = t->data, *e = t->data + t->len;
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	*p = s;
	*n = (size_t)(e - s);
	return *n > 0 && *n <= LINE_MAX;
}

/* An argument inserted into a call: v[0..n) is what the other side lacks,
 * between pre[0..np) and what follows it (post, or NULL at the end). Sets
 * the argument's tokens. */
static bool argument(const struct tok *pre, size_t np, const struct tok *v, size_t n,
		     const struct tok *post, const struct tok **arg, size_t *an)
{
	if (n == 0)
		return false;
	int depth = 0;
	for (size_t i = 0; i < np; i++)
		depth += tok_is(&pre[i], "(") - tok_is(&pre[i], ")");
	if (depth <= 0)
		return false;
	if (n >= 2 && tok_is(&v[0], ",")) {
		*arg = v + 1;
		*an = n - 1;
	} else if (n >= 2 && tok_is(&v[n - 1], ",")) {
		*arg = v;
		*an = n - 1;
	} else if (np && tok_is(&pre[np - 1], "(") && post && tok_is(post, ")")) {
		*arg = v;
		*an = n;
	} else {
		return false;
	}
	for (size_t i = 0; i < *an; i++)
		if (tok_is(&(*arg)[i], ",") || tok_is(&(*arg)[i], ";"))
			return false;
	return true;
}

/* The phrase for one block of changed lines in one file. */
static void block_phrase(const struct dsum *s, char *out, size_t outlen)
{
	const char *f = s->file, *p = NULL, *q = NULL;
	size_t n = 0, m = 0;
	if (s->removed == 0 && s->added == 1 && whole_line(&s->ad, &p, &n)) {
		snprintf(out, outlen, "added line `%.*s` to %s", (int)n, p, f);
		return;
	}
	if (s->added == 0 && s->removed == 1 && whole_line(&s->rm, &p, &n)) {
		snprintf(out, outlen, "removed line `%.*s` from %s", (int)n, p, f);
		return;
	}
	if (s->removed == 0 || s->added == 0) {
		count_phrase(s, out, outlen);
		return;
	}
	struct tok *r = xcalloc(MAX_TOKENS, sizeof *r), *a = xcalloc(MAX_TOKENS, sizeof *a);
	size_t nr = tokenize(s->rm.data, s->rm.len, r);
	size_t na = tokenize(s->ad.data, s->ad.len, a);
	if (nr > MAX_TOKENS || na > MAX_TOKENS) {
		count_phrase(s, out, outlen);
		goto out_free;
	}
	size_t pre = 0, suf = 0;
	while (pre < nr && pre < na && tok_eq(&r[pre], &a[pre]))
		pre++;
	while (suf < nr - pre && suf < na - pre && tok_eq(&r[nr - 1 - suf], &a[na - 1 - suf]))
		suf++;
	const struct tok *rv = r + pre, *av = a + pre, *arg;
	size_t rn = nr - pre - suf, an = na - pre - suf, argn;
	if (rn == 0 && an == 0) {
		snprintf(out, outlen, "changed layout in %s", f);
	} else if (rn == 0 && argument(a, pre, av, an, suf ? &a[na - suf] : NULL, &arg, &argn) &&
		   span(arg, argn, &p, &n)) {
		snprintf(out, outlen, "added an argument `%.*s` in %s", (int)n, p, f);
	} else if (an == 0 && argument(r, pre, rv, rn, suf ? &r[nr - suf] : NULL, &arg, &argn) &&
		   span(arg, argn, &p, &n)) {
		snprintf(out, outlen, "removed an argument `%.*s` in %s", (int)n, p, f);
	} else if (rn == 1 && an == 1 && is_name(rv) && is_name(av) && span(rv, 1, &p, &n) &&
		   span(av, 1, &q, &m)) {
		snprintf(out, outlen, "renamed `%.*s` to `%.*s` in %s", (int)n, p, (int)m, q, f);
	} else if (rn <= SPAN_TOKENS && an <= SPAN_TOKENS) {
		bool rok = rn == 0 || span(rv, rn, &p, &n);
		bool aok = an == 0 || span(av, an, &q, &m);
		if (!rok || !aok)
			count_phrase(s, out, outlen);
		else if (rn == 0)
			snprintf(out, outlen, "added `%.*s` in %s", (int)m, q, f);
		else if (an == 0)
			snprintf(out, outlen, "removed `%.*s` in %s", (int)n, p, f);
		else
			snprintf(out, outlen, "`%.*s` → `%.*s` in %s", (int)n, p, (int)m, q, f);
	} else {
		count_phrase(s, out, outlen);
	}
out_free:
	free(r);
	free(a);
}

bool runhint_fix_phrase(const char *diff, size_t len, char *out, size_t outlen)
{
	if (outlen)
		out[0] = '\0';
	struct dsum s = {.rm = BUF_INIT(TEXT_MAX), .ad = BUF_INIT(TEXT_MAX)};
	if (len)
		read_diff(&s, diff, len);
	bool ok = s.blocks > 0;
	if (!ok || outlen == 0)
		goto out;
	if (!s.file[0])
		snprintf(s.file, sizeof s.file, "a file");
	if (s.files > 1)
		snprintf(out, outlen, "changed %s and %zu more file%s", s.file, s.files - 1,
			 plural(s.files - 1));
	else if (s.truncated)
		snprintf(out, outlen, "changed %s", s.file);
	else if (s.blocks > 1)
		count_phrase(&s, out, outlen);
	else
		block_phrase(&s, out, outlen);
out:
	buf_release(&s.rm);
	buf_release(&s.ad);
	return ok;
}

char *runhint_fit(const char *s, size_t cols)
{
	if (cols == 0)
		cols = 1;
	size_t n = strlen(s), total = 0;
	for (size_t i = 0; i < n; i++)
		total += ((unsigned char)s[i] & 0xC0) != 0x80;
	size_t keep = total <= cols ? total : cols - 1;
	char *o = xmalloc(n + 4);
	size_t k = 0, c = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];
		/* Stop at the first byte of the first character not kept: the
		 * continuation bytes of the last one kept are all copied. */
		if ((b & 0xC0) != 0x80 && c++ == keep)
			break;
		o[k++] = b < 0x20 || b == 0x7f ? '?' : (char)b;
	}
	if (total > cols) {
		memcpy(o + k, "…", 3);
		k += 3;
	}
	o[k] = '\0';
	return o;
}

/* How the best known fix reads: its diff in words when it was learned (its
 * title starts with the error it fixed), else its title. */
static void fix_words(const json_t *fix, struct buf *b)
{
	const char *body = json_string_value(json_object_get(fix, "body"));
	const char *diff = body ? strstr(body, "diff --git ") : NULL;
	size_t len = diff ? strlen(diff) : 0;
	/* The report carries the first REPORT_BODY_MAX bytes of the body: at
	 * that length its last line may be cut, and is not read. */
	if (diff && strlen(body) >= REPORT_BODY_MAX)
		while (len && diff[len - 1] != '\n')
			len--;
	char phrase[512];
	if (json_is_true(json_object_get(fix, "learned"))) {
		const char *file =
			json_string_value(json_array_get(json_object_get(fix, "files"), 0));
		if (diff && runhint_fix_phrase(diff, len, phrase, sizeof phrase))
			buf_addstr(b, phrase);
		else if (file)
			buf_addf(b, "changed %s", file);
		else
			buf_addstr(b, "learned from an earlier fix");
	} else {
		const char *title = json_string_value(json_object_get(fix, "title"));
		buf_addstr(b, title && *title ? title : "see cairn why");
	}
}

void runhint_format(const json_t *report, size_t cols, char **line, char **pointer)
{
	struct buf b = BUF_INIT(4096);
	const json_t *fix = json_array_get(json_object_get(report, "fixes"), 0);
	const json_t *sus = json_array_get(json_object_get(report, "suspects"), 0);
	const json_t *sig = json_object_get(report, "signature");
	const char *not_code = json_string_value(json_object_get(report, "not_code"));
	const char *summary = json_string_value(json_object_get(report, "summary"));
	/* Cut at the cap: the line is cut to the terminal anyway. */
	(void)buf_addstr(&b, "cairn: ");
	if (not_code && summary) {
		/* Interrupted, not found, killed: a sentence of cairn's own. */
		(void)buf_addstr(&b, summary);
	} else {
		size_t parts = 0;
		if (fix) {
			(void)buf_addstr(&b, "known fix: ");
			fix_words(fix, &b);
			const char *reason = json_string_value(json_object_get(fix, "reason"));
			if (reason)
				(void)buf_addf(&b, " (%s)", reason);
			parts++;
		} else if (json_is_object(sig)) {
			json_int_t seen = json_integer_value(json_object_get(sig, "seen"));
			if (seen > 0)
				(void)buf_addf(&b, "seen %lld time%s before, no fix known yet",
					       (long long)seen, seen == 1 ? "" : "s");
			else
				(void)buf_addstr(&b, "first time this error is seen");
			parts++;
		}
		const char *path = json_string_value(json_object_get(sus, "path"));
		if (path) {
			const char *rel = json_string_value(json_object_get(sus, "relation"));
			(void)buf_addf(&b, "%slikely change: %s", parts ? "; " : "", path);
			if (rel)
				(void)buf_addf(&b, " (%s)", rel);
			parts++;
		}
		if (!parts)
			(void)buf_addstr(&b, "nothing in the output that cairn recognises");
	}
	*line = runhint_fit(b.data, cols);
	buf_release(&b);
	if (fix)
		*pointer =
			xasprintf("cairn: details: cairn why; the fix's diff: cairn kb show %lld",
				  (long long)json_integer_value(json_object_get(fix, "id")));
	else
		*pointer = xstrdup("cairn: details: cairn why");
}
