/* Shared helpers for cairn's benchmarks: the clock, pacing, latency samples
 * and percentiles, a buffered line/RESP reader, tiny clients for cairn's
 * socket (NDJSON over a Unix socket) and for redis (RESP over TCP), the
 * benchmark event, /proc readers, and the "R key value" result lines that
 * bench/run.sh turns into the results table.
 *
 * Error convention: a failure that makes a figure meaningless (a peer down,
 * a refused request) prints a message and exits 2; run.sh then reports that
 * benchmark as failed to run. Nothing here ever judges a timing.
 */
#ifndef CAIRN_BENCH_H
#define CAIRN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The size of the benchmark event as a publisher sends it: the same bytes
 * are a cairn event envelope, a NATS payload and a redis payload. */
#define BENCH_EVENT_BYTES 200

/* ---- time ---- */

/* CLOCK_MONOTONIC in nanoseconds. Thread-safe. */
uint64_t now_ns(void);

/* Sleeps until the CLOCK_MONOTONIC deadline t (ns), absolute, so that a
 * paced loop does not drift. Returns at once if t has passed. */
void sleep_until_ns(uint64_t t);

/* ---- failures ---- */

/* Prints "bench: <message>" to stderr and exits 2. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- latency samples ---- */

/* A growable array of samples in nanoseconds. Zero-initialise, then add;
 * samples_release() frees it. Not thread-safe: one writer. */
struct samples {
	uint64_t *v;
	size_t n, cap;
};

void samples_add(struct samples *s, uint64_t ns);
void samples_release(struct samples *s);
/* Appends every sample of src to dst. */
void samples_merge(struct samples *dst, const struct samples *src);
/* The q-quantile (0 < q <= 1) in nanoseconds, nearest-rank; sorts s in
 * place. 0 when s is empty. */
uint64_t samples_quantile(struct samples *s, double q);

/* ---- result lines ---- */

/* Prints "R <key> <value>" on stdout (flushed), the machine-readable form
 * run.sh collects. Keys are [a-z0-9_.]. */
void result(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints p50/p99/p99.9 of s in microseconds as results prefix.p50_us,
 * prefix.p99_us, prefix.p999_us, and prefix.n. */
void result_latency(const char *prefix, struct samples *s);

/* ---- the benchmark event ---- */

/* Writes the 200-byte event with source "bench", the given type and
 * data {"t":"<send time, ns, 19 digits>","p":"xxx..."} into buf (at least
 * BENCH_EVENT_BYTES + 1 bytes; NUL-terminated). Dies if type is so long
 * that the event cannot fit. Returns BENCH_EVENT_BYTES. */
size_t event_format(char *buf, const char *type, uint64_t t_ns);

/* Finds the send time embedded by event_format() in buf[0..len). Returns
 * 0 when it is absent. */
uint64_t event_find_time(const char *buf, size_t len);

/* ---- buffered reader ---- */

/* Reads lines or exact byte counts from a blocking file descriptor. */
struct reader {
	int fd;
	char *buf;
	size_t start, end, cap;
};

void reader_init(struct reader *r, int fd);
void reader_release(struct reader *r);
/* Returns the next line without its "\n" (or "\r\n"), NUL-terminated in
 * place, valid until the next call, and its length in *len. NULL at end of
 * file or on error (errno set; EINTR is returned to the caller too). */
char *reader_line(struct reader *r, size_t *len);
/* Returns the next n bytes (then skips the "\r\n" that follows when crlf),
 * valid until the next call; NULL at end of file or on error. */
char *reader_bytes(struct reader *r, size_t n, bool crlf);
/* True when bytes are buffered (a read would not block). */
bool reader_buffered(const struct reader *r);

/* Writes all of buf to fd, retrying short writes and EINTR. Dies on error. */
void write_all(int fd, const void *buf, size_t len);

/* ---- cairn ---- */

/* Connects to cairn's Unix socket at path. Dies on failure. */
int cairn_connect(const char *path);

/* Finds `"key":<integer>` in line and stores it in *out. Returns false when
 * the key is absent or not followed by an integer. The first occurrence is
 * used. */
bool json_find_int(const char *line, const char *key, long long *out);

/* Sends {"op":"sub","rid":0,"sub":NAME,"pattern":PATTERN[,"from":FROM]}
 * and reads lines until its reply arrives (no event can arrive before it on
 * a connection with no other subscription). Returns the reply's seq. Dies
 * on an error reply. from may be NULL (from now). */
long long cairn_sub(int fd, struct reader *r, const char *name, const char *pattern,
                    long long from);

/* ---- redis ---- */

/* Connects to 127.0.0.1:port over TCP with TCP_NODELAY. Dies on failure. */
int tcp_connect(int port);

/* One RESP reply, with nested arrays flattened: every bulk or simple string
 * in order in str[0..nstr), and the integer of an integer reply. */
struct resp {
	char type; /* '+', '-', ':', '$', '*' of the outermost value */
	long long integer;
	size_t nstr;
	char *str[8];
	size_t len[8];
	char *store; /* owns the copied strings */
	size_t store_cap, store_used;
};

/* Reads one reply into *out (whose previous strings are discarded). Returns
 * 0, or -1 at end of file or on a malformed reply. */
int resp_read(struct reader *r, struct resp *out);
void resp_release(struct resp *out);

/* Appends the RESP encoding of the command argv[0..argc) to buf (which has
 * room for cap bytes). Returns the bytes written; dies if it does not fit. */
size_t resp_format(char *buf, size_t cap, int argc, const char *const *argv, const size_t *lens);

/* ---- /proc ---- */

/* CPU time (utime + stime, all threads) of pid in milliseconds. -1 on error. */
long long proc_cpu_ms(pid_t pid);
/* A "Name:  <n> kB" field of /proc/pid/status (VmRSS, VmHWM) in KiB; -1. */
long long proc_status_kb(pid_t pid, const char *field);
/* Voluntary + nonvoluntary context switches summed over every thread of
 * pid (/proc/pid/task/ * /status). -1 on error. */
long long proc_wakeups(pid_t pid);

/* ---- command line ---- */

/* The value of option name ("--rate") in argv, or dflt. */
const char *opt_str(int argc, char **argv, const char *name, const char *dflt);
long long opt_int(int argc, char **argv, const char *name, long long dflt);

#endif
