/* Which files are likely to change next: co-change rules learned from
 * git.commit events and from edit bursts in file.changed events (the
 * prediction service, src/services/predict.c), and the query `cairn predict
 * files` runs over them.
 *
 * Model (migrations 5 and 6), per project:
 *
 *   file_changes    (project, path)
 *     n      commits of 2..PREDICT_COMMIT_MAX files that changed path
 *     e      edit bursts of 2..PREDICT_COMMIT_MAX files that edited it
 *     w      its activity: sum over its changes of weight * exp((t - t0) / tau)
 *            (commits of 1 file count too; a burst weighs PREDICT_BURST_WEIGHT)
 *     no     the project's commit number at its last commit (0: none)
 *     last_ms  the time of its last change
 *   cochange        (project, a, b), both orders
 *     n      commits that changed both
 *     e      edit bursts that edited both
 *     ws     sum over those of weight / (files - 1): a big commit counts less
 *     a_at   a's n just after their last common commit
 *     last_ms  the last time they changed together
 *   predict_projects  (project) -> commits (numbered from 1), t0_ms (the
 *            first time learned: the origin of the activity sums), last_ms
 *            (the latest time learned: "now" for the model)
 *   predict_bursts    (project) -> the open edit burst: first_ms, last_ms,
 *            files (a JSON array), skip (file events of a git operation
 *            still to come, announced by fs.batch)
 *   predict_learned   the last seq learned (so a job run twice learns once)
 *
 * Commits that change more than PREDICT_COMMIT_MAX files are left out
 * altogether (a reformat, an import says little about what goes together);
 * commits of one file count only for the activity and the commit number.
 * Each event's own time is used, so replaying a history learns as if it
 * happened then. The ranking is in predict.c, above predict_files(), with
 * why each term is there; docs/services.md has the figures. */
#ifndef CAIRN_PREDICT_H
#define CAIRN_PREDICT_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

struct sqlite3;

#define PREDICT_COMMIT_MAX 30
/* file.changed events of a project less than this apart are one edit burst. */
#define PREDICT_BURST_GAP_MS (10 * 60 * 1000)
/* An edit burst counts this much of a commit. */
#define PREDICT_BURST_WEIGHT 0.25
/* "Recent" is the project's last PREDICT_RECENT commits. */
#define PREDICT_RECENT 10

struct predict_item {
	char *path;
	double score;     /* the model's probability that it is the next one */
	char *with;       /* the given file it goes with best (NULL: none) */
	int64_t with_n;   /* commits that changed path with `with` ... */
	int64_t of_n;     /* ... of the commits that changed `with` */
	int64_t edits_n;  /* edit bursts with `with` ... */
	int64_t edits_of; /* ... of the edit bursts of `with` */
	int64_t ago;      /* commits since path last changed (0: the last one); -1: never */
	int64_t last_ms;  /* the last time it changed together with `with` (0: never) */
	double logit;     /* the linear score (internal; kept for ties and tests) */
};

/* The files most likely to change with the given ones (paths relative to
 * the project), best first, at most limit; the given files themselves are
 * left out. Candidates are the files that changed together with a given
 * one and the files of the project's last PREDICT_RECENT commits; each is
 * scored as predict.c explains, and score is its share of the softmax over
 * all candidates. Returns 0 with *out (free with predict_items_free()), or
 * CAIRN_E_STORE with err filled. Blocking; any thread, with its own db. */
int predict_files(struct sqlite3 *db, const char *project, const char *const *given, size_t n_given,
		  size_t limit, struct predict_item **out, size_t *n_out, struct cairn_err *err);

/* One line that says why it was predicted, e.g. "changed together with
 * lib/url.c in 14 of 17 commits; changed 2 commits ago". Writes at most len
 * bytes (NUL included) into buf. */
void predict_item_reason(const struct predict_item *it, char *buf, size_t len);

void predict_items_free(struct predict_item *v, size_t n);

#endif
