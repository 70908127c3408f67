/* inotify-based project watcher with snapshot diffing (see fswatch.h). */
#include "sources/fswatch.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MASK                                                                            \
	(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | \
	 IN_ATTRIB | IN_DELETE_SELF | IN_ONLYDIR)
#define GIT_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR)
#define MAX_RENAMES 4096

/* What the snapshot knows about one path. */
struct entry {
	uint64_t ino;
	int64_t size;
	int64_t mtime_ns;
	bool dir;
};

struct rename {
	uint32_t cookie;
	char *from, *to; /* to is NULL until IN_MOVED_TO arrives */
};

struct project {
	struct project *next;
	struct fswatch *fw;
	char *root;
	git_repository *repo; /* NULL outside a git work tree */
	struct strmap snap;    /* rel path -> struct entry */
	struct strmap pending; /* rel path -> (void *)1 */
	struct strmap unwatched; /* rel dir -> (void *)1: watch limit hit */
	struct rename renames[MAX_RENAMES];
	size_t n_renames;
	uv_timer_t settle;
	uint64_t first_pending_ns;
	int git_wd;
	bool git_busy;
	uint64_t git_busy_since_ns;
	bool held_by_git; /* pending changes accumulated during a git operation */
	bool limit_warned;
	size_t n_dirs;
	bool closing;
};

struct dirwatch {
	struct project *p;
	char *rel; /* "" for the root */
};

struct fswatch {
	uv_loop_t *loop;
	struct fswatch_config cfg;
	fswatch_emit_fn emit;
	void *ctx;
	int fd;
	uv_poll_t poll;
	uv_timer_t retry;
	bool retry_on;
	struct strmap wds; /* "%d" -> struct dirwatch */
	struct project *projects;
	bool overflow;
};

static void entry_free(void *e)
{
	free(e);
}

static char *join(const char *a, const char *b)
{
	return *a ? xasprintf("%s/%s", a, b) : xstrdup(b);
}

static bool is_ignored(struct project *p, const char *rel, bool dir)
{
	if (strcmp(rel, ".git") == 0 || strncmp(rel, ".git/", 5) == 0)
		return true;
	if (!p->repo || !*rel)
		return false;
	int ign = 0;
	char buf[PATH_MAX + 2];
	/* A trailing slash lets rules like "build/" match the directory itself. */
	snprintf(buf, sizeof buf, "%s%s", rel, dir ? "/" : "");
	if (git_ignore_path_is_ignored(&ign, p->repo, buf) < 0)
		return false;
	return ign != 0;
}

static void emit(struct project *p, const char *type, const char *subject, json_t *data,
		 const char *severity)
{
	json_t *ev = json_pack("{s:s,s:s,s:s,s:o}", "type", type, "source", "cairn/fswatch",
			       "project", p->root, "data", data);
	if (subject)
		json_object_set_new(ev, "subject", json_string(subject));
	if (severity)
		json_object_set_new(ev, "severity", json_string(severity));
	p->fw->emit(p->fw->ctx, ev);
}

static void on_settle(uv_timer_t *t);

static void mark_pending(struct project *p, const char *rel)
{
	if (!strmap_get(&p->pending, rel)) {
		if (strmap_len(&p->pending) == 0)
			p->first_pending_ns = clock_mono_ns();
		strmap_put(&p->pending, rel, (void *)1);
	}
}

/* (Re)starts the quiet-period timer, bounded by max_delay_ms. */
static void arm_settle(struct project *p)
{
	if (p->closing)
		return;
	uint64_t waited = (clock_mono_ns() - p->first_pending_ns) / 1000000;
	uint64_t delay = p->fw->cfg.settle_ms;
	if (waited >= p->fw->cfg.max_delay_ms)
		delay = 0;
	else if (waited + delay > p->fw->cfg.max_delay_ms)
		delay = p->fw->cfg.max_delay_ms - waited;
	uv_timer_start(&p->settle, on_settle, delay, 0);
}

static void add_watch(struct project *p, const char *rel)
{
	struct fswatch *fw = p->fw;
	char *abs = join(p->root, rel);
	int wd;
	if (fw->cfg.max_dirs && strmap_len(&fw->wds) >= fw->cfg.max_dirs) {
		wd = -1;
		errno = ENOSPC;
	} else {
		wd = inotify_add_watch(fw->fd, *rel ? abs : p->root, DIR_MASK);
	}
	free(abs);
	if (wd < 0) {
		if (errno == ENOSPC)
			strmap_put(&p->unwatched, rel, (void *)1); /* see on_retry() */
		return;
	}
	char key[16];
	snprintf(key, sizeof key, "%d", wd);
	struct dirwatch *dw = strmap_get(&fw->wds, key);
	if (dw && dw->p == p && strcmp(dw->rel, rel) == 0)
		return; /* already watched (a rescan) */
	if (dw) {
		/* The kernel reuses a wd for the same inode: a moved directory. */
		free(dw->rel);
		dw->rel = xstrdup(rel);
		dw->p = p;
		return;
	}
	dw = xcalloc(1, sizeof *dw);
	dw->p = p;
	dw->rel = xstrdup(rel);
	strmap_put(&fw->wds, key, dw);
	p->n_dirs++;
}

static bool stat_entry(struct project *p, const char *rel, struct entry *e)
{
	char *abs = join(p->root, rel);
	struct stat sb;
	int r = lstat(*rel ? abs : p->root, &sb);
	free(abs);
	if (r < 0)
		return false;
	e->ino = (uint64_t)sb.st_ino;
	e->size = (int64_t)sb.st_size;
	e->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	e->dir = S_ISDIR(sb.st_mode);
	return true;
}

enum scan_mode { SCAN_SNAPSHOT, SCAN_PENDING };

/* Walks the tree under rel (iteratively), adding a watch to every directory.
 * SCAN_SNAPSHOT records what it finds as the snapshot (no events);
 * SCAN_PENDING marks every path found as pending, so the next flush reports
 * what differs from the snapshot. */
static void scan_tree(struct project *p, const char *rel0, enum scan_mode mode, size_t *n_files)
{
	size_t cap = 64, n = 0;
	char **stack = xcalloc(cap, sizeof *stack);
	stack[n++] = xstrdup(rel0);
	while (n > 0) {
		char *rel = stack[--n];
		add_watch(p, rel);
		char *abs = join(p->root, rel);
		DIR *d = opendir(*rel ? abs : p->root);
		free(abs);
		if (!d) {
			free(rel);
			continue;
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			char *child = join(rel, de->d_name);
			struct entry e;
			if (!stat_entry(p, child, &e) || is_ignored(p, child, e.dir)) {
				free(child);
				continue;
			}
			if (mode == SCAN_SNAPSHOT) {
				struct entry *x = xmalloc(sizeof *x);
				*x = e;
				free(strmap_put(&p->snap, child, x));
			} else {
				mark_pending(p, child);
			}
			if (n_files && !e.dir)
				(*n_files)++;
			if (e.dir) {
				if (n == cap) {
					cap *= 2;
					stack = xreallocarray(stack, cap, sizeof *stack);
				}
				stack[n++] = child;
			} else {
				free(child);
			}
		}
		closedir(d);
		free(rel);
	}
	free(stack);
}

/* Marks every snapshot path at or under rel as pending. */
static void mark_subtree(struct project *p, const char *rel)
{
	size_t len = strlen(rel), it = 0;
	const char *k;
	void *v;
	while (strmap_next(&p->snap, &it, &k, &v))
		if (len == 0 || (strncmp(k, rel, len) == 0 && (k[len] == '\0' || k[len] == '/')))
			mark_pending(p, k);
}

static json_t *file_data(const char *rel, const struct entry *e)
{
	json_t *d = json_pack("{s:s}", "path", rel);
	if (e)
		json_object_set_new(d, "size", json_integer(e->size));
	return d;
}

struct flush_counts {
	size_t created, changed, deleted, renamed;
};

/* Compares every pending path with the snapshot and emits the differences. */
static void flush_project(struct project *p, struct flush_counts *fc)
{
	/* Renames first: a known path that vanished and reappeared elsewhere as
	 * the same inode. */
	for (size_t i = 0; i < p->n_renames; i++) {
		struct rename *rn = &p->renames[i];
		if (rn->to) {
			struct entry *old = strmap_get(&p->snap, rn->from);
			struct entry now_from, now_to;
			if (old && !old->dir && !stat_entry(p, rn->from, &now_from) &&
			    stat_entry(p, rn->to, &now_to) && now_to.ino == old->ino &&
			    !strmap_get(&p->snap, rn->to) && !is_ignored(p, rn->to, false)) {
				free(strmap_del(&p->snap, rn->from));
				struct entry *x = xmalloc(sizeof *x);
				*x = now_to;
				strmap_put(&p->snap, rn->to, x);
				strmap_del(&p->pending, rn->from);
				strmap_del(&p->pending, rn->to);
				json_t *d = file_data(rn->to, &now_to);
				json_object_set_new(d, "from", json_string(rn->from));
				emit(p, "file.renamed", rn->to, d, NULL);
				fc->renamed++;
			}
		}
		free(rn->from);
		free(rn->to);
	}
	p->n_renames = 0;

	/* Take the pending set, then compare each path. */
	struct strmap todo = p->pending;
	strmap_init(&p->pending);
	size_t it = 0;
	const char *rel;
	void *unused;
	while (strmap_next(&todo, &it, &rel, &unused)) {
		struct entry now;
		bool exists = stat_entry(p, rel, &now);
		if (exists && is_ignored(p, rel, now.dir))
			exists = false;
		struct entry *old = strmap_get(&p->snap, rel);
		if (!old && !exists)
			continue;
		if (old && !exists) {
			bool was_dir = old->dir;
			free(strmap_del(&p->snap, rel));
			if (!was_dir) {
				emit(p, "file.deleted", rel, file_data(rel, NULL), NULL);
				fc->deleted++;
			}
			continue;
		}
		if (!old) {
			struct entry *x = xmalloc(sizeof *x);
			*x = now;
			strmap_put(&p->snap, rel, x);
			if (!now.dir) {
				emit(p, "file.created", rel, file_data(rel, &now), NULL);
				fc->created++;
			}
			continue;
		}
		bool differs = old->ino != now.ino || old->size != now.size ||
			       old->mtime_ns != now.mtime_ns || old->dir != now.dir;
		*old = now;
		if (differs && !now.dir) {
			emit(p, "file.changed", rel, file_data(rel, &now), NULL);
			fc->changed++;
		}
	}
	strmap_release(&todo, NULL);
}

static void collect_event(void *ctx, json_t *ev)
{
	json_array_append_new(ctx, ev);
}

static void flush_now(struct project *p)
{
	if (p->git_busy)
		return; /* resumed when index.lock goes away */
	uv_timer_stop(&p->settle);
	if (p->held_by_git) {
		/* Collect the per-file events first, so that the summary (which
		 * needs their counts) can go out before them. */
		struct fswatch *fw = p->fw;
		fswatch_emit_fn real = fw->emit;
		void *real_ctx = fw->ctx;
		json_t *held = json_array();
		fw->emit = collect_event;
		fw->ctx = held;
		struct flush_counts fc = {0};
		flush_project(p, &fc);
		fw->emit = real;
		fw->ctx = real_ctx;
		emit(p, "fs.batch", NULL,
		     json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "reason", "git", "created",
			       (json_int_t)fc.created, "changed", (json_int_t)fc.changed, "deleted",
			       (json_int_t)fc.deleted, "renamed", (json_int_t)fc.renamed, "held_ms",
			       (json_int_t)((clock_mono_ns() - p->git_busy_since_ns) / 1000000)),
		     NULL);
		size_t i;
		json_t *ev;
		json_array_foreach(held, i, ev) real(real_ctx, json_incref(ev));
		json_decref(held);
		p->held_by_git = false;
		return;
	}
	struct flush_counts fc = {0};
	flush_project(p, &fc);
}

static void on_settle(uv_timer_t *t)
{
	flush_now(t->data);
}

static void warn_limit(struct project *p)
{
	if (p->limit_warned || strmap_len(&p->unwatched) == 0)
		return;
	p->limit_warned = true;
	long limit = -1;
	FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "r");
	if (f) {
		if (fscanf(f, "%ld", &limit) != 1)
			limit = -1;
		fclose(f);
	}
	log_warn("fswatch: the kernel's inotify watch limit (%ld) is reached; %zu directories "
		 "of %s are scanned every %llu ms instead",
		 limit, strmap_len(&p->unwatched), p->root,
		 (unsigned long long)p->fw->cfg.retry_ms);
	emit(p, "fs.watch_limit", NULL,
	     json_pack("{s:I,s:I,s:I,s:s}", "max_user_watches", (json_int_t)limit,
		       "unwatched_dirs", (json_int_t)strmap_len(&p->unwatched), "rescan_ms",
		       (json_int_t)p->fw->cfg.retry_ms, "fix",
		       "raise the limit: sudo sysctl fs.inotify.max_user_watches=524288 (add it "
		       "to /etc/sysctl.d/ to keep it after a reboot)"),
	     "warning");
}

static void on_retry(uv_timer_t *t);

static void update_retry_timer(struct fswatch *fw)
{
	bool need = false;
	for (struct project *p = fw->projects; p; p = p->next)
		if (strmap_len(&p->unwatched))
			need = true;
	if (need && !fw->retry_on) {
		uv_timer_start(&fw->retry, on_retry, fw->cfg.retry_ms, fw->cfg.retry_ms);
		fw->retry_on = true;
	} else if (!need && fw->retry_on) {
		uv_timer_stop(&fw->retry);
		fw->retry_on = false;
	}
}

/* Scans the directories left unwatched: tries to watch them again, and
 * marks their direct entries pending so real changes are found. */
static void on_retry(uv_timer_t *t)
{
	struct fswatch *fw = t->data;
	for (struct project *p = fw->projects; p; p = p->next) {
		if (!strmap_len(&p->unwatched))
			continue;
		struct strmap dirs = p->unwatched;
		strmap_init(&p->unwatched);
		size_t it = 0;
		const char *rel;
		void *unused;
		while (strmap_next(&dirs, &it, &rel, &unused)) {
			add_watch(p, rel); /* may land in p->unwatched again */
			char *abs = join(p->root, rel);
			DIR *d = opendir(*rel ? abs : p->root);
			free(abs);
			mark_subtree(p, rel);
			if (!d)
				continue;
			struct dirent *de;
			while ((de = readdir(d))) {
				if (de->d_name[0] == '.' &&
				    (de->d_name[1] == '\0' ||
				     (de->d_name[1] == '.' && de->d_name[2] == '\0')))
					continue;
				char *child = join(rel, de->d_name);
				mark_pending(p, child);
				struct entry e;
				/* A new subdirectory here is walked (and watched) whole. */
				if (stat_entry(p, child, &e) && e.dir && !strmap_get(&p->snap, child) &&
				    !is_ignored(p, child, true))
					scan_tree(p, child, SCAN_PENDING, NULL);
				free(child);
			}
			closedir(d);
		}
		strmap_release(&dirs, NULL);
		if (strmap_len(&p->unwatched) == 0 && p->limit_warned) {
			log_info("fswatch: every directory of %s is watched again", p->root);
			p->limit_warned = false;
		}
		if (strmap_len(&p->pending))
			flush_now(p);
	}
	update_retry_timer(fw);
}

static void handle_overflow(struct fswatch *fw)
{
	for (struct project *p = fw->projects; p; p = p->next) {
		uint64_t t0 = clock_mono_ns();
		size_t files = 0;
		/* Everything known and everything there now: the flush keeps only
		 * real differences. */
		mark_subtree(p, "");
		scan_tree(p, "", SCAN_PENDING, &files);
		struct flush_counts fc = {0};
		bool held = p->git_busy;
		p->git_busy = false;
		flush_project(p, &fc);
		p->git_busy = held;
		emit(p, "fs.overflow", NULL,
		     json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "files_scanned", (json_int_t)files,
			       "created", (json_int_t)fc.created, "changed", (json_int_t)fc.changed,
			       "deleted", (json_int_t)fc.deleted, "renamed", (json_int_t)fc.renamed,
			       "rescan_ms", (json_int_t)((clock_mono_ns() - t0) / 1000000)),
		     "warning");
		warn_limit(p);
	}
	update_retry_timer(fw);
}

static void handle_event(struct fswatch *fw, const struct inotify_event *ie)
{
	char key[16];
	snprintf(key, sizeof key, "%d", ie->wd);
	struct dirwatch *dw = strmap_get(&fw->wds, key);
	if (!dw)
		return;
	struct project *p = dw->p;
	if (ie->mask & IN_IGNORED) {
		/* The directory is gone (or was unwatched): forget its wd. */
		strmap_del(&fw->wds, key);
		if (p->git_wd == ie->wd)
			p->git_wd = -1;
		else if (p->n_dirs)
			p->n_dirs--;
		free(dw->rel);
		free(dw);
		return;
	}
	if (ie->wd == p->git_wd) {
		if (ie->len && strcmp(ie->name, "index.lock") == 0) {
			if (ie->mask & (IN_CREATE | IN_MOVED_TO)) {
				if (!p->git_busy)
					p->git_busy_since_ns = clock_mono_ns();
				p->git_busy = true;
				p->held_by_git = true;
			} else if (ie->mask & (IN_DELETE | IN_MOVED_FROM)) {
				p->git_busy = false;
				if (strmap_len(&p->pending) || p->n_renames) {
					arm_settle(p);
				} else {
					p->held_by_git = false;
				}
			}
		}
		return;
	}
	if (!ie->len)
		return; /* an event on the directory itself (IN_DELETE_SELF) */
	char *rel = join(dw->rel, ie->name);
	bool dir = (ie->mask & IN_ISDIR) != 0;
	if (is_ignored(p, rel, dir)) {
		free(rel);
		return;
	}
	mark_pending(p, rel);
	if (dir && (ie->mask & (IN_CREATE | IN_MOVED_TO))) {
		/* Watch it now, and pick up whatever was created inside it before
		 * the watch existed. */
		scan_tree(p, rel, SCAN_PENDING, NULL);
	}
	if (dir && (ie->mask & (IN_DELETE | IN_MOVED_FROM)))
		mark_subtree(p, rel);
	if ((ie->mask & IN_MOVED_FROM) && p->n_renames < MAX_RENAMES) {
		p->renames[p->n_renames++] = (struct rename){.cookie = ie->cookie, .from = xstrdup(rel)};
	} else if (ie->mask & IN_MOVED_TO) {
		for (size_t i = 0; i < p->n_renames; i++)
			if (p->renames[i].cookie == ie->cookie && !p->renames[i].to) {
				p->renames[i].to = xstrdup(rel);
				break;
			}
	}
	free(rel);
	arm_settle(p);
}

static void on_inotify(uv_poll_t *h, int status, int events)
{
	struct fswatch *fw = h->data;
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(fw->fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (char *q = buf; q < buf + n;) {
			const struct inotify_event *ie = (const struct inotify_event *)q;
			if (ie->mask & IN_Q_OVERFLOW)
				fw->overflow = true;
			else
				handle_event(fw, ie);
			q += sizeof *ie + ie->len;
		}
	}
	if (fw->overflow) {
		fw->overflow = false;
		log_warn("fswatch: the kernel's inotify queue overflowed; rescanning");
		handle_overflow(fw);
	}
}

struct fswatch *fswatch_new(uv_loop_t *loop, const struct fswatch_config *cfg,
			    fswatch_emit_fn emit_fn, void *ctx, int *err)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	struct fswatch *fw = xcalloc(1, sizeof *fw);
	fw->loop = loop;
	fw->cfg = *cfg;
	if (!fw->cfg.settle_ms)
		fw->cfg.settle_ms = 50;
	if (fw->cfg.max_delay_ms < fw->cfg.settle_ms)
		fw->cfg.max_delay_ms = 20 * fw->cfg.settle_ms;
	if (!fw->cfg.retry_ms)
		fw->cfg.retry_ms = 2000;
	fw->emit = emit_fn;
	fw->ctx = ctx;
	fw->fd = fd;
	strmap_init(&fw->wds);
	uv_poll_init(loop, &fw->poll, fd);
	fw->poll.data = fw;
	uv_poll_start(&fw->poll, UV_READABLE, on_inotify);
	uv_timer_init(loop, &fw->retry);
	fw->retry.data = fw;
	git_libgit2_init();
	return fw;
}

static void project_closed(uv_handle_t *h)
{
	struct project *p = h->data;
	strmap_release(&p->snap, entry_free);
	strmap_release(&p->pending, NULL);
	strmap_release(&p->unwatched, NULL);
	for (size_t i = 0; i < p->n_renames; i++) {
		free(p->renames[i].from);
		free(p->renames[i].to);
	}
	if (p->repo)
		git_repository_free(p->repo);
	free(p->root);
	free(p);
}

int fswatch_add(struct fswatch *fw, const char *root, char *errbuf, size_t errlen)
{
	for (struct project *p = fw->projects; p; p = p->next)
		if (strcmp(p->root, root) == 0)
			return -EEXIST;
	struct stat sb;
	if (root[0] != '/' || stat(root, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(errbuf, errlen, "'%s' is not an existing directory given as an absolute path",
			 root);
		return CAIRN_E_INVALID;
	}
	struct project *p = xcalloc(1, sizeof *p);
	p->fw = fw;
	p->root = xstrdup(root);
	p->git_wd = -1;
	strmap_init(&p->snap);
	strmap_init(&p->pending);
	strmap_init(&p->unwatched);
	uv_timer_init(fw->loop, &p->settle);
	p->settle.data = p;
	if (git_repository_open_ext(&p->repo, root, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
		p->repo = NULL;
	if (p->repo) {
		char *gitdir = xasprintf("%s/.git", root);
		if (stat(gitdir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			p->git_wd = inotify_add_watch(fw->fd, gitdir, GIT_MASK);
			if (p->git_wd >= 0) {
				char key[16];
				snprintf(key, sizeof key, "%d", p->git_wd);
				struct dirwatch *dw = xcalloc(1, sizeof *dw);
				dw->p = p;
				dw->rel = xstrdup(".git");
				strmap_put(&fw->wds, key, dw);
			}
		}
		free(gitdir);
	}
	p->next = fw->projects;
	fw->projects = p;
	scan_tree(p, "", SCAN_SNAPSHOT, NULL);
	warn_limit(p);
	update_retry_timer(fw);
	return 0;
}

int fswatch_remove(struct fswatch *fw, const char *root)
{
	for (struct project **pp = &fw->projects; *pp; pp = &(*pp)->next) {
		struct project *p = *pp;
		if (strcmp(p->root, root))
			continue;
		*pp = p->next;
		p->closing = true;
		size_t it = 0;
		const char *k;
		void *v;
		/* Drop this project's watches (collect first: deleting while
		 * iterating would skip slots). */
		size_t n = 0, cap = 16;
		char **keys = xcalloc(cap, sizeof *keys);
		while (strmap_next(&fw->wds, &it, &k, &v)) {
			struct dirwatch *dw = v;
			if (dw->p != p)
				continue;
			if (n == cap) {
				cap *= 2;
				keys = xreallocarray(keys, cap, sizeof *keys);
			}
			keys[n++] = xstrdup(k);
		}
		for (size_t i = 0; i < n; i++) {
			struct dirwatch *dw = strmap_del(&fw->wds, keys[i]);
			inotify_rm_watch(fw->fd, atoi(keys[i]));
			free(dw->rel);
			free(dw);
			free(keys[i]);
		}
		free(keys);
		uv_close((uv_handle_t *)&p->settle, project_closed);
		update_retry_timer(fw);
		return 0;
	}
	return CAIRN_E_NOTFOUND;
}

json_t *fswatch_list(const struct fswatch *fw)
{
	json_t *a = json_array();
	for (const struct project *p = fw->projects; p; p = p->next) {
		size_t files = 0, it = 0;
		const char *k;
		void *v;
		while (strmap_next(&p->snap, &it, &k, &v))
			files += !((struct entry *)v)->dir;
		json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:I,s:b}", "path", p->root, "dirs",
						   (json_int_t)p->n_dirs, "files", (json_int_t)files,
						   "unwatched_dirs",
						   (json_int_t)strmap_len(&p->unwatched), "git",
						   p->repo != NULL));
	}
	return a;
}

void fswatch_flush(struct fswatch *fw)
{
	for (struct project *p = fw->projects; p; p = p->next) {
		p->git_busy = false;
		if (strmap_len(&p->pending) || p->n_renames)
			flush_now(p);
	}
}

static void fw_closed(uv_handle_t *h)
{
	struct fswatch *fw = h->data;
	size_t it = 0;
	const char *k;
	void *v;
	while (strmap_next(&fw->wds, &it, &k, &v)) {
		struct dirwatch *dw = v;
		free(dw->rel);
		free(dw);
	}
	strmap_release(&fw->wds, NULL);
	close(fw->fd);
	git_libgit2_shutdown();
	free(fw);
}

static void retry_closed(uv_handle_t *h)
{
	struct fswatch *fw = h->data;
	uv_close((uv_handle_t *)&fw->poll, fw_closed);
}

void fswatch_free(struct fswatch *fw)
{
	if (!fw)
		return;
	while (fw->projects) {
		struct project *p = fw->projects;
		fw->projects = p->next;
		p->closing = true;
		uv_close((uv_handle_t *)&p->settle, project_closed);
	}
	uv_poll_stop(&fw->poll);
	uv_close((uv_handle_t *)&fw->retry, retry_closed);
}
