/* Runs a command exactly as the user would, passing its output through
 * unchanged while keeping a capped copy. With a terminal on stdout the
 * command gets a pseudo-terminal of the same size and modes (so colours and
 * progress bars are kept) for its stdin and stdout, and for its stderr too
 * when our stderr is that same terminal; a stderr sent elsewhere
 * (`2>/dev/null`, a file, a pipe, another terminal) gets a pipe whose bytes
 * go there. Without a terminal on stdout its stdout and stderr go through
 * pipes to ours, kept apart (stdout straight to a regular file). Either way
 * both streams are captured. Blocking; call from the CLI's main thread only
 * (it installs signal handlers for the duration of the run). */
#ifndef CAIRN_RUNNER_H
#define CAIRN_RUNNER_H

#include "common/headtail.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A capped copy of a byte stream: the first half of the cap and the last
 * half, with a count of what was dropped between them (common/headtail.h
 * with cap / 2 bytes of head and the rest of tail). */
struct capture {
	struct headtail ht;
	/* See capture_on_head(). */
	void (*on_head)(void *arg, const char *head, size_t len);
	void *on_head_arg;
	bool head_told;
	char *ahead; /* the file's head read ahead for on_head, or NULL */
};

/* Keeps at most cap bytes (at least 2). Allocates only as bytes come. */
void capture_init(struct capture *c, size_t cap);
/* Has fn(arg, head, len) called once, on the runner's thread, as soon as
 * the head is known: from capture_add() when the head is full, head[0..len)
 * being then what capture_join() will return first. When stdout is a
 * regular file (the command writes to it directly: see runner_run()),
 * from runner_run() once the command has written a head's worth to it and
 * nothing else was captured yet: head is then the file's first bytes, read
 * ahead while the command runs, which capture_join() returns first unless
 * the command later writes to stderr or rewrites them (a caller that must
 * be sure compares). Either way head stays unchanged and allocated until
 * capture_release(). */
void capture_on_head(struct capture *c, void (*fn)(void *arg, const char *head, size_t len),
		     void *arg);
void capture_add(struct capture *c, const char *p, size_t n);
/* The kept bytes as one malloc'd NUL-terminated buffer; if bytes were
 * dropped, a line "[cairn: N bytes omitted]" marks the place. c is left
 * as it was. */
char *capture_join(const struct capture *c, size_t *len);
bool capture_truncated(const struct capture *c);
/* Bytes added, kept or not. */
uint64_t capture_total(const struct capture *c);
void capture_release(struct capture *c);

struct runner_result {
	int exit_code; /* valid when signal == 0 */
	int signal;    /* the signal that ended the command, or 0 */
	bool core_dumped;
	int64_t duration_ms;
	bool used_pty;
	int spawn_errno; /* non-zero: the command could not be started */
};

/* Runs argv (argv[0] looked up in PATH), feeding its output to out. Returns
 * 0 when the command ran (whatever its status: see res), or a negative code
 * when it could not be started or watched. */
int runner_run(char *const argv[], struct capture *out, struct runner_result *res);

#endif
