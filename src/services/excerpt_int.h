/* Internals of the failure excerpt shared by its files: excerpt_line.c
 * cleans and scores one line of a log, excerpt.c chooses the lines. Not a
 * public interface: the contract is excerpt.h. */
#ifndef CAIRN_EXCERPT_INT_H
#define CAIRN_EXCERPT_INT_H

#include <stdbool.h>
#include <stddef.h>
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
 * EXCERPT_MAX_TEXT + 1 bytes. Returns the length. */
size_t excerpt__clean(const char *log, const struct cur *c, char *out, char *low);

/* Scores the cleaned text s (n bytes, ls the same in lower case) of one
 * line: in->score, the weight of its words of trouble, and in->flags, what
 * it is (blank, indented, a frame, a CI marker, a wrapper, help text). The
 * F_DIAG flags are the caller's business. */
void excerpt__analyse(const char *s, const char *ls, size_t n, struct info *in);

/* Cleans and scores the line at c. */
void excerpt__analyse_at(const char *log, const struct cur *c, struct info *in);

#endif
