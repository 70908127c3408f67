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
 * Runs on the daemon's loop thread; not thread-safe. Adding a project scans
 * its tree synchronously on the loop (see docs/design.md). */
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
				* kernel's (acts like reaching its limit; for tests) */
};

/* Receives each event to publish (a JSON object with type, source, subject,
 * project, data, severity); takes ownership. */
typedef void (*fswatch_emit_fn)(void *ctx, json_t *event);

/* Creates the watcher on loop. Returns NULL (and sets *err) when inotify is
 * not available. */
struct fswatch *fswatch_new(uv_loop_t *loop, const struct fswatch_config *cfg,
			    fswatch_emit_fn emit, void *ctx, int *err);

/* Starts watching the tree at root (an absolute directory). Returns 0,
 * -EEXIST when it is already watched, or a negative code with a reason in
 * errbuf. */
int fswatch_add(struct fswatch *fw, const char *root, char *errbuf, size_t errlen);
/* Stops watching root. Returns 0 or CAIRN_E_NOTFOUND. */
int fswatch_remove(struct fswatch *fw, const char *root);
/* [{"path", "dirs", "files", "unwatched_dirs"}] (new reference). */
json_t *fswatch_list(const struct fswatch *fw);

/* Emits whatever is pending now (used at shutdown). */
void fswatch_flush(struct fswatch *fw);
/* Closes every handle and frees fw once the loop has processed the closes. */
void fswatch_free(struct fswatch *fw);

#endif
