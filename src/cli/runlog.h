/* The redacted copy of a run's output that `cairn run` saves as
 * <data_dir>/runs/<id>.log: redact_text() (kb/redact.h) of the captured
 * bytes, but cut into parts at line ends and redacted on several threads,
 * and its start (the capture's head, final once it is full) redacted on a
 * thread while the command still runs. Redacting megabytes takes a tenth of
 * a second per MiB on one core; done after the command on one thread, it
 * was most of what `cairn run` added to a command with a lot of output.
 *
 * The result is redact_text() of each part, joined. Each part is cut after
 * a newline, and never inside a private key block (a "-----BEGIN" line not
 * yet followed by its "-----END" within REDACT_MAX_INPUT bytes), so every
 * rule sees each line and each key block whole, as redact_text()'s own
 * 64 KiB pieces guarantee (kb/redact.h): the parts are only more such cuts
 * (one to four per run, against one per 64 KiB). What such a cut can
 * change, here as at a piece's end: a match that runs over a line end (an
 * option's value on the next line, a quoted string with a newline in it,
 * which kb/redact.h counts among what redaction cannot see), and a rule
 * whose context word is on an earlier line (`mysql` some lines before its
 * `-p...`). A libFuzzer run of runlog_redact() against redact_text() with
 * 64-byte parts found differences of these two kinds and no crash.
 *
 * Usage (one struct per run; one thread calls the functions, in order):
 *   runlog_init(&rl);
 *   runlog_start(&rl, head, head_len);   optional, as soon as head is final
 *   out = runlog_redact(&rl, log, len, &out_len);
 *   runlog_release(&rl);
 * Threads started here block every signal (the runner forwards the
 * command's signals from the main thread: sources/runner.h), fork nothing
 * and open no descriptors. Allocation failure aborts (common/xalloc.h). */
#ifndef CAIRN_RUNLOG_H
#define CAIRN_RUNLOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* The most threads runlog_redact() uses (one of them the caller's). */
#define RUNLOG_MAX_THREADS 4
/* Less than this is redacted in one part, on the caller's thread. */
#define RUNLOG_MIN_PART ((size_t)256 * 1024)

/* One part being redacted. */
struct runlog_part {
	const char *text; /* not owned */
	size_t len;
	char *out; /* redact_text() of it, malloc'd; NULL until done */
	size_t out_len;
	pthread_t th;
	bool threaded; /* th runs and must be joined */
};

struct runlog {
	struct runlog_part early; /* from runlog_start(); len 0 when none */
};

/* Makes rl empty. Allocates nothing. */
void runlog_init(struct runlog *rl);

/* Starts redacting, on a thread, the longest start of text[0..len) that
 * ends at a cut as described at the top (nothing when there is none, or
 * when the thread cannot start). text must stay unchanged and allocated
 * until runlog_redact() or runlog_release() returns. At most once per run.
 * Never blocks for long: it only looks for the cut. */
void runlog_start(struct runlog *rl, const char *text, size_t len);

/* Returns the redacted copy of log (len bytes; log may be NULL when len
 * is 0), as redact_text() would, malloc'd and NUL-terminated, its length
 * in *out_len; the caller frees it. If runlog_start() was given a start of log, its result is used
 * (after checking that log does begin with those bytes; otherwise it is
 * thrown away); the rest is cut into up to RUNLOG_MAX_THREADS parts
 * (fewer with fewer CPUs or under RUNLOG_MIN_PART bytes each) redacted at
 * once. Blocks until all is done. Never fails. */
char *runlog_redact(struct runlog *rl, const char *log, size_t len, size_t *out_len);

/* Waits for a thread runlog_start() left running and frees what rl holds;
 * rl is then as after runlog_init(). */
void runlog_release(struct runlog *rl);

/* The cut runlog_start() would use: the largest c <= len such that c is 0
 * or follows a newline, and no private key block is open at c. Exposed for
 * tests. */
size_t runlog_cut(const char *text, size_t len);

#endif
