/* Search: words split as FTS5's tokenizer splits them, the ranking function
 * kb_rank() (BM25 with document frequencies passed in), the filters of a
 * query, ranking in stages and windows, snippets, and kb_search() itself
 * (the ranking is told in kb.h and docs/kb.md). kb_fix.c uses the words and
 * kb_jsonl.c the filters. */
#include "kb/kb_int.h"

#include "common/utf8.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Search ranks matches in windows of this many (the newest first), so that a
 * word found in half the entries costs no more than one found in a few
 * thousand. Fewer matches than this are ranked all at once. */
#define RANK_WINDOW 300
/* Query words this long or longer are prefixes. */
#define PREFIX_MIN 4
/* Document frequencies are counted up to this many (a word in more entries
 * than that is common whatever the exact count). */
#define DF_CAP 2000

/* ---- the ranking function ---- */

/* Column weights of the ranking: title, tags, body, files (the order of
 * knowledge_fts's columns). */
static const double col_weight[4] = {10.0, 5.0, 1.0, 2.0};
#define BM25_K1 1.2
#define BM25_B 0.75

/* What kb_rank() computes once per query. */
struct rank_aux {
	int nphrase;
	double avgdl;
	double idf[KB_QUERY_WORDS];
};

/* kb_rank(knowledge_fts, df1, df2, ...): FTS5's bm25 formula (k1 1.2, b
 * 0.75, term frequency weighted by column, document length from the index),
 * higher is better, except that each phrase's document frequency is passed
 * in instead of counted by scanning its whole doclist, which is what makes
 * FTS5's own bm25() slow for common words (kb_search() passes counts capped
 * at DF_CAP; a missing count means 1). */
static void kb_rank_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
		       int nval, sqlite3_value **val)
{
	struct rank_aux *aux = api->xGetAuxdata(fts, 0);
	if (!aux) {
		sqlite3_int64 rows = 0, total = 0;
		aux = sqlite3_malloc(sizeof *aux);
		if (!aux) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
		aux->nphrase = api->xPhraseCount(fts);
		if (aux->nphrase > KB_QUERY_WORDS)
			aux->nphrase = KB_QUERY_WORDS;
		if (api->xRowCount(fts, &rows) != SQLITE_OK || rows < 1)
			rows = 1;
		if (api->xColumnTotalSize(fts, -1, &total) != SQLITE_OK)
			total = 0;
		aux->avgdl = total > 0 ? (double)total / (double)rows : 1.0;
		for (int p = 0; p < aux->nphrase; p++) {
			double df = p < nval ? sqlite3_value_double(val[p]) : 1.0;
			if (df < 1)
				df = 1;
			double idf = log(((double)rows - df + 0.5) / (df + 0.5));
			aux->idf[p] = idf > 1e-6 ? idf : 1e-6;
		}
		if (api->xSetAuxdata(fts, aux, sqlite3_free) != SQLITE_OK) {
			sqlite3_result_error_nomem(ctx);
			return;
		}
	}
	int dl = 0;
	if (api->xColumnSize(fts, -1, &dl) != SQLITE_OK)
		dl = 0;
	double norm = BM25_K1 * (1 - BM25_B + BM25_B * (double)dl / aux->avgdl), score = 0;
	for (int p = 0; p < aux->nphrase; p++) {
		Fts5PhraseIter it;
		int col = -1, off = 0;
		double f = 0;
		if (api->xPhraseFirst(fts, p, &it, &col, &off) != SQLITE_OK)
			continue;
		while (col >= 0) {
			f += col < 4 ? col_weight[col] : 1.0;
			api->xPhraseNext(fts, &it, &col, &off);
		}
		if (f > 0)
			score += aux->idf[p] * f * (BM25_K1 + 1) / (f + norm);
	}
	sqlite3_result_double(ctx, score);
}

int kb__register_rank(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	sqlite3_finalize(st);
	if (!api || api->xCreateFunction(api, "kb_rank", NULL, kb_rank_fn, NULL) != SQLITE_OK)
		return CAIRN_E_STORE;
	return 0;
}

/* ---- words ---- */

/* Whether code point cp separates words for FTS5's unicode61 tokenizer, as
 * far as can be told without its tables: ASCII other than letters and
 * digits, and the common blocks of punctuation and symbols. A word made only
 * of separators the tokenizer knows and this does not would match nothing;
 * the AND stage then finds nothing and the OR stage still works. */
static bool cp_separates(uint32_t cp)
{
	if (cp < 0x80)
		return !((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
			 (cp >= 'A' && cp <= 'Z'));
	if (cp <= 0xbf)
		return !(cp == 0xaa || cp == 0xb5 || cp == 0xba || cp == 0xb2 || cp == 0xb3 ||
			 cp == 0xb9 || (cp >= 0xbc && cp <= 0xbe));
	return cp == 0xd7 || cp == 0xf7 || (cp >= 0x2000 && cp <= 0x206f) ||
	       (cp >= 0x20a0 && cp <= 0x20cf) || (cp >= 0x2190 && cp <= 0x2bff) ||
	       (cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xfe00 && cp <= 0xfe0f) ||
	       (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff0f) ||
	       (cp >= 0x1f000 && cp <= 0x1faff) || cp == 0xfeff;
}

/* Decodes the code point at p (n bytes left): its length, or 0 if invalid. */
static size_t cp_at(const char *p, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t k = utf8_seq(u, n);
	if (k == 1)
		*cp = u[0];
	else if (k == 2)
		*cp = (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
	else if (k == 3)
		*cp = (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
	else if (k == 4)
		*cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3f) << 12 |
		      (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
	return k;
}

bool kb__next_word(const char *s, size_t n, size_t *pos, bool placeholders, char out[WORD_MAX + 1],
		   size_t *start)
{
	size_t i = *pos, len = 0;
	uint32_t cp = 0;
	/* Skip separators. */
	while (i < n) {
		if (placeholders && s[i] == '<') {
			size_t j = i + 1;
			while (j < n && j - i <= 40 &&
			       (isalnum((unsigned char)s[j]) || strchr("_.:-", s[j])))
				j++;
			if (j < n && s[j] == '>' && j > i + 1) {
				i = j + 1;
				continue;
			}
		}
		size_t k = cp_at(s + i, n - i, &cp);
		if (k && !cp_separates(cp))
			break;
		i += k ? k : 1;
	}
	if (i >= n) {
		*pos = n;
		return false;
	}
	if (start)
		*start = i;
	while (i < n) {
		size_t k = cp_at(s + i, n - i, &cp);
		if (!k || cp_separates(cp))
			break;
		if (len + k <= WORD_MAX) {
			for (size_t j = 0; j < k; j++)
				out[len++] = (char)tolower((unsigned char)s[i + j]);
		}
		i += k;
	}
	out[len] = '\0';
	*pos = i;
	return true;
}

/* Words that say nothing about a failure. */
static const char *const stop_words[] = {
	"a",     "an",    "and",  "are",   "as",      "at",    "be",     "but",    "by",    "can",
	"did",   "do",    "does", "error", "for",     "from",  "had",    "has",    "have",  "if",
	"in",    "into",  "is",   "it",    "its",     "line",  "may",    "near",   "no",    "not",
	"note",  "of",    "on",   "or",    "so",      "than",  "that",   "the",    "then",  "there",
	"these", "this",  "to",   "was",   "were",    "when",  "where",  "which",  "while", "will",
	"with",  "would", "you",  "your",  "warning", "fatal", "failed", "errors", "file",  "here",
};

static bool is_stop_word(const char *w)
{
	for (size_t i = 0; i < sizeof stop_words / sizeof stop_words[0]; i++)
		if (strcmp(w, stop_words[i]) == 0)
			return true;
	return false;
}

/* The first KB_QUERY_WORDS distinct words of text. for_fixes also drops
 * <placeholders>, stop words, numbers and one-letter words. */
void kb__split_words(const char *text, bool for_fixes, struct words *out)
{
	out->n = 0;
	if (!text)
		return;
	size_t n = strlen(text), pos = 0;
	char w[WORD_MAX + 1];
	while (out->n < KB_QUERY_WORDS && kb__next_word(text, n, &pos, for_fixes, w, NULL)) {
		if (!w[0])
			continue;
		if (for_fixes) {
			bool digits = true;
			for (const char *p = w; *p && digits; p++)
				digits = *p >= '0' && *p <= '9';
			if (digits || strlen(w) < 2 || is_stop_word(w))
				continue;
		}
		bool dup = false;
		for (size_t i = 0; i < out->n && !dup; i++)
			dup = strcmp(out->w[i], w) == 0;
		if (!dup)
			memcpy(out->w[out->n++], w, sizeof w);
	}
}

/* "w1"* AND "w2"* (op " AND " or " OR "); words shorter than PREFIX_MIN
 * bytes are matched whole ("go" is not every word starting with go, and a
 * short prefix would make the query merge the doclists of thousands of
 * terms). */
char *kb__words_expr(const struct words *w, size_t from, size_t count, const char *op, bool prefix)
{
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	for (size_t i = from; i < from + count && i < w->n; i++) {
		if (i > from)
			buf_addstr(&b, op);
		buf_addch(&b, '"');
		for (const char *p = w->w[i]; *p; p++) {
			if (*p == '"')
				buf_addch(&b, '"');
			buf_addch(&b, *p);
		}
		buf_addch(&b, '"');
		if (prefix && strlen(w->w[i]) >= PREFIX_MIN)
			buf_addch(&b, '*');
	}
	return buf_detach(&b, NULL);
}

/* ---- filters ---- */

static void filt_text(struct filt *f, const char *clause, char *s)
{
	char buf[160];
	snprintf(buf, sizeof buf, clause, f->base + f->n);
	buf_addstr(&f->sql, buf);
	f->b[f->n].text = true;
	f->b[f->n++].s = s;
}

static void filt_int(struct filt *f, const char *clause, int64_t v)
{
	char buf[160];
	snprintf(buf, sizeof buf, clause, f->base + f->n);
	buf_addstr(&f->sql, buf);
	f->b[f->n].text = false;
	f->b[f->n++].i = v;
}

void kb__filt_build(struct filt *f, const struct kb_query *q, int base)
{
	memset(f, 0, sizeof *f);
	buf_init(&f->sql, KB_TEXT_MAX);
	f->base = base;
	unsigned all = (1u << KB__N_KINDS) - 1, kinds_set = q->kinds & all;
	if (kinds_set && kinds_set != all) {
		buf_addstr(&f->sql, " AND k.kind IN (");
		bool first = true;
		for (size_t i = 0; i < KB__N_KINDS; i++) {
			if (!(kinds_set & (1u << i)))
				continue;
			buf_addstr(&f->sql, first ? "'" : ",'");
			buf_addstr(&f->sql, kb__kinds[i]);
			buf_addch(&f->sql, '\'');
			first = false;
		}
		buf_addch(&f->sql, ')');
	}
	if (q->scope == KB_SCOPE_GLOBAL || (q->scope == KB_SCOPE_PROJECT && !q->project))
		buf_addstr(&f->sql, " AND k.project IS NULL");
	else if (q->scope == KB_SCOPE_PROJECT)
		filt_text(f, " AND (k.project IS NULL OR k.project=?%d)", xstrdup(q->project));
	if (q->tag && *q->tag) {
		char *t = xasprintf(" %s ", q->tag[0] == '#' ? q->tag + 1 : q->tag);
		for (char *p = t; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		filt_text(f, " AND instr(' '||k.tags||' ', ?%d) > 0", t);
	}
	if (q->since_ms)
		filt_int(f, " AND k.updated_ms>=?%d", q->since_ms);
	if (q->until_ms)
		filt_int(f, " AND k.updated_ms<?%d", q->until_ms);
	if (!q->include_forgotten)
		buf_addstr(&f->sql, " AND k.forgotten_ms IS NULL");
	if (!q->include_rejected)
		buf_addstr(&f->sql, " AND k.state!='rejected'");
}

void kb__filt_bind(const struct filt *f, sqlite3_stmt *st)
{
	for (int i = 0; i < f->n; i++) {
		if (f->b[i].text)
			sqlite3_bind_text(st, f->base + i, f->b[i].s, -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(st, f->base + i, f->b[i].i);
	}
}

void kb__filt_release(struct filt *f)
{
	for (int i = 0; i < f->n; i++)
		if (f->b[i].text)
			free(f->b[i].s);
	buf_release(&f->sql);
	memset(f, 0, sizeof *f);
}

/* ---- a set of ids ---- */

bool kb__idset_add(struct idset *s, int64_t id)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct idset g = {xcalloc(s->cap ? s->cap * 2 : 64, sizeof(int64_t)),
				  s->cap ? s->cap * 2 : 64, 0};
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i])
				kb__idset_add(&g, s->v[i]);
		free(s->v);
		*s = g;
	}
	size_t i = (size_t)((uint64_t)id * 0x9e3779b97f4a7c15ull >> 20) & (s->cap - 1);
	while (s->v[i]) {
		if (s->v[i] == id)
			return false;
		i = (i + 1) & (s->cap - 1);
	}
	s->v[i] = id;
	s->n++;
	return true;
}

/* ---- ranking in stages ---- */

struct cand {
	int64_t id;
	int64_t sup; /* superseded_by, or 0 */
	double score;
};

struct cands {
	struct cand *v;
	size_t n, cap, nonsup;
};

static void cands_push(struct cands *c, const struct cand *x)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
	}
	c->v[c->n++] = *x;
	if (!x->sup)
		c->nonsup++;
}

/* A window's row as the window query returns it. */
struct wrow {
	int64_t id, sup, updated;
	double score;
	double standing; /* confidence less the idleness penalty */
	bool ok;         /* passes the filters */
};

static int wrow_cmp(const void *a, const void *b)
{
	const struct wrow *x = a, *y = b;
	if ((x->sup != 0) != (y->sup != 0))
		return x->sup ? 1 : -1;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (x->standing != y->standing)
		return x->standing > y->standing ? -1 : 1;
	if (x->updated != y->updated)
		return x->updated > y->updated ? -1 : 1;
	return x->id > y->id ? -1 : x->id < y->id;
}

/* Ranks the matches of expr in windows of RANK_WINDOW, newest first, adding
 * the ones not seen yet to c, until c holds limit entries that are not
 * superseded or the matches run out. win is the window query: ?1 expr, ?2
 * the rowid to start below; it returns the window's RANK_WINDOW newest
 * matches (id, score, superseded_by, confidence, updated_ms, passes the
 * filters, last_used_ms, created_ms), filters bound from ?3. Idleness is
 * measured at now_ms. Returns 1 when the limit was reached, 0 when not, or
 * CAIRN_E_STORE. */
static int rank_stage(struct kb *kb, sqlite3_stmt *win, const char *expr, const struct filt *f,
		      size_t limit, int64_t now_ms, struct cands *c, struct idset *seen)
{
	struct wrow *v = xreallocarray(NULL, RANK_WINDOW, sizeof *v);
	int64_t hi = INT64_MAX;
	int r = 0;
	for (;;) {
		size_t n = 0;
		int64_t lowest = INT64_MAX;
		int rc;
		sqlite3_reset(win);
		sqlite3_clear_bindings(win);
		kb__bind_text(win, 1, expr);
		sqlite3_bind_int64(win, 2, hi);
		kb__filt_bind(f, win);
		while ((rc = sqlite3_step(win)) == SQLITE_ROW && n < RANK_WINDOW) {
			struct wrow *w = &v[n++];
			w->id = sqlite3_column_int64(win, 0);
			w->score = sqlite3_column_double(win, 1);
			w->sup = sqlite3_column_int64(win, 2);
			w->updated = sqlite3_column_int64(win, 4);
			w->ok = sqlite3_column_int(win, 5) != 0;
			w->standing =
				sqlite3_column_double(win, 3) -
				kb_idle_penalty(kb_idle_days(sqlite3_column_int64(win, 6),
							     sqlite3_column_int64(win, 7), now_ms));
			if (w->id < lowest)
				lowest = w->id;
		}
		sqlite3_reset(win);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
			r = kb__sqlerr(kb, "cannot search");
			break;
		}
		qsort(v, n, sizeof *v, wrow_cmp);
		for (size_t i = 0; i < n; i++) {
			if (!v[i].ok || !kb__idset_add(seen, v[i].id))
				continue;
			struct cand x = {.id = v[i].id, .score = v[i].score, .sup = v[i].sup};
			cands_push(c, &x);
		}
		if (c->nonsup >= limit) {
			r = 1;
			break;
		}
		if (n < RANK_WINDOW)
			break;
		hi = lowest;
	}
	free(v);
	return r;
}

/* Puts superseded candidates after non-superseded ones (keeping the order
 * within each group), then moves any entry that still precedes its
 * replacement to just after it. */
static void order_superseded(struct cands *c)
{
	if (c->n == 0)
		return;
	struct cand *v = xreallocarray(NULL, c->n, sizeof *v);
	size_t k = 0;
	for (size_t i = 0; i < c->n; i++)
		if (!c->v[i].sup)
			v[k++] = c->v[i];
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].sup)
			v[k++] = c->v[i];
	memcpy(c->v, v, c->n * sizeof *v);
	free(v);
	/* Chains: a superseded entry may be replaced by another superseded one. */
	size_t guard = c->n * c->n + 1;
	for (size_t i = 0; i < c->n && guard > 0; guard--) {
		size_t j = i + 1;
		while (c->v[i].sup && j < c->n && c->v[j].id != c->v[i].sup)
			j++;
		if (!c->v[i].sup || j >= c->n) {
			i++;
			continue;
		}
		struct cand moved = c->v[i];
		memmove(c->v + i, c->v + i + 1, (j - i) * sizeof *c->v);
		c->v[j] = moved;
	}
}

/* ---- snippets ---- */

/* A short excerpt of text: whitespace runs as one space, cut at max bytes. */
static char *excerpt(const char *text, size_t max)
{
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	bool space = false;
	for (const char *p = text ? text : ""; *p; p++) {
		if (kb__is_space((unsigned char)*p)) {
			space = b.len > 0;
			continue;
		}
		if (space)
			buf_addch(&b, ' ');
		space = false;
		buf_addch(&b, *p);
		if (b.len > max + 8)
			break;
	}
	if (b.len > max) {
		buf_setlen(&b, kb__utf8_cut(b.data, b.len, max));
		buf_addstr(&b, "\xe2\x80\xa6");
	}
	return buf_detach(&b, NULL);
}

/* Does token t (lower case) match query word w, as the index would? */
static bool word_hits(const char *t, const char *w)
{
	size_t wl = strlen(w);
	return wl >= PREFIX_MIN ? strncmp(t, w, wl) == 0 : strcmp(t, w) == 0;
}

#define SNIPPET_TOKENS 16

/* The stretch of text (SNIPPET_TOKENS words) with the most query words in
 * it, each hit wrapped in the caller's markers, "…" where it was cut; NULL
 * when the text holds no query word. Built here from the row already
 * loaded: FTS5's snippet() would run the full-text query again for every
 * result, which for a common word costs milliseconds each. */
static char *make_snippet(const char *text, const struct words *w, const struct kb_query *q)
{
	size_t n = strlen(text), pos = 0, ntok = 0, cap = 0;
	struct tok {
		size_t start, end;
		int hit; /* index of the word + 1, or 0 */
	} *t = NULL;
	char word[WORD_MAX + 1];
	bool any = false;
	size_t start;
	while (kb__next_word(text, n, &pos, false, word, &start)) {
		if (ntok == cap) {
			cap = cap ? 2 * cap : 64;
			t = xreallocarray(t, cap, sizeof *t);
		}
		t[ntok].start = start;
		t[ntok].end = pos;
		t[ntok].hit = 0;
		for (size_t i = 0; i < w->n && !t[ntok].hit; i++)
			if (word_hits(word, w->w[i]))
				t[ntok].hit = (int)i + 1;
		any |= t[ntok].hit != 0;
		ntok++;
	}
	if (!any) {
		free(t);
		return NULL;
	}
	/* The window with the most distinct words, then the most hits. */
	size_t best = 0, span = ntok < SNIPPET_TOKENS ? ntok : SNIPPET_TOKENS;
	int best_distinct = -1, best_hits = -1;
	for (size_t i = 0; i + span <= ntok; i++) {
		unsigned seen_words = 0;
		int hits = 0, distinct = 0;
		for (size_t j = i; j < i + span; j++) {
			if (!t[j].hit)
				continue;
			hits++;
			unsigned bit = 1u << ((t[j].hit - 1) & 31);
			if (!(seen_words & bit))
				distinct++, seen_words |= bit;
		}
		if (distinct > best_distinct || (distinct == best_distinct && hits > best_hits)) {
			best = i;
			best_distinct = distinct;
			best_hits = hits;
		}
	}
	/* Start a little before the first hit when the window allows. */
	size_t first = best;
	while (first < best + span && !t[first].hit)
		first++;
	if (first > best + 3 && best + span < ntok) {
		size_t shift = first - best - 3;
		if (shift > ntok - (best + span))
			shift = ntok - (best + span);
		best += shift;
	}
	const char *open = q->mark_open ? q->mark_open : "",
		   *close = q->mark_close ? q->mark_close : "";
	struct buf b = BUF_INIT(KB_TEXT_MAX);
	if (best > 0)
		buf_addstr(&b, "\xe2\x80\xa6");
	size_t at = t[best].start;
	for (size_t j = best; j < best + span; j++) {
		for (size_t k = at; k < t[j].start; k++)
			buf_addch(&b, kb__is_space((unsigned char)text[k]) ? ' ' : text[k]);
		if (t[j].hit)
			buf_addstr(&b, open);
		buf_add(&b, text + t[j].start, t[j].end - t[j].start);
		if (t[j].hit)
			buf_addstr(&b, close);
		at = t[j].end;
	}
	if (best + span < ntok)
		buf_addstr(&b, "\xe2\x80\xa6");
	free(t);
	return buf_detach(&b, NULL);
}

/* The body around the hits, or the start of the body when the hits are
 * elsewhere (the title is shown on its own); for an entry without a body,
 * its files around the hits. */
static char *snippet_for(const struct words *w, const struct kb_query *q, const struct kb_entry *e)
{
	char *s = make_snippet(e->body[0] ? e->body : e->files, w, q);
	return s ? s : excerpt(e->body, 120);
}

/* ---- kb_search() ---- */

void kb_query_init(struct kb_query *q)
{
	memset(q, 0, sizeof *q);
	q->limit = 20;
}

void kb_results_release(struct kb_results *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		kb_entry_release(&r->v[i].e);
		free(r->v[i].snippet);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

static int search_list(struct kb *kb, const struct kb_query *q, size_t limit, struct cands *c)
{
	struct filt f;
	kb__filt_build(&f, q, 2);
	char *sql = xasprintf("SELECT k.id FROM knowledge k WHERE 1%s"
			      " ORDER BY k.updated_ms DESC, k.id DESC LIMIT ?1",
			      f.sql.data);
	sqlite3_stmt *st = NULL;
	int r = 0, rc;
	if (sqlite3_prepare_v2(kb->db, sql, -1, &st, NULL) != SQLITE_OK) {
		r = kb__sqlerr(kb, "cannot list entries");
		goto out;
	}
	sqlite3_bind_int64(st, 1, (int64_t)limit);
	kb__filt_bind(&f, st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cand x = {.id = sqlite3_column_int64(st, 0)};
		cands_push(c, &x);
	}
	if (rc != SQLITE_DONE)
		r = kb__sqlerr(kb, "cannot list entries");
out:
	sqlite3_finalize(st);
	free(sql);
	kb__filt_release(&f);
	return r;
}

/* How many entries hold word i of w (prefix rules as in search), counted up
 * to DF_CAP. */
static int doc_freq(struct kb *kb, const struct words *w, size_t i, bool prefix, int64_t *df)
{
	char *e = kb__words_expr(w, i, 1, "", prefix);
	sqlite3_stmt *st = kb__stmt(kb, S_DF);
	int r = CAIRN_E_STORE;
	*df = 0;
	if (st) {
		kb__bind_text(st, 1, e);
		sqlite3_bind_int64(st, 2, DF_CAP);
		r = kb__one_int(kb, st, df, "cannot search");
	}
	free(e);
	return r < 0 ? r : 0;
}

/* Prepares the window query (see rank_stage()). With df, each word is
 * weighted by how rare it is (what the any-word stages need); where every
 * word must match, the counts are left out, which saves counting. */
static int prepare_window(struct kb *kb, const struct words *w, bool df, const struct filt *f,
			  sqlite3_stmt **out)
{
	struct buf rank = BUF_INIT(KB_TEXT_MAX);
	int r = 0;
	buf_addstr(&rank, "kb_rank(knowledge_fts");
	for (size_t i = 0; df && i < w->n; i++) {
		int64_t n;
		if ((r = doc_freq(kb, w, i, true, &n)))
			goto out;
		char num[32];
		snprintf(num, sizeof num, ",%lld", (long long)n);
		buf_addstr(&rank, num);
	}
	buf_addch(&rank, ')');
	/* One statement per window: the newest RANK_WINDOW matches below ?2,
	 * ranked; the filters are evaluated, not applied, so that the window's
	 * lowest rowid is known even when they drop every row. */
	char *sql = xasprintf("SELECT w.id, w.r, k.superseded_by, k.confidence, k.updated_ms,"
			      " (1%s), k.last_used_ms, k.created_ms FROM (SELECT rowid AS id, %s "
			      "AS r FROM knowledge_fts"
			      " WHERE knowledge_fts MATCH ?1 AND rowid<?2 ORDER BY rowid DESC"
			      " LIMIT %d) w JOIN knowledge k ON k.id=w.id",
			      f->sql.data, rank.data, RANK_WINDOW);
	if (sqlite3_prepare_v2(kb->db, sql, -1, out, NULL) != SQLITE_OK)
		r = kb__sqlerr(kb, "cannot search");
	free(sql);
out:
	buf_release(&rank);
	return r;
}

int kb_search(struct kb *kb, const struct kb_query *q, struct kb_results *out)
{
	struct words w;
	struct cands c = {0};
	struct idset seen = {0};
	struct filt f = {0};
	sqlite3_stmt *win[2] = {NULL, NULL};
	char *expr[6] = {NULL};
	int r = 0;
	out->v = NULL;
	out->n = 0;
	size_t limit = q->limit ? q->limit : 20;
	if (limit > KB_LIMIT_MAX)
		limit = KB_LIMIT_MAX;
	int64_t now_ms = q->now_ms ? q->now_ms : clock_wall_ms();
	kb__split_words(q->text, false, &w);
	if (w.n == 0) {
		if ((r = search_list(kb, q, limit, &c)))
			goto out;
	} else {
		/* Stages, each ranked on its own and after the ones before:
		 * every word whole in title or tags; every word whole anywhere;
		 * the same with words as prefixes; then any word, whole and as a
		 * prefix. Whole words first because they are what was typed, and
		 * because a prefix query makes FTS5 merge the doclists of every
		 * term that starts with it. */
		bool any_prefix = false;
		for (size_t i = 0; i < w.n; i++)
			any_prefix |= strlen(w.w[i]) >= PREFIX_MIN;
		char *and_exact = kb__words_expr(&w, 0, w.n, " AND ", false);
		char *and_prefix = kb__words_expr(&w, 0, w.n, " AND ", true);
		expr[0] = xasprintf("{title tags} : (%s)", and_exact);
		expr[1] = and_exact;
		expr[2] = any_prefix ? xasprintf("{title tags} : (%s)", and_prefix) : NULL;
		expr[3] = any_prefix ? and_prefix : NULL;
		expr[4] = w.n > 1 ? kb__words_expr(&w, 0, w.n, " OR ", false) : NULL;
		expr[5] = w.n > 1 && any_prefix ? kb__words_expr(&w, 0, w.n, " OR ", true) : NULL;
		if (!any_prefix)
			free(and_prefix);
		kb__filt_build(&f, q, 3);
		for (int s = 0; s < 6; s++) {
			if (!expr[s])
				continue;
			int which = s >= 4;
			if (!win[which] && (r = prepare_window(kb, &w, which, &f, &win[which])))
				goto out;
			if ((r = rank_stage(kb, win[which], expr[s], &f, limit, now_ms, &c,
					    &seen)) < 0)
				goto out;
			if (r == 1)
				break;
		}
		r = 0;
		order_superseded(&c);
	}
	size_t n = c.n < limit ? c.n : limit;
	out->v = xcalloc(n ? n : 1, sizeof *out->v);
	for (size_t i = 0; i < n; i++) {
		struct kb_result *res = &out->v[out->n];
		if ((r = kb_get(kb, c.v[i].id, &res->e)) == CAIRN_E_NOTFOUND)
			continue; /* deleted meanwhile by another process */
		if (r)
			goto out;
		res->score = c.v[i].score;
		res->snippet = w.n ? snippet_for(&w, q, &res->e) : excerpt(res->e.body, 120);
		out->n++;
	}
	r = 0;
out:
	if (r)
		kb_results_release(out);
	sqlite3_finalize(win[0]);
	sqlite3_finalize(win[1]);
	kb__filt_release(&f);
	for (int s = 0; s < 6; s++)
		free(expr[s]);
	free(c.v);
	free(seen.v);
	return r;
}
