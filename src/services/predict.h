/* Which files are likely to change next: co-change rules learned from
 * git.commit events (the prediction service, src/services/predict.c) and
 * the query `cairn predict files` runs over them.
 *
 * Model (migration 5), per project:
 *   file_changes  (project, path) -> n commits that changed path, last_ms
 *   cochange      (project, a, b) -> n commits that changed both, last_ms
 *   predict_learned  the last seq learned (so a job run twice learns once)
 * Only commits that change 2 to PREDICT_COMMIT_MAX files are learned from: a
 * bigger one (a reformat, an import) says little about what goes together.
 * Each event's own time is used, so replaying a history learns as if it
 * happened then. */
#ifndef CAIRN_PREDICT_H
#define CAIRN_PREDICT_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

struct sqlite3;

#define PREDICT_COMMIT_MAX 30

struct predict_item {
	char *path;
	double score;    /* sum over the given files of P(path | given) */
	int64_t with_n;  /* commits that changed path with `with` ... */
	int64_t of_n;    /* ... of the commits that changed `with` */
	char *with;      /* the given file that contributed most */
	int64_t last_ms; /* the last time they changed together */
};

/* The files most likely to change with the given ones (paths relative to
 * the project), best first, at most limit; the given files themselves are
 * left out. Ranked by the summed confidence of the rules given -> path,
 * then by how often, then by how recently. Returns 0 with *out (free with
 * predict_items_free()), or CAIRN_E_STORE with err filled. Blocking. */
int predict_files(struct sqlite3 *db, const char *project, const char *const *given, size_t n_given,
		  size_t limit, struct predict_item **out, size_t *n_out, struct cairn_err *err);

void predict_items_free(struct predict_item *v, size_t n);

#endif
