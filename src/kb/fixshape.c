/* Fix shapes: tokenizes the two sides of an edit, aligns them with a longest
 * common subsequence (Hirschberg's algorithm: quadratic time, linear memory)
 * and writes the removed and inserted tokens, abstracted, as the key. */
#include "kb/fixshape.h"

#include "common/err.h"
#include "common/strmap.h"
#include "common/xalloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum tkind {
	TK_ID,  /* identifier: "ID" */
	TK_KW,  /* keyword: as written */
	TK_NUM, /* number: "NUM" */
	TK_STR, /* string literal: "STR" */
	TK_CHR, /* character literal: "CHR" */
	TK_OP,  /* operator, punctuation or directive: as written */
};

struct token {
	const char *p;
	uint32_t len;
	uint8_t kind;
	bool changed; /* removed (before) or inserted (after) */
};

struct tokens {
	struct token *v;
	size_t n, cap;
	size_t max; /* the most tokens; 0 is FIXSHAPE_MAX_TOKENS */
};

/* The keyword list of fixshape.h, in the same order. */
static const char *const keywords[] = {
	"if",       "else",   "elif",    "for",      "while",   "do",     "return",  "break",
	"continue", "switch", "case",    "default",  "goto",    "int",    "char",    "float",
	"double",   "long",   "short",   "unsigned", "signed",  "void",   "bool",    "auto",
	"struct",   "union",  "enum",    "const",    "static",  "extern", "typedef", "sizeof",
	"include",  "define", "class",   "def",      "import",  "from",   "fn",      "let",
	"var",      "func",   "package", "public",   "private", "true",   "false",   "True",
	"False",    "null",   "NULL",    "nullptr",  "None",    "nil",    "self",    "this",
	"new",      "delete", "in",      "not",      "and",     "or",     "is",      "try",
	"catch",    "except", "finally", "throw",    "raise",   "pass",   "lambda",  "then",
	"fi",       "done",   "esac",    "printf",   "scanf",   "malloc", "calloc",  "realloc",
	"free",     "strlen",
};

/* Operators of more than one character, longest first. */
static const char *const operators[] = {
	"...", "<<=", ">>=", "**=", "===", "!==", "<=>", "==", "!=", "<=", ">=",
	"&&",  "||",  "++",  "--",  "->",  "<<",  ">>",  "+=", "-=", "*=", "/=",
	"%=",  "&=",  "|=",  "^=",  "::",  "=>",  "**",  ":=", "..", "##",
};

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
	       c >= 0x80;
}

static bool is_ident(unsigned char c)
{
	return is_ident_start(c) || is_digit(c);
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\0' ||
	       (c < 0x20 && c != '\n');
}

static bool is_keyword(const char *p, size_t n)
{
	for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
		if (strlen(keywords[k]) == n && memcmp(keywords[k], p, n) == 0)
			return true;
	return false;
}

/* Adds a token; returns false once the side has more than
 * FIXSHAPE_MAX_TOKENS. */
static bool push(struct tokens *t, const char *p, size_t len, enum tkind kind)
{
	if (t->n == (t->max ? t->max : FIXSHAPE_MAX_TOKENS))
		return false;
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->v = xreallocarray(t->v, t->cap, sizeof *t->v);
	}
	t->v[t->n++] = (struct token){p, (uint32_t)len, (uint8_t)kind, false};
	return true;
}

/* End of a quoted literal that starts at s[i] == q: up to the closing q not
 * escaped by a backslash; at a newline or the end of the text when
 * multiline is false and it does not close (the end of the line), the end
 * of the text when true. Sets *closed. */
static size_t quoted_end(const char *s, size_t n, size_t i, char q, bool multiline, bool *closed)
{
	size_t j = i + 1;
	*closed = false;
	while (j < n) {
		if (s[j] == '\\' && j + 1 < n) {
			j += 2;
			continue;
		}
		if (s[j] == q) {
			*closed = true;
			return j + 1;
		}
		if (s[j] == '\n' && !multiline)
			return j;
		j++;
	}
	return j;
}

/* True if s[0..n) is the inside of a character literal: one character (one
 * UTF-8 sequence) or one escape sequence. */
static bool one_char(const char *s, size_t n)
{
	if (n == 0)
		return false;
	if (s[0] == '\\') {
		if (n == 2)
			return true; /* \n, \', \0 */
		if (s[1] == 'x' || s[1] == 'u' || s[1] == 'U' || is_digit((unsigned char)s[1])) {
			for (size_t k = 2; k < n; k++)
				if (!is_ident((unsigned char)s[k]))
					return false;
			return true; /* \x41, \u00e9, \012 */
		}
		return false;
	}
	unsigned char c = (unsigned char)s[0];
	size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	return n == len;
}

/* Length of a string prefix such as r, b, f, rb, u8, L, U or R that
 * s[i..) starts with directly before a quote, or 0. */
static size_t string_prefix(const char *s, size_t n, size_t i)
{
	static const char *const prefixes[] = {"rb", "br", "Rb", "bR", "RB", "BR", "rf", "fr", "u8",
					       "r",  "b",  "f",  "u",  "R",  "B",  "F",  "U",  "L"};
	for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
		size_t len = strlen(prefixes[k]);
		if (n - i > len && memcmp(s + i, prefixes[k], len) == 0 &&
		    (s[i + len] == '"' || s[i + len] == '\''))
			return len;
	}
	return 0;
}

/* Splits s[0..n) into tokens; see step 1 in fixshape.h. Returns false if
 * there are more than FIXSHAPE_MAX_TOKENS. */
static bool tokenize(const char *s, size_t n, struct tokens *t)
{
	bool line_start = true; /* only blanks since the last newline */
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		unsigned char next = i + 1 < n ? (unsigned char)s[i + 1] : '\n';
		size_t start = i;
		bool closed;
		if (c == '\n') {
			line_start = true;
			i++;
			continue;
		}
		if (is_blank(c)) {
			i++;
			continue;
		}
		if (c == '/' && next == '/') {
			while (i < n && s[i] != '\n')
				i++;
			continue;
		}
		if (c == '/' && next == '*') {
			i += 2;
			while (i < n && !(s[i] == '*' && i + 1 < n && s[i + 1] == '/'))
				i++;
			i = i < n ? i + 2 : n;
			line_start = false;
			continue;
		}
		if (c == '#' && (next == ' ' || next == '\t' || next == '\n' || next == '\r' ||
				 (next == '!' && line_start))) {
			while (i < n && s[i] != '\n')
				i++;
			continue;
		}
		bool at_line_start = line_start;
		line_start = false;
		if (c == '#' && at_line_start && is_ident_start(next) && next < 0x80) {
			i++;
			while (i < n && is_ident((unsigned char)s[i]))
				i++;
			if (!push(t, s + start, i - start, TK_OP))
				return false;
			continue;
		}
		if (is_ident_start(c)) {
			size_t pre = string_prefix(s, n, i);
			if (pre > 0) {
				i += pre;
				c = (unsigned char)s[i];
				next = i + 1 < n ? (unsigned char)s[i + 1] : '\n';
			} else {
				while (i < n && is_ident((unsigned char)s[i]))
					i++;
				if (!push(t, s + start, i - start,
					  is_keyword(s + start, i - start) ? TK_KW : TK_ID))
					return false;
				continue;
			}
		}
		if (is_digit(c) || (c == '.' && is_digit(next))) {
			bool hex = c == '0' && (next == 'x' || next == 'X');
			i++;
			while (i < n) {
				unsigned char d = (unsigned char)s[i];
				unsigned char p = (unsigned char)s[i - 1];
				bool exp = hex ? (p == 'p' || p == 'P') : (p == 'e' || p == 'E');
				if (is_ident(d) || d == '.' || ((d == '+' || d == '-') && exp))
					i++;
				else
					break;
			}
			if (!push(t, s + start, i - start, TK_NUM))
				return false;
			continue;
		}
		if (c == '"' || c == '\'' || c == '`') {
			enum tkind kind = TK_STR;
			if ((c == '"' || c == '\'') && n - i >= 3 && s[i + 1] == (char)c &&
			    s[i + 2] == (char)c) {
				/* Python's triple-quoted strings. */
				size_t j = i + 3;
				while (j < n && !(s[j] == (char)c && j + 2 < n &&
						  s[j + 1] == (char)c && s[j + 2] == (char)c)) {
					j += s[j] == '\\' && j + 1 < n ? 2 : 1;
				}
				i = j < n ? j + 3 : n;
			} else if (c == '\'') {
				size_t e = quoted_end(s, n, i, '\'', false, &closed);
				if (!closed) {
					/* An apostrophe or a Rust lifetime: punctuation,
					 * after the identifier it was taken to prefix. */
					if (i > start && !push(t, s + start, i - start, TK_ID))
						return false;
					if (!push(t, s + i, 1, TK_OP))
						return false;
					i++;
					continue;
				}
				kind = one_char(s + i + 1, e - i - 2) ? TK_CHR : TK_STR;
				i = e;
			} else {
				i = quoted_end(s, n, i, (char)c, c == '`', &closed);
			}
			if (!push(t, s + start, i - start, kind))
				return false;
			continue;
		}
		size_t len = 1;
		for (size_t k = 0; k < sizeof operators / sizeof operators[0]; k++) {
			size_t ol = strlen(operators[k]);
			if (n - i >= ol && memcmp(s + i, operators[k], ol) == 0) {
				len = ol;
				break;
			}
		}
		i += len;
		if (!push(t, s + start, len, TK_OP))
			return false;
	}
	return true;
}

static bool same(const struct token *a, const struct token *b)
{
	return a->kind == b->kind && a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* The two sides and one row of LCS lengths for each direction. */
struct lcs {
	struct token *a, *b;
	uint32_t *fwd, *bwd;
};

/* Lengths of the LCS of a[a0..a1) and each prefix b[b0..b0+j) into
 * out[j], j = 0..b1-b0; with reverse, of the suffixes instead: out[j] for
 * the last j tokens of b against a[a0..a1) read backwards. */
static void lcs_row(struct lcs *l, size_t a0, size_t a1, size_t b0, size_t b1, bool reverse,
		    uint32_t *out)
{
	size_t m = b1 - b0;
	memset(out, 0, (m + 1) * sizeof *out);
	for (size_t x = 0; x < a1 - a0; x++) {
		const struct token *ta = &l->a[reverse ? a1 - 1 - x : a0 + x];
		uint32_t diag = 0; /* out[j - 1] of the previous row */
		for (size_t j = 1; j <= m; j++) {
			const struct token *tb = &l->b[reverse ? b1 - j : b0 + j - 1];
			uint32_t up = out[j];
			uint32_t v;
			if (same(ta, tb))
				v = diag + 1;
			else
				v = up > out[j - 1] ? up : out[j - 1];
			diag = up;
			out[j] = v;
		}
	}
}

/* Marks the tokens of a[a0..a1) and b[b0..b1) that are not in one longest
 * common subsequence of the two (Hirschberg). */
static void lcs_mark(struct lcs *l, size_t a0, size_t a1, size_t b0, size_t b1)
{
	if (a1 == a0) {
		for (size_t j = b0; j < b1; j++)
			l->b[j].changed = true;
		return;
	}
	if (b1 == b0) {
		for (size_t i = a0; i < a1; i++)
			l->a[i].changed = true;
		return;
	}
	if (a1 - a0 == 1) {
		size_t hit = b1;
		for (size_t j = b0; j < b1 && hit == b1; j++)
			if (same(&l->a[a0], &l->b[j]))
				hit = j;
		for (size_t j = b0; j < b1; j++)
			l->b[j].changed = j != hit;
		l->a[a0].changed = hit == b1;
		return;
	}
	size_t mid = a0 + (a1 - a0) / 2;
	size_t m = b1 - b0;
	lcs_row(l, a0, mid, b0, b1, false, l->fwd);
	lcs_row(l, mid, a1, b0, b1, true, l->bwd);
	size_t best = 0;
	uint32_t best_len = 0;
	for (size_t j = 0; j <= m; j++) {
		uint32_t v = l->fwd[j] + l->bwd[m - j];
		if (v > best_len || j == 0) {
			best_len = v;
			best = j;
		}
	}
	lcs_mark(l, a0, mid, b0, b0 + best);
	lcs_mark(l, mid, a1, b0 + best, b1);
}

/* The spelling of a token in the key. */
static const char *spelling(const struct token *t, size_t *len)
{
	static const char *const names[] = {"ID", NULL, "NUM", "STR", "CHR", NULL};
	const char *name = names[t->kind];
	if (name) {
		*len = strlen(name);
		return name;
	}
	*len = t->len;
	return t->p;
}

/* ---- what the declarations of a file say about its names ---- */

/* The kinds of value a declaration gives a name (fixshape.h, "Types"). */
static const char *const kinds[] = {"[]",   "*",     "()",     "int",  "char",  "short",
				    "long", "float", "double", "bool", "struct"};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

/* A name declared with two kinds. */
static const char ambiguous[] = "";

struct fixshape_decls {
	struct strmap names;   /* name -> one of kinds[], or ambiguous */
	size_t count[N_KINDS]; /* names of each kind */
};

/* The most names kept and the most tokens read from one file. */
#define DECLS_MAX 8192
#define DECLS_MAX_TOKENS (1u << 18)

static bool tok_is(const struct token *t, const char *s)
{
	return strlen(s) == t->len && memcmp(t->p, s, t->len) == 0;
}

/* The rank of a base type word, higher wins in a run of them ("long
 * double" is double, "unsigned char" char, "long int" long), or 0. */
static int base_rank(const struct token *t, const char **name)
{
	static const char *const words[] = {"signed", "unsigned", "int",   "long",
					    "short",  "bool",     "char",  "float",
					    "double", "struct",   "union", "enum"};
	static const char *const as[] = {"int",  "int",   "int",    "long",   "short",  "bool",
					 "char", "float", "double", "struct", "struct", "struct"};
	static const int rank[] = {1, 1, 2, 3, 3, 4, 5, 6, 7, 8, 8, 8};
	if (t->kind != TK_KW)
		return 0;
	for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
		if (tok_is(t, words[k])) {
			*name = as[k];
			return rank[k];
		}
	return 0;
}

static bool is_qualifier(const struct token *t)
{
	return t->kind == TK_KW && (tok_is(t, "const") || tok_is(t, "static") ||
				    tok_is(t, "extern") || tok_is(t, "auto"));
}

static size_t kind_index(const char *kind)
{
	for (size_t k = 0; k < N_KINDS; k++)
		if (strcmp(kinds[k], kind) == 0)
			return k;
	return N_KINDS;
}

/* The longest name kept; longer ones are not typed. */
#define DECL_NAME_MAX 127

static void decl_add(struct fixshape_decls *d, const struct token *name, const char *kind)
{
	if (name->len > DECL_NAME_MAX)
		return;
	char key[DECL_NAME_MAX + 1];
	memcpy(key, name->p, name->len);
	key[name->len] = '\0';
	size_t k = kind_index(kind);
	const char *old = strmap_get(&d->names, key);
	if (old) {
		if (old != ambiguous && strcmp(old, kinds[k]) != 0) {
			d->count[kind_index(old)]--;
			strmap_put(&d->names, key, (void *)ambiguous);
		}
		return;
	}
	if (strmap_len(&d->names) == DECLS_MAX)
		return;
	strmap_put(&d->names, key, (void *)kinds[k]);
	d->count[k]++;
}

/* Reads the declarators after a base type starting at tokens v[i]; returns
 * the index to go on from. */
static size_t scan_declarators(struct fixshape_decls *d, const struct token *v, size_t n, size_t i,
			       const char *base)
{
	for (;;) {
		int stars = 0;
		while (i < n && v[i].kind == TK_OP && (tok_is(&v[i], "*") || tok_is(&v[i], "(")))
			stars += tok_is(&v[i++], "*");
		while (i < n && is_qualifier(&v[i]))
			i++;
		if (i >= n || v[i].kind != TK_ID)
			return i;
		const struct token *name = &v[i++];
		const char *type = base;
		if (i < n && tok_is(&v[i], "["))
			type = "[]";
		else if (i < n && tok_is(&v[i], "("))
			type = "()";
		else if (stars)
			type = "*";
		decl_add(d, name, type);
		if (strcmp(type, "()") == 0)
			return i; /* the parameters are declarations of their own */
		/* To the end of this declarator: its size, its initialiser. */
		int depth = 0;
		for (; i < n; i++) {
			const struct token *t = &v[i];
			if (t->kind != TK_OP)
				continue;
			if (tok_is(t, "(") || tok_is(t, "[") || tok_is(t, "{"))
				depth++;
			else if (tok_is(t, ")") || tok_is(t, "]") || tok_is(t, "}")) {
				if (--depth < 0)
					return i;
			} else if (depth == 0 && (tok_is(t, ";") || tok_is(t, ",")))
				break;
		}
		if (i >= n || tok_is(&v[i], ";"))
			return i;
		i++; /* the ',' */
		const char *next_base;
		if (i < n && (base_rank(&v[i], &next_base) || is_qualifier(&v[i])))
			return i; /* a parameter list: the next one has its own type */
	}
}

struct fixshape_decls *fixshape_decls_scan(const char *file, size_t flen)
{
	struct fixshape_decls *d = xcalloc(1, sizeof *d);
	strmap_init(&d->names);
	struct tokens t = {.max = DECLS_MAX_TOKENS};
	tokenize(file ? file : "", file ? flen : 0, &t); /* a longer file: its first tokens */
	size_t i = 0;
	while (i < t.n) {
		const char *base = NULL;
		int best = 0;
		size_t j = i;
		for (; j < t.n; j++) {
			const char *name;
			int r = base_rank(&t.v[j], &name);
			if (r) {
				if (r > best) {
					best = r;
					base = name;
				}
				/* struct NAME: the tag is no declared name. */
				if (r == 8 && j + 1 < t.n && t.v[j + 1].kind == TK_ID)
					j++;
			} else if (!is_qualifier(&t.v[j]))
				break;
		}
		if (!best) {
			i++;
			continue;
		}
		size_t k = scan_declarators(d, t.v, t.n, j, base);
		i = k > i ? k : i + 1;
	}
	free(t.v);
	return d;
}

const char *fixshape_decls_type(const struct fixshape_decls *d, const char *name, size_t len)
{
	if (!d || len > DECL_NAME_MAX)
		return NULL;
	char key[DECL_NAME_MAX + 1];
	memcpy(key, name, len);
	key[len] = '\0';
	const char *kind = strmap_get(&d->names, key);
	return kind == ambiguous ? NULL : kind;
}

bool fixshape_decls_has_type(const struct fixshape_decls *d, const char *type, size_t len)
{
	if (!d)
		return false;
	for (size_t k = 0; k < N_KINDS; k++)
		if (strlen(kinds[k]) == len && memcmp(kinds[k], type, len) == 0)
			return d->count[k] > 0;
	return false;
}

size_t fixshape_decls_count(const struct fixshape_decls *d)
{
	return d ? strmap_len(&d->names) : 0;
}

void fixshape_decls_free(struct fixshape_decls *d)
{
	if (!d)
		return;
	strmap_release(&d->names, NULL);
	free(d);
}

/* Appends "- T" or "+ T" for each changed token of t to out, an identifier
 * declared in decls as "ID:TYPE"; stops for good at the first that does not
 * fit. Returns false once full. */
static bool emit(const struct tokens *t, const char *sign, const struct fixshape_decls *decls,
		 char *out, size_t outlen, size_t *o)
{
	for (size_t i = 0; i < t->n; i++) {
		if (!t->v[i].changed)
			continue;
		size_t len;
		const char *p = spelling(&t->v[i], &len);
		const char *type = t->v[i].kind == TK_ID
					   ? fixshape_decls_type(decls, t->v[i].p, t->v[i].len)
					   : NULL;
		size_t tlen = type ? 1 + strlen(type) : 0;
		size_t need = (*o > 0 ? 1 : 0) + 2 + len + tlen;
		if (*o + need > outlen - 1)
			return false;
		if (*o > 0)
			out[(*o)++] = ' ';
		memcpy(out + *o, sign, 2);
		*o += 2;
		memcpy(out + *o, p, len);
		*o += len;
		if (type) {
			out[(*o)++] = ':';
			memcpy(out + *o, type, tlen - 1);
			*o += tlen - 1;
		}
	}
	return true;
}

int fixshape_compute_typed(const char *before, size_t blen, const char *after, size_t alen,
			   const struct fixshape_decls *decls, char *out, size_t outlen)
{
	struct tokens a = {0}, b = {0};
	int r = 0;
	if (outlen > 0)
		out[0] = '\0';
	if (!tokenize(before ? before : "", before ? blen : 0, &a) ||
	    !tokenize(after ? after : "", after ? alen : 0, &b)) {
		r = CAIRN_E_TOOBIG;
		goto out_free;
	}
	/* The common prefix and suffix need no alignment; most fixes change a
	 * token or two in a line, so this leaves little to compare. */
	size_t pre = 0;
	while (pre < a.n && pre < b.n && same(&a.v[pre], &b.v[pre]))
		pre++;
	size_t suf = 0;
	while (suf < a.n - pre && suf < b.n - pre && same(&a.v[a.n - 1 - suf], &b.v[b.n - 1 - suf]))
		suf++;
	if (pre + suf < a.n || pre + suf < b.n) {
		size_t m = b.n - pre - suf;
		struct lcs l = {a.v, b.v, NULL, NULL};
		l.fwd = xreallocarray(NULL, m + 1, sizeof *l.fwd);
		l.bwd = xreallocarray(NULL, m + 1, sizeof *l.bwd);
		lcs_mark(&l, pre, a.n - suf, pre, b.n - suf);
		free(l.fwd);
		free(l.bwd);
	}
	if (outlen > 0) {
		size_t o = 0;
		if (emit(&a, "- ", NULL, out, outlen, &o))
			emit(&b, "+ ", decls, out, outlen, &o);
		out[o] = '\0';
	}
out_free:
	free(a.v);
	free(b.v);
	return r;
}

int fixshape_compute(const char *before, size_t blen, const char *after, size_t alen, char *out,
		     size_t outlen)
{
	return fixshape_compute_typed(before, blen, after, alen, NULL, out, outlen);
}
