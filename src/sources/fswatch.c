/* inotify-based project watcher with snapshot diffing (see fswatch.h). */
#include "sources/fswatch.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/gitdl.h"
#include "common/log.h"
#include "common/strmap.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MASK                                                                                   \
	(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |        \
	 IN_ATTRIB | IN_DELETE_SELF | IN_ONLYDIR)
#define GIT_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR)
#define MAX_RENAMES 4096
/* Directories over the watch limit are rescanned every retry_ms, on the loop;
 * beyond this many per project they are not looked at at all (skipped). */
#define MAX_UNWATCHED 1000
/* How long one slice of a tree walk (or a flush) may hold the loop. */
#define WALK_SLICE_NS (5 * 1000000ull)
/* fswatch_add() walks at least this many directories before it returns
 * (unless that takes over FIRST_WALK_MAX_NS): a small project is watched
 * whole when `watch add` answers, however slow the first ignore check. */
#define FIRST_WALK_MIN_DIRS 256
#define FIRST_WALK_MAX_NS (1000 * 1000000ull)

/* Regular files up to this size get a content hash, so a change of times
 * alone (`touch`, a build that rewrites a file with the same bytes, an
 * editor saving an unmodified buffer) is not reported as a change. Larger
 * files are compared by size and times only. */
#define HASH_MAX_BYTES (4 << 20)

/* What the snapshot knows about one path. */
struct entry {
	uint64_t dev, ino;
	int64_t size;
	int64_t mtime_ns;
	uint64_t hash; /* FNV-1a of the content, when hashed */
	bool dir;
	bool reg;
	bool hashed;
};

struct rename {
	uint32_t cookie;
	char *from, *to; /* to is NULL until IN_MOVED_TO arrives */
};

struct flush_counts {
	size_t created, changed, deleted, renamed;
	size_t touched; /* times changed, content not: no event */
};

/* A directory still to be read by a walk. */
struct walk_item {
	char *rel;
	bool pending; /* SCAN_PENDING (else SCAN_SNAPSHOT): see walk_run() */
};

struct project {
	struct project *next;
	struct fswatch *fw;
	char *root;  /* canonical: absolute, no symlinks, no "." or ".." */
	char **excl; /* rel paths of cairn's own directories under root */
	size_t n_excl;
	git_repository *repo;    /* NULL outside a git work tree */
	struct strmap snap;      /* rel path -> struct entry */
	struct strmap pending;   /* rel path -> (void *)1 */
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
	bool settle_warned;     /* a call on settle failed; logged once until one works */
	bool flush_due;         /* settle could not start: on_walk() flushes instead */
	bool limit_is_max_dirs; /* the cap reached was watch.max_dirs, not the kernel's */
	size_t n_dirs;
	size_t n_skipped;      /* directories beyond MAX_UNWATCHED: neither watched nor rescanned */
	size_t n_walked_files; /* files found by walks (for fs.overflow) */
	bool closing;
	/* The walk: directories still to read (a stack) and the one being read,
	 * worked through in slices by on_walk(). While it is not done, flushes
	 * are held (walk_done() resumes them): the first walk (adding) is still
	 * building the snapshot, a later one is still marking paths pending. */
	struct walk_item *walk;
	size_t walk_n, walk_cap;
	DIR *cur;
	struct walk_item cur_item;
	bool adding; /* the first walk is not done */
	uint64_t add_start_ns;
	bool overflow_rescan; /* the walk is an overflow rescan: summarise at its end */
	bool overflow_flush;  /* the next flush ends the overflow rescan */
	uint64_t overflow_start_ns;
	/* The flush in progress (flush_on): the pending set it took, compared a
	 * slice at a time by flush_step(). */
	bool flush_on;
	struct strmap flushing;
	size_t flush_it;
	struct flush_counts fc;
	bool flush_git;      /* it holds what git changed: fs.batch first */
	bool flush_overflow; /* it ends an overflow rescan: fs.overflow after */
	json_t *held;        /* flush_git: its events, emitted after fs.batch */
};

struct dirwatch {
	struct project *p;
	char *rel; /* "" for the root */
};

/* One of cairn's own directories (or files): never watched. */
struct own_path {
	char *path;        /* canonical when it exists, else as given */
	uint64_t dev, ino; /* when it exists (else both 0) */
};

struct fswatch {
	uv_loop_t *loop;
	struct fswatch_config cfg; /* own_paths is not kept: see own below */
	struct own_path *own;
	size_t n_own;
	/* Runs the slices of walks and flushes, and hands queued events to
	 * emit, while there is any of them to do. */
	uv_idle_t walker;
	bool walker_on;
	bool walker_warned; /* a call on walker failed; logged once until one works */
	json_t *outq;       /* events for emit, in order */
	size_t outq_i;      /* the next one to hand over */
	fswatch_emit_fn emit;
	void *ctx;
	int fd;
	uv_poll_t poll;
	uv_timer_t retry;
	bool retry_on;
	bool retry_warned; /* a call on retry failed; logged once until one works */
	bool poll_warned;  /* polling the inotify descriptor failed */
	int n_open;        /* handles left to close when fswatch_new() fails */
	struct strmap wds; /* "%d" -> struct dirwatch */
	struct project *projects;
	bool overflow;
	bool git_ok; /* libgit2 is loaded (common/gitdl.h) and initialised */
};

static void entry_free(void *e)
{
	free(e);
}

static char *join(const char *a, const char *b)
{
	return *a ? xasprintf("%s/%s", a, b) : xstrdup(b);
}

/* Is path equal to dir or under it? (Both canonical; dir not "/".) */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (*dir == '\0')
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool is_ignored(struct project *p, const char *rel, bool dir)
{
	if (strcmp(rel, ".git") == 0 || strncmp(rel, ".git/", 5) == 0)
		return true;
	for (size_t i = 0; i < p->n_excl; i++)
		if (path_within(rel, p->excl[i]))
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
	/* Queued, and handed over by on_walk() a slice at a time: a flush of
	 * 20,000 changes must not hold the loop while the daemon logs them. */
	if (p->flush_on && p->flush_git)
		json_array_append_new(p->held, ev);
	else
		json_array_append_new(p->fw->outq, ev);
}

static void walker_start(struct fswatch *fw);

/* Hands queued events over until deadline_ns (0: all). Returns true when
 * the queue is empty. */
static bool outq_drain(struct fswatch *fw, uint64_t deadline_ns)
{
	size_t n = json_array_size(fw->outq);
	while (fw->outq_i < n) {
		fw->emit(fw->ctx, json_incref(json_array_get(fw->outq, fw->outq_i++)));
		if (deadline_ns && (fw->outq_i % 16) == 0 && clock_mono_ns() >= deadline_ns)
			break;
	}
	if (fw->outq_i < n)
		return false;
	json_array_clear(fw->outq);
	fw->outq_i = 0;
	return true;
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
	int r = uv_timer_start(&p->settle, on_settle, delay, 0);
	if (r) {
		/* No quiet period then: the walker flushes at its next turn. */
		if (!p->settle_warned)
			log_warn("fswatch: cannot start the quiet-period timer of %s: %s; its "
				 "changes are compared without waiting for a quiet period",
				 p->root, uv_strerror(r));
		p->settle_warned = true;
		p->flush_due = true;
		walker_start(p->fw);
		return;
	}
	p->settle_warned = false;
}

/* Watches the directory rel. Returns false when it is to be skipped: over
 * the watch limit with MAX_UNWATCHED directories already left to rescans. */
static bool add_watch(struct project *p, const char *rel)
{
	struct fswatch *fw = p->fw;
	char *abs = join(p->root, rel);
	int wd;
	bool by_max_dirs = false;
	if (fw->cfg.max_dirs && strmap_len(&fw->wds) >= fw->cfg.max_dirs) {
		wd = -1;
		errno = ENOSPC;
		by_max_dirs = true;
	} else {
		wd = inotify_add_watch(fw->fd, *rel ? abs : p->root, DIR_MASK);
	}
	free(abs);
	if (wd < 0) {
		if (errno != ENOSPC)
			return true; /* gone or unreadable: nothing to watch */
		if (!strmap_get(&p->unwatched, rel) && strmap_len(&p->unwatched) >= MAX_UNWATCHED) {
			p->n_skipped++;
			return false;
		}
		p->limit_is_max_dirs = by_max_dirs;
		strmap_put(&p->unwatched, rel, (void *)1); /* see on_retry() */
		return true;
	}
	char key[16];
	snprintf(key, sizeof key, "%d", wd);
	struct dirwatch *dw = strmap_get(&fw->wds, key);
	if (dw && dw->p == p && strcmp(dw->rel, rel) == 0)
		return true; /* already watched (a rescan) */
	if (dw) {
		/* The kernel reuses a wd for the same inode: a moved directory. */
		free(dw->rel);
		dw->rel = xstrdup(rel);
		dw->p = p;
		return true;
	}
	dw = xcalloc(1, sizeof *dw);
	dw->p = p;
	dw->rel = xstrdup(rel);
	strmap_put(&fw->wds, key, dw);
	p->n_dirs++;
	return true;
}

static bool stat_entry(struct project *p, const char *rel, struct entry *e)
{
	char *abs = join(p->root, rel);
	struct stat sb;
	int r = lstat(*rel ? abs : p->root, &sb);
	free(abs);
	if (r < 0)
		return false;
	e->dev = (uint64_t)sb.st_dev;
	e->ino = (uint64_t)sb.st_ino;
	e->size = (int64_t)sb.st_size;
	e->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	e->dir = S_ISDIR(sb.st_mode);
	e->reg = S_ISREG(sb.st_mode);
	e->hashed = false;
	e->hash = 0;
	return true;
}

/* Hashes the content of a regular file of at most HASH_MAX_BYTES into e
 * (FNV-1a, 64 bits: only equality with the same file's earlier content is
 * asked, not resistance to an adversary). Leaves e unhashed when the file
 * cannot be read whole or changed size while it was read. */
static void hash_entry(struct project *p, const char *rel, struct entry *e)
{
	e->hashed = false;
	if (!e->reg || e->size > HASH_MAX_BYTES)
		return;
	char *abs = join(p->root, rel);
	int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	free(abs);
	if (fd < 0)
		return;
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char buf[65536];
	int64_t total = 0;
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < r; i++)
			h = (h ^ buf[i]) * 0x100000001b3ull;
		total += r;
		if (total > HASH_MAX_BYTES)
			break;
	}
	close(fd);
	if (r < 0 || total != e->size)
		return;
	e->hash = h;
	e->hashed = true;
}

enum scan_mode { SCAN_SNAPSHOT, SCAN_PENDING };

/* Is this directory one of cairn's own (seen through another path, e.g. a
 * bind mount)? */
static bool is_own_dir(const struct fswatch *fw, const struct entry *e)
{
	for (size_t i = 0; i < fw->n_own; i++)
		if (fw->own[i].ino && fw->own[i].ino == e->ino && fw->own[i].dev == e->dev)
			return true;
	return false;
}

static void walk_push(struct project *p, char *rel, enum scan_mode mode)
{
	if (p->walk_n == p->walk_cap) {
		p->walk_cap = p->walk_cap ? 2 * p->walk_cap : 64;
		p->walk = xreallocarray(p->walk, p->walk_cap, sizeof *p->walk);
	}
	p->walk[p->walk_n++] = (struct walk_item){.rel = rel, .pending = mode == SCAN_PENDING};
}

static void walk_clear(struct project *p)
{
	if (p->cur) {
		closedir(p->cur);
		p->cur = NULL;
		free(p->cur_item.rel);
	}
	for (size_t i = 0; i < p->walk_n; i++)
		free(p->walk[i].rel);
	free(p->walk);
	p->walk = NULL;
	p->walk_n = p->walk_cap = 0;
}

/* Walks the directories on p's walk stack, adding a watch to each. An item
 * in SCAN_SNAPSHOT mode records what it finds as the snapshot (no events);
 * in SCAN_PENDING mode it marks every path found as pending, so the next
 * flush reports what differs from the snapshot. Stops once deadline_ns
 * (clock_mono_ns(); 0: no deadline) has passed, to be resumed later.
 * Returns true when the stack is empty. */
static bool walk_run(struct project *p, uint64_t deadline_ns)
{
	unsigned n = 0;
	for (;;) {
		if (!p->cur) {
			if (p->walk_n == 0)
				return true;
			struct walk_item it = p->walk[--p->walk_n];
			if (!add_watch(p, it.rel)) {
				free(it.rel);
				continue;
			}
			char *abs = join(p->root, it.rel);
			p->cur = opendir(*it.rel ? abs : p->root);
			free(abs);
			if (!p->cur) {
				free(it.rel);
				continue;
			}
			p->cur_item = it;
		}
		if (deadline_ns && (++n % 32) == 0 && clock_mono_ns() >= deadline_ns)
			return false;
		struct dirent *de = readdir(p->cur);
		if (!de) {
			closedir(p->cur);
			p->cur = NULL;
			free(p->cur_item.rel);
			continue;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *child = join(p->cur_item.rel, de->d_name);
		struct entry e;
		if (!stat_entry(p, child, &e) || is_ignored(p, child, e.dir) ||
		    (e.dir && is_own_dir(p->fw, &e))) {
			free(child);
			continue;
		}
		if (!p->cur_item.pending) {
			struct entry *x = xmalloc(sizeof *x);
			hash_entry(p, child, &e);
			*x = e;
			free(strmap_put(&p->snap, child, x));
		} else {
			mark_pending(p, child);
		}
		p->n_walked_files += !e.dir;
		if (e.dir)
			walk_push(p, child, p->cur_item.pending ? SCAN_PENDING : SCAN_SNAPSHOT);
		else
			free(child);
	}
}

static bool walk_busy(const struct project *p)
{
	return p->cur || p->walk_n;
}

static void on_walk(uv_idle_t *h);

static void walker_start(struct fswatch *fw)
{
	if (fw->walker_on)
		return;
	int r = uv_idle_start(&fw->walker, on_walk);
	if (r) {
		/* The work stays queued; the next walker_start() tries again. */
		if (!fw->walker_warned)
			log_error(
				"fswatch: cannot start the handle that walks trees, compares "
				"changes and hands file events over: %s; that work waits until it "
				"can be started (tried again at the next change)",
				uv_strerror(r));
		fw->walker_warned = true;
		return;
	}
	fw->walker_warned = false;
	fw->walker_on = true;
}

/* Walks the tree under rel, from the loop in slices (see on_walk()). */
static void scan_tree(struct project *p, const char *rel, enum scan_mode mode)
{
	walk_push(p, xstrdup(rel), mode);
	walker_start(p->fw);
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

/* Compares one path taken from the pending set with the snapshot, updates
 * the snapshot and emits the difference, if any. */
static void flush_path(struct project *p, const char *rel, struct flush_counts *fc)
{
	struct entry now;
	bool exists = stat_entry(p, rel, &now);
	if (exists && is_ignored(p, rel, now.dir))
		exists = false;
	struct entry *old = strmap_get(&p->snap, rel);
	if (!old && !exists)
		return;
	if (old && !exists) {
		bool was_dir = old->dir;
		free(strmap_del(&p->snap, rel));
		if (!was_dir) {
			emit(p, "file.deleted", rel, file_data(rel, NULL), NULL);
			fc->deleted++;
		}
		return;
	}
	if (!old) {
		struct entry *x = xmalloc(sizeof *x);
		hash_entry(p, rel, &now);
		*x = now;
		strmap_put(&p->snap, rel, x);
		if (!now.dir) {
			emit(p, "file.created", rel, file_data(rel, &now), NULL);
			fc->created++;
		}
		return;
	}
	bool differs = old->ino != now.ino || old->size != now.size ||
		       old->mtime_ns != now.mtime_ns || old->dir != now.dir;
	if (differs && !now.dir)
		hash_entry(p, rel, &now);
	/* Same bytes, new times (or a new inode: an editor's save by
	 * rename): not a change of the file. */
	bool same = differs && old->hashed && now.hashed && old->size == now.size &&
		    old->hash == now.hash && old->dir == now.dir;
	if (!differs) {
		now.hash = old->hash;
		now.hashed = old->hashed;
	}
	*old = now;
	if (same) {
		fc->touched++;
		return;
	}
	if (differs && !now.dir) {
		emit(p, "file.changed", rel, file_data(rel, &now), NULL);
		fc->changed++;
	}
}

/* Renames: a known path that vanished and reappeared elsewhere as the same
 * inode. Done first, at the start of a flush. */
static void flush_renames(struct project *p, struct flush_counts *fc)
{
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
				hash_entry(p, rn->to, &now_to);
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
}

/* The flush is over: the summaries, then whatever became pending meanwhile
 * gets its own quiet period. */
static void flush_finish(struct project *p)
{
	struct flush_counts fc = p->fc;
	strmap_release(&p->flushing, NULL);
	strmap_init(&p->flushing);
	p->flush_on = false;
	if (p->flush_git) {
		emit(p, "fs.batch", NULL,
		     json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "reason", "git", "created",
			       (json_int_t)fc.created, "changed", (json_int_t)fc.changed, "deleted",
			       (json_int_t)fc.deleted, "renamed", (json_int_t)fc.renamed, "held_ms",
			       (json_int_t)((clock_mono_ns() - p->git_busy_since_ns) / 1000000)),
		     NULL);
		size_t i;
		json_t *ev;
		json_array_foreach(p->held, i, ev)
			json_array_append(p->fw->outq, ev);
		json_array_clear(p->held);
		p->flush_git = false;
	}
	if (p->flush_overflow) {
		emit(p, "fs.overflow", NULL,
		     json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "files_scanned",
			       (json_int_t)p->n_walked_files, "created", (json_int_t)fc.created,
			       "changed", (json_int_t)fc.changed, "deleted", (json_int_t)fc.deleted,
			       "renamed", (json_int_t)fc.renamed, "rescan_ms",
			       (json_int_t)((clock_mono_ns() - p->overflow_start_ns) / 1000000)),
		     "warning");
		p->flush_overflow = false;
	}
	if (strmap_len(&p->pending) || p->n_renames)
		arm_settle(p);
}

/* Compares the flush's paths until deadline_ns (0: all of them). Returns
 * true when the flush is over. */
static bool flush_step(struct project *p, uint64_t deadline_ns)
{
	const char *rel;
	void *unused;
	unsigned n = 0;
	while (strmap_next(&p->flushing, &p->flush_it, &rel, &unused)) {
		flush_path(p, rel, &p->fc);
		if (deadline_ns && (++n % 16) == 0 && clock_mono_ns() >= deadline_ns)
			return false;
	}
	flush_finish(p);
	return true;
}

/* Starts a flush: renames first, then every pending path, compared a slice
 * at a time from the loop (on_walk()). Nothing happens while git holds the
 * changes (unless an overflow rescan is to be summarised), while a walk is
 * not done, or while a flush is in progress: their end calls it again. */
static void flush_now(struct project *p)
{
	if (p->git_busy && !p->overflow_flush)
		return; /* resumed when index.lock goes away */
	if (walk_busy(p) || p->flush_on)
		return; /* resumed by walk_done() or flush_finish() */
	p->flush_due = false;
	int r = uv_timer_stop(&p->settle);
	if (r)
		log_warn("fswatch: cannot stop the quiet-period timer of %s: %s; it may fire once "
			 "more and find nothing new to compare",
			 p->root, uv_strerror(r));
	p->flush_on = true;
	p->fc = (struct flush_counts){0};
	/* Changes made while git held index.lock: their events are collected,
	 * so that the summary (which needs their counts) can go out first. */
	p->flush_git = p->held_by_git && !p->overflow_flush;
	if (p->flush_git)
		p->held_by_git = false;
	p->flush_overflow = p->overflow_flush;
	p->overflow_flush = false;
	flush_renames(p, &p->fc);
	p->flushing = p->pending;
	strmap_init(&p->pending);
	p->flush_it = 0;
	walker_start(p->fw);
}

static void on_settle(uv_timer_t *t)
{
	flush_now(t->data);
}

static void warn_limit(struct project *p)
{
	if (p->limit_warned || (strmap_len(&p->unwatched) == 0 && p->n_skipped == 0))
		return;
	p->limit_warned = true;
	struct fswatch *fw = p->fw;
	long limit = -1;
	FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "r");
	if (f) {
		if (fscanf(f, "%ld", &limit) != 1)
			limit = -1;
		fclose(f);
	}
	char what[160], fix[400];
	if (p->limit_is_max_dirs) {
		snprintf(what, sizeof what, "the watch.max_dirs setting (%zu directories)",
			 fw->cfg.max_dirs);
		snprintf(fix, sizeof fix,
			 "raise max_dirs in the [watch] section of cairn's config file (or set "
			 "CAIRN_WATCH_MAX_DIRS), or watch a smaller tree");
	} else {
		snprintf(what, sizeof what, "the kernel's inotify watch limit (%ld)", limit);
		snprintf(fix, sizeof fix,
			 "raise the limit: sudo sysctl fs.inotify.max_user_watches=524288 (add it "
			 "to /etc/sysctl.d/ to keep it after a reboot), or watch a smaller tree");
	}
	if (p->n_skipped)
		log_warn("fswatch: %s is reached; %zu directories of %s are scanned every %llu ms "
			 "instead and %zu more are not watched at all: %s",
			 what, strmap_len(&p->unwatched), p->root,
			 (unsigned long long)fw->cfg.retry_ms, p->n_skipped, fix);
	else
		log_warn("fswatch: %s is reached; %zu directories of %s are scanned every %llu ms "
			 "instead: %s",
			 what, strmap_len(&p->unwatched), p->root,
			 (unsigned long long)fw->cfg.retry_ms, fix);
	json_t *d = json_pack(
		"{s:s,s:I,s:I,s:I,s:I,s:s}", "limit",
		p->limit_is_max_dirs ? "watch.max_dirs" : "fs.inotify.max_user_watches",
		"max_user_watches", (json_int_t)limit, "unwatched_dirs",
		(json_int_t)strmap_len(&p->unwatched), "skipped_dirs", (json_int_t)p->n_skipped,
		"rescan_ms", (json_int_t)fw->cfg.retry_ms, "fix", fix);
	if (p->limit_is_max_dirs)
		json_object_set_new(d, "max_dirs", json_integer((json_int_t)fw->cfg.max_dirs));
	emit(p, "fs.watch_limit", NULL, d, "warning");
}

static void on_retry(uv_timer_t *t);

static void update_retry_timer(struct fswatch *fw)
{
	bool need = false;
	for (struct project *p = fw->projects; p; p = p->next)
		if (strmap_len(&p->unwatched) && !p->adding)
			need = true;
	int r = 0;
	if (need && !fw->retry_on) {
		r = uv_timer_start(&fw->retry, on_retry, fw->cfg.retry_ms, fw->cfg.retry_ms);
		if (r && !fw->retry_warned)
			log_warn("fswatch: cannot start the rescan timer: %s; directories over the "
				 "watch limit are not rescanned (tried again when a walk ends or a "
				 "watch is removed)",
				 uv_strerror(r));
		fw->retry_on = r == 0;
	} else if (!need && fw->retry_on) {
		r = uv_timer_stop(&fw->retry);
		if (r && !fw->retry_warned)
			log_warn("fswatch: cannot stop the rescan timer: %s; it keeps firing with "
				 "nothing to rescan",
				 uv_strerror(r));
		fw->retry_on = r != 0;
	}
	fw->retry_warned = r != 0;
}

/* Scans the directories left unwatched: tries to watch them again, and
 * marks their direct entries pending so real changes are found. */
static void on_retry(uv_timer_t *t)
{
	struct fswatch *fw = t->data;
	for (struct project *p = fw->projects; p; p = p->next) {
		if (!strmap_len(&p->unwatched) || walk_busy(p))
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
				if (stat_entry(p, child, &e) && e.dir &&
				    !strmap_get(&p->snap, child) && !is_ignored(p, child, true))
					scan_tree(p, child, SCAN_PENDING);
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

/* Rescans every project: everything known and everything there now is
 * marked pending, and the flush at the end of the walk (walk_done()) keeps
 * only real differences and summarises them in fs.overflow. */
static void handle_overflow(struct fswatch *fw)
{
	for (struct project *p = fw->projects; p; p = p->next) {
		if (!p->overflow_rescan) {
			p->overflow_rescan = true;
			p->overflow_start_ns = clock_mono_ns();
			p->n_walked_files = 0;
		}
		mark_subtree(p, "");
		scan_tree(p, "", SCAN_PENDING);
	}
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
		scan_tree(p, rel, SCAN_PENDING);
	}
	if (dir && (ie->mask & (IN_DELETE | IN_MOVED_FROM)))
		mark_subtree(p, rel);
	if ((ie->mask & IN_MOVED_FROM) && p->n_renames < MAX_RENAMES) {
		p->renames[p->n_renames++] =
			(struct rename){.cookie = ie->cookie, .from = xstrdup(rel)};
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
	if (status < 0 && !fw->poll_warned) {
		/* libuv stops the handle after a poll error. */
		log_error("fswatch: polling the inotify descriptor failed: %s; file changes are no "
			  "longer seen until the daemon restarts",
			  uv_strerror(status));
		fw->poll_warned = true;
	}
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

/* Canonical form of path: realpath() when it exists; otherwise (a removed
 * directory) the absolute path with "", "." and ".." components resolved
 * lexically. Returns NULL when path is not absolute and does not exist. */
static char *canonical(const char *path)
{
	char *r = realpath(path, NULL);
	if (r || path[0] != '/')
		return r;
	size_t n = strlen(path);
	char *out = xmalloc(n + 2);
	size_t len = 0;
	for (const char *q = path; *q;) {
		while (*q == '/')
			q++;
		const char *e = strchrnul(q, '/');
		size_t cl = (size_t)(e - q);
		if (cl == 0 || (cl == 1 && q[0] == '.')) {
			/* nothing */
		} else if (cl == 2 && q[0] == '.' && q[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--; /* the slash */
		} else {
			out[len++] = '/';
			memcpy(out + len, q, cl);
			len += cl;
		}
		q = e;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return out;
}

/* Frees fw and everything it holds, its handles closed (or never made). */
static void fw_release(struct fswatch *fw);

/* A handle of an fswatch_new() that failed is closed: fw goes with the last. */
static void new_failed_closed(uv_handle_t *h)
{
	struct fswatch *fw = h->data;
	if (--fw->n_open == 0)
		fw_release(fw);
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
	fw->cfg.own_paths = NULL;
	for (size_t i = 0; cfg->own_paths && cfg->own_paths[i]; i++) {
		char *c = canonical(cfg->own_paths[i]);
		if (!c || strcmp(c, "/") == 0) {
			free(c); /* never "every path" */
			continue;
		}
		fw->own = xreallocarray(fw->own, fw->n_own + 1, sizeof *fw->own);
		struct own_path *o = &fw->own[fw->n_own++];
		*o = (struct own_path){.path = c};
		struct stat sb;
		if (stat(c, &sb) == 0) {
			o->dev = (uint64_t)sb.st_dev;
			o->ino = (uint64_t)sb.st_ino;
		}
	}
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
	fw->outq = json_array();
	struct cairn_err ge;
	fw->git_ok = gitdl_load(&ge) == 0;
	if (fw->git_ok)
		git_libgit2_init();
	else
		log_warn("%s; the file watcher goes on without git (no .gitignore rules, no "
			 "holding events during git operations)",
			 ge.msg);
	/* Without any of its handles the watcher cannot work: it is not made,
	 * and the daemon runs without file watching. Handles already
	 * initialised are closed first (fw is freed when the last one is). */
	const char *what = "poll the inotify descriptor";
	int r = uv_poll_init(loop, &fw->poll, fd);
	if (r)
		goto fail;
	fw->poll.data = fw;
	fw->n_open++;
	what = "make the rescan timer";
	if ((r = uv_timer_init(loop, &fw->retry)) != 0)
		goto fail;
	fw->retry.data = fw;
	fw->n_open++;
	what = "make the handle that walks trees";
	if ((r = uv_idle_init(loop, &fw->walker)) != 0)
		goto fail;
	fw->walker.data = fw;
	fw->n_open++;
	what = "start polling the inotify descriptor";
	if ((r = uv_poll_start(&fw->poll, UV_READABLE, on_inotify)) != 0)
		goto fail;
	fw->n_open = 0;
	return fw;
fail:
	log_error("fswatch: cannot %s: %s; file watching is off", what, uv_strerror(r));
	*err = r;
	if (fw->n_open == 0) {
		fw_release(fw);
		return NULL;
	}
	int n = fw->n_open;
	if (n >= 1)
		uv_close((uv_handle_t *)&fw->poll, new_failed_closed);
	if (n >= 2)
		uv_close((uv_handle_t *)&fw->retry, new_failed_closed);
	if (n >= 3)
		uv_close((uv_handle_t *)&fw->walker, new_failed_closed);
	return NULL;
}

static void project_closed(uv_handle_t *h)
{
	struct project *p = h->data;
	walk_clear(p);
	strmap_release(&p->snap, entry_free);
	strmap_release(&p->pending, NULL);
	strmap_release(&p->flushing, NULL);
	json_decref(p->held);
	strmap_release(&p->unwatched, NULL);
	for (size_t i = 0; i < p->n_renames; i++) {
		free(p->renames[i].from);
		free(p->renames[i].to);
	}
	for (size_t i = 0; i < p->n_excl; i++)
		free(p->excl[i]);
	free(p->excl);
	if (p->repo)
		git_repository_free(p->repo);
	free(p->root);
	free(p);
}

/* p's walk is over: the snapshot is complete (after the first walk), every
 * path found is pending (after a later one). */
static void walk_done(struct project *p)
{
	if (p->adding) {
		p->adding = false;
		log_info("fswatch: watching %s: %zu directories (%.2f s)", p->root, p->n_dirs,
			 (double)(clock_mono_ns() - p->add_start_ns) / 1e9);
	}
	if (p->overflow_rescan) {
		/* The next flush (even while git holds changes) ends the rescan
		 * with its fs.overflow summary. */
		p->overflow_rescan = false;
		p->overflow_flush = true;
		arm_settle(p);
	}
	warn_limit(p);
	update_retry_timer(p->fw);
	if (strmap_len(&p->pending) || p->n_renames)
		arm_settle(p); /* changes seen during the walk: compared now */
}

/* One slice of the work (events to hand over, walks, flushes), then back to
 * the loop; the next iteration goes on where this one stopped. */
static void on_walk(uv_idle_t *h)
{
	struct fswatch *fw = h->data;
	uint64_t deadline = clock_mono_ns() + WALK_SLICE_NS;
	if (!outq_drain(fw, deadline))
		return;
	bool due = false;
	for (struct project *p = fw->projects; p; p = p->next) {
		if (walk_busy(p)) {
			if (!walk_run(p, deadline))
				return;
			walk_done(p);
		}
		/* What the quiet-period timer would have done (arm_settle()). */
		if (p->flush_due) {
			p->flush_due = false;
			flush_now(p);
		}
		if (p->flush_on && !flush_step(p, deadline))
			return;
		due |= p->flush_due;
	}
	/* Events the walks and flushes just queued go out next time, and
	 * flushes that just fell due start then. */
	if (json_array_size(fw->outq) > fw->outq_i || due)
		return;
	int r = uv_idle_stop(h);
	if (r) {
		if (!fw->walker_warned)
			log_warn("fswatch: cannot stop the handle that walks trees: %s; it keeps "
				 "running with nothing to do",
				 uv_strerror(r));
		fw->walker_warned = true;
		return;
	}
	fw->walker_warned = false;
	fw->walker_on = false;
}

/* The watched project whose tree holds path (canonical), or NULL. */
static struct project *find_project(const struct fswatch *fw, const char *path)
{
	for (struct project *p = fw->projects; p; p = p->next)
		if (path_within(path, p->root))
			return p;
	return NULL;
}

int fswatch_add(struct fswatch *fw, const char *path, char **root_out, char *errbuf, size_t errlen)
{
	int r;
	*root_out = NULL;
	if (path[0] != '/') {
		snprintf(errbuf, errlen, "'%s' is not an absolute path", path);
		return CAIRN_E_INVALID;
	}
	char *root = realpath(path, NULL);
	struct stat sb;
	if (!root || stat(root, &sb) < 0) {
		snprintf(errbuf, errlen, "cannot open '%s': %s", path, strerror(errno));
		r = CAIRN_E_INVALID;
		goto out_free_root;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(errbuf, errlen, "'%s' is not a directory", path);
		r = CAIRN_E_INVALID;
		goto out_free_root;
	}
	if (strcmp(root, "/") == 0) {
		snprintf(errbuf, errlen,
			 "refusing to watch '/', the whole file system: watch a project directory");
		r = CAIRN_E_INVALID;
		goto out_free_root;
	}
	for (size_t i = 0; i < fw->n_own; i++) {
		if (path_within(root, fw->own[i].path)) {
			if (strcmp(root, fw->own[i].path) == 0)
				snprintf(errbuf, errlen,
					 "'%s' is cairn's own (data, runtime or config) directory; "
					 "cairn does not watch its own files",
					 root);
			else
				snprintf(errbuf, errlen,
					 "'%s' is inside cairn's own (data, runtime or config) "
					 "directory '%s'; cairn does not watch its own files",
					 root, fw->own[i].path);
			r = CAIRN_E_INVALID;
			goto out_free_root;
		}
	}
	struct project *q = find_project(fw, root);
	if (q) {
		if (strcmp(q->root, root) != 0)
			snprintf(errbuf, errlen, "already watched as part of '%s'", q->root);
		*root_out = xstrdup(q->root);
		r = -EEXIST;
		goto out_free_root;
	}
	for (q = fw->projects; q; q = q->next) {
		if (path_within(q->root, root)) {
			snprintf(errbuf, errlen,
				 "'%s' contains the watched '%s'; to watch the larger tree, first "
				 "'cairn watch rm %s'",
				 root, q->root, q->root);
			r = CAIRN_E_INVALID;
			goto out_free_root;
		}
	}
	struct project *p = xcalloc(1, sizeof *p);
	p->fw = fw;
	p->root = root;
	root = NULL;
	p->git_wd = -1;
	strmap_init(&p->snap);
	strmap_init(&p->pending);
	strmap_init(&p->unwatched);
	strmap_init(&p->flushing);
	r = uv_timer_init(fw->loop, &p->settle);
	if (r) {
		/* Reported and skipped: nothing of it is kept. */
		snprintf(errbuf, errlen, "cannot make the quiet-period timer for '%s': %s", p->root,
			 uv_strerror(r));
		log_warn("fswatch: %s; not watching it", errbuf);
		strmap_release(&p->snap, NULL);
		strmap_release(&p->pending, NULL);
		strmap_release(&p->unwatched, NULL);
		strmap_release(&p->flushing, NULL);
		free(p->root);
		free(p);
		goto out_free_root;
	}
	p->held = json_array();
	p->settle.data = p;
	/* cairn's own directories under this root are never watched: cairn
	 * would report its own writes (the database's WAL) forever. */
	for (size_t i = 0; i < fw->n_own; i++) {
		if (!path_within(fw->own[i].path, p->root))
			continue;
		p->excl = xreallocarray(p->excl, p->n_excl + 1, sizeof *p->excl);
		p->excl[p->n_excl++] = xstrdup(fw->own[i].path + strlen(p->root) + 1);
	}
	if (!fw->git_ok ||
	    git_repository_open_ext(&p->repo, p->root, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
		p->repo = NULL;
	if (p->repo) {
		char *gitdir = xasprintf("%s/.git", p->root);
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
	/* The first slices now (a small tree is done at once), the rest from
	 * the loop, a slice per iteration. */
	p->adding = true;
	p->add_start_ns = clock_mono_ns();
	walk_push(p, xstrdup(""), SCAN_SNAPSHOT);
	bool done;
	do
		done = walk_run(p, clock_mono_ns() + WALK_SLICE_NS);
	while (!done && p->n_dirs + strmap_len(&p->unwatched) < FIRST_WALK_MIN_DIRS &&
	       clock_mono_ns() - p->add_start_ns < FIRST_WALK_MAX_NS);
	if (done)
		walk_done(p);
	else
		walker_start(fw);
	*root_out = xstrdup(p->root);
	r = 0;
out_free_root:
	free(root);
	return r;
}

int fswatch_remove(struct fswatch *fw, const char *path, char **root_out)
{
	*root_out = NULL;
	char *root = canonical(path);
	if (!root)
		return CAIRN_E_NOTFOUND;
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
		*root_out = root;
		return 0;
	}
	free(root);
	return CAIRN_E_NOTFOUND;
}

static json_t *project_info(const struct project *p)
{
	size_t files = 0, it = 0;
	const char *k;
	void *v;
	while (strmap_next(&p->snap, &it, &k, &v))
		files += !((struct entry *)v)->dir;
	return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:b}", "path", p->root, "state",
			 p->adding ? "adding" : "watching", "dirs", (json_int_t)p->n_dirs, "files",
			 (json_int_t)files, "unwatched_dirs", (json_int_t)strmap_len(&p->unwatched),
			 "skipped_dirs", (json_int_t)p->n_skipped, "git", p->repo != NULL);
}

json_t *fswatch_list(const struct fswatch *fw)
{
	json_t *a = json_array();
	for (const struct project *p = fw->projects; p; p = p->next)
		json_array_append_new(a, project_info(p));
	return a;
}

json_t *fswatch_info(const struct fswatch *fw, const char *root)
{
	for (const struct project *p = fw->projects; p; p = p->next)
		if (strcmp(p->root, root) == 0)
			return project_info(p);
	return NULL;
}

void fswatch_flush(struct fswatch *fw)
{
	for (struct project *p = fw->projects; p; p = p->next) {
		if (p->adding)
			continue; /* no complete snapshot to compare with */
		/* Whatever is in progress is finished at once: a rescan, so
		 * what it finds is compared too, a flush, then the rest. */
		if (walk_busy(p)) {
			walk_run(p, 0);
			walk_done(p);
		}
		if (p->flush_on)
			flush_step(p, 0);
		p->git_busy = false;
		if (strmap_len(&p->pending) || p->n_renames || p->overflow_flush) {
			flush_now(p);
			if (p->flush_on)
				flush_step(p, 0);
		}
	}
	outq_drain(fw, 0);
}

static void fw_closed(uv_handle_t *h)
{
	fw_release(h->data);
}

static void fw_release(struct fswatch *fw)
{
	size_t it = 0;
	const char *k;
	void *v;
	while (strmap_next(&fw->wds, &it, &k, &v)) {
		struct dirwatch *dw = v;
		free(dw->rel);
		free(dw);
	}
	strmap_release(&fw->wds, NULL);
	json_decref(fw->outq);
	for (size_t i = 0; i < fw->n_own; i++)
		free(fw->own[i].path);
	free(fw->own);
	close(fw->fd);
	if (fw->git_ok)
		git_libgit2_shutdown();
	free(fw);
}

static void walker_closed(uv_handle_t *h)
{
	struct fswatch *fw = h->data;
	uv_close((uv_handle_t *)&fw->poll, fw_closed);
}

static void retry_closed(uv_handle_t *h)
{
	struct fswatch *fw = h->data;
	uv_close((uv_handle_t *)&fw->walker, walker_closed);
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
	/* uv_close() stops a handle too: a failed stop is only worth a line. */
	int r = uv_poll_stop(&fw->poll);
	if (r)
		log_warn("fswatch: cannot stop polling the inotify descriptor: %s; closing it "
			 "anyway",
			 uv_strerror(r));
	r = uv_idle_stop(&fw->walker);
	if (r)
		log_warn("fswatch: cannot stop the handle that walks trees: %s; closing it anyway",
			 uv_strerror(r));
	uv_close((uv_handle_t *)&fw->retry, retry_closed);
}
