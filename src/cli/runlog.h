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
 *   runlog_write_to(&rl, fd);            optional: the file the log goes to
 *   runlog_start(&rl, head, head_len);   optional, as soon as head is final
 *   out = runlog_redact(&rl, log, len, &out_len);   or
 *   r = runlog_save(&rl, log, len, fd, &out_len);   (the same bytes, in fd)
 *   runlog_release(&rl);
 * With runlog_write_to(), the early part is written to the file by its
 * thread as soon as it is redacted, while the command runs, and
 * runlog_save() writes each later part as it is done: no copy of the whole
 * log is joined in memory, and only the part after the head is written
 * once the command has ended.
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
	/* The early part only: the file its thread writes out to at offset 0
	 * once it is redacted (-1: none), and how that went: written, or
	 * write_err (-errno) set. */
	int fd;
	bool written;
	int write_err;
};

struct runlog {
	struct runlog_part early; /* from runlog_start(); len 0 when none */
};

/* Makes rl empty. Allocates nothing. */
void runlog_init(struct runlog *rl);

/* Names the file (open for writing, empty) that runlog_save() will be
 * given, so that runlog_start()'s thread writes its part there as soon as
 * it is redacted. Before runlog_start(); fd stays the caller's. */
void runlog_write_to(struct runlog *rl, int fd);

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

/* Writes what runlog_redact() would return into fd (from offset 0, its
 * size set to what was written) and its length in *out_len. fd is the
 * runlog_write_to() file or any other open for writing; when it is
 * not the one the early part went to, that part is written again.
 * Returns 0, or -errno of a write that failed (the file is then
 * incomplete). Blocks until all is done. */
int runlog_save(struct runlog *rl, const char *log, size_t len, int fd, size_t *out_len);

/* Waits for a thread runlog_start() left running and frees what rl holds;
 * rl is then as after runlog_init(). */
void runlog_release(struct runlog *rl);

/* The cut runlog_start() would use: the largest c <= len such that c is 0
 * or follows a newline, and no private key block is open at c. Exposed for
 * tests. */
size_t runlog_cut(const char *text, size_t len);

#endif
