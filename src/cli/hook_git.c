/* cairn hook git: what the hooks installed by `cairn hooks install` run. It
 * turns post-commit, post-checkout, post-merge and post-rewrite into
 * git.commit, git.checkout, git.merge and git.rewrite events (fields in
 * docs/events.md). It runs inside git, so it never prints (but for an event
 * lost: see cli/publish.h), always exits 0 and keeps to a time budget: the
 * whole hook must stay under 20 ms, and with the daemon down the event goes
 * to the spool. */
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/publish.h"

#include "common/clock.h"
#include "common/gitdl.h"
#include "common/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Caps on what one event carries: the file list (count and path bytes), the
 * rewritten pairs, the post-rewrite input read, and free text. Past a cap
 * the event says so (files_truncated, rewritten_truncated) and keeps the
 * first entries. */
#define HOOK_FILES_MAX 500
#define HOOK_FILES_BYTES_MAX (256u * 1024)
#define HOOK_REWRITES_MAX 500
#define HOOK_STDIN_MAX (4u * 1024 * 1024)
#define HOOK_TEXT_MAX 1024
#define HOOK_PATH_MAX 4096
/* A diff with more changed files than this is not worth finishing. */
#define HOOK_DELTAS_MAX 100000
/* Rename detection reads blobs: only for small diffs. */
#define HOOK_SIMILAR_MAX 200

/* Time budgets of the steps that grow with the repository or the input:
 * listing changed files and reading post-rewrite's input stop when theirs
 * runs out and mark the result truncated; rename detection is skipped when
 * the listing has used most of it. Process start (about 3 ms: cairn links
 * some 30 libraries), libgit2 and publishing take the rest of the 20 ms.
 * Sanitizer builds run several times slower, so their budgets are larger
 * and tests see the same results. */
#if defined(__SANITIZE_ADDRESS__)
#define HOOK_SLOWDOWN 10
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOOK_SLOWDOWN 10
#endif
#endif
#ifndef HOOK_SLOWDOWN
#define HOOK_SLOWDOWN 1
#endif
#define HOOK_DIFF_BUDGET_NS (HOOK_SLOWDOWN * 8ull * 1000 * 1000)
#define HOOK_SIMILAR_BUDGET_NS (HOOK_SLOWDOWN * 5ull * 1000 * 1000)
#define HOOK_STDIN_BUDGET_NS (HOOK_SLOWDOWN * 8ull * 1000 * 1000)

/* Whatever happens, the hook exits after this long. */
#define HOOK_WATCHDOG_S 1

#define HOOK_SOURCE "cairn/git"

/* Length of the well-formed UTF-8 sequence at s[0..n) or 0 when the bytes
 * there are not one (overlong forms, surrogates, > U+10FFFF, NUL). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	uint32_t cp;
	size_t k;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		k = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

/* A JSON string from bytes that need not be UTF-8 (paths and commit text may
 * be in any encoding): each invalid byte becomes U+FFFD, and the text is cut
 * at max bytes on a character boundary. Sets *changed when it had to alter
 * anything. Returns a new reference. */
static json_t *json_text(const char *s, size_t max, bool *changed)
{
	size_t n = strlen(s), o = 0;
	char *out = xmalloc((n < max / 3 ? n * 3 : max) + 1);
	const unsigned char *p = (const unsigned char *)s;
	bool alt = false;

	for (size_t i = 0; i < n;) {
		size_t k = utf8_len(p + i, n - i);
		const char *src = k ? s + i : "\xef\xbf\xbd";
		size_t len = k ? k : 3;
		if (o + len > max) {
			alt = true;
			break;
		}
		memcpy(out + o, src, len);
		o += len;
		i += k ? k : 1;
		alt |= k == 0;
	}
	json_t *v = json_stringn(out, o);
	free(out);
	if (changed)
		*changed = alt;
	return v;
}

static json_t *oid_json(const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof hex, id);
	return json_string(hex);
}

/* The branch HEAD points to ("main"), even when it has no commit yet; NULL
 * when HEAD is detached. Caller frees. */
static char *head_branch(git_repository *repo)
{
	git_reference *head = NULL;
	char *out = NULL;

	if (git_reference_lookup(&head, repo, "HEAD") == 0 &&
	    git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
		const char *t = git_reference_symbolic_target(head);
		out = xstrdup(strncmp(t, "refs/heads/", 11) == 0 ? t + 11 : t);
	}
	git_reference_free(head);
	return out;
}

/* What git is in the middle of, or NULL: a post-commit during a rebase is
 * one of its picks, not a commit typed by hand, and its post-checkout moves
 * to the commit it rebases onto. */
static const char *repo_state_name(git_repository *repo)
{
	switch (git_repository_state(repo)) {
	case GIT_REPOSITORY_STATE_MERGE: return "merge";
	case GIT_REPOSITORY_STATE_REVERT:
	case GIT_REPOSITORY_STATE_REVERT_SEQUENCE: return "revert";
	case GIT_REPOSITORY_STATE_CHERRYPICK:
	case GIT_REPOSITORY_STATE_CHERRYPICK_SEQUENCE: return "cherry-pick";
	case GIT_REPOSITORY_STATE_BISECT: return "bisect";
	case GIT_REPOSITORY_STATE_REBASE:
	case GIT_REPOSITORY_STATE_REBASE_INTERACTIVE:
	case GIT_REPOSITORY_STATE_REBASE_MERGE: return "rebase";
	case GIT_REPOSITORY_STATE_APPLY_MAILBOX:
	case GIT_REPOSITORY_STATE_APPLY_MAILBOX_OR_REBASE: return "am";
	default: return NULL;
	}
}

/* The changed-file list being built for one event. */
struct files {
	json_t *list;   /* [{"path","status"[,"from"]}], at most HOOK_FILES_MAX */
	size_t total;   /* changed files seen */
	size_t bytes;   /* path bytes in list */
	bool truncated; /* list holds fewer than total, or the diff was cut short */
	bool aborted;   /* the diff stopped at its budget; total is a lower bound */
	uint64_t deadline;
};

static const char *delta_status(git_delta_t s)
{
	switch (s) {
	case GIT_DELTA_ADDED: return "A";
	case GIT_DELTA_DELETED: return "D";
	case GIT_DELTA_RENAMED: return "R";
	case GIT_DELTA_COPIED: return "C";
	case GIT_DELTA_TYPECHANGE: return "T";
	default: return "M";
	}
}

static void files_add(struct files *f, const git_diff_delta *d)
{
	const char *path = d->new_file.path ? d->new_file.path : d->old_file.path;
	bool moved = d->status == GIT_DELTA_RENAMED || d->status == GIT_DELTA_COPIED;
	size_t len = strlen(path) + (moved ? strlen(d->old_file.path) : 0);

	f->total++;
	if (json_array_size(f->list) >= HOOK_FILES_MAX || f->bytes + len > HOOK_FILES_BYTES_MAX) {
		f->truncated = true;
		return;
	}
	json_t *o = json_object();
	json_object_set_new(o, "path", json_text(path, HOOK_PATH_MAX, NULL));
	json_object_set_new(o, "status", json_string(delta_status(d->status)));
	if (moved)
		json_object_set_new(o, "from", json_text(d->old_file.path, HOOK_PATH_MAX, NULL));
	json_array_append_new(f->list, o);
	f->bytes += len;
}

static void files_reset(struct files *f)
{
	json_array_clear(f->list);
	f->total = f->bytes = 0;
	f->truncated = false;
}

/* Called by libgit2 for each delta as the diff finds it: records it, so that
 * a diff stopped at its deadline still yields the files seen so far. */
static int diff_notify(const git_diff *diff, const git_diff_delta *delta, const char *matched,
		       void *payload)
{
	struct files *f = payload;

	(void)diff;
	(void)matched;
	if (f->total >= HOOK_DELTAS_MAX || clock_mono_ns() > f->deadline) {
		f->aborted = f->truncated = true;
		return -1;
	}
	files_add(f, delta);
	return 0;
}

/* Lists the files that differ between old_tree (NULL: the empty tree) and
 * new_tree, or between old_tree and the index when new_tree is NULL, into
 * data's files, files_total and files_truncated, within
 * HOOK_DIFF_BUDGET_NS. Rename detection runs when the diff is small and
 * time is left. Never fails: on error the list holds what was found. */
static void add_files(json_t *data, git_repository *repo, git_tree *old_tree, git_tree *new_tree)
{
	uint64_t t0 = clock_mono_ns();
	git_diff_options opts;
	struct files f = {.list = json_array(), .deadline = t0 + HOOK_DIFF_BUDGET_NS};
	git_diff *diff = NULL;
	git_index *index = NULL;
	int r;

	/* (The _INIT macros leave fields out, which -Wextra refuses.) */
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	/* Binary detection and submodule status would read blobs and work trees. */
	opts.flags = GIT_DIFF_SKIP_BINARY_CHECK | GIT_DIFF_IGNORE_SUBMODULES;
	opts.notify_cb = diff_notify;
	opts.payload = &f;
	if (new_tree) {
		r = git_diff_tree_to_tree(&diff, repo, old_tree, new_tree, &opts);
	} else {
		r = git_repository_index(&index, repo);
		if (r == 0)
			r = git_diff_tree_to_index(&diff, repo, old_tree, index, &opts);
	}
	if (r == 0 && !f.aborted) {
		size_t n = git_diff_num_deltas(diff);
		if (n <= HOOK_SIMILAR_MAX && clock_mono_ns() < t0 + HOOK_SIMILAR_BUDGET_NS) {
			git_diff_find_options fo;
			git_diff_find_options_init(&fo, GIT_DIFF_FIND_OPTIONS_VERSION);
			fo.flags = GIT_DIFF_FIND_RENAMES;
			if (git_diff_find_similar(diff, &fo) == 0)
				n = git_diff_num_deltas(diff);
		}
		files_reset(&f);
		for (size_t i = 0; i < n; i++)
			files_add(&f, git_diff_get_delta(diff, i));
	} else if (!f.aborted) {
		f.truncated = true; /* the diff failed: what we have may be partial */
	}
	json_object_set_new(data, "files", f.list);
	json_object_set_new(data, "files_total", json_integer((json_int_t)f.total));
	json_object_set_new(data, "files_truncated", json_boolean(f.truncated));
	git_diff_free(diff);
	git_index_free(index);
}

/* The tree of commit id, or NULL. */
static git_tree *commit_tree(git_repository *repo, const git_oid *id)
{
	git_commit *c = NULL;
	git_tree *t = NULL;

	if (git_commit_lookup(&c, repo, id) == 0)
		git_commit_tree(&t, c);
	git_commit_free(c);
	return t;
}

/* Parses a full hex object id (SHA-1); false if s is not one. */
static bool parse_oid(git_oid *id, const char *s)
{
	return strlen(s) == GIT_OID_HEXSZ && git_oid_fromstr(id, s) == 0;
}

/* post-commit: the commit HEAD now points to. */
static json_t *on_commit(git_repository *repo, const char *branch, char **subject)
{
	git_oid id;
	git_commit *c = NULL, *parent = NULL;
	git_tree *tree = NULL, *ptree = NULL;
	json_t *data = NULL;

	if (git_reference_name_to_id(&id, repo, "HEAD") || git_commit_lookup(&c, repo, &id))
		goto out;
	data = json_object();
	json_object_set_new(data, "hash", oid_json(&id));
	json_object_set_new(data, "branch",
			    branch ? json_text(branch, HOOK_TEXT_MAX, NULL) : json_null());
	const char *summary = git_commit_summary(c);
	json_object_set_new(data, "subject",
			    json_text(summary ? summary : "", HOOK_TEXT_MAX, NULL));
	const git_signature *a = git_commit_author(c);
	if (a)
		json_object_set_new(
			data, "author",
			json_pack("{s:o,s:o}", "name",
				  json_text(a->name ? a->name : "", HOOK_TEXT_MAX, NULL), "email",
				  json_text(a->email ? a->email : "", HOOK_TEXT_MAX, NULL)));
	unsigned np = git_commit_parentcount(c);
	json_object_set_new(data, "parents", json_integer(np));
	/* In a shallow clone the parent may be missing: then no file list. */
	bool have_parent = np == 0 || (git_commit_parent(&parent, c, 0) == 0 &&
				       git_commit_tree(&ptree, parent) == 0);
	if (have_parent && git_commit_tree(&tree, c) == 0)
		add_files(data, repo, ptree, tree);
	*subject = xstrdup(git_oid_tostr_s(&id));
out:
	git_tree_free(tree);
	git_tree_free(ptree);
	git_commit_free(parent);
	git_commit_free(c);
	return data;
}

/* post-checkout PREV NEW FLAG: FLAG is 1 for a branch checkout, 0 when
 * files were checked out of the index or a commit. PREV is the null id for
 * the first checkout (clone, worktree add): then no files are listed. */
static json_t *on_checkout(git_repository *repo, int argc, char **argv, const char *branch,
			   char **subject)
{
	git_oid from, to;
	json_t *data;

	if (argc < 4 || !parse_oid(&from, argv[1]) || !parse_oid(&to, argv[2]))
		return NULL;
	bool branch_checkout = strcmp(argv[3], "1") == 0;
	data = json_object();
	json_object_set_new(data, "from", oid_json(&from));
	json_object_set_new(data, "to", oid_json(&to));
	json_object_set_new(data, "branch",
			    branch ? json_text(branch, HOOK_TEXT_MAX, NULL) : json_null());
	json_object_set_new(data, "branch_checkout", json_boolean(branch_checkout));
	if (git_oid_is_zero(&from)) {
		json_object_set_new(data, "initial", json_true());
	} else if (branch_checkout) {
		git_tree *a = commit_tree(repo, &from), *b = commit_tree(repo, &to);
		if (a && b)
			add_files(data, repo, a, b);
		git_tree_free(a);
		git_tree_free(b);
	}
	*subject = xstrdup(argv[2]);
	return data;
}

/* post-merge SQUASH: HEAD is the merge result (unchanged for a squash,
 * whose changes are staged in the index); ORIG_HEAD is where it was. */
static json_t *on_merge(git_repository *repo, int argc, char **argv, const char *branch,
			char **subject)
{
	git_oid head, orig;
	bool squash = argc >= 2 && strcmp(argv[1], "1") == 0;
	json_t *data;

	if (git_reference_name_to_id(&head, repo, "HEAD"))
		return NULL;
	bool have_orig = git_reference_name_to_id(&orig, repo, "ORIG_HEAD") == 0;
	data = json_object();
	json_object_set_new(data, "squash", json_boolean(squash));
	json_object_set_new(data, "head", oid_json(&head));
	json_object_set_new(data, "branch",
			    branch ? json_text(branch, HOOK_TEXT_MAX, NULL) : json_null());
	if (have_orig) {
		json_object_set_new(data, "orig_head", oid_json(&orig));
		/* Fast-forward: HEAD moved to a descendant without a merge commit
		 * of its own (one whose first parent is where we were). */
		bool ff = false;
		git_commit *c = NULL;
		if (!squash && !git_oid_equal(&head, &orig) &&
		    git_graph_descendant_of(repo, &head, &orig) == 1 &&
		    git_commit_lookup(&c, repo, &head) == 0)
			ff = !(git_commit_parentcount(c) > 1 &&
			       git_oid_equal(git_commit_parent_id(c, 0), &orig));
		git_commit_free(c);
		json_object_set_new(data, "fast_forward", json_boolean(ff));
		git_commit *hc = NULL;
		if (git_commit_lookup(&hc, repo, &head) == 0)
			json_object_set_new(data, "parents",
					    json_integer(git_commit_parentcount(hc)));
		git_commit_free(hc);
		git_tree *a = commit_tree(repo, &orig);
		git_tree *b = squash ? NULL : commit_tree(repo, &head);
		if (a && (squash || b))
			add_files(data, repo, a, b);
		git_tree_free(a);
		git_tree_free(b);
	}
	*subject = xstrdup(git_oid_tostr_s(&head));
	return data;
}

/* Adds one "<old> <new> [<extra>]" line of post-rewrite's input. */
static void rewrite_line(json_t *list, size_t *total, bool *truncated, char *line)
{
	char *sp = strchr(line, ' ');
	git_oid a, b;

	if (!sp)
		return;
	*sp = '\0';
	char *second = sp + 1, *end = strchr(second, ' ');
	if (end)
		*end = '\0';
	if (!parse_oid(&a, line) || !parse_oid(&b, second))
		return;
	++*total;
	if (json_array_size(list) >= HOOK_REWRITES_MAX) {
		*truncated = true;
		return;
	}
	json_array_append_new(list,
			      json_pack("{s:o,s:o}", "old", oid_json(&a), "new", oid_json(&b)));
}

/* Reads post-rewrite's input from stdin, within HOOK_STDIN_MAX bytes and the
 * time budget, into data's rewritten, rewritten_total and
 * rewritten_truncated. */
static void read_rewrites(json_t *data)
{
	json_t *list = json_array();
	size_t total = 0, have = 0, seen = 0;
	bool truncated = false;
	uint64_t deadline = clock_mono_ns() + HOOK_STDIN_BUDGET_NS;
	static char buf[64 * 1024];

	if (isatty(STDIN_FILENO))
		goto out;
	for (;;) {
		uint64_t now = clock_mono_ns();
		if (now >= deadline) {
			truncated = true;
			break;
		}
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		int r = poll(&p, 1, (int)((deadline - now + 999999) / 1000000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			truncated = r == 0;
			break;
		}
		ssize_t n = read(STDIN_FILENO, buf + have, sizeof buf - 1 - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			if (have) {
				buf[have] = '\0';
				rewrite_line(list, &total, &truncated, buf);
			}
			break;
		}
		have += (size_t)n;
		seen += (size_t)n;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', (size_t)(buf + have - start)))) {
			*nl = '\0';
			rewrite_line(list, &total, &truncated, start);
			start = nl + 1;
		}
		have = (size_t)(buf + have - start);
		if (have == sizeof buf - 1) {
			have = 0; /* no line is that long: not post-rewrite's input */
			truncated = true;
		}
		memmove(buf, start, have);
		if (seen >= HOOK_STDIN_MAX) {
			truncated = true;
			break;
		}
	}
out:
	json_object_set_new(data, "rewritten", list);
	json_object_set_new(data, "rewritten_total", json_integer((json_int_t)total));
	json_object_set_new(data, "rewritten_truncated", json_boolean(truncated));
}

/* post-rewrite amend|rebase, with "<old> <new>" lines on stdin. */
static json_t *on_rewrite(git_repository *repo, int argc, char **argv, const char *branch,
			  char **subject)
{
	git_oid head;
	json_t *data = json_object();
	bool have_head = git_reference_name_to_id(&head, repo, "HEAD") == 0;

	json_object_set_new(data, "command",
			    json_text(argc >= 2 ? argv[1] : "", HOOK_TEXT_MAX, NULL));
	json_object_set_new(data, "head", have_head ? oid_json(&head) : json_null());
	json_object_set_new(data, "branch",
			    branch ? json_text(branch, HOOK_TEXT_MAX, NULL) : json_null());
	read_rewrites(data);
	if (have_head)
		*subject = xstrdup(git_oid_tostr_s(&head));
	return data;
}

static void hook_watchdog(int sig)
{
	(void)sig;
	_exit(EXIT_OK);
}

/* Opens the repository the hook runs for. git sets GIT_DIR for hooks in
 * linked worktrees (and when the user set it); otherwise hooks run at the
 * top of the work tree. */
static int open_repo(git_repository **repo)
{
	const char *gd = getenv("GIT_DIR");

	if (gd && *gd)
		return git_repository_open_ext(repo, gd, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	return git_repository_open_ext(repo, ".", 0, NULL);
}

/* The project: the work tree's top level without the trailing slash, or
 * NULL for a bare repository or a path the envelope cannot carry. */
static json_t *project_of(git_repository *repo)
{
	const char *wd = git_repository_workdir(repo);
	char cwd[PATH_MAX];
	bool changed = false;

	if (!wd) {
		if (git_repository_is_bare(repo) || !getcwd(cwd, sizeof cwd))
			return NULL;
		wd = cwd;
	}
	size_t n = strlen(wd);
	while (n > 1 && wd[n - 1] == '/')
		n--;
	if (wd[0] != '/' || n > HOOK_PATH_MAX)
		return NULL;
	char *p = xstrndup(wd, n);
	json_t *v = json_text(p, HOOK_PATH_MAX, &changed);
	free(p);
	if (changed) {
		json_decref(v);
		return NULL;
	}
	return v;
}

const struct cli_cmd cli_hook_git = {
	"hook git", "HOOK [ARGS...]",
	"Run by the git hooks of 'cairn hooks install', with the hook's name and git's\n"
	"arguments and input: post-commit, post-checkout, post-merge and post-rewrite log\n"
	"one git.commit, git.checkout, git.merge or git.rewrite event (spooled when no daemon\n"
	"runs); any other HOOK does nothing. Never prints and always exits 0. No options.\n",
	hook_git, false};

int hook_git(int argc, char **argv, const struct config *cfg)
{
	git_repository *repo = NULL;
	char *branch = NULL, *subject = NULL;
	json_t *data = NULL;
	const char *type;

	/* argv[0] is "git", argv[1] the hook's name, then git's arguments. */
	if (argc < 2)
		return EXIT_OK;
	const char *hook = argv[1];
	argc--;
	argv++;
	if (strcmp(hook, "post-commit") == 0)
		type = "git.commit";
	else if (strcmp(hook, "post-checkout") == 0)
		type = "git.checkout";
	else if (strcmp(hook, "post-merge") == 0)
		type = "git.merge";
	else if (strcmp(hook, "post-rewrite") == 0)
		type = "git.rewrite";
	else
		return EXIT_OK;

	/* libgit2 is loaded here, not at exec (common/gitdl.h). Without it there
	 * is no event: that is said, as a lost event is (cli/publish.h). */
	struct cairn_err e;
	if (gitdl_load(&e) < 0) {
		fprintf(stderr, "cairn hook git: %s; the %s event is lost\n", e.msg, type);
		return EXIT_OK;
	}
	/* A last resort: if anything blocks (connect() waits when a stopped
	 * daemon's listen queue is full), git must not wait with it. */
	signal(SIGALRM, hook_watchdog);
	alarm(HOOK_WATCHDOG_S);
	git_libgit2_init();
	/* git has already run these hooks in this repository, so whoever owns
	 * it is trusted here as git trusted it. */
	git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
	if (open_repo(&repo) < 0)
		goto out;
	branch = head_branch(repo);
	if (strcmp(hook, "post-commit") == 0)
		data = on_commit(repo, branch, &subject);
	else if (strcmp(hook, "post-checkout") == 0)
		data = on_checkout(repo, argc, argv, branch, &subject);
	else if (strcmp(hook, "post-merge") == 0)
		data = on_merge(repo, argc, argv, branch, &subject);
	else
		data = on_rewrite(repo, argc, argv, branch, &subject);
	if (!data)
		goto out;
	/* (post-rewrite runs before git removes the rebase's state; its
	 * "command" says it all.) */
	const char *state = strcmp(hook, "post-rewrite") ? repo_state_name(repo) : NULL;
	if (state)
		json_object_set_new(data, "in_progress", json_string(state));

	json_t *ev = json_object();
	json_object_set_new(ev, "type", json_string(type));
	json_object_set_new(ev, "source", json_string(HOOK_SOURCE));
	if (branch)
		json_object_set_new(ev, "subject", json_text(branch, 4096, NULL));
	else if (subject)
		json_object_set_new(ev, "subject", json_string(subject));
	json_t *project = project_of(repo);
	if (project)
		json_object_set_new(ev, "project", project);
	json_object_set_new(ev, "data", data);
	data = NULL;
	/* Quiet and without waiting for an ack: a failure here is not git's. */
	cli_publish(cfg, ev, PUBLISH_NONE, true, 20, NULL, NULL);
out:
	json_decref(data);
	free(subject);
	free(branch);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return EXIT_OK;
}
