/* Choosing the lines of a log that explain a failure (see excerpt.h, and
 * docs/excerpt.md for the reasoning and the measurements).
 *
 * One pass over the log cleans and scores every line: words of trouble
 * ("error", "FAILED", exception names, "panicked", "not ok"...) raise the
 * score, a test runner's verdict and a place in the code ("x.c:12:") raise
 * it more, and lines that only wrap a failure reported elsewhere ("BUILD
 * FAILED", "make: *** Error 1", "exited with 1", tallies such as "3 failed,
 * 9 passed") or print help text are held down. The pass keeps the lines
 * that score (the first CAND_FIRST and the last CAND_LAST), the markers a CI
 * service prints around its commands ("$ cmd", "The command "cmd" exited
 * with 1.") and the last words before each failing command's marker.
 *
 * Then candidates that belong together (close, or with only an indented
 * block such as a stack trace between them) form clusters; each cluster is
 * ranked by its best line, the trouble around it, the CI section it stands
 * in (a command that failed, one that passed, or the boilerplate after the
 * build) and, without markers, how late it comes. The best cluster is shown
 * with a few lines of context before it and the block that continues after
 * it, then the next ones while they score enough, and what budget is left
 * goes to the lines around them. Neighbouring lines are re-read from the log
 * through a cursor, so nothing is kept per line of the log. */
#include "services/excerpt_int.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/xalloc.h"

/* Candidate lines kept: the first CAND_FIRST and the most recent CAND_LAST. */
#define CAND_FIRST 1024
#define CAND_LAST 8192
/* Section markers kept: the most recent MARK_MAX. */
#define MARK_MAX 1024
/* Separate regions in one excerpt. */
#define PICK_MAX 64
/* Candidates this many lines apart or closer belong to one cluster. */
#define CLUSTER_GAP 2
/* Candidates this far apart belong to one cluster when only an indented
 * block (and at most CLUSTER_GAP other lines) stands between them. */
#define JOIN_MAX 40
/* A block grows forward over continuation lines at most this far. */
#define BLOCK_FWD 30
/* Lines of context kept before a region. */
#define CONTEXT_BEFORE 6
/* Clusters scoring less are not shown for their own sake. */
#define SECOND_MIN 10
/* Failing commands whose last words are kept, and how many of those lines. */
#define TAIL_MAX 16
#define TAIL_LINES 3

/* Weights, in the units of the word table in excerpt_line.c. */
enum {
	W_TAIL = 4,       /* the last words of a failing command */
	W_LAST_FAIL = 8,  /* in the output of the last command that failed */
	W_FAIL = 5,       /* in the output of an earlier command that failed */
	W_OK = -6,        /* in the output of a command that succeeded */
	W_AFTER = -8,     /* after the build failed: caches, after_script */
	W_LATE = 4,       /* at most, for coming late in a log without markers */
	W_DIAG = 6,       /* an error diagnostic diag_extract() found */
	W_DIAG_FIRST = 3, /* the first of them */
	W_NONE = -1000,   /* a cluster of frames or wrappers only: never shown */
};

struct cand {
	struct cur c;
	int score;
	unsigned flags;
	bool joined; /* belongs with the candidate before it */
};

struct mark {
	size_t line;
	unsigned flags;
};

struct cluster {
	/* head, the first candidate that is not a wrapper (the first of all
	 * when each is); last, the last candidate; best, the highest
	 * scoring. */
	struct cur head, last, best;
	int best_score, sum, score;
	unsigned flags;
};

/* The regions chosen so far: disjoint runs of lines, lo to hi. */
struct run {
	struct cur lo, hi;
};

struct picks {
	struct run r[PICK_MAX];
	size_t n, lines, budget;
};

/* ---- choosing regions ---------------------------------------------------- */

static bool picks_has(const struct picks *p, size_t line)
{
	for (size_t k = 0; k < p->n; k++)
		if (line >= p->r[k].lo.line && line <= p->r[k].hi.line)
			return true;
	return false;
}

static bool picks_full(const struct picks *p)
{
	return p->lines >= p->budget;
}

/* Adds one line; false when the budget or the run table is full. */
static bool picks_add(struct picks *p, const struct cur *c)
{
	size_t k;

	if (picks_has(p, c->line))
		return true;
	if (picks_full(p))
		return false;
	for (k = 0; k < p->n; k++) {
		if (c->line + 1 == p->r[k].lo.line) {
			p->r[k].lo = *c;
			break;
		}
		if (c->line == p->r[k].hi.line + 1) {
			p->r[k].hi = *c;
			break;
		}
	}
	if (k == p->n) {
		if (p->n == PICK_MAX)
			return false;
		p->r[k].lo = p->r[k].hi = *c;
		p->n++;
	}
	p->lines++;
	/* Join the run that grew with one it now touches (at most one). */
	for (size_t j = 0; j < p->n; j++) {
		struct run *x = &p->r[k], *y = &p->r[j];
		if (j == k || (x->hi.line + 1 != y->lo.line && y->hi.line + 1 != x->lo.line))
			continue;
		if (y->lo.line < x->lo.line)
			x->lo = y->lo;
		if (y->hi.line > x->hi.line)
			x->hi = y->hi;
		*y = p->r[--p->n];
		break;
	}
	return true;
}

/* Whether the line continues the block above it: indented, a frame, or
 * more trouble. */
static bool continues(const struct info *in)
{
	if (in->flags & (F_MARK | F_BLANK))
		return false;
	return (in->flags & (F_INDENT | F_FRAME | F_DIAG)) || in->score >= 3;
}

/* Adds a few lines of context before the cluster (the test's name, "In
 * function", the command), the cluster itself, and the block that continues
 * after it, in that order, as far as the budget goes. */
static void pick_cluster(const char *log, size_t len, struct picks *p, const struct cluster *cl)
{
	struct cur c = cl->head, ctx[CONTEXT_BEFORE];
	struct info in;
	size_t fwd = 0, nctx = 0;

	while (nctx < CONTEXT_BEFORE && cur_prev(log, &c)) {
		excerpt__analyse_at(log, &c, &in);
		if (in.flags & (F_END_OK | F_END_FAIL | F_DONE))
			break;
		ctx[nctx++] = c;
		if (in.flags & F_CMD)
			break;
	}
	while (nctx > 0)
		if (!picks_add(p, &ctx[--nctx]))
			return;
	c = cl->head;
	for (;;) {
		if (!picks_add(p, &c))
			return;
		if (c.line >= cl->last.line || !cur_next(log, len, &c))
			break;
	}
	c = cl->last;
	while (fwd < BLOCK_FWD && cur_next(log, len, &c)) {
		excerpt__analyse_at(log, &c, &in);
		if (!continues(&in)) {
			/* A blank line or a header stays when an indented
			 * block follows it. */
			struct cur d = c;
			struct info din;
			if ((in.flags & F_MARK) || !cur_next(log, len, &d))
				break;
			excerpt__analyse_at(log, &d, &din);
			if (!(din.flags & (F_INDENT | F_FRAME)) || (din.flags & F_BLANK))
				break;
		}
		if (!picks_add(p, &c))
			return;
		fwd++;
	}
}

/* Fills what is left of the budget around the runs, a line after and a
 * line before each in turn, never past stop going forward. */
static void pick_fill(const char *log, size_t len, struct picks *p, size_t stop)
{
	bool grew = true;

	while (!picks_full(p) && grew) {
		grew = false;
		for (size_t k = 0; k < p->n && !picks_full(p); k++) {
			struct cur c = p->r[k].hi;
			if (c.line + 1 < stop && cur_next(log, len, &c) && !picks_has(p, c.line))
				grew |= picks_add(p, &c);
			c = p->r[k].lo;
			if (!picks_full(p) && cur_prev(log, &c) && !picks_has(p, c.line))
				grew |= picks_add(p, &c);
		}
	}
}

static int cmp_cluster(const void *a, const void *b)
{
	const struct cluster *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->head.line < y->head.line ? -1 : x->head.line > y->head.line;
}

static int cmp_run(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	return x->lo.line < y->lo.line ? -1 : x->lo.line > y->lo.line;
}

/* ---- the pass over the log ------------------------------------------------ */

/* The last lines a failing command printed before the CI service said it
 * failed (or before the end of a log without markers): what a command says
 * last is usually why it stopped. */
struct tail {
	struct cur first, last;
	int score;
};

struct scan {
	struct tail tail[TAIL_MAX]; /* ring of the most recent */
	size_t ntail, tail_head;
	/* The first CAND_FIRST candidates, then a ring of the last
	 * CAND_LAST; dropped counts those that fell out of the ring. */
	struct cand *first, *cand;
	size_t nfirst, ncand, cand_head, dropped;
	struct mark *mark; /* ring of MARK_MAX */
	size_t nmark, mark_head;
	size_t total;
	bool any_fail;
};

/* The spans of error diagnostics from known tools, sorted by start. */
struct span {
	size_t a, b;
};

static size_t error_spans(const struct diag_list *d, struct span **out)
{
	size_t n = 0;
	*out = NULL;
	if (!d || d->n == 0)
		return 0;
	*out = xreallocarray(NULL, d->n, sizeof **out);
	for (size_t k = 0; k < d->n; k++) {
		const struct diag *g = &d->v[k];
		if (g->severity < SEV_ERROR || !strcmp(g->tool, "generic"))
			continue;
		(*out)[n].a = g->log_line;
		(*out)[n].b = g->log_line + (g->log_lines ? g->log_lines : 1);
		n++;
	}
	return n;
}

/* Records the last words before line end (a cursor on the marker, or past
 * the last line): up to TAIL_LINES lines that are not blank, wrappers or
 * help text, looked for among the lines just before. */
static void add_tail(const char *log, struct scan *s, const struct cur *end, bool include_end)
{
	struct cur c = *end;
	struct tail t = {.score = -1};
	size_t got = 0, looked = 0;

	for (;;) {
		struct info in;
		if (include_end) {
			include_end = false;
		} else if (!cur_prev(log, &c)) {
			break;
		}
		if (got == TAIL_LINES || ++looked > 4 * TAIL_LINES)
			break;
		excerpt__analyse_at(log, &c, &in);
		if (in.flags & (F_CMD | F_END_FAIL | F_END_OK | F_DONE))
			break;
		if (in.flags & (F_BLANK | F_WRAPPER | F_BOILER))
			continue;
		if (got++ == 0)
			t.last = c;
		t.first = c;
		if (in.score > t.score)
			t.score = in.score;
	}
	if (got == 0)
		return;
	s->tail[(s->tail_head + s->ntail) % TAIL_MAX] = t;
	if (s->ntail < TAIL_MAX)
		s->ntail++;
	else
		s->tail_head = (s->tail_head + 1) % TAIL_MAX;
}

static void scan_log(const char *log, size_t len, const struct diag_list *diags, struct scan *s)
{
	struct span *sp;
	size_t nsp = error_spans(diags, &sp), si = 0, cover = 0;
	struct cur c;
	bool more = len > 0;
	/* Lines since the last candidate: all of them, those that break a
	 * block, and the breaking lines just before this one (a header or a
	 * blank line is forgiven when an indented block follows it). */
	size_t gap = 0, hard = 0, pending = 0;

	s->first = xreallocarray(NULL, CAND_FIRST, sizeof *s->first);
	s->cand = xreallocarray(NULL, CAND_LAST, sizeof *s->cand);
	s->mark = xreallocarray(NULL, MARK_MAX, sizeof *s->mark);
	if (more)
		cur_at(log, len, 0, 0, &c);
	while (more) {
		struct info in;
		excerpt__analyse_at(log, &c, &in);
		/* Error diagnostics in force at this line. */
		while (si < nsp && sp[si].a <= c.line) {
			if (sp[si].a == c.line) {
				in.flags |= F_DIAG_START | (si == 0 ? F_DIAG_FIRST : 0);
				if (in.score < 9 && !(in.flags & F_WRAPPER))
					in.score = 9;
			}
			if (sp[si].b > cover)
				cover = sp[si].b;
			si++;
		}
		if (c.line < cover)
			in.flags |= F_DIAG;
		if (in.flags & F_MARK) {
			struct mark *m = &s->mark[(s->mark_head + s->nmark) % MARK_MAX];
			m->line = c.line;
			m->flags = in.flags;
			if (s->nmark < MARK_MAX)
				s->nmark++;
			else
				s->mark_head = (s->mark_head + 1) % MARK_MAX;
			gap++;
			hard += JOIN_MAX;
			pending = 0;
			if (in.flags & F_END_FAIL) {
				s->any_fail = true;
				add_tail(log, s, &c, false);
			}
		} else if (in.score > 0 || (in.flags & F_DIAG)) {
			struct cand *k;
			if (s->nfirst < CAND_FIRST) {
				k = &s->first[s->nfirst++];
			} else {
				k = &s->cand[(s->cand_head + s->ncand) % CAND_LAST];
				if (s->ncand < CAND_LAST) {
					s->ncand++;
				} else {
					s->cand_head = (s->cand_head + 1) % CAND_LAST;
					s->dropped++;
				}
			}
			k->c = c;
			k->score = in.score;
			k->flags = in.flags;
			k->joined = gap <= CLUSTER_GAP || (hard <= CLUSTER_GAP && gap <= JOIN_MAX);
			gap = hard = pending = 0;
		} else if (in.flags & (F_INDENT | F_FRAME)) {
			gap++;
			if (pending <= 2)
				hard -= pending;
			pending = 0;
		} else {
			gap++;
			hard++;
			pending++;
		}
		more = cur_next(log, len, &c);
	}
	s->total = len > 0 ? c.line + 1 : 0;
	if (len > 0 && !s->any_fail)
		add_tail(log, s, &c, true);
	free(sp);
}

/* The k-th candidate kept, in log order; *joined is false where candidates
 * were dropped before it. */
static const struct cand *cand_at(const struct scan *s, size_t k, bool *joined)
{
	const struct cand *c;
	if (k < s->nfirst) {
		c = &s->first[k];
		*joined = c->joined;
		return c;
	}
	k -= s->nfirst;
	c = &s->cand[(s->cand_head + k) % CAND_LAST];
	*joined = c->joined && !(k == 0 && s->dropped > 0);
	return c;
}

static const struct mark *mark_at(const struct scan *s, size_t k)
{
	return &s->mark[(s->mark_head + k) % MARK_MAX];
}

/* How the CI section a line stands in ended: F_END_FAIL, F_END_OK, F_DONE
 * (the line comes after the end of the build), or 0 when the section has no
 * end marker (a setup step that succeeded quietly, or no CI markers at
 * all). *later counts the failing sections that end after it. */
static unsigned section_end(const struct scan *s, const size_t *fails_from, size_t line,
			    size_t *later)
{
	size_t lo = 0, hi = s->nmark;
	unsigned f;

	*later = 0;
	/* The first marker after the line. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mark_at(s, mid)->line <= line)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->nmark) {
		/* After the last marker: past the end of the build when some
		 * command has failed before. */
		return s->nmark > 0 && (fails_from[0] > 0 ||
					(mark_at(s, s->nmark - 1)->flags & F_DONE))
			       ? F_DONE
			       : 0;
	}
	f = mark_at(s, lo)->flags;
	if (f & F_CMD)
		return 0;
	*later = fails_from[lo + 1];
	return f & F_DONE ? F_DONE : f & (F_END_FAIL | F_END_OK);
}

/* Groups the candidates into clusters and scores them. */
static size_t build_clusters(const struct scan *s, struct cluster *cl)
{
	size_t n = 0, fails_from[MARK_MAX + 1];

	fails_from[s->nmark] = 0;
	for (size_t k = s->nmark; k > 0; k--)
		fails_from[k - 1] = fails_from[k] + !!(mark_at(s, k - 1)->flags & F_END_FAIL);

	for (size_t k = 0; k < s->nfirst + s->ncand; k++) {
		bool joined;
		const struct cand *c = cand_at(s, k, &joined);
		struct cluster *x = n ? &cl[n - 1] : NULL;
		int sc = c->score;

		if (!x || !joined) {
			x = &cl[n++];
			memset(x, 0, sizeof *x);
			x->last = x->best = x->head = c->c;
			x->best_score = -1;
		}
		if (!(x->flags & F_HEAD) && c->score >= 3 && !(c->flags & F_WRAPPER)) {
			x->head = c->c;
			x->flags |= F_HEAD;
		}
		x->last = c->c;
		x->flags |= c->flags;
		if (sc > x->best_score) {
			if (x->best_score > 0)
				x->sum += x->best_score;
			x->best_score = sc;
			x->best = c->c;
		} else {
			x->sum += sc;
		}
	}
	for (size_t k = 0; k < s->ntail; k++) {
		const struct tail *t = &s->tail[(s->tail_head + k) % TAIL_MAX];
		struct cluster *x = &cl[n++];
		memset(x, 0, sizeof *x);
		x->head = t->first;
		x->last = x->best = t->last;
		x->best_score = (t->score > 4 ? t->score : 4) + W_TAIL;
	}
	for (size_t k = 0; k < n; k++) {
		struct cluster *x = &cl[k];
		size_t later;
		unsigned end = section_end(s, fails_from, x->last.line, &later);
		int sc = x->best_score + (x->sum / 3 > 6 ? 6 : x->sum / 3);

		if (end == F_END_FAIL) {
			sc += later == 0 ? W_LAST_FAIL : W_FAIL;
		} else if (end == F_END_OK) {
			sc += W_OK;
		} else if (end == F_DONE) {
			sc += W_AFTER;
		} else if (s->total > 0) {
			/* Without markers, the failure is near the end. */
			sc += (int)(W_LATE * x->last.line / s->total);
		}
		if ((x->flags & F_DIAG_START) && x->best_score > 3)
			sc += W_DIAG + ((x->flags & F_DIAG_FIRST) ? W_DIAG_FIRST : 0);
		x->score = x->best_score >= 3 || (x->flags & F_DIAG_START) ? sc : W_NONE;
	}
	return n;
}

/* The line after the last that matters: the one after the marker of the
 * last failing command (what follows is the CI service's own business:
 * caches, after_script, "Done."), or the end of the log. */
static size_t useful_end(const struct scan *s)
{
	for (size_t k = s->nmark; k > 0; k--)
		if (mark_at(s, k - 1)->flags & F_END_FAIL)
			return mark_at(s, k - 1)->line + 1;
	for (size_t k = 0; k < s->nmark; k++)
		if (mark_at(s, k)->flags & F_DONE)
			return mark_at(s, k)->line;
	return s->total;
}

/* ---- the API -------------------------------------------------------------- */

static void emit(const char *log, size_t len, struct picks *p, struct excerpt *out)
{
	char text[EXCERPT_MAX_TEXT + 1];

	qsort(p->r, p->n, sizeof p->r[0], cmp_run);
	out->v = p->lines ? xreallocarray(NULL, p->lines, sizeof *out->v) : NULL;
	out->n = 0;
	for (size_t k = 0; k < p->n; k++) {
		struct cur c = p->r[k].lo;
		for (;;) {
			size_t tn = excerpt__clean(log, &c, text, NULL);
			out->v[out->n].line = c.line;
			out->v[out->n].text = xstrndup(text, tn);
			out->n++;
			if (c.line >= p->r[k].hi.line || !cur_next(log, len, &c))
				break;
		}
	}
}

/* The last line of a log of len > 0 bytes with total lines. */
static void cur_last(const char *log, size_t len, size_t total, struct cur *c)
{
	size_t b = log[len - 1] == '\n' ? len - 1 : len;
	const char *nl = b ? memrchr(log, '\n', b) : NULL;
	c->line = total - 1;
	c->a = nl ? (size_t)(nl - log) + 1 : 0;
	c->b = b;
}

int excerpt_select(const char *log, size_t len, const struct diag_list *diags, size_t max_lines,
		   struct excerpt *out)
{
	struct scan s = {0};
	struct picks p = {0};
	struct cluster *cl = NULL;
	size_t ncl, stop;

	if (!out)
		return CAIRN_E_INVALID;
	memset(out, 0, sizeof *out);
	out->method = "log";
	if (!log && len > 0)
		return CAIRN_E_INVALID;
	if (len > DIAG_MAX_LOG)
		return CAIRN_E_TOOBIG;
	if (len == 0)
		return 0;
	if (max_lines == 0)
		max_lines = EXCERPT_DEFAULT_LINES;
	if (max_lines > EXCERPT_MAX_LINES)
		max_lines = EXCERPT_MAX_LINES;
	p.budget = max_lines;

	scan_log(log, len, diags, &s);
	out->total_lines = s.total;
	stop = useful_end(&s);

	cl = xreallocarray(NULL, s.nfirst + s.ncand + s.ntail + 1, sizeof *cl);
	ncl = build_clusters(&s, cl);
	qsort(cl, ncl, sizeof *cl, cmp_cluster);
	if (ncl > 0 && cl[0].score > W_NONE) {
		if (cl[0].flags & F_DIAG)
			out->method = "diagnostics";
		pick_cluster(log, len, &p, &cl[0]);
		for (size_t k = 1; k < ncl && !picks_full(&p); k++) {
			if (cl[k].score < SECOND_MIN)
				break;
			if (picks_has(&p, cl[k].best.line))
				continue;
			pick_cluster(log, len, &p, &cl[k]);
		}
		/* Compiler-style diagnostics say exactly which lines matter:
		 * padding them with the lines around would only bury them. A
		 * guess from the log's wording is less sure, so the rest of the
		 * budget goes to its surroundings. */
		if (!(cl[0].flags & F_DIAG)) {
			pick_fill(log, len, &p, stop);
			pick_fill(log, len, &p, s.total);
		}
	} else {
		/* Nothing looks like trouble: the end of the log explains most. */
		struct cur c;
		cur_last(log, len, s.total, &c);
		picks_add(&p, &c);
		pick_fill(log, len, &p, s.total);
	}
	emit(log, len, &p, out);
	free(cl);
	free(s.first);
	free(s.cand);
	free(s.mark);
	return 0;
}

void excerpt_release(struct excerpt *ex)
{
	if (!ex)
		return;
	for (size_t k = 0; k < ex->n; k++)
		free(ex->v[k].text);
	free(ex->v);
	ex->v = NULL;
	ex->n = 0;
	ex->total_lines = 0;
	ex->method = "log";
}
