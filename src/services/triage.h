/* Failure triage and fix learning: turns a failed build, test or CI run into
 * a report (the lines that explain it, a normalised error signature, known
 * fixes, suspect changes, a summary), remembers the failure, and when the
 * same target passes again records what changed in between as a candidate
 * fix for that signature.
 *
 * Everything here is blocking (it reads the log file, the repository and
 * the database) and meant for a worker thread (the daemon's triage service,
 * src/services/service.h) or a CLI process (`cairn triage FILE`). The
 * functions share nothing; a struct triage_ctx is used by one thread at a
 * time.
 *
 * Tables it keeps (schema in src/store/store.c, migrations 2 and 4):
 *
 *   failures   event_id TEXT PK   the build.failed / test.failed / ci.run.failed
 *              seq, time_ms       where and when it happened
 *              project            the project, or the cwd when there is none:
 *                                 the scope in which "the same target" is meant
 *              target             what ran ("make all", "pytest")
 *              signature,         the normalised error signature (exact and
 *              sig_general        general forms, src/kb/signature.h)
 *              message            the primary diagnostic as printed
 *              report_id          the triage.report's event id
 *              resolved_seq       the pass that ended it (NULL while open)
 *              fixed_by           the fix entry learned from it, if any
 *              learned            what that learning published (JSON), so
 *                                 that learning again for the same pass
 *                                 publishes the same (migration 4)
 *   snapshots  (failure_id, path) the content of the files the failure named
 *              content            (and of the dirty files) when it happened,
 *                                 at most TRIAGE_SNAPSHOT_MAX bytes each: the
 *                                 "before" side of the fix's diff
 */
#ifndef CAIRN_TRIAGE_H
#define CAIRN_TRIAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sqlite3;
struct kb;
struct diag_list;

enum {
	TRIAGE_LOG_MAX = 4 << 20,        /* bytes of a log read: head 1 MiB + tail */
	TRIAGE_SNAPSHOT_MAX = 256 << 10, /* bytes of one file kept for the fix's diff */
	TRIAGE_SNAPSHOT_FILES = 24,      /* files kept per failure */
	TRIAGE_DIFF_MAX = 4096,          /* bytes of diff kept in a learned fix */
};

/* Where the analysis looks things up. Both may be NULL (then no fixes, no
 * suspects, nothing recorded): `cairn triage FILE` without a database. */
struct triage_ctx {
	struct sqlite3 *db; /* the event log and the triage tables */
	struct kb *kb;      /* the knowledge base: kb_open_db() of db */
};

/* What failed. Strings are borrowed. */
struct triage_failure {
	const char *event_id; /* NULL when the failure is not in the log */
	const char *type;     /* "build.failed" ..., or NULL */
	int64_t seq;          /* 0 when not in the log */
	int64_t time_ms;
	int64_t started_ms;   /* when the run began (time_ms - duration); 0 unknown */
	const char *project;  /* git top level, or NULL */
	const char *cwd;      /* where it ran, or NULL */
	const char *target;   /* or NULL */
	const char *command;  /* the command line, or NULL */
	const json_t *dirty;  /* array of paths relative to project, or NULL */
	const char *snapshot; /* the runner's snapshot file (see below), or NULL */
	const char *log;      /* the captured output (need not be NUL-terminated) */
	size_t log_len;
	/* How the run ended, when the runner said: its exit status, the
	 * signal that ended it ("INT", "KILL"...), the error of a command that
	 * could not be started. */
	bool has_exit;
	int64_t exit_code;
	const char *signal;      /* or NULL */
	const char *spawn_error; /* or NULL */
};

/* Whether f is not a failure of the code: interrupted (Ctrl-C: SIGINT, exit
 * 130, make's "Interrupt"), a command that is not there (exit 127, or it
 * could not be started), killed (SIGKILL, exit 137: the OOM killer or kill
 * -9), stopped by a timeout (exit 124 under `timeout`, SIGTERM, SIGALRM).
 * Returns the kind ("interrupted", "not_found", "killed", "timed_out") and
 * a sentence saying so into why (at most len bytes), or NULL. Such a
 * failure is named for what it is and neither explained by file changes
 * nor learned from. log (len bytes, may be NULL) is searched only at its
 * end. */
const char *triage_not_code(const struct triage_failure *f, const char *log, size_t log_len,
			    char *why, size_t len);

struct triage_opts {
	size_t max_lines;    /* excerpt budget; 0 = 50 */
	size_t max_fixes;    /* 0 = 5 */
	size_t max_suspects; /* 0 = 10 */
	bool no_suspects;    /* skip them (a log from elsewhere, such as CI) */
};

/* Reads a log file as triage does: all of it up to TRIAGE_LOG_MAX bytes,
 * else its first MiB and its end. NUL-terminated; the caller frees it.
 * NULL with errno set when it cannot be read (or is not a regular file). */
char *triage_read_log(const char *path, size_t *len);

/* Fills *f from a failure event (a build.failed, test.failed or
 * ci.run.failed envelope) and reads its log: data.output.path (the runner's
 * capture; at most TRIAGE_LOG_MAX bytes: the first MiB and the end), else
 * data.log (text inside the event). *logbuf receives the buffer f->log
 * points into (free it after use). f borrows the other strings from ev.
 * Returns 0, or CAIRN_E_INVALID when ev is not a failure event. A log that
 * cannot be read is not an error: the report says so. */
int triage_failure_from_event(const json_t *ev, struct triage_failure *f, char **logbuf);

/* Analyses f and returns the report in *report (a new reference: the data
 * of a triage.report event; fields in docs/events.md). f->log and
 * f->command are redacted first (redact_text(), src/kb/redact.h), and
 * everything is computed from the redacted text, so no secret they held
 * reaches the report, its signature, or what triage_record_failure()
 * stores from it. The report's "failure" object is redacted too. now_ms is
 * the time the idleness of known fixes is measured at (kb_idle_penalty():
 * fixes nobody used for long rank lower; 0 = now). Returns
 * 0, or a negative code only for a database failure (the report is still
 * made, without the parts that needed it, and *report is set). */
int triage_analyze(struct triage_ctx *cx, const struct triage_failure *f,
		   const struct triage_opts *o, int64_t now_ms, json_t **report);

/* Remembers f for learning: a failures row (with the report's signature and
 * report_id, which may be NULL) and snapshots of the files the report's
 * diagnostics name and of f->dirty. Also counts the signature in the
 * signatures table, and a use (kb_mark_used(), at f->time_ms or now_ms) of
 * each known fix the report offers: in the transaction that adds the
 * failures row and only when that row is new, so recording the same failure
 * again counts nothing twice. Needs cx->db and f->event_id. Returns 0 or
 * CAIRN_E_STORE. */
int triage_record_failure(struct triage_ctx *cx, const struct triage_failure *f,
			  const json_t *report, const char *report_id, int64_t now_ms);

/* A passing run of some target. */
struct triage_pass {
	const char *event_id;
	int64_t seq;
	int64_t time_ms;
	int64_t started_ms; /* when the passing run began; 0 unknown */
	const char *project, *cwd, *target;
};

/* Learns from p: if the same target (in the same project, or cwd when there
 * is none) failed since its previous pass, the files changed in between
 * (snapshot differences, file and git events), a compact diff of the
 * changed hunks, the commit subject if there was a commit, and how long
 * the fix took become a candidate fix for the failure's signature
 * (kb_learn_fix()). Open failures of that target are marked resolved either
 * way. Returns 1 with *learned set (a new reference: {id, uid, title,
 * recurred, signature, files, fix_key, took_ms, failure_id}) when a fix was
 * recorded, 0 when there was nothing to learn, or a negative code. Run
 * again for a pass that already resolved a failure, it returns what it
 * returned then (the service host may run a job twice after a crash). */
int triage_learn(struct triage_ctx *cx, const struct triage_pass *p, int64_t now_ms,
		 json_t **learned);

/* Snapshot files (format in src/services/snapshot.c): `cairn run` saves
 * the files a failed run's diagnostics name (relative to root, the project
 * or the cwd) and the dirty files, so that the failure's content survives a
 * quick fix. Returns 0 or -errno. Blocking. */
int triage_snapshot_write(const char *out_path, const char *root, const char *cwd,
			  const struct diag_list *dl, char *const *dirty, size_t n_dirty);
/* Calls fn for each file of a snapshot (content NULL: the file did not
 * exist); a non-zero return stops and is returned. Strict: CAIRN_E_PARSE
 * for anything malformed, CAIRN_E_TOOBIG past the file count. */
typedef int (*triage_snapshot_fn)(void *ctx, const char *path, const char *content, size_t len);
int triage_snapshot_parse(const char *data, size_t len, triage_snapshot_fn fn, void *ctx);

/* Prints a report readably (for `cairn why` and `cairn triage`): summary,
 * excerpt, fixes, suspects. color: use terminal bold/dim. */
void triage_print(FILE *out, const json_t *report, bool color);

#endif
