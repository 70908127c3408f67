/* Repository state for events, read with libgit2: the work tree's top level,
 * branch, HEAD (and its subject line) and the files that differ from HEAD.
 * Blocking (reads the repository); any thread. */
#ifndef CAIRN_GITINFO_H
#define CAIRN_GITINFO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct gitinfo {
	char *workdir;      /* absolute, without a trailing '/' */
	char *branch;       /* short name, or NULL when HEAD is detached */
	char head[41];      /* hex, or "" in a repository with no commit yet */
	char *head_subject; /* HEAD's summary (its message's first line), or NULL */
	char **dirty;       /* paths relative to workdir, changed or untracked */
	size_t n_dirty;
	bool dirty_truncated; /* more than max_dirty were found */
	size_t dirty_total;   /* how many were found (n_dirty of them kept) */
};

/* Reads the repository containing path. Returns 0, CAIRN_E_NOTFOUND when
 * path is not inside a work tree, CAIRN_E_STORE on a libgit2 failure, or
 * -ELIBACC when libgit2 cannot be loaded (common/gitdl.h; said on stderr
 * once per process). gi must be released in every case. */
int gitinfo_read(const char *path, size_t max_dirty, struct gitinfo *gi);
void gitinfo_release(struct gitinfo *gi);
/* {"branch","head","dirty":[...],"dirty_truncated"} (new reference). */
json_t *gitinfo_to_json(const struct gitinfo *gi);

#endif
