/* The line model of the failure excerpt: a logistic regression that scores
 * how likely a line of a log is to be part of what explains the failure,
 * from the line's words and its neighbours', the rules' reading of it
 * (excerpt_line.c) and where it stands among the CI markers. The weights
 * are data (excerpt_weights.h), learned offline on labelled CI logs by
 * bench/triage/train_excerpt.py, which computes the same features; keep
 * the two in step (tests/unit/test_excerpt.c checks that they agree on
 * tests/data/excerpt_model/). Pure functions over constant tables. */
#include "services/excerpt_int.h"

#include "services/excerpt_weights.h"

/* Words read per line, and the longest: a longer run of letters and digits
 * is a hash or an encoded blob, not a word. */
#define MAX_TOKENS 32
#define MAX_TOKEN_LEN 32

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u

/* Buckets of distances (log2) and of the position in the log. */
#define NLOG2 14
#define NPOS 8

/* The dense features: the index of each group's first, in the order the
 * trainer writes their weights (DENSE_NAMES in train_excerpt.py). */
enum {
	D_BIAS = 0,
	D_RS_SELF = 1,                    /* the rules' score, 8 buckets */
	D_RS_BEFORE = D_RS_SELF + 8,      /* the best of the 2 lines before, 4 */
	D_RS_AFTER = D_RS_BEFORE + 4,     /* the best of the 2 lines after, 4 */
	D_FLAG_SELF = D_RS_AFTER + 4,     /* self_flags[] */
	D_FLAG_PREV = D_FLAG_SELF + 15,   /* prev_flags[] */
	D_FLAG_NEXT = D_FLAG_PREV + 4,    /* next_flags[] */
	D_LEN = D_FLAG_NEXT + 4,          /* the length of the text, 4 */
	D_SECT = D_LEN + 4,               /* S_*, 7 */
	D_DIST_FAIL = D_SECT + 7,         /* lines to the failing end marker */
	D_DIST_CMD = D_DIST_FAIL + NLOG2, /* lines since the command started */
	D_DIST_END = D_DIST_CMD + NLOG2,  /* lines to the end of the log */
	D_POS = D_DIST_END + NLOG2,       /* eighth of the log */
	D_FOLD = D_POS + NPOS,            /* inside a Travis CI fold */
	D_TAIL = D_FOLD + 1,              /* the last words of a failing command */
	D_RS_SECT = D_TAIL + 1,           /* score (4) x failing output or not */
	D_FAIL_RS = D_RS_SECT + 8,        /* D_DIST_FAIL x score (4) */
	D_END_RS = D_FAIL_RS + NLOG2 * 4, /* D_DIST_END x score (4) */
	D_REL_RS = D_END_RS + NLOG2 * 4,  /* the best score of the failing output minus this */
	D_WIN5 = D_REL_RS + 4,            /* the best score within 5 lines */
	D_WIN10 = D_WIN5 + 4,             /* the sum of the scores within 10 lines */
	NDENSE = D_WIN10 + 5,
};

_Static_assert(NDENSE == MODEL_NDENSE,
	       "excerpt_weights.h was written for other features: retrain (docs/excerpt.md)");
_Static_assert(MODEL_SCALE == EXCERPT_MODEL_SCALE, "excerpt_weights.h: another scale");

static const unsigned self_flags[15] = {
	F_BLANK,      F_INDENT,     F_FRAME,  F_CMD,     F_END_FAIL,   F_END_OK,   F_DONE,  F_DIAG,
	F_DIAG_START, F_DIAG_FIRST, F_BOILER, F_WRAPPER, F_FOLD_START, F_FOLD_END, F_ANNOT,
};
static const unsigned prev_flags[4] = {F_BLANK, F_INDENT, F_FRAME, F_CMD};
static const unsigned next_flags[4] = {F_BLANK, F_INDENT, F_FRAME, F_END_FAIL};

/* Each byte of a word: a digit as '0', a letter in lower case; 0 for the
 * bytes that are not part of a word. */
static const unsigned char tok_map[256] = {
	['0'] = '0', ['1'] = '0', ['2'] = '0', ['3'] = '0', ['4'] = '0', ['5'] = '0', ['6'] = '0',
	['7'] = '0', ['8'] = '0', ['9'] = '0', ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd',
	['E'] = 'e', ['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k',
	['L'] = 'l', ['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r',
	['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x', ['Y'] = 'y',
	['Z'] = 'z', ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f',
	['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l', ['m'] = 'm',
	['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't',
	['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y', ['z'] = 'z',
};

static const struct model_word *word_find(uint32_t h)
{
	const uint32_t mask = (1u << MODEL_WORD_BITS) - 1;
	for (uint32_t k = h & mask; model_words[k].hash; k = (k + 1) & mask)
		if (model_words[k].hash == h)
			return &model_words[k];
	return NULL;
}

void excerpt__model_words(const char *text, size_t n, int32_t words[3])
{
	size_t i = 0, got = 0;

	words[0] = words[1] = words[2] = 0;
	while (i < n && got < MAX_TOKENS) {
		uint32_t h = FNV_OFFSET;
		size_t tl = 0;
		unsigned char prev = 0, ch;
		const struct model_word *w;

		if (!tok_map[(unsigned char)text[i]]) {
			i++;
			continue;
		}
		/* Lower case, each run of digits one '0': "utf8" and "utf16"
		 * are one word, "12:34" two zeros. */
		for (; i < n && (ch = tok_map[(unsigned char)text[i]]) != 0; i++) {
			if (ch == '0' && prev == '0')
				continue;
			prev = ch;
			h = (h ^ ch) * FNV_PRIME;
			tl++;
		}
		if (tl > MAX_TOKEN_LEN || h == 0)
			continue;
		got++;
		if ((w = word_find(h)) != NULL) {
			words[0] += w->w[0];
			words[1] += w->w[1];
			words[2] += w->w[2];
		}
	}
}

/* 0 for 0, then 1 + floor(log2(d)), at most NLOG2 - 1. */
static unsigned log2_bucket(size_t d)
{
	unsigned b = 0;
	while (d > 0 && b < NLOG2 - 1) {
		d >>= 1;
		b++;
	}
	return b;
}

static unsigned rs_bucket(int s)
{
	return s <= 3 ? (unsigned)(s > 0 ? s : 0) : s <= 5 ? 4 : s <= 8 ? 5 : s <= 11 ? 6 : 7;
}

static unsigned rs4(int s)
{
	return s <= 0 ? 0 : s <= 3 ? 1 : s <= 8 ? 2 : 3;
}

static unsigned len_bucket(unsigned n)
{
	return n <= 15 ? 0 : n <= 60 ? 1 : n <= 200 ? 2 : 3;
}

static unsigned rel_bucket(int d)
{
	return d <= 0 ? 0 : d <= 2 ? 1 : d <= 5 ? 2 : 3;
}

static unsigned sum_bucket(int v)
{
	return v <= 0 ? 0 : v <= 5 ? 1 : v <= 15 ? 2 : v <= 40 ? 3 : 4;
}

static int max2(int a, int b)
{
	return a > b ? a : b;
}

void excerpt__model_line(struct mline *ml)
{
	for (unsigned k = 0; k < sizeof self_flags / sizeof self_flags[0]; k++)
		if (ml->flags & self_flags[k])
			ml->part[0] += model_dense[D_FLAG_SELF + k];
	for (unsigned k = 0; k < sizeof prev_flags / sizeof prev_flags[0]; k++)
		if (ml->flags & prev_flags[k])
			ml->part[1] += model_dense[D_FLAG_PREV + k];
	for (unsigned k = 0; k < sizeof next_flags / sizeof next_flags[0]; k++)
		if (ml->flags & next_flags[k])
			ml->part[2] += model_dense[D_FLAG_NEXT + k];
	ml->part[0] += model_dense[D_RS_SELF + rs_bucket(ml->score)];
	if (!(ml->flags & F_BLANK))
		ml->part[0] += model_dense[D_LEN + len_bucket(ml->len)];
}

int32_t excerpt__model_score(const struct mline *const win[2 * MODEL_RADIUS + 1],
			     const struct mwhere *at)
{
	const struct mline *self = win[MODEL_RADIUS], *prev = win[MODEL_RADIUS - 1],
			   *next = win[MODEL_RADIUS + 1];
	const int s = self->score;
	const bool failing = at->sect == S_LAST_FAIL || at->sect == S_FAIL;
	const size_t to_end = at->total - 1 - at->line;
	int32_t z = model_dense[D_BIAS];
	int w5 = 0, w10 = 0;

	z += model_dense[D_RS_BEFORE + rs4(max2(win[MODEL_RADIUS - 2]->score, prev->score))];
	z += model_dense[D_RS_AFTER + rs4(max2(next->score, win[MODEL_RADIUS + 2]->score))];
	z += model_dense[D_SECT + at->sect];
	if (at->to_fail_end >= 0) {
		z += model_dense[D_DIST_FAIL + log2_bucket((size_t)at->to_fail_end)];
		z += model_dense[D_FAIL_RS + 4 * log2_bucket((size_t)at->to_fail_end) + rs4(s)];
	}
	if (at->from_cmd >= 0 && failing)
		z += model_dense[D_DIST_CMD + log2_bucket((size_t)at->from_cmd)];
	z += model_dense[D_DIST_END + log2_bucket(to_end)];
	z += model_dense[D_POS + at->line * NPOS / at->total];
	if (at->fold)
		z += model_dense[D_FOLD];
	if (at->tail)
		z += model_dense[D_TAIL];
	z += model_dense[D_RS_SECT + rs4(s) + (failing ? 4 : 0)];
	z += model_dense[D_END_RS + 4 * log2_bucket(to_end) + rs4(s)];
	if (s > 0)
		z += model_dense[D_REL_RS + rel_bucket(at->best - s)];
	for (int k = 0; k <= 2 * MODEL_RADIUS; k++) {
		int d = k - MODEL_RADIUS;
		w10 += win[k]->score;
		if (d != 0 && d >= -5 && d <= 5)
			w5 = max2(w5, win[k]->score);
	}
	z += model_dense[D_WIN5 + rs4(w5)];
	z += model_dense[D_WIN10 + sum_bucket(w10)];
	/* What each line says for itself (excerpt__model_line()). */
	return z + self->part[0] + prev->part[1] + next->part[2];
}
