/* Branch, HEAD and dirty files through libgit2. */
#include "sources/gitinfo.h"

#include "common/err.h"
#include "common/gitdl.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

int gitinfo_read(const char *path, size_t max_dirty, struct gitinfo *gi)
{
	memset(gi, 0, sizeof *gi);
	struct cairn_err le;
	int r = gitdl_load(&le);
	if (r < 0) {
		static atomic_bool said;
		if (!atomic_exchange(&said, true))
			log_warn("%s; the git state (branch, HEAD, changed files) is left out",
				 le.msg);
		return r;
	}
	git_libgit2_init();
	git_repository *repo = NULL;
	if (git_repository_open_ext(&repo, path, 0, NULL) < 0) {
		r = CAIRN_E_NOTFOUND;
		goto out;
	}
	const char *wd = git_repository_workdir(repo);
	if (!wd) {
		r = CAIRN_E_NOTFOUND; /* a bare repository has no work tree */
		goto out_repo;
	}
	gi->workdir = xstrdup(wd);
	size_t n = strlen(gi->workdir);
	if (n > 1 && gi->workdir[n - 1] == '/')
		gi->workdir[n - 1] = '\0';

	git_reference *head = NULL;
	int hr = git_repository_head(&head, repo);
	if (hr == 0) {
		if (git_reference_is_branch(head))
			gi->branch = xstrdup(git_reference_shorthand(head));
		const git_oid *oid = git_reference_target(head);
		if (oid) {
			git_oid_tostr(gi->head, sizeof gi->head, oid);
			git_commit *commit = NULL;
			if (git_commit_lookup(&commit, repo, oid) == 0) {
				const char *sum = git_commit_summary(commit);
				gi->head_subject = sum ? xstrdup(sum) : NULL;
				git_commit_free(commit);
			}
		}
		git_reference_free(head);
	} else if (hr == GIT_EUNBORNBRANCH) {
		/* No commit yet: HEAD still names the branch to be. */
		git_reference *sym = NULL;
		if (git_reference_lookup(&sym, repo, "HEAD") == 0) {
			const char *t = git_reference_symbolic_target(sym);
			if (t && strncmp(t, "refs/heads/", 11) == 0)
				gi->branch = xstrdup(t + 11);
			git_reference_free(sym);
		}
	}

	git_status_options so;
	git_status_options_init(&so, GIT_STATUS_OPTIONS_VERSION);
	so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	so.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	git_status_list *st = NULL;
	if (git_status_list_new(&st, repo, &so) == 0) {
		size_t cnt = git_status_list_entrycount(st);
		size_t keep = cnt < max_dirty ? cnt : max_dirty;
		gi->dirty = xcalloc(keep + 1, sizeof *gi->dirty);
		for (size_t i = 0; i < cnt && gi->n_dirty < keep; i++) {
			const git_status_entry *e = git_status_byindex(st, i);
			const git_diff_delta *d =
				e->index_to_workdir ? e->index_to_workdir : e->head_to_index;
			if (!d)
				continue;
			const char *p = d->new_file.path ? d->new_file.path : d->old_file.path;
			if (p)
				gi->dirty[gi->n_dirty++] = xstrdup(p);
		}
		gi->dirty_truncated = cnt > keep;
		gi->dirty_total = cnt;
		git_status_list_free(st);
	}
out_repo:
	git_repository_free(repo);
out:
	git_libgit2_shutdown();
	return r;
}

void gitinfo_release(struct gitinfo *gi)
{
	free(gi->workdir);
	free(gi->branch);
	free(gi->head_subject);
	for (size_t i = 0; i < gi->n_dirty; i++)
		free(gi->dirty[i]);
	free(gi->dirty);
	memset(gi, 0, sizeof *gi);
}

json_t *gitinfo_to_json(const struct gitinfo *gi)
{
	json_t *dirty = json_array();
	for (size_t i = 0; i < gi->n_dirty; i++)
		json_array_append_new(dirty, json_string(gi->dirty[i]));
	json_t *o = json_object();
	json_object_set_new(o, "branch", gi->branch ? json_string(gi->branch) : json_null());
	json_object_set_new(o, "head", gi->head[0] ? json_string(gi->head) : json_null());
	json_object_set_new(o, "dirty", dirty);
	if (gi->dirty_truncated)
		json_object_set_new(o, "dirty_truncated", json_true());
	return o;
}
