/* Choosing the lines of a log that explain a failure (see excerpt.h, and
 * docs/excerpt.md for the reasoning and the measurements).
 *
 * One pass over the log reads every line (excerpt_line.c): its score by the
 * rules (words of trouble raise it, wrappers and help text hold it down),
 * what it is (blank, indented, a frame, a CI marker) and what the line
 * model makes of its words (excerpt_model.c). The pass keeps the lines
 * that score (the first CAND_FIRST and the last CAND_LAST), the markers a CI
 * service prints around its commands ("$ cmd", "The command "cmd" exited
 * with 1.", folds), the last words before each failing command's marker,
 * and the model's reading of the last MLINE_MAX lines.
 *
 * Then candidates that belong together (close, or with only an indented
 * block such as a stack trace between them) form clusters, ranked by the
 * rules. When the best is an error diagnostic, or the log has no CI
 * markers, the rules choose: the best cluster with a few lines of context
 * before it and the block that continues after it, then the next ones
 * while they score enough. Otherwise the line model scores every line from
 * its reading, its neighbours' and where it stands among the markers, and
 * runs of lines grow greedily around the best ones (choose_by_model()).
 * What budget is left goes to the lines around the runs. Lines are re-read
 * from the log through a cursor when needed, so what is kept per line is
 * bounded. */
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
/* What the line model reads of each line is kept for the last MLINE_MAX
 * lines; earlier lines are read again when the model needs them. */
#define MLINE_MAX 16384
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
		excerpt__analyse_at(log, &c, &in, NULL);
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
		excerpt__analyse_at(log, &c, &in, NULL);
		if (!continues(&in)) {
			/* A blank line or a header stays when an indented
			 * block follows it. */
			struct cur d = c;
			struct info din;
			if ((in.flags & F_MARK) || !cur_next(log, len, &d))
				break;
			excerpt__analyse_at(log, &d, &din, NULL);
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

/* The lines [a, b) of an error diagnostic from a known tool. */
struct span {
	size_t a, b;
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
	struct mark *fold; /* ring of MARK_MAX lines that open or close a fold */
	size_t nfold, fold_head;
	/* The error diagnostics, sorted by start; cover[k] is the furthest
	 * end among sp[0..k]. */
	struct span *sp;
	size_t nsp, *cover;
	struct mline *ml; /* ring of MLINE_MAX, by line number */
	size_t total;
	bool any_fail;
	/* Called for each line when not NULL (excerpt__each_line()). */
	void (*each)(void *ctx, const struct cur *c, const struct info *in);
	void *each_ctx;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	return x->b < y->b ? -1 : x->b > y->b;
}

static void error_spans(const struct diag_list *d, struct scan *s)
{
	s->nsp = 0;
	if (!d || d->n == 0)
		return;
	s->sp = xreallocarray(NULL, d->n, sizeof *s->sp);
	s->cover = xreallocarray(NULL, d->n, sizeof *s->cover);
	for (size_t k = 0; k < d->n; k++) {
		const struct diag *g = &d->v[k];
		if (g->severity < SEV_ERROR || !strcmp(g->tool, "generic"))
			continue;
		s->sp[s->nsp].a = g->log_line;
		s->sp[s->nsp].b = g->log_line + (g->log_lines ? g->log_lines : 1);
		s->nsp++;
	}
	qsort(s->sp, s->nsp, sizeof *s->sp, cmp_span);
	for (size_t k = 0; k < s->nsp; k++)
		s->cover[k] = k > 0 && s->cover[k - 1] > s->sp[k].b ? s->cover[k - 1] : s->sp[k].b;
}

/* Adds what the error diagnostics say of the line to in: F_DIAG inside
 * one, F_DIAG_START (and a score of at least 9, unless the line is a
 * wrapper) where one starts, F_DIAG_FIRST where the first starts. */
static void diag_at(const struct scan *s, size_t line, struct info *in)
{
	size_t lo = 0, hi = s->nsp;

	/* The first span starting after the line. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->sp[mid].a <= line)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return;
	if (s->sp[lo - 1].a == line) {
		in->flags |= F_DIAG_START | (s->sp[0].a == line ? F_DIAG_FIRST : 0);
		if (in->score < 9 && !(in->flags & F_WRAPPER))
			in->score = 9;
	}
	if (line < s->cover[lo - 1])
		in->flags |= F_DIAG;
}

static void ring_add(struct mark *ring, size_t *n, size_t *head, size_t line, unsigned flags)
{
	struct mark *m = &ring[(*head + *n) % MARK_MAX];
	m->line = line;
	m->flags = flags;
	if (*n < MARK_MAX)
		(*n)++;
	else
		*head = (*head + 1) % MARK_MAX;
}

static void scan_release(struct scan *s)
{
	free(s->first);
	free(s->cand);
	free(s->mark);
	free(s->fold);
	free(s->sp);
	free(s->cover);
	free(s->ml);
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
		excerpt__analyse_at(log, &c, &in, NULL);
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
	struct cur c;
	bool more = len > 0;
	/* Lines since the last candidate: all of them, those that break a
	 * block, and the breaking lines just before this one (a header or a
	 * blank line is forgiven when an indented block follows it). */
	size_t gap = 0, hard = 0, pending = 0;

	s->first = xreallocarray(NULL, CAND_FIRST, sizeof *s->first);
	s->cand = xreallocarray(NULL, CAND_LAST, sizeof *s->cand);
	s->mark = xreallocarray(NULL, MARK_MAX, sizeof *s->mark);
	s->fold = xreallocarray(NULL, MARK_MAX, sizeof *s->fold);
	s->ml = xreallocarray(NULL, MLINE_MAX, sizeof *s->ml);
	error_spans(diags, s);
	if (more)
		cur_at(log, len, 0, 0, &c);
	while (more) {
		struct info in;
		struct mline *ml = &s->ml[c.line % MLINE_MAX];
		ml->len = (unsigned)excerpt__analyse_at(log, &c, &in, ml->part);
		diag_at(s, c.line, &in);
		ml->score = in.score;
		ml->flags = in.flags;
		excerpt__model_line(ml);
		if (s->each)
			s->each(s->each_ctx, &c, &in);
		if (in.flags & (F_FOLD_START | F_FOLD_END))
			ring_add(s->fold, &s->nfold, &s->fold_head, c.line, in.flags);
		if (in.flags & F_MARK) {
			ring_add(s->mark, &s->nmark, &s->mark_head, c.line, in.flags);
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

/* ---- the line model ----------------------------------------------------- */

/* How the model's scores choose the lines (see choose_by_model()), in
 * 1/EXCERPT_MODEL_SCALE of a logit; chosen by cross-validation over
 * repositories (bench/triage/train_excerpt.py, PARAMS). */
#define TAU (-1 * EXCERPT_MODEL_SCALE) /* no line scoring less is taken for itself */
#define PENALTY 0                      /* what starting a new run costs */
#define NEW_RUNS 2                     /* runs the model may start */
#define LOOK 4                         /* lines looked at past a run's end */
/* The best lines of the log kept as places to start a run. */
#define SEED_MAX 64
/* Scores computed again for the lines around a run are cached, ZCACHE of
 * them, direct-mapped by line; a miss scores the ZBLOCK lines on each side
 * too, since the next questions are about them. */
#define ZCACHE 1024
#define ZBLOCK 16
#define WIN (2 * MODEL_RADIUS + 1)

struct seed {
	struct cur c;
	int32_t z;
};

struct zslot {
	size_t line;
	int32_t z;
	bool used;
};

/* The model's view of a log, after the pass (scan_log()) over it. */
struct model {
	const char *log;
	size_t len;
	const struct scan *s;
	/* Over the marks ring in order: the failing end markers at k or
	 * later; whether a command failed or the build was done before k;
	 * the last command line at k or before (SIZE_MAX: none). */
	size_t fails_after[MARK_MAX + 1];
	bool faildone_before[MARK_MAX + 1];
	size_t last_cmd[MARK_MAX];
	int best;
	/* Whether a command failed: then runs start only in the output of a
	 * failing command (S_LAST_FAIL, S_FAIL), the CI service having said
	 * where the failure is. */
	bool failing;
	struct seed seed[SEED_MAX]; /* best first; ties by line */
	size_t nseed;
	struct zslot *cache;
};

static size_t first_after(const struct mark *ring, size_t n, size_t head, size_t line)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ring[(head + mid) % MARK_MAX].line <= line)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Where the line stands (struct mwhere in excerpt_int.h). */
static void where_at(const struct model *m, size_t line, struct mwhere *w)
{
	const struct scan *s = m->s;
	size_t k = first_after(s->mark, s->nmark, s->mark_head, line), j;

	memset(w, 0, sizeof *w);
	w->line = line;
	w->total = s->total;
	w->best = m->best;
	w->to_fail_end = w->from_cmd = -1;
	if (s->nmark == 0) {
		w->sect = S_NOMARK;
	} else if (k == s->nmark) {
		w->sect = m->faildone_before[k] ? S_AFTER : S_OPEN;
	} else {
		const struct mark *mk = mark_at(s, k);
		if (mk->flags & F_CMD) {
			w->sect = S_NOEND;
		} else if (mk->flags & F_END_FAIL) {
			w->sect = m->fails_after[k + 1] == 0 ? S_LAST_FAIL : S_FAIL;
			w->to_fail_end = (long)(mk->line - line);
		} else if (mk->flags & F_END_OK) {
			w->sect = S_OK;
		} else if (m->faildone_before[k]) {
			w->sect = S_AFTER;
		} else {
			/* "Done. Your build exited with 1." with no command
			 * failing before: the output before it is the failure. */
			w->sect = S_LAST_FAIL;
			w->to_fail_end = (long)(mk->line - line);
		}
	}
	/* The last command line before this line. */
	j = k;
	if (j > 0 && mark_at(s, j - 1)->line == line)
		j--;
	if (j > 0 && m->last_cmd[j - 1] != SIZE_MAX)
		w->from_cmd = (long)(line - mark_at(s, m->last_cmd[j - 1])->line);
	k = first_after(s->fold, s->nfold, s->fold_head, line);
	w->fold = k > 0 && (s->fold[(s->fold_head + k - 1) % MARK_MAX].flags & F_FOLD_START);
	for (k = 0; k < s->ntail; k++) {
		const struct tail *t = &s->tail[(s->tail_head + k) % TAIL_MAX];
		if (line >= t->first.line && line <= t->last.line)
			w->tail = true;
	}
}

static struct model *model_new(const char *log, size_t len, const struct scan *s)
{
	struct model *m = xcalloc(1, sizeof *m);
	bool seen = false, any_fail = false;
	int best_fail = 0, best = 0;
	size_t cmd = SIZE_MAX;

	m->log = log;
	m->len = len;
	m->s = s;
	m->cache = xcalloc(ZCACHE, sizeof *m->cache);
	m->fails_after[s->nmark] = 0;
	for (size_t k = s->nmark; k > 0; k--)
		m->fails_after[k - 1] =
			m->fails_after[k] + !!(mark_at(s, k - 1)->flags & F_END_FAIL);
	for (size_t k = 0; k < s->nmark; k++) {
		m->faildone_before[k] = seen;
		if (mark_at(s, k)->flags & (F_END_FAIL | F_DONE))
			seen = true;
		if (mark_at(s, k)->flags & F_CMD)
			cmd = k;
		m->last_cmd[k] = cmd;
	}
	m->faildone_before[s->nmark] = seen;
	for (size_t k = 0; k < s->nmark; k++) {
		unsigned f = mark_at(s, k)->flags;
		if ((f & F_END_FAIL) || ((f & F_DONE) && !m->faildone_before[k]))
			m->failing = true;
	}
	/* The best rules' score in the output of failing commands (in the
	 * whole log when none there scores). */
	for (size_t k = 0; k < s->nfirst + s->ncand; k++) {
		bool joined;
		const struct cand *c = cand_at(s, k, &joined);
		struct mwhere w;
		if (c->score <= 0)
			continue;
		if (c->score > best)
			best = c->score;
		where_at(m, c->c.line, &w);
		if (w.sect == S_LAST_FAIL || w.sect == S_FAIL) {
			any_fail = true;
			if (c->score > best_fail)
				best_fail = c->score;
		}
	}
	m->best = any_fail ? best_fail : best;
	return m;
}

static void model_free(struct model *m)
{
	if (!m)
		return;
	free(m->cache);
	free(m);
}

/* What the model reads of the line at c: what the pass kept, when it is
 * among the last MLINE_MAX lines, or the line read again into ml. */
static const struct mline *read_line(const struct model *m, const struct cur *c, struct mline *ml)
{
	struct info in;
	if (c->line + MLINE_MAX >= m->s->total)
		return &m->s->ml[c->line % MLINE_MAX];
	ml->len = (unsigned)excerpt__analyse_at(m->log, c, &in, ml->part);
	diag_at(m->s, c->line, &in);
	ml->score = in.score;
	ml->flags = in.flags;
	excerpt__model_line(ml);
	return ml;
}

/* Scores the lines a to b (a <= b < total), c being a cursor on any line,
 * reading each line of a - MODEL_RADIUS to b + MODEL_RADIUS once; calls
 * sink with each line's cursor, place and score, in order. */
static void score_range(struct model *m, struct cur c, size_t a, size_t b,
			void (*sink)(struct model *m, const struct cur *c, const struct mwhere *w,
				     int32_t z))
{
	static const struct mline none;
	struct mline ring[WIN];
	const struct mline *line[WIN], *win[WIN];
	struct cur at[WIN];
	const size_t total = m->s->total, lo = a > MODEL_RADIUS ? a - MODEL_RADIUS : 0,
		     hi = b + MODEL_RADIUS < total ? b + MODEL_RADIUS : total - 1;

	while (c.line > lo)
		cur_prev(m->log, &c);
	while (c.line < lo)
		cur_next(m->log, m->len, &c);
	for (size_t j = lo; j <= hi + MODEL_RADIUS; j++) {
		size_t i;
		struct mwhere w;

		if (j <= hi) {
			line[j % WIN] = read_line(m, &c, &ring[j % WIN]);
			at[j % WIN] = c;
			if (j < hi)
				cur_next(m->log, m->len, &c);
		}
		/* Line i = j - MODEL_RADIUS has all it reads once line j is
		 * read (or past the end of the log). */
		if (j < a + MODEL_RADIUS || j > b + MODEL_RADIUS)
			continue;
		i = j - MODEL_RADIUS;
		for (size_t d = 0; d < WIN; d++) {
			size_t l = i + d;
			win[d] = l >= MODEL_RADIUS && l - MODEL_RADIUS <= hi
					 ? line[(l - MODEL_RADIUS) % WIN]
					 : &none;
		}
		where_at(m, i, &w);
		sink(m, &at[i % WIN], &w, excerpt__model_score(win, &w));
	}
}

/* Keeps the SEED_MAX best lines (in the output of failing commands, when
 * a command failed). */
static void seed_sink(struct model *m, const struct cur *c, const struct mwhere *w, int32_t z)
{
	size_t k = m->nseed;
	if (k == SEED_MAX && z <= m->seed[SEED_MAX - 1].z)
		return;
	if (m->failing && w->sect != S_LAST_FAIL && w->sect != S_FAIL)
		return;
	while (k > 0 && m->seed[k - 1].z < z)
		k--;
	if (m->nseed < SEED_MAX)
		m->nseed++;
	memmove(&m->seed[k + 1], &m->seed[k], (m->nseed - 1 - k) * sizeof m->seed[0]);
	m->seed[k].c = *c;
	m->seed[k].z = z;
}

static void cache_sink(struct model *m, const struct cur *c, const struct mwhere *w, int32_t z)
{
	(void)w;
	struct zslot *slot = &m->cache[c->line % ZCACHE];
	slot->line = c->line;
	slot->z = z;
	slot->used = true;
}

/* The score of the line at c. */
static int32_t z_at(struct model *m, const struct cur *c)
{
	struct zslot *slot = &m->cache[c->line % ZCACHE];
	size_t a, b;

	if (slot->used && slot->line == c->line)
		return slot->z;
	a = c->line > ZBLOCK ? c->line - ZBLOCK : 0;
	b = c->line + ZBLOCK < m->s->total ? c->line + ZBLOCK : m->s->total - 1;
	score_range(m, *c, a, b, cache_sink);
	/* The block is shorter than the cache: no other line of it took the
	 * line's slot. */
	return slot->z;
}

/* The best score among the LOOK lines past a run's end (after it or before
 * it), up to the first line already picked; false when there is none. */
static bool run_front(struct model *m, const struct picks *p, const struct run *r, bool after,
		      int32_t *v)
{
	struct cur c = after ? r->hi : r->lo;
	bool any = false;

	for (size_t d = 0; d < LOOK; d++) {
		int32_t z;
		if (after ? !cur_next(m->log, m->len, &c) : !cur_prev(m->log, &c))
			break;
		if (picks_has(p, c.line))
			break;
		z = z_at(m, &c);
		if (!any || z > *v)
			*v = z;
		any = true;
	}
	return any;
}

static bool near_run(const struct picks *p, size_t line)
{
	for (size_t k = 0; k < p->n; k++)
		if (line + 1 >= p->r[k].lo.line && line <= p->r[k].hi.line + 1)
			return true;
	return false;
}

/* Adds lines by the model's scores until the budget is spent or nothing
 * left scores TAU: one line at a time, either the run whose side looks
 * best (the best of the next LOOK lines there) grows by one line on that
 * side, or, when a line not yet near a run beats every growth by PENALTY,
 * a new run starts there (at most NEW_RUNS times; see seed_sink() for
 * where). */
static void choose_by_model(struct model *m, struct picks *p)
{
	size_t si = 0, added = 0;

	while (!picks_full(p)) {
		int32_t gv = 0, v = 0;
		size_t gk = 0;
		bool have = false, gafter = false;
		struct cur c;

		for (size_t k = 0; k < p->n; k++) {
			for (int after = 1; after >= 0; after--) {
				if (run_front(m, p, &p->r[k], after, &v) && v >= TAU &&
				    (!have || v > gv)) {
					have = true;
					gv = v;
					gk = k;
					gafter = after;
				}
			}
		}
		while (si < m->nseed && near_run(p, m->seed[si].c.line))
			si++;
		if (added < NEW_RUNS && si < m->nseed) {
			v = m->seed[si].z - PENALTY;
			if (v >= TAU && (!have || v > gv)) {
				if (!picks_add(p, &m->seed[si].c))
					return;
				added++;
				continue;
			}
		}
		if (!have)
			return;
		c = gafter ? p->r[gk].hi : p->r[gk].lo;
		if (gafter)
			cur_next(m->log, m->len, &c);
		else
			cur_prev(m->log, &c);
		if (!picks_add(p, &c))
			return;
	}
}

static void seed_all(struct model *m)
{
	struct cur c;
	if (m->s->total == 0)
		return;
	cur_at(m->log, m->len, 0, 0, &c);
	score_range(m, c, 0, m->s->total - 1, seed_sink);
}

void excerpt__model_scores(const char *log, size_t len, const struct diag_list *diags, int32_t *z,
			   size_t n)
{
	struct scan s = {0};
	struct model *m;
	struct cur c;

	if (!log || len == 0 || len > DIAG_MAX_LOG)
		return;
	scan_log(log, len, diags, &s);
	m = model_new(log, len, &s);
	cur_at(log, len, 0, 0, &c);
	for (size_t i = 0; i < s.total && i < n; i++) {
		z[i] = z_at(m, &c);
		cur_next(log, len, &c);
	}
	model_free(m);
	scan_release(&s);
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
			size_t tn = excerpt__clean(log, &c, text, NULL, NULL);
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

/* Picks the best cluster, then the next ones while they score enough. */
static void pick_clusters(const char *log, size_t len, struct picks *p, const struct cluster *cl,
			  size_t ncl)
{
	pick_cluster(log, len, p, &cl[0]);
	for (size_t k = 1; k < ncl && !picks_full(p); k++) {
		if (cl[k].score < SECOND_MIN)
			break;
		if (picks_has(p, cl[k].best.line))
			continue;
		pick_cluster(log, len, p, &cl[k]);
	}
}

/* The choice for a log a CI service wrote (it has markers) where no
 * diagnostic stands out: the line model's (choose_by_model()). */
static void choose_ci(const char *log, size_t len, const struct scan *s, struct picks *p)
{
	struct model *m;

	if (s->total > p->budget) {
		m = model_new(log, len, s);
		seed_all(m);
		choose_by_model(m, p);
		model_free(m);
	}
	if (p->n == 0) {
		/* Nothing scores (or every line fits): the end of the log
		 * explains most. */
		struct cur c;
		cur_last(log, len, s->total, &c);
		picks_add(p, &c);
	}
}

/* The rules' choice: for a log whose best region is an error diagnostic
 * (a compiler, a test runner says exactly which lines matter), and for a
 * log without CI markers (a local build, a test run), of which the model
 * has learned nothing. */
static void choose_rules(const char *log, size_t len, const struct scan *s,
			 const struct cluster *cl, size_t ncl, struct picks *p, struct excerpt *out)
{
	struct cur c;

	if (ncl > 0 && cl[0].score > W_NONE) {
		if (cl[0].flags & F_DIAG)
			out->method = "diagnostics";
		pick_clusters(log, len, p, cl, ncl);
		/* Compiler-style diagnostics say exactly which lines matter:
		 * padding them with the lines around would only bury them. A
		 * guess from the log's wording is less sure, so the rest of the
		 * budget goes to its surroundings. */
		if (cl[0].flags & F_DIAG)
			p->budget = p->lines;
		return;
	}
	/* Nothing looks like trouble: the end of the log explains most. */
	cur_last(log, len, s->total, &c);
	picks_add(p, &c);
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
	if (s.nmark > 0 && !(ncl > 0 && cl[0].score > W_NONE && (cl[0].flags & F_DIAG)))
		choose_ci(log, len, &s, &p);
	else
		choose_rules(log, len, &s, cl, ncl, &p, out);
	pick_fill(log, len, &p, stop);
	pick_fill(log, len, &p, s.total);
	emit(log, len, &p, out);
	free(cl);
	scan_release(&s);
	return 0;
}

void excerpt__each_line(const char *log, size_t len, const struct diag_list *diags,
			void (*fn)(void *ctx, const struct cur *c, const struct info *in),
			void *ctx)
{
	struct scan s = {.each = fn, .each_ctx = ctx};

	if (!log || len == 0 || len > DIAG_MAX_LOG)
		return;
	scan_log(log, len, diags, &s);
	scan_release(&s);
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
