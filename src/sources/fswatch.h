/* The file watcher: watches registered project trees with inotify and emits
 * file.created|changed|deleted|renamed (project-relative paths) after a
 * quiet period, skipping what git ignores and the inside of .git.
 *
 * How it stays exact: for each project it keeps a snapshot of every
 * non-ignored path (inode, size, mtime). inotify events only mark paths as
 * "pending"; when the project has been quiet for settle_ms, each pending path
 * is compared with the snapshot and only real differences are emitted. So an
 * editor's save-by-rename comes out as one file.changed, a file created and
 * deleted within the quiet period as nothing, and a rescan after a queue
 * overflow (or of directories the kernel's watch limit left unwatched)
 * reports only what really changed.
 *
 * While .git/index.lock exists (checkout, merge, rebase), changes are held
 * and then emitted after one fs.batch summary event.
 *
 * cairn's own directories (own_paths: its data, runtime and config
 * directories) are never watched, wherever they are, nor is anything under
 * them: cairn would otherwise report its own database writes forever.
 *
 * Roots are canonical (realpath): one tree named several ways (a symlink,
 * "x/../x", a trailing slash) is one project, and a directory inside a
 * watched tree is not watched twice.
 *
 * Long work is done in slices of a few milliseconds, one per loop
 * iteration, so the loop keeps serving clients meanwhile: walking a tree
 * (adding a project, a directory moved in, the rescan after a queue
 * overflow), comparing the pending paths (a flush), and handing events to
 * emit. Until the first walk is over the project's state is "adding" and its
 * changes are held (then compared with the finished snapshot, so none is
 * lost or invented); during any walk, flushes wait for its end.
 *
 * Runs on the daemon's loop thread; not thread-safe. Only the periodic
 * rescan of directories over the watch limit (at most 1000 a project) still
 * runs in one go (see docs/design.md). */
#ifndef CAIRN_FSWATCH_H
#define CAIRN_FSWATCH_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

struct fswatch;

struct fswatch_config {
	uint64_t settle_ms;    /* quiet period before emitting (default 50) */
	uint64_t max_delay_ms; /* emit at the latest this long after the first change */
	uint64_t retry_ms;     /* rescan period for directories left unwatched */
	size_t max_dirs;       /* 0, or a cap on watched directories below the
				* kernel's (acts like reaching its limit) */
	/* NULL, or a NULL-terminated list of cairn's own directories (or
	 * files) that are never watched; a root equal to one or inside one is
	 * refused. Copied (canonicalised) by fswatch_new(). */
	const char *const *own_paths;
};

/* Receives each event to publish (a JSON object with type, source, subject,
 * project, data, severity); takes ownership. Called from the loop, in order,
 * a bounded number per loop iteration. */
typedef void (*fswatch_emit_fn)(void *ctx, json_t *event);

/* Creates the watcher on loop. Returns NULL (and sets *err) when inotify is
 * not available, or when a libuv handle it needs cannot be made or started
 * (*err is then libuv's code, logged with what failed); handles already made
 * are closed, so the loop must run once more to free them. */
struct fswatch *fswatch_new(uv_loop_t *loop, const struct fswatch_config *cfg, fswatch_emit_fn emit,
			    void *ctx, int *err);

/* Starts watching the tree at path (an absolute path to a directory; it is
 * canonicalised with realpath()). The walk starts now and covers at least
 * 256 directories (unless that takes over a second), so a small tree is
 * watched whole on return; a bigger one goes on from the loop, and
 * fswatch_info() says "adding" until it is done. Returns:
 *   0        added; *root_out is the canonical root;
 *   -EEXIST  already watched: *root_out is the watched root holding path,
 *            and errbuf says "already watched as part of '...'" when that
 *            is not path itself (else errbuf is left empty);
 *   CAIRN_E_INVALID with a reason in errbuf: path does not exist or is not
 *            a directory, is '/', contains an already watched tree, or is
 *            one of cairn's own directories or inside one;
 *   a negative libuv code (-errno) with a reason in errbuf, also logged:
 *            the project's timer could not be made; nothing is kept.
 * *root_out is NULL on errors; the caller frees it. */
int fswatch_add(struct fswatch *fw, const char *path, char **root_out, char *errbuf, size_t errlen);
/* Stops watching the tree at path (canonicalised like fswatch_add(); a
 * removed directory is matched by its lexically normalised path). Returns 0
 * with *root_out set to the canonical root (caller frees), or
 * CAIRN_E_NOTFOUND with *root_out NULL. */
int fswatch_remove(struct fswatch *fw, const char *path, char **root_out);
/* [{"path", "state": "adding"|"watching", "dirs", "files", "unwatched_dirs",
 * "skipped_dirs", "git"}] (new reference). "dirs" counts the directories
 * watched so far. */
json_t *fswatch_list(const struct fswatch *fw);
/* The fswatch_list() entry of the project whose root is root (canonical), or
 * NULL (new reference). */
json_t *fswatch_info(const struct fswatch *fw, const char *root);

/* Finishes every walk (except the first walk of a project still being
 * added, whose pending changes are dropped), compares every pending path and
 * emits all queued events now, in one go (used at shutdown). */
void fswatch_flush(struct fswatch *fw);
/* Closes every handle and frees fw once the loop has processed the closes. */
void fswatch_free(struct fswatch *fw);

#endif
