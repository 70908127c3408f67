/* Internals of the failure excerpt shared by its files: excerpt_line.c
 * cleans and scores one line of a log, excerpt.c chooses the lines. Not a
 * public interface: the contract is excerpt.h. */
#ifndef CAIRN_EXCERPT_INT_H
#define CAIRN_EXCERPT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "services/excerpt.h"

/* What a line is, besides its score. */
enum {
	F_BLANK = 1u << 0,
	F_INDENT = 1u << 1,
	F_FRAME = 1u << 2,    /* a stack frame or "Caused by" line */
	F_CMD = 1u << 3,      /* a CI command echo: "$ make test" */
	F_END_FAIL = 1u << 4, /* "The command "x" exited with 1." and the like */
	F_END_OK = 1u << 5,   /* "The command "x" exited with 0." */
	F_DONE = 1u << 6,     /* "Done. Your build exited with 1." */
	F_DIAG = 1u << 7,     /* inside an error diagnostic's span */
	F_DIAG_START = 1u << 8,
	F_DIAG_FIRST = 1u << 9, /* the first error diagnostic starts here */
	F_BOILER = 1u << 10,    /* help text a tool prints after an error */
	F_WRAPPER = 1u << 11,   /* says that something failed, not why */
	F_HEAD = 1u << 12,      /* a cluster's head has been found */
	/* Travis CI folds away what it prints around the build (worker and
	 * system information, git checkout, installation, caches) between
	 * "travis_fold:start:NAME" and "travis_fold:end:NAME". */
	F_FOLD_START = 1u << 13,
	F_FOLD_END = 1u << 14,
	F_ANNOT = 1u << 15, /* a CI service's error annotation: "##[error]x" */
};

#define F_MARK (F_CMD | F_END_FAIL | F_END_OK | F_DONE)

/* A line of the log: its number and its raw bytes [a, b), b at the '\n' or
 * at the end of the log. */
struct cur {
	size_t line, a, b;
};

/* What excerpt__analyse() makes of a line. */
struct info {
	int score;
	unsigned flags;
};

/* ---- moving over the lines of a log -------------------------------------- */

static inline void cur_at(const char *log, size_t len, size_t line, size_t a, struct cur *c)
{
	const char *nl = memchr(log + a, '\n', len - a);
	c->line = line;
	c->a = a;
	c->b = nl ? (size_t)(nl - log) : len;
}

/* Moves to the next line; false at the last one. */
static inline bool cur_next(const char *log, size_t len, struct cur *c)
{
	if (c->b + 1 >= len)
		return false;
	cur_at(log, len, c->line + 1, c->b + 1, c);
	return true;
}

/* Moves to the previous line; false at the first one. */
static inline bool cur_prev(const char *log, struct cur *c)
{
	const char *nl;
	if (c->a == 0)
		return false;
	c->b = c->a - 1;
	nl = c->b ? memrchr(log, '\n', c->b) : NULL;
	c->a = nl ? (size_t)(nl - log) + 1 : 0;
	c->line--;
	return true;
}

/* ---- one line ------------------------------------------------------------- */

/* Writes the cleaned text of the line at c (see excerpt.h) into out, and
 * when low is not NULL the same text in lower case into low; each holds
 * EXCERPT_MAX_TEXT + 1 bytes. Returns the length.
 *
 * When ci is not NULL the text is for reading rather than showing: the
 * markers a CI service glues to the start of a line are left out and
 * *ci gets what they say (F_FOLD_START, F_FOLD_END for a Travis CI fold,
 * F_CMD for a GitLab CI section). Travis CI's "travis_fold:..." and
 * "travis_time:..." end at an erase sequence (ESC [0K, often after a '\r')
 * and may be followed by a command ("$ make test") or the output; GitLab
 * CI's "section_start:TIME:NAME" ends at the '\r' that hides it. */
size_t excerpt__clean(const char *log, const struct cur *c, char *out, char *low, unsigned *ci);

/* Scores the cleaned text s (n bytes, ls the same in lower case) of one
 * line: in->score, the weight of its words of trouble, and in->flags, what
 * it is (blank, indented, a frame, a CI marker, a wrapper, help text). The
 * F_DIAG flags are the caller's business. */
void excerpt__analyse(const char *s, const char *ls, size_t n, struct info *in);

/* Cleans the line at c for reading (CI markers left out) and scores it;
 * in->flags holds what the markers said too. When wsum is not NULL, it
 * gets what excerpt__model_words() makes of the text read. Returns the
 * length of that text. */
size_t excerpt__analyse_at(const char *log, const struct cur *c, struct info *in, int32_t *wsum);

/* ---- the line model (excerpt_model.c) ------------------------------------- */

/* A line's model score is in 1/EXCERPT_MODEL_SCALE of a logit. */
#define EXCERPT_MODEL_SCALE 256
/* The lines on either side of a line that its score reads. */
#define MODEL_RADIUS 10

/* What the model reads of one line; all zero for a line outside the log. */
struct mline {
	int score;      /* the rules' score, diagnostics' raise included */
	unsigned flags; /* F_*, the F_DIAG ones included */
	unsigned len;   /* bytes of the text read */
	/* What the line adds to a score by itself (its words, its score,
	 * its flags, its length): to its own, to the next line's (as the line
	 * before it), to the previous line's (as the line after it). */
	int32_t part[3];
};

/* Where a line stands among the CI markers, by the first marker after it:
 * none at all in the log (S_NOMARK); the end of the last command that
 * failed (S_LAST_FAIL, also "Done. Your build exited with 1." when no
 * command failed before), of an earlier one (S_FAIL), of one that passed
 * (S_OK); a command line, so the output ends unmarked (S_NOEND); after the
 * last marker, once something failed (S_AFTER) or not (S_OPEN). */
enum { S_NOMARK, S_LAST_FAIL, S_FAIL, S_OK, S_NOEND, S_AFTER, S_OPEN };

struct mwhere {
	unsigned sect;      /* S_* */
	long to_fail_end;   /* lines to the end marker of a failing section, or -1 */
	long from_cmd;      /* lines since the last command line, or -1 */
	bool fold, tail;    /* inside a Travis CI fold; in a failing command's last words */
	size_t line, total; /* the line's number, the lines in the log */
	int best;           /* the best rules' score in the failing output */
};

/* Tokenises a line's text (n bytes) into words (runs of ASCII letters and
 * digits, lower-cased, each run of digits one '0', at most 32 of at most
 * 32 bytes) and sums their weights into words[]. */
void excerpt__model_words(const char *text, size_t n, int32_t words[3]);

/* Adds to ml->part[] (which holds the weights of the line's words) what
 * the line's score, flags and length weigh, once they are final. */
void excerpt__model_line(struct mline *ml);

/* The score of the line win[MODEL_RADIUS], the lines around it in win[]. */
int32_t excerpt__model_score(const struct mline *const win[2 * MODEL_RADIUS + 1],
			     const struct mwhere *at);

/* ---- the pass over a log -------------------------------------------------- */

/* Makes the pass over log that excerpt_select() makes and calls fn for each
 * line, in order, with what the pass made of it: the score and flags of
 * excerpt__analyse_at() and the F_DIAG flags from diags. For tools that
 * look at the choice (tests/tools/excerpt_dump, the model's trainer). Does
 * nothing for an empty or oversized log. */
void excerpt__each_line(const char *log, size_t len, const struct diag_list *diags,
			void (*fn)(void *ctx, const struct cur *c, const struct info *in),
			void *ctx);

/* Scores every line of log with the model, as excerpt_select() would: z
 * gets min(n, lines) scores. For the test that the trainer computes the
 * same (tests/unit/test_excerpt.c). */
void excerpt__model_scores(const char *log, size_t len, const struct diag_list *diags, int32_t *z,
			   size_t n);

#endif
