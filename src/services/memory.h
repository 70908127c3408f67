/* A project's memory as one file: `cairn export` and `cairn import`.
 *
 * The file is JSON Lines, one record per line, each an object whose
 * "record" names it:
 *
 *   {"record":"header","format":"cairn-memory","version":1,"created":T,
 *    "project":P|null}                                  first line, once
 *   {"record":"knowledge","entry":{...}}                an entry as `cairn kb
 *                                                       export` writes it
 *   {"record":"session","session":{...},"items":[...]}  a session and what
 *                                                       happened in it
 *   {"record":"model","table":T,"row":{...}}            a row of a prediction
 *                                                       model's table: the
 *                                                       project's file model,
 *                                                       and the user's command
 *                                                       model (with every
 *                                                       project's export)
 *
 * Import is strict (jansson, at most MEMORY_LINE_MAX bytes a line, unknown
 * records, fields and tables refused with the line number) and changes
 * nothing when a file is imported twice: knowledge merges by uid as `cairn
 * kb import` does; a session already present (same project, start and
 * agent session) is skipped, a new one is added as ended; a model row
 * already present keeps the larger of each count and the later time; the
 * command model (decayed weights, which do not merge row by row) is
 * imported only into an empty one, else skipped. A
 * project can be imported under another path (a clone elsewhere, another
 * machine): every record's project is rewritten. */
#ifndef CAIRN_MEMORY_H
#define CAIRN_MEMORY_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct sqlite3;
struct kb;

#define MEMORY_LINE_MAX (2u * 1024 * 1024)

struct memory_stats {
	size_t knowledge, sessions, items, rows; /* written, or imported */
	size_t skipped;                          /* import: already there */
	size_t bad;                              /* import: lines refused */
};

/* Writes the memory of project (NULL: every project's, and the global
 * knowledge) to out. kb is the knowledge base over db. Returns 0,
 * CAIRN_E_STORE or -errno. */
int memory_export(struct sqlite3 *db, struct kb *kb, const char *project, FILE *out,
		  struct memory_stats *st, struct cairn_err *err);

/* Called per refused line: its number (1-based) and why. */
typedef void (*memory_report_fn)(void *ctx, size_t line, const char *msg);

/* Imports a memory file from in into db (and kb). as_project, when not
 * NULL, replaces the project of every record (the file must then hold one
 * project). A refused line is reported and skipped. Returns 0, CAIRN_E_PARSE
 * when some lines were refused, CAIRN_E_INVALID when the header is missing
 * or as_project is given for a file of several projects (nothing imported),
 * or CAIRN_E_STORE. */
int memory_import(struct sqlite3 *db, struct kb *kb, FILE *in, const char *as_project,
		  struct memory_stats *st, memory_report_fn report, void *ctx,
		  struct cairn_err *err);

/* One line of a memory file, checked as memory_import() checks it, without
 * writing anything (fuzz/fuzz_memory_import.c). Returns 0 or CAIRN_E_PARSE
 * with the reason in err. */
int memory_check_line(const char *line, size_t len, struct cairn_err *err);

#endif
