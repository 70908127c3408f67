/* Helpers shared by triage.c (the report) and learn.c (the learner). */
#ifndef CAIRN_TRIAGE_INT_H
#define CAIRN_TRIAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

/* The scope "the same target" is meant in: the project, else the cwd. */
const char *triage__scope(const char *project, const char *cwd);

/* Reads a regular file: all of it up to max bytes, or (when larger) its
 * head and its end, max bytes in all (*truncated then true). NUL-terminated;
 * caller frees. NULL (errno set) if it cannot be read. */
/* The modification time of path in ms since the epoch, 0 when it cannot be
 * stat()ed. */
int64_t triage__mtime_ms(const char *path);

char *triage__read_file(const char *path, size_t max, size_t *len, bool *truncated);

/* file (absolute, or relative to cwd) relative to root when inside it, else
 * absolute (lexically cleaned); NULL for NULL/empty. Caller frees. */
char *triage__rel_path(const char *root, const char *cwd, const char *file);

/* The directory a make or ninja log line says it enters ("make[1]:
 * Entering directory '/x/src'", "ninja: Entering directory `build'") or,
 * with *leave set, leaves; a new string, or NULL for any other line. */
char *triage__entered_dir(const char *line, size_t n, bool *leave);

/* Files changed in project between two seqs (file and git events). */
struct triage_change {
	char *path; /* relative to the project */
	int64_t ms; /* last change */
	int events;
	int64_t seq;        /* of the last file event (0 for git) */
	const char *source; /* "file events" or "git" */
};
struct triage_changes {
	struct triage_change *v;
	size_t n, cap;
	char *commit_subject; /* the last git.commit's subject, or NULL */
	int commits;
};
/* The most paths triage__changes() collects. */
#define TRIAGE_CHANGES_MAX 2000

/* Changes logged with from_seq < seq <= to_seq (0: no bound) and
 * from_ms <= time < until_ms (0: no bound): a build's own outputs, written
 * after it started, are not changes that could explain it. */
void triage__changes(struct sqlite3 *db, const char *project, int64_t from_seq, int64_t to_seq,
		     int64_t from_ms, int64_t until_ms, struct triage_changes *out);
void triage__changes_add(struct triage_changes *c, const char *path, int64_t ms, int n,
			 const char *source);
void triage__changes_release(struct triage_changes *c);

#endif
