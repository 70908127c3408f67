/* The brief: what a session needs to start warm, in three parts, read from
 * the store (read-only; it works with the daemon down):
 *
 *   where you were      the project's last session: its span and note, the
 *                       files in focus and the branch, failures still open
 *                       (one line each, the triage report's gist), files
 *                       not committed
 *   what happened since commits, CI results, failures and fixes, knowledge
 *                       added or superseded, by anyone sharing the log,
 *                       since the last session (or --since)
 *   what is likely next files predicted from the focus (co-change rules),
 *                       commands predicted from the history, and the
 *                       decisions, mistakes, patterns and fixes of the
 *                       knowledge base that concern the files in focus
 *
 * Every part is a list of one-line items, each with a priority. The brief is
 * filled by priority until the budget (tokens, counted as brief_tokens()
 * does) is spent; an item that does not fit is left out whole, never cut;
 * the items kept are printed in the parts' order. docs/brief.md has the
 * priorities and the token count. */
#ifndef CAIRN_BRIEF_H
#define CAIRN_BRIEF_H

#include "common/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sqlite3;

enum brief_format { BRIEF_TEXT, BRIEF_MARKDOWN, BRIEF_JSON };

#define BRIEF_BUDGET_DEFAULT 1500

struct brief_opts {
	const char *project; /* absolute, no trailing '/'; required */
	int64_t since_ms;    /* 0: since the last session */
	size_t budget;       /* tokens; 0: BRIEF_BUDGET_DEFAULT */
	enum brief_format format;
	int64_t now_ms;
	int64_t gap_ms;   /* [session] gap, to tell a quiet session from an open one */
	bool daemon_down; /* say so at the top */
	bool read_git;    /* read the work tree for uncommitted files */
};

/* The tokens one line of the brief costs: its bytes (newline included) / 3,
 * rounded up. A conservative stand-in for a model's tokenizer (English runs
 * about 4 bytes a token, paths and hashes about 3). */
size_t brief_tokens(const char *line);

/* Builds the brief of o->project from db and writes it to out in
 * o->format. Returns 0, or CAIRN_E_STORE with err filled. Blocking. */
int brief_write(struct sqlite3 *db, const struct brief_opts *o, FILE *out, struct cairn_err *err);

#endif
